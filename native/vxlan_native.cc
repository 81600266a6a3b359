// vxlan_native: the syscalls Node.js lacks, and nothing else.
//
// What lives here: opening a TAP device (TUNSETIFF, offloads), a UDP socket with the options dgram does not
// expose, batched non-blocking I/O (read-until-EAGAIN on TAP, recvmmsg/sendmmsg on UDP) and event-loop
// readiness (uv_poll); for the control plane, a socket peer's credentials, namespace identities and one Unix
// datagram (sd_notify). What does not: any packet logic. JavaScript owns every byte of memory: each call
// receives the caller's pooled Buffer plus offsets and lengths in typed arrays, fills or reads them and
// returns a count. No call keeps a pointer after it returns.
//
// Error contract: a failing setup call throws an Error whose `code` is the errno name (e.g. "EPERM") and whose
// `syscall` names the call. On the I/O paths EAGAIN is a return value, never an exception.

#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

constexpr size_t kSockaddrSlot = 28;  // sizeof(sockaddr_in6): one slot of an address table, IPv4 or IPv6.
constexpr unsigned kMaxBatch = 1024;

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail = "") {
  const char* name = strerrorname_np(err);
  std::string msg = std::string(syscall) + " failed: " + strerror(err);
  if (!detail.empty()) msg += " (" + detail + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------------------
// TAP

// tapOpen(name: string, vnetHdr: boolean, multiQueue: boolean, blocking?: boolean): [fd, actualName]
// (blocking exists only for the naive fs-stream baseline in bench/; the dataplane always uses non-blocking.)
// The device is never made persistent: it disappears when the last fd closes (process exit, even kill -9).
// O_CLOEXEC keeps children (ip, tcpdump...) from inheriting it.
Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString()) return ThrowType(env, "tapOpen(name, vnetHdr, multiQueue)");
  std::string name = info[0].As<Napi::String>();
  bool vnet = info[1].ToBoolean();
  bool mq = info[2].ToBoolean();
  bool blocking = info.Length() > 3 && info[3].ToBoolean();
  if (name.size() >= IFNAMSIZ) return ThrowType(env, "interface name too long");

  int fd = open("/dev/net/tun", O_RDWR | (blocking ? 0 : O_NONBLOCK) | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (mq ? IFF_MULTI_QUEUE : 0);
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "ioctl(TUNSETIFF)", name);
  }
  if (vnet) {
    int sz = 10;  // struct virtio_net_hdr, without the mergeable-buffers field
    if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
      int err = errno;
      close(fd);
      return ThrowErrno(env, err, "ioctl(TUNSETVNETHDRSZ)", name);
    }
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fd));
  out.Set(1u, Napi::String::New(env, ifr.ifr_name));
  return out;
}

// tapSetOffload(fd, flags): TUNSETOFFLOAD with TUN_F_* flags. Returns 0 or -errno (the caller falls back).
Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned flags = info[1].As<Napi::Number>().Uint32Value();
  if (ioctl(fd, TUNSETOFFLOAD, flags) < 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, 0);
}

// tapSetVnetHdrSize(fd, size): TUNSETVNETHDRSZ. 24 = struct virtio_net_hdr_v1_hash_tunnel, which the UDP-tunnel
// GSO send path needs (Linux >= 6.17). Returns 0 or -errno.
Napi::Value TapSetVnetHdrSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int sz = info[1].As<Napi::Number>().Int32Value();
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) return Napi::Number::New(env, -errno);
  return Napi::Number::New(env, 0);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd >= 0) close(fd);
  return info.Env().Undefined();
}

// The arguments readBatch and recvBatch share: (fd, buf, offsets: Uint32Array, maxLen, count, lens: Int32Array).
struct BatchIn {
  int fd;
  Napi::Buffer<uint8_t> buf;
  Napi::Uint32Array offs;
  uint32_t maxLen;
  uint32_t count;
  Napi::Int32Array lens;
  explicit BatchIn(const Napi::CallbackInfo& info)
      : fd(info[0].As<Napi::Number>().Int32Value()),
        buf(info[1].As<Napi::Buffer<uint8_t>>()),
        offs(info[2].As<Napi::Uint32Array>()),
        maxLen(info[3].As<Napi::Number>().Uint32Value()),
        count(info[4].As<Napi::Number>().Uint32Value()),
        lens(info[5].As<Napi::Int32Array>()) {}
};

// readBatch(fd, buf, offsets: Uint32Array, maxLen, count, lens: Int32Array): n
// read() until EAGAIN or `count` frames; frame i lands at buf[offsets[i]], its length in lens[i].
Napi::Value ReadBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchIn in(info);
  int fd = in.fd;
  auto& buf = in.buf;
  auto& offs = in.offs;
  uint32_t maxLen = in.maxLen;
  uint32_t count = in.count;
  auto& lens = in.lens;
  if (count > offs.ElementLength() || count > lens.ElementLength()) return ThrowType(env, "readBatch: count too big");
  uint8_t* base = buf.Data();
  size_t blen = buf.Length();
  uint32_t n = 0;
  while (n < count) {
    uint32_t off = offs[n];
    if (off > blen || maxLen > blen - off) return ThrowType(env, "readBatch: slot outside buffer");
    ssize_t r = read(fd, base + off, maxLen);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return ThrowErrno(env, errno, "read", "tap");
    }
    lens[n++] = (int32_t)r;
  }
  return Napi::Number::New(env, n);
}

