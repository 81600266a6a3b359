/**
 * Batch-shaped platform interfaces, in the manner of wireguard-go's tun.Device and conn.Bind: the caller owns
 * every buffer and passes offsets and lengths in typed arrays; calls fill or drain them and return a count.
 * Nothing here keeps a reference to caller memory after returning (the dgram fallback copies).
 *
 * Implementations: linux/ (the native addon; the dgram fallback) and fake/ (in memory, for unprivileged tests
 * and micro-benchmarks).
 */

/** Size of the virtio-net header in front of every frame when a TAP is opened with IFF_VNET_HDR. */
export const VNET_HDR_LEN = 10;

export interface TapDevice {
  /** Kernel interface name. */
  readonly name: string;
  /** True when every frame read or written is preceded by a VNET_HDR_LEN-byte virtio-net header. */
  readonly vnetHdr: boolean;
  /**
   * Reads frames until the device has none left (EAGAIN) or `count` frames were read. Frame i is written at
   * `buf[offsets[i]]` (its virtio-net header first, when vnetHdr), at most `maxLen` bytes; its length goes to
   * `lens[i]`. Returns the number of frames read.
   */
  readBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array): number;
  /** Writes one frame (with its virtio-net header when vnetHdr). Returns bytes written or -errno. */
  write(buf: Buffer, off: number, len: number): number;
  /** Calls `cb` once per wakeup while frames are waiting. One callback for the device's life. */
  onReadable(cb: () => void): void;
  close(): void;
}

export interface UdpBind {
  /** 4 or 6: the address family of the bound socket. */
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  /** Human-readable name of the I/O path, for logs and `show`: e.g. "native recvmmsg/sendmmsg". */
  readonly ioPath: string;
  /**
   * True when sendBatch honours `tos` (an IP_TOS / IPV6_TCLASS control message per message) and recvBatch
   * fills `tos` with each datagram's outer TOS: what ECN encapsulation/decapsulation and `--tos inherit` need.
   * The dgram fallback has neither and refuses a `tos` array (throws).
   */
  readonly perPacketTos: boolean;
  /**
   * Receives datagrams until none is left or `count` arrived. Datagram i lands at `buf[offsets[i]]`; `lens[i]`
   * is its length or -1 when it was longer than `maxLen`. Its source address is stored in slot i of `addrs`
   * (SOCKADDR_SLOT bytes each, a Linux sockaddr_in/sockaddr_in6). With `tos` (perPacketTos only), tos[i] is
   * the datagram's outer TOS / traffic class (one value for a UDP GRO train: the kernel merges only equal TOS).
   * Returns the count.
   */
  recvBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array, addrs: Buffer, gro?: Uint16Array, tos?: Uint8Array): number;
  /**
   * Sends `count` datagrams: i is `buf[offsets[i] .. +lens[i]]` to destination slot `dest[i]` (set with
   * setDestination). Fills `result` = [sent, droppedBecauseFull, refused, lastErrno] (in entries). Returns sent.
   * With `gso`, an entry whose gso[i] > 0 is a train of datagrams of gso[i] bytes each (the last may be
   * shorter), sent as one UDP GSO message (UDP_SEGMENT) — or split by the implementation when it has no GSO.
   * With `tos` (perPacketTos only), entry i leaves with outer TOS / traffic class tos[i] (its whole train).
   * With `ttl` (perPacketTos only), entry i with ttl[i] > 0 leaves with that TTL / hop limit; 0 = the socket's.
   */
  sendBatch(buf: Buffer, offsets: Uint32Array, lens: Uint32Array, dest: Uint32Array, count: number, result: Int32Array, gso?: Uint16Array, tos?: Uint8Array, ttl?: Uint8Array): number;
  /** Control plane: (re)defines destination slot `slot` as ip:port. */
  setDestination(slot: number, ip: string, port: number): void;
  /**
   * Turns on a kernel offload for this socket: 'gso' (UDP_SEGMENT on send) or 'gro' (UDP_GRO on receive).
   * Returns true when the kernel accepted it.
   */
  enableOffload(what: 'gso' | 'gro'): boolean;
  /** Number of destination slots available. */
  readonly destinationSlots: number;
  onReadable(cb: () => void): void;
  close(): void;
}

/** Bytes per source-address slot filled by recvBatch (sizeof(struct sockaddr_in6)). */
export const SOCKADDR_SLOT = 28;

// ─────────────────────────── what the runtime opens, and the composition root provides ───────────────────────────