// writeFrame(fd, buf, off, len): bytes written, or -errno (EAGAIN, EIO when the device is down, ...).
Napi::Value WriteFrame(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t off = info[2].As<Napi::Number>().Uint32Value();
  uint32_t len = info[3].As<Napi::Number>().Uint32Value();
  if (off > buf.Length() || len > buf.Length() - off) return ThrowType(env, "writeFrame: outside buffer");
  for (;;) {
    ssize_t r = write(fd, buf.Data() + off, len);
    if (r < 0 && errno == EINTR) continue;
    return Napi::Number::New(env, r < 0 ? -errno : (double)r);
  }
}

// ---------------------------------------------------------------------------------------------------------
// UDP

int FillSockaddr(const std::string& addr, int port, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, addr.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, addr.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return AF_INET6;
  }
  return -1;
}

// udpOpen(addr: string, port, ifname: string, rcvbuf, sndbuf, reuseport?: boolean): [fd, boundPort]
// addr is the local address to bind ("0.0.0.0" or "::" for the wildcard). The outer DF bit is left clear
// (IP_PMTUDISC_DONT), as the kernel's vxlan default `df unset`; the dataplane checks sizes itself so the host
// never fragments. Buffer sizes use the *FORCE variants (we are root) and fall back to the capped ones.
// reuseport: SO_REUSEPORT before bind, so a second send-only socket (the DF-set twin of a --srcport port) can
// bind the same port; a port held by a socket without it still refuses with EADDRINUSE.
Napi::Value UdpOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string addr = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  std::string ifname = info[2].As<Napi::String>();
  int rcvbuf = info[3].As<Napi::Number>().Int32Value();
  int sndbuf = info[4].As<Napi::Number>().Int32Value();
  bool reuseport = info.Length() > 5 && info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();

  sockaddr_storage ss;
  socklen_t sl;
  int fam = FillSockaddr(addr, port, &ss, &sl);
  if (fam < 0) return ThrowType(env, "udpOpen: not an IP address");
  int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return ThrowErrno(env, errno, "socket");
  // IP_RECVTOS / IPV6_RECVTCLASS: every received datagram carries its outer TOS as a control message, which
  // recvBatch hands out when asked (ECN decapsulation needs the outer CE mark).
  if (fam == AF_INET6) {
    int one = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, &one, sizeof one);
    int pmtu = IPV6_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
  } else {
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_RECVTOS, &one, sizeof one);
    int pmtu = IP_PMTUDISC_DONT;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  }
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (!ifname.empty() &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(), (socklen_t)ifname.size()) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "setsockopt(SO_BINDTODEVICE)", ifname);
  }
  int one = 1;
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "setsockopt(SO_REUSEPORT)");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) < 0) {
    int err = errno;
    close(fd);
    return ThrowErrno(env, err, "bind", addr + " port " + std::to_string(port));
  }
  sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bl);
  int boundPort = ntohs(fam == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fd));
  out.Set(1u, Napi::Number::New(env, boundPort));
  return out;
}

// udpEnableOffload(fd, what: "gso" | "gro"): 0 or -errno. "gso" probes UDP_SEGMENT (setting a socket-wide
// segment size of 0 leaves sends unsegmented unless a message asks); "gro" turns on UDP_GRO.
Napi::Value UdpEnableOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string what = info[1].As<Napi::String>();
  int r;
  if (what == "gso") {
    int zero = 0;
    r = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero);
  } else if (what == "gro") {
    int one = 1;
    r = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
  } else {
    return ThrowType(env, "udpEnableOffload: gso or gro");
  }
  return Napi::Number::New(env, r < 0 ? -errno : 0);
}

// udpSetIpOption(fd, what: "ttl" | "tos" | "df", value): 0 or -errno. Socket-wide outer-header settings, for
// the family of the socket: ttl → IP_TTL / IPV6_UNICAST_HOPS (1..255), tos → IP_TOS / IPV6_TCLASS (0..255),
// df → IP_MTU_DISCOVER / IPV6_MTU_DISCOVER with value 1 = DF set (PMTUDISC_PROBE: DF on, the route's cached PMTU
// ignored — the dataplane checks sizes itself, as the kernel's vxlan does) or 0 = DF clear (PMTUDISC_DONT).
Napi::Value UdpSetIpOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string what = info[1].As<Napi::String>();
  int value = info[2].As<Napi::Number>().Int32Value();
  sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) < 0) return Napi::Number::New(env, -errno);
  bool v6 = ss.ss_family == AF_INET6;
  int r;
  if (what == "ttl") {
    r = v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &value, sizeof value)
           : setsockopt(fd, IPPROTO_IP, IP_TTL, &value, sizeof value);
  } else if (what == "tos") {
    r = v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &value, sizeof value)
           : setsockopt(fd, IPPROTO_IP, IP_TOS, &value, sizeof value);
  } else if (what == "df") {
    int mode = v6 ? (value ? IPV6_PMTUDISC_PROBE : IPV6_PMTUDISC_DONT) : (value ? IP_PMTUDISC_PROBE : IP_PMTUDISC_DONT);
    r = v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &mode, sizeof mode)
           : setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &mode, sizeof mode);
  } else if (what == "nocheck") {
    // --noudpcsum (IPv4): send UDP checksums of zero. The kernel then refuses UDP_SEGMENT sends (EINVAL).
    r = v6 ? -1 : setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &value, sizeof value);
    if (v6) errno = EAFNOSUPPORT;
  } else if (what == "nocheck6tx" || what == "nocheck6rx") {
    // --udp6zerocsumtx / --udp6zerocsumrx (IPv6, RFC 6935): send zero checksums / accept them on receive.
    r = !v6 ? -1 : setsockopt(fd, SOL_UDP, what == "nocheck6tx" ? UDP_NO_CHECK6_TX : UDP_NO_CHECK6_RX, &value, sizeof value);
    if (!v6) errno = EAFNOSUPPORT;
  } else {
    return ThrowType(env, "udpSetIpOption: ttl, tos, df, nocheck, nocheck6tx or nocheck6rx");
  }
  return Napi::Number::New(env, r < 0 ? -errno : 0);
}

// sockaddrWrite(table: Buffer, slot, addr: string, port): family (4 or 6). Writes a sockaddr into slot
// `slot` (28 bytes each) of an address table that udpSendBatch indexes. Control plane only.
Napi::Value SockaddrWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto table = info[0].As<Napi::Buffer<uint8_t>>();
  uint32_t slot = info[1].As<Napi::Number>().Uint32Value();
  std::string addr = info[2].As<Napi::String>();
  int port = info[3].As<Napi::Number>().Int32Value();
  if ((size_t)(slot + 1) * kSockaddrSlot > table.Length()) return ThrowType(env, "sockaddrWrite: slot outside table");
  sockaddr_storage ss;
  socklen_t sl;
  int fam = FillSockaddr(addr, port, &ss, &sl);
  if (fam < 0) return ThrowType(env, "sockaddrWrite: not an IP address");
  memset(table.Data() + slot * kSockaddrSlot, 0, kSockaddrSlot);
  memcpy(table.Data() + slot * kSockaddrSlot, &ss, sl);
  return Napi::Number::New(env, fam == AF_INET ? 4 : 6);
}

// recvBatch(fd, buf, offsets: Uint32Array, maxLen, count, lens: Int32Array, addrs: Buffer, gro?: Uint16Array,
//           tos?: Uint8Array): n
// With `tos`, tos[i] is the outer TOS / traffic class of datagram i (IP_RECVTOS / IPV6_RECVTCLASS, on since
// udpOpen). The kernel's UDP GRO merges only datagrams with equal TOS, so one value covers a GRO train.
// With UDP_GRO enabled on the socket, one "datagram" may be several coalesced ones of gro[i] bytes each (the
// last may be shorter); gro[i] = 0 means a single datagram.
// One recvmmsg(MSG_DONTWAIT). Datagram i lands at buf[offsets[i]]; lens[i] is its length, or -1 when it was
// larger than maxLen (truncated: the caller drops it). Its source sockaddr lands in addrs slot i (28 bytes).
Napi::Value RecvBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BatchIn in(info);
  int fd = in.fd;
  auto& buf = in.buf;
  auto& offs = in.offs;
  uint32_t maxLen = in.maxLen;
  uint32_t count = in.count;
  auto& lens = in.lens;
  auto addrs = info[6].As<Napi::Buffer<uint8_t>>();
  bool haveGro = info.Length() > 7 && info[7].IsTypedArray();
  Napi::Uint16Array gro;
  if (haveGro) gro = info[7].As<Napi::Uint16Array>();
  bool haveTos = info.Length() > 8 && info[8].IsTypedArray();
  Napi::Uint8Array tos;
  if (haveTos) tos = info[8].As<Napi::Uint8Array>();
  if (count > kMaxBatch || count > offs.ElementLength() || count > lens.ElementLength() ||
      count * kSockaddrSlot > addrs.Length() || (haveGro && count > gro.ElementLength()) ||
      (haveTos && count > tos.ElementLength()))
    return ThrowType(env, "recvBatch: count too big");
  // Room for a UDP_GRO int and an IP_TOS byte / IPV6_TCLASS int.
  alignas(cmsghdr) thread_local uint8_t rcmsgs[kMaxBatch][2 * CMSG_SPACE(sizeof(int))];
  // Per-thread scratch: too big for the stack, and worker threads may each run a dataplane.
  thread_local mmsghdr msgs[kMaxBatch];
  thread_local iovec iovs[kMaxBatch];
  for (uint32_t i = 0; i < count; i++) {
    uint32_t off = offs[i];
    if (off > buf.Length() || maxLen > buf.Length() - off) return ThrowType(env, "recvBatch: slot outside buffer");
    iovs[i].iov_base = buf.Data() + off;
    iovs[i].iov_len = maxLen;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = addrs.Data() + i * kSockaddrSlot;
    msgs[i].msg_hdr.msg_namelen = kSockaddrSlot;
    if (haveGro || haveTos) {
      msgs[i].msg_hdr.msg_control = rcmsgs[i];
      msgs[i].msg_hdr.msg_controllen = sizeof rcmsgs[i];
    }
  }
  int r;
  do {
    r = recvmmsg(fd, msgs, count, MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return Napi::Number::New(env, 0);
    // ICMP errors queued on the socket (e.g. port unreachable) surface here on some kernels: not fatal.
    if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
      return Napi::Number::New(env, 0);
    return ThrowErrno(env, errno, "recvmmsg");
  }
  for (int i = 0; i < r; i++) {
    lens[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)msgs[i].msg_len;
    if (haveGro) gro[i] = 0;
    if (haveTos) tos[i] = 0;
    if (haveGro || haveTos) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
        if (haveGro && c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          gro[i] = (uint16_t)v;
        } else if (haveTos && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
          tos[i] = *CMSG_DATA(c);  // one byte (ip_cmsg_recv_tos)
        } else if (haveTos && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
          int v;
          memcpy(&v, CMSG_DATA(c), sizeof v);
          tos[i] = (uint8_t)v;
        }
      }
    }
  }
  return Napi::Number::New(env, r);
}