/** A TAP whose kernel offloads are negotiated: TUNSETOFFLOAD and TUNSETVNETHDRSZ. Each returns 0 or -errno. */
export interface OffloadTap extends TapDevice {
  setOffload(flags: number): number;
  setVnetHdrSize(size: number): number;
}

/**
 * Socket-wide settings of a kernel UDP socket: outer TTL / TOS / DF, and the UDP checksum options (`nocheck` =
 * SO_NO_CHECK for IPv4 `--noudpcsum`; `nocheck6tx` / `nocheck6rx` = UDP_NO_CHECK6_TX / _RX for IPv6).
 */
export type UdpIpOption = 'ttl' | 'tos' | 'df' | 'nocheck' | 'nocheck6tx' | 'nocheck6rx';

export interface UdpOpenOptions {
  /** Local address; '0.0.0.0' or '::' for the wildcard. */
  readonly address: string;
  readonly port: number;
  /** SO_BINDTODEVICE, or '' for none. */
  readonly device: string;
  /** Socket buffer sizes in bytes; 4 MiB absorbs bursts of a few thousand datagrams. */
  readonly rcvbuf?: number;
  readonly sndbuf?: number;
  /** Destination slots to allocate. */
  readonly destinationSlots?: number;
  /**
   * Send through this socket's destination table instead of a table of its own (same implementation): the
   * --srcport pool and the DF-set twins, up to thousands of sockets, then cost no table each, and a slot the
   * control plane writes once (into the owner) reaches all of them. destinationSlots is then the owner's.
   */
  readonly shareDestinations?: UdpBind;
  /**
   * SO_REUSEPORT: lets a second send-only socket bind the same port (a --srcport port's DF-set twin). Never on
   * a socket that receives: with it, another socket of the same user could take a share of its datagrams.
   */
  readonly reusePort?: boolean;
}

/** The native socket: outer-header options per socket (setsockopt). Returns 0 or -errno. */
export interface TunableUdpBind extends UdpBind {
  setIpOption(what: UdpIpOption, value: number): number;
}

/**
 * The portable fallback socket: received datagrams wait in a bounded queue; `rxQueueFull` counts those that
 * found it full, the one drop that no recvBatch/sendBatch result reports. (Its sends go through a bounded ring
 * too, but a send that finds no room is in sendBatch's result, as droppedBecauseFull.)
 */
export interface QueuedUdpBind extends UdpBind {
  readonly rxQueueFull: number;
}

/**
 * The devices and sockets a running instance opens, as factories: the composition root (src/cli/up.ts) passes
 * the Linux ones (platform/linux), so the runtime (src/control/runtime) never names an implementation. Each
 * factory throws an Error whose `code` is the errno name (EPERM, EADDRINUSE, ...); the caller owns and closes
 * what it returns.
 */
/** segmentTcp of the addon: like TcpSegmenter.segment, with count/stride/total written to res[0..2]. */
export type NativeSegmentTcp = (
  src: Buffer,
  fo: number,
  flen: number,
  l4Start: number,
  mss: number,
  isV6: boolean,
  out: Buffer,
  outOff: number,
  vni: number,
  res: Int32Array,
) => number;

export interface Platform {
  /** A TAP device (IFF_TAP | IFF_NO_PI, IFF_VNET_HDR when asked), never persistent. */
  openTap(name: string, opts: { readonly vnetHdr: boolean }): OffloadTap;
  /** The native UDP path (recvmmsg/sendmmsg, offloads, outer-header options). */
  openUdp(o: UdpOpenOptions): TunableUdpBind;
  /** The node:dgram fallback (`--io dgram`). */
  openDgramUdp(o: Pick<UdpOpenOptions, 'address' | 'port' | 'device'>): Promise<QueuedUdpBind>;
  /** The addon's TCP segmentation loop for the socket send path; absent: the JS TcpSegmenter (tso.ts). */
  readonly segmentTcp?: NativeSegmentTcp;
}

/**
 * Who is at the other end of a control connection (the control server's access check, ops/access.ts), as
 * the kernel sees it. Implemented by platform/linux/peer.ts; injected by the CLI.
 */
export interface PeerInfo {
  /** SO_PEERCRED of an accepted Unix socket (a node:net Socket), or undefined when it cannot be read. */
  socketPeerCred(sock: unknown): { readonly pid: number; readonly uid: number; readonly gid: number } | undefined;
  /** A namespace's identity (the nsfs inode behind a /proc/PID/ns/* link). */
  nsIdentity(path: string): string;
  /** The user namespaces that own the namespace at `path`, itself first, then its ancestors. */
  ownerUserNamespaces(path: string): ReadonlySet<string>;
}