// sendBatch(fd, buf, offsets: Uint32Array, lens: Uint32Array, table: Buffer, addrIdx: Uint32Array, count,
//           result: Int32Array, gso?: Uint16Array, tos?: Uint8Array, ttl?: Uint8Array): sent
// With `tos`, message i carries an IP_TOS (IPv4) or IPV6_TCLASS (IPv6) control message with tos[i]: the outer
// TOS byte, ECN bits included (the dataplane computes it per frame, as the kernel's INET_ECN_encapsulate).
// With `ttl`, a message whose ttl[i] > 0 carries an IP_TTL / IPV6_HOPLIMIT control message (`--ttl inherit`:
// the inner packet's); 0 leaves the socket's hop limit (the route's), as the kernel does for non-IP frames.
// With `gso`, a message whose gso[i] > 0 carries a UDP_SEGMENT control message: the kernel cuts it into
// datagrams of gso[i] bytes (the last may be shorter) — one syscall and one skb walk for up to 64 datagrams.
// sendmmsg the `count` datagrams; datagram i is buf[offsets[i] .. +lens[i]] to the sockaddr in table slot
// addrIdx[i]. A datagram the kernel refuses (no route, ...) is skipped and counted; EAGAIN/ENOBUFS (socket
// buffer full) drops the rest of the batch. result = [sent, droppedFull, failed, lastErrno].
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  auto offs = info[2].As<Napi::Uint32Array>();
  auto lens = info[3].As<Napi::Uint32Array>();
  auto table = info[4].As<Napi::Buffer<uint8_t>>();
  auto idx = info[5].As<Napi::Uint32Array>();
  // Room for a UDP_SEGMENT u16, an IP_TOS / IPV6_TCLASS int and an IP_TTL / IPV6_HOPLIMIT int.
  alignas(cmsghdr) thread_local uint8_t cmsgs[kMaxBatch][CMSG_SPACE(sizeof(uint16_t)) + 2 * CMSG_SPACE(sizeof(int))];
  uint32_t count = info[6].As<Napi::Number>().Uint32Value();
  auto result = info[7].As<Napi::Int32Array>();
  bool haveGso = info.Length() > 8 && info[8].IsTypedArray();
  Napi::Uint16Array gso;
  if (haveGso) gso = info[8].As<Napi::Uint16Array>();
  if (haveGso && count > gso.ElementLength()) return ThrowType(env, "sendBatch: gso array too short");
  bool haveTos = info.Length() > 9 && info[9].IsTypedArray();
  Napi::Uint8Array tos;
  if (haveTos) tos = info[9].As<Napi::Uint8Array>();
  if (haveTos && count > tos.ElementLength()) return ThrowType(env, "sendBatch: tos array too short");
  bool haveTtl = info.Length() > 10 && info[10].IsTypedArray();
  Napi::Uint8Array ttl;
  if (haveTtl) ttl = info[10].As<Napi::Uint8Array>();
  if (haveTtl && count > ttl.ElementLength()) return ThrowType(env, "sendBatch: ttl array too short");
  if (count > kMaxBatch || count > offs.ElementLength() || count > lens.ElementLength() ||
      count > idx.ElementLength() || result.ElementLength() < 4)
    return ThrowType(env, "sendBatch: count too big");
  // Per-thread scratch: too big for the stack, and worker threads may each run a dataplane.
  thread_local mmsghdr msgs[kMaxBatch];
  thread_local iovec iovs[kMaxBatch];
  for (uint32_t i = 0; i < count; i++) {
    uint32_t off = offs[i], len = lens[i];
    if (off > buf.Length() || len > buf.Length() - off) return ThrowType(env, "sendBatch: outside buffer");
    if ((size_t)(idx[i] + 1) * kSockaddrSlot > table.Length()) return ThrowType(env, "sendBatch: bad address slot");
    uint8_t* sa = table.Data() + idx[i] * kSockaddrSlot;
    sa_family_t fam;
    memcpy(&fam, sa, sizeof fam);
    iovs[i].iov_base = buf.Data() + off;
    iovs[i].iov_len = len;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = sa;
    msgs[i].msg_hdr.msg_namelen = fam == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    size_t clen = 0;
    if (haveGso && gso[i] > 0) {
      cmsghdr* c = reinterpret_cast<cmsghdr*>(cmsgs[i]);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = gso[i];
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
      clen = CMSG_SPACE(sizeof(uint16_t));
    }
    if (haveTos) {
      // The outer TOS / traffic class of this message (and of every datagram of its GSO train).
      cmsghdr* c = reinterpret_cast<cmsghdr*>(cmsgs[i] + clen);
      c->cmsg_level = fam == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
      c->cmsg_type = fam == AF_INET6 ? IPV6_TCLASS : IP_TOS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      int t = tos[i];
      memcpy(CMSG_DATA(c), &t, sizeof t);
      clen += CMSG_SPACE(sizeof(int));
    }
    if (haveTtl && ttl[i] > 0) {
      cmsghdr* c = reinterpret_cast<cmsghdr*>(cmsgs[i] + clen);
      c->cmsg_level = fam == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
      c->cmsg_type = fam == AF_INET6 ? IPV6_HOPLIMIT : IP_TTL;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      int h = ttl[i];
      memcpy(CMSG_DATA(c), &h, sizeof h);
      clen += CMSG_SPACE(sizeof(int));
    }
    if (clen != 0) {
      msgs[i].msg_hdr.msg_control = cmsgs[i];
      msgs[i].msg_hdr.msg_controllen = clen;
    }
  }
  int32_t sent = 0, full = 0, failed = 0, lastErr = 0;
  uint32_t i = 0;
  while (i < count) {
    int r = sendmmsg(fd, msgs + i, count - i, MSG_DONTWAIT);
    if (r > 0) {
      sent += r;
      i += r;
      continue;
    }
    int err = errno;
    if (r < 0 && err == EINTR) continue;
    lastErr = err;
    if (r < 0 && (err == EAGAIN || err == ENOBUFS)) {
      full += count - i;
      break;
    }
    failed++;  // this one datagram was refused; go on with the next
    i++;
  }
  result[0] = sent;
  result[1] = full;
  result[2] = failed;
  result[3] = lastErr;
  return Napi::Number::New(env, sent);
}

// ---------------------------------------------------------------------------------------------------------
// Readiness: a uv_poll on the Node event loop that calls one JS function per wakeup (never per packet).

class Poller : public Napi::ObjectWrap<Poller> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Poller",
                       {InstanceMethod("start", &Poller::Start), InstanceMethod("stop", &Poller::Stop),
                        InstanceMethod("close", &Poller::Close)});
  }

  // new Poller(fd, callback): callback(status: number, events: number); status < 0 is a libuv error.
  explicit Poller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Poller>(info) {
    Napi::Env env = info.Env();
    fd_ = info[0].As<Napi::Number>().Int32Value();
    cb_ = Napi::Persistent(info[1].As<Napi::Function>());
    env_ = env;
    handle_ = new uv_poll_t;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int r = uv_poll_init(loop, handle_, fd_);
    if (r != 0) {
      delete handle_;
      handle_ = nullptr;
      Napi::Error::New(env, std::string("uv_poll_init: ") + uv_strerror(r)).ThrowAsJavaScriptException();
      return;
    }
    handle_->data = this;
  }

  ~Poller() override { CloseHandle(); }

 private:
  static void OnPoll(uv_poll_t* h, int status, int events) {
    auto* self = static_cast<Poller*>(h->data);
    if (!self) return;
    Napi::Env env = self->env_;
    Napi::HandleScope scope(env);
    self->cb_.Call({Napi::Number::New(env, status), Napi::Number::New(env, events)});
    if (env.IsExceptionPending()) {
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    int events = info.Length() > 0 ? info[0].As<Napi::Number>().Int32Value() : UV_READABLE;
    if (handle_) {
      int r = uv_poll_start(handle_, events, OnPoll);
      if (r != 0) Napi::Error::New(info.Env(), uv_strerror(r)).ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_) uv_poll_stop(handle_);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseHandle();
    return info.Env().Undefined();
  }

  void CloseHandle() {
    if (!handle_) return;
    uv_poll_stop(handle_);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

  int fd_ = -1;
  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference cb_;
  Napi::Env env_ = nullptr;
};

// ---------------------------------------------------------------------------------------------------------
// Per-byte loops for the socket send path (issue 9 part 3): the Internet checksum and TCP segmentation of TAP
// super-frames. They only cut and sum bytes; every decision (which frames, which MSS, where they go) stays in
// TypeScript. The contract of segmentTcp is that of TcpSegmenter.segment in src/dataplane/tso.ts, byte for
// byte (test/unit/tso-native.test.ts compares the two).

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "CsumBE sums little-endian words and swaps once");

// Folds a 64-bit one's-complement sum to 16 bits with end-around carry (0 only for a sum of 0, as csumFold).
inline uint32_t CsumFold64(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  return static_cast<uint32_t>(s);
}

inline uint64_t AddCarry64(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s + (s < b);  // end-around carry: the sum stays congruent mod 2^64-1, hence mod 0xffff
}

// The one's-complement sum of the big-endian 16-bit words of p[0, len), folded to 16 bits, not complemented;
// an odd trailing byte is padded with a zero on the right (RFC 1071 section 4.1). RFC 1071 section 2(B): the
// sum is byte-order independent, so we add native (little-endian) 64-bit words with end-around carry and swap
// the folded result once. On x86-64 the bulk is one add-with-carry chain, 64 bytes per iteration (what Linux's
// csum_partial does; measured faster here than the portable form); elsewhere, and for the tail, four
// independent chains of compare-and-add, 32 bytes per iteration.
uint32_t CsumBE(const uint8_t* p, size_t len) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
#if defined(__x86_64__)
  while (len >= 64) {
    uint64_t w[8];
    memcpy(w, p, 64);
    // adc $0 cannot wrap: whenever a carry comes out of an add, what it leaves is at most 2^64-2.
    asm("addq %1, %0\n\tadcq %2, %0\n\tadcq %3, %0\n\tadcq %4, %0\n\t"
        "adcq %5, %0\n\tadcq %6, %0\n\tadcq %7, %0\n\tadcq %8, %0\n\tadcq $0, %0"
        : "+r"(a)
        : "r"(w[0]), "r"(w[1]), "r"(w[2]), "r"(w[3]), "r"(w[4]), "r"(w[5]), "r"(w[6]), "r"(w[7])
        : "cc");
    p += 64;
    len -= 64;
  }
#endif
  while (len >= 32) {
    uint64_t w[4];
    memcpy(w, p, 32);
    a = AddCarry64(a, w[0]);
    b = AddCarry64(b, w[1]);
    c = AddCarry64(c, w[2]);
    d = AddCarry64(d, w[3]);
    p += 32;
    len -= 32;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    a = AddCarry64(a, w);
    p += 8;
    len -= 8;
  }
  uint64_t t = 0;
  if (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    t += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    t += w;
    p += 2;
    len -= 2;
  }
  if (len) t += p[0];  // the high byte of a big-endian word is the low byte of a little-endian one
  uint64_t s = AddCarry64(AddCarry64(a, b), AddCarry64(c, d));
  uint32_t f = CsumFold64(AddCarry64(s, t));
  return ((f & 0xff) << 8) | (f >> 8);
}

inline uint32_t Get16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }
inline void Put16(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// csumAdd(buf, off, len): the folded sum of buf[off, off+len) (congruent to src/wire/checksum.ts csumAdd), or
// -1 when the range is outside the buffer. For the micro benchmark and tests; the dataplane sums in segmentTcp.
Napi::Value CsumAddNative(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBuffer()) return ThrowType(env, "csumAdd(buf, off, len)");
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  int64_t off = info[1].As<Napi::Number>().Int64Value();
  int64_t len = info[2].As<Napi::Number>().Int64Value();
  if (off < 0 || len < 0 || uint64_t(off + len) > buf.Length()) return Napi::Number::New(env, -1);
  return Napi::Number::New(env, CsumBE(buf.Data() + off, size_t(len)));
}

constexpr int64_t kEthHlen = 14;
constexpr int64_t kVxlanHlen = 8;

// Cuts src[fo, fo+flen) (Ethernet + IPv4/IPv6 + TCP + payload, TCP header at fo+l4Start) into segments of
// `mss` payload bytes at out[outOff..], each behind a VXLAN header for `vni`; res[0..2] = count, stride,
// total. Returns the count, or 0 (nothing written) when the lengths do not add up or `out` lacks room.
int32_t SegmentTcpBytes(const uint8_t* src, size_t srcLen, int64_t fo, int64_t flen, int64_t l4Start, int64_t mss,
                        bool v6, uint8_t* out, size_t outLen, int64_t outOff, uint32_t vni, int32_t* res) {
  const int64_t ipHdrLen = l4Start - kEthHlen;
  if (fo < 0 || flen < 0 || outOff < 0 || mss <= 0 || uint64_t(fo) + uint64_t(flen) > srcLen) return 0;
  if (ipHdrLen < (v6 ? 40 : 20) || l4Start + 20 > flen) return 0;
  const uint8_t* f0 = src + fo;
  const int64_t thl = int64_t(f0[l4Start + 12] >> 4) << 2;
  const int64_t hdrLen = l4Start + thl;
  if (thl < 20 || hdrLen > flen) return 0;
  const int64_t payload = flen - hdrLen;
  const int64_t n = payload == 0 ? 1 : (payload + mss - 1) / mss;
  const int64_t first = payload < mss ? payload : mss;  // the largest segment's payload
  if ((v6 ? 0 : ipHdrLen) + thl + first > 0xffff) return 0;  // its IP length field would not hold it
  const int64_t stride = kVxlanHlen + hdrLen + mss;
  const int64_t total = n * (kVxlanHlen + hdrLen) + payload;
  if (stride > INT32_MAX || uint64_t(outOff) + uint64_t(total) > outLen) return 0;

  const uint8_t* s4 = f0 + l4Start;
  const uint32_t seq0 = (uint32_t(Get16(s4 + 4)) << 16) | Get16(s4 + 6);
  const uint8_t flags0 = s4[13];
  const uint32_t id0 = v6 ? 0 : Get16(f0 + kEthHlen + 4);
  uint8_t* at = out + outOff;
  for (int64_t i = 0; i < n; i++) {
    const int64_t plen = i == n - 1 ? payload - i * mss : mss;
    at[0] = 0x08;
    at[1] = at[2] = at[3] = 0;
    at[4] = uint8_t(vni >> 16);
    at[5] = uint8_t(vni >> 8);
    at[6] = uint8_t(vni);
    at[7] = 0;
    uint8_t* f = at + kVxlanHlen;
    memcpy(f, f0, size_t(hdrLen));
    memcpy(f + hdrLen, f0 + hdrLen + i * mss, size_t(plen));
    uint8_t* o3 = f + kEthHlen;
    uint8_t* o4 = f + l4Start;
    const uint32_t l4len = uint32_t(thl + plen);
    uint32_t pseudo;  // RFC 9293 section 3.1 pseudo-header: addresses, protocol 6, TCP length
    if (v6) {
      Put16(o3 + 4, l4len);
      pseudo = CsumBE(o3 + 8, 32) + 6 + l4len;
    } else {
      Put16(o3 + 2, uint32_t(ipHdrLen) + l4len);
      Put16(o3 + 4, (id0 + uint32_t(i)) & 0xffff);
      o3[10] = o3[11] = 0;
      Put16(o3 + 10, ~CsumBE(o3, size_t(ipHdrLen)) & 0xffff);
      pseudo = CsumBE(o3 + 12, 8) + 6 + l4len;
    }
    const uint32_t seq = seq0 + uint32_t(i) * uint32_t(mss);
    Put16(o4 + 4, seq >> 16);
    Put16(o4 + 6, seq & 0xffff);
    uint8_t flags = flags0;
    if (i != n - 1) flags &= uint8_t(~(0x01 | 0x08));  // FIN and PSH only on the last segment
    if (i != 0) flags &= uint8_t(~0x80);               // CWR only on the first
    o4[13] = flags;
    o4[16] = o4[17] = 0;
    Put16(o4 + 16, ~CsumFold64(uint64_t(CsumBE(o4, l4len)) + pseudo) & 0xffff);
    at += kVxlanHlen + hdrLen + plen;
  }
  res[0] = int32_t(n);
  res[1] = int32_t(stride);
  res[2] = int32_t(total);
  return int32_t(n);
}

// segmentTcp(src, fo, flen, l4Start, mss, isV6, out, outOff, vni, res: Int32Array(3)): count
Napi::Value SegmentTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 10 || !info[0].IsBuffer() || !info[6].IsBuffer() || !info[9].IsTypedArray())
    return ThrowType(env, "segmentTcp(src, fo, flen, l4Start, mss, isV6, out, outOff, vni, res)");
  auto src = info[0].As<Napi::Buffer<uint8_t>>();
  auto out = info[6].As<Napi::Buffer<uint8_t>>();
  auto res = info[9].As<Napi::Int32Array>();
  if (res.ElementLength() < 3) return ThrowType(env, "segmentTcp: res must be an Int32Array(3)");
  int32_t n = SegmentTcpBytes(src.Data(), src.Length(), info[1].As<Napi::Number>().Int64Value(),
                              info[2].As<Napi::Number>().Int64Value(), info[3].As<Napi::Number>().Int64Value(),
                              info[4].As<Napi::Number>().Int64Value(), info[5].ToBoolean(), out.Data(), out.Length(),
                              info[7].As<Napi::Number>().Int64Value(), info[8].As<Napi::Number>().Uint32Value(),
                              res.Data());
  return Napi::Number::New(env, n);
}

// ---------------------------------------------------------------------------------------------------------
// Control-socket access and systemd notification (control-server.ts, sd-notify.ts): no packet path here.

// peerCred(fd): [pid, uid, gid] of the process that connected a Unix stream socket (SO_PEERCRED), as seen
// from our pid and user namespaces (pid 0 when the peer's pid is not visible in ours). The kernel records
// them at connect() time.
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return ThrowType(env, "peerCred(fd)");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(info[0].As<Napi::Number>().Int32Value(), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return ThrowErrno(env, errno, "getsockopt(SO_PEERCRED)");
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, cred.pid));
  out.Set(1u, Napi::Number::New(env, cred.uid));
  out.Set(2u, Napi::Number::New(env, cred.gid));
  return out;
}

// nsOwnerChain(path): the user namespace that owns the namespace at `path` (e.g. /proc/self/ns/net), then
// each of its ancestors up to the outermost one we may see, as [st_dev, st_ino] pairs (the identity of a
// namespace). NS_GET_USERNS then NS_GET_PARENT until EPERM: the kernel stops there at the initial namespace
// or at the edge of our own namespace's scope.
Napi::Value NsOwnerChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return ThrowType(env, "nsOwnerChain(path)");
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", path);
  int cur = ioctl(fd, NS_GET_USERNS);
  int err = errno;
  close(fd);
  if (cur < 0) return ThrowErrno(env, err, "ioctl(NS_GET_USERNS)", path);
  Napi::Array out = Napi::Array::New(env);
  for (uint32_t i = 0; cur >= 0 && i < 64; i++) {  // user namespaces nest at most 32 deep
    struct stat st;
    if (fstat(cur, &st) < 0) {
      err = errno;
      close(cur);
      return ThrowErrno(env, err, "fstat", path);
    }
    Napi::Array id = Napi::Array::New(env, 2);
    id.Set(0u, Napi::Number::New(env, (double)st.st_dev));
    id.Set(1u, Napi::Number::New(env, (double)st.st_ino));
    out.Set(i, id);
    int parent = ioctl(cur, NS_GET_PARENT);
    close(cur);
    cur = parent;
  }
  if (cur >= 0) close(cur);
  return out;
}

// unixDgramSend(path, message): one datagram to a Unix socket, through a socket opened and closed for it
// (sd_notify's way). A leading '@' names an abstract address. Returns the bytes sent.
Napi::Value UnixDgramSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) return ThrowType(env, "unixDgramSend(path, message)");
  std::string path = info[0].As<Napi::String>();
  std::string msg = info[1].As<Napi::String>();
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) return ThrowType(env, "unixDgramSend: bad socket path length");
  memcpy(sa.sun_path, path.data(), path.size());
  if (path[0] == '@') sa.sun_path[0] = '\0';
  socklen_t salen = offsetof(struct sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket(AF_UNIX)");
  ssize_t n = sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&sa), salen);
  int err = errno;
  close(fd);
  if (n < 0) return ThrowErrno(env, err, "sendto", path);
  return Napi::Number::New(env, (double)n);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen));
  exports.Set("tapSetOffload", Napi::Function::New(env, TapSetOffload));
  exports.Set("tapSetVnetHdrSize", Napi::Function::New(env, TapSetVnetHdrSize));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("readBatch", Napi::Function::New(env, ReadBatch));
  exports.Set("writeFrame", Napi::Function::New(env, WriteFrame));
  exports.Set("udpOpen", Napi::Function::New(env, UdpOpen));
  exports.Set("udpEnableOffload", Napi::Function::New(env, UdpEnableOffload));
  exports.Set("udpSetIpOption", Napi::Function::New(env, UdpSetIpOption));
  exports.Set("sockaddrWrite", Napi::Function::New(env, SockaddrWrite));
  exports.Set("recvBatch", Napi::Function::New(env, RecvBatch));
  exports.Set("sendBatch", Napi::Function::New(env, SendBatch));
  exports.Set("Poller", Poller::Init(env));
  exports.Set("csumAdd", Napi::Function::New(env, CsumAddNative));
  exports.Set("segmentTcp", Napi::Function::New(env, SegmentTcp));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("nsOwnerChain", Napi::Function::New(env, NsOwnerChain));
  exports.Set("unixDgramSend", Napi::Function::New(env, UnixDgramSend));
  Napi::Object c = Napi::Object::New(env);
  c.Set("UV_READABLE", Napi::Number::New(env, UV_READABLE));
  c.Set("UV_WRITABLE", Napi::Number::New(env, UV_WRITABLE));
  c.Set("SOCKADDR_SLOT", Napi::Number::New(env, (double)kSockaddrSlot));
  c.Set("MAX_BATCH", Napi::Number::New(env, kMaxBatch));
  c.Set("AF_INET", Napi::Number::New(env, AF_INET));
  c.Set("AF_INET6", Napi::Number::New(env, AF_INET6));
  c.Set("TUN_F_CSUM", Napi::Number::New(env, TUN_F_CSUM));
  c.Set("TUN_F_TSO4", Napi::Number::New(env, TUN_F_TSO4));
  c.Set("TUN_F_TSO6", Napi::Number::New(env, TUN_F_TSO6));
  c.Set("TUN_F_TSO_ECN", Napi::Number::New(env, TUN_F_TSO_ECN));
#ifdef TUN_F_USO4
  c.Set("TUN_F_USO4", Napi::Number::New(env, TUN_F_USO4));
  c.Set("TUN_F_USO6", Napi::Number::New(env, TUN_F_USO6));
#endif
  exports.Set("constants", c);
  return exports;
}

}  // namespace

NODE_API_MODULE(vxlan_native, Init)
