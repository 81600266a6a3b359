/**
 * `--help` texts. They teach by translation: each option is shown next to what a user types today for the
 * kernel's vxlan device. Numbers come from defaults.ts so the help and the validation agree.
 */
import {
  DEFAULT_AGEING,
  CONFIG_SCHEMA_VERSION,
  DEFAULT_DSTPORT,
  DEFAULT_IO,
  DEFAULT_OFFLOAD,
  DEFAULT_NAME,
  IFNAME_MAX,
  LINUX_DEFAULT_VXLAN_PORT,
  MTU_MAX_IPV4_UNDERLAY,
  MTU_MAX_IPV6_UNDERLAY,
  MTU_MIN_IPV4,
  SEED_VXLAN_PORT,
  VNI_MAX,
  VXLAN_OVERHEAD_IPV4,
} from './defaults.js';

import { DEFAULT_ETCD_PREFIX, DEFAULT_ETCD_TIMEOUT_S, DEFAULT_LEASE_TTL_S, DEFAULT_SUBNET_FILE } from './defaults.js';

/** `vxlan-user --help`: the commands. */
export function formatMainHelp(): string {
  return `Usage: vxlan-user <command> [options]

A userspace VXLAN tunnel endpoint (RFC 7348) over a Linux TAP device, wire-compatible with the
kernel's vxlan driver. It needs only /dev/net/tun and CAP_NET_ADMIN.

Commands:
  up        run one VTEP in the foreground until SIGINT/SIGTERM  (vxlan-user up --help)
  demo      build the seed overlay in network namespaces and show it working (vxlan-user demo --help)
  plan      print what 'up' would configure, or the kernel's iproute2 commands (--as-kernel)
  explain   the route, neighbour, FDB row and outer headers a packet to DEST would take, or its drop
  fdb       add|append|replace|del|show FDB entries of a running VTEP, like 'bridge fdb'
  neigh     add|replace|del|show its static (proxy-ARP) neighbours, like 'ip neigh'
  stats     its counters: delivered and dropped, by reason  [--json] [--watch]
  show      its configuration, uptime, I/O path, tables and routes (in etcd mode: every lease)
  reload    re-read its --config file (same as SIGHUP)
  down      stop it cleanly (same as SIGTERM)
  (each control command takes --name IFNAME, default vxlan0, and --help)
  version   print the version

Options:
  -h, --help  this text; 'vxlan-user <command> --help' explains a command

Exit codes: 0 clean stop, 1 runtime failure, 2 bad usage or refused configuration,
4 permission denied (a control command that changes a VTEP needs CAP_NET_ADMIN).
`;
}

/** `vxlan-user up --help`. */
export function formatUpHelp(): string {
  return `Usage: vxlan-user up --vni N [options]
       vxlan-user up --config FILE [options]
       vxlan-user up --etcd-endpoints URL[,URL...] [--public-ip IP] [options]   (a flannel node)

Runs one VXLAN tunnel endpoint in the foreground: a TAP device named --name carries the overlay's
Ethernet frames, a UDP socket carries them to the peers (one datagram per frame, an 8-byte VXLAN
header in front). It replaces 'ip link add ... type vxlan' and the commands that follow it; under
each option, "kernel:" shows what you type today for the kernel's vxlan device.

Device and tunnel
  --vni N               VXLAN Network Identifier, 0..${VNI_MAX} (24 bits). Required.
                          kernel: ip link add NAME type vxlan id N
  --name IFNAME         TAP device name: at most ${IFNAME_MAX} bytes, no '/', ':' or spaces.
                        Default: ${DEFAULT_NAME}.
                          kernel: ip link add IFNAME type vxlan ...
  --dstport P           UDP port to listen on and send to, 1..65535. Default: ${DEFAULT_DSTPORT}, the IANA
                        port. Linux's own default is ${LINUX_DEFAULT_VXLAN_PORT} (pre-IANA; flannel uses it),
                        Calico uses 4789, our seed clusters ${SEED_VXLAN_PORT}. Both ends must agree: see the
                        peers' 'ip -d link show'.
                          kernel: ip link add ... dstport P
  --local IP            underlay address to bind and send from (IPv4 or IPv6).
                        Default: the wildcard address.
                          kernel: ip link add ... local IP
  --dev IFACE           underlay interface: bind to it; its MTU sets the default --mtu.
                        Default: none.
                          kernel: ip link add ... dev IFACE
  --mac MAC             the TAP's MAC: unicast (the I/G bit, 0x01 of the first octet, clear), not
                        zero. Default: random, locally administered. Every MAC here is six octets of
                        one or two hex digits separated by ':' (a:b:c:d:e:f is 0a:0b:0c:0d:0e:0f).
                          kernel: ip link set dev NAME address MAC
  --addr CIDR           overlay address with its prefix: 179.17.1.21/24, 2001:db8::1/64.
                        Repeatable.
                          kernel: ip addr add CIDR dev NAME
  --mtu N               TAP MTU, ${MTU_MIN_IPV4}..${MTU_MAX_IPV4_UNDERLAY} (..${MTU_MAX_IPV6_UNDERLAY} over an IPv6 underlay).
                        Default: underlay MTU - ${VXLAN_OVERHEAD_IPV4}, so 1500 gives 1450 (- 70 over IPv6).
                          kernel: ip link set dev NAME mtu N

Where frames go (by default no learning, like the kernel's 'nolearning': these tables are all there is)
  --remote IP           a default destination: broadcast, multicast and unknown-unicast frames
                        get one copy per remote (head-end replication). Repeatable; repeats merge.
                          kernel: bridge fdb append 00:00:00:00:00:00 dst IP dev NAME
  --fdb MAC=IP[:PORT]   frames for MAC go to IP, port PORT (default --dstport). IPv6 forms:
                        MAC=2001:db8::2 and MAC=[2001:db8::2]:PORT. A MAC may have several
                        destinations; an all-zeros MAC is the same as --remote IP; a multicast
                        or broadcast MAC is refused (such frames go to the --remote list); an exact
                        repeat is merged. Repeatable.
                          kernel: bridge fdb append MAC dst IP [port PORT] dev NAME
  --neigh IP=MAC        a permanent neighbour: ARP requests (IPv4) or neighbour solicitations
                        (IPv6) for IP are answered on the TAP by vxlan-user itself (proxy-ARP,
                        NDP proxy) and never cross the tunnel. IP must lie in an --addr subnet.
                        Changed at runtime by 'vxlan-user neigh' and by a reload (both families).
                        Repeatable.
                          kernel: arp -s IP MAC  (ip neigh add IP lladdr MAC nud permanent dev NAME)
  --route CIDR=GATEWAY  a route through the device, installed once it is up and removed on exit.
                        GATEWAY must lie in an --addr subnet (the kernel would say "Nexthop has
                        invalid gateway"); CIDR may not hold --local or a peer's underlay address
                        (the tunnel's own datagrams would loop). Repeatable.
                          kernel: route add -net CIDR gw GATEWAY dev NAME
  --learning            learn on receive: the inner source MAC of each datagram goes into the FDB
                        with the outer source IP and --dstport (replies go to the VTEP's port, not
                        to the sender's source port). Static entries are never moved: a frame
                        claiming a static MAC from another VTEP is dropped (rx_fdb_static_conflict).
                        Unknown MACs flood to the --remote list until learned. Default: --nolearning.
                          kernel: ip link add ... learning | nolearning
  --ageing SECONDS      a learned entry goes when its MAC has not been heard from for this long;
                        0 = never. Default: ${DEFAULT_AGEING}.
                          kernel: ip link add ... ageing SECONDS

Outer header (--io native only)
  --ttl N|inherit       outer TTL / hop limit, 1..255, or 'inherit': the inner packet's TTL / hop
                        limit (past VLAN tags; 64, the route's, for ARP and other non-IP frames).
                        Default: the route's (normally 64), like the kernel's 'ttl auto'.
                          kernel: ip link add ... ttl N|inherit
  --tos N|inherit       outer TOS / traffic class, 0..255 in decimal (46 << 2 = 184 for EF), or
                        'inherit' (copy the inner packet's DSCP, past VLAN tags). The ECN bits
                        (0x03) always follow the inner packet as the kernel's (inner CE leaves as
                        ECT(0)); an outer CE marks the inner packet CE on receive. Default: 0.
                          kernel: ip link add ... tos N|inherit
  --df set|unset|inherit
                        the outer IPv4 DF bit. Default: unset, the kernel's. inherit: DF when the
                        inner packet is IPv6 or IPv4 with DF (those frames leave from DF-set twin
                        sockets). Either way vxlan-user never lets the host fragment: oversize
                        frames are dropped and answered with ICMP "fragmentation needed"
                        (see docs/kernel-parity.md).
                          kernel: ip link add ... df set|unset|inherit
  --srcport MIN-MAX     outer UDP source ports from this range (inclusive): each inner flow
                        (5-tuple, else the MACs) hashes to a port of the whole range, as the
                        kernel's; one flow keeps one port. A port gets its send socket on its
                        first flow (at most 1024; a port in use or past that falls back to an
                        open one). Default: every datagram leaves from --dstport.
                          kernel: ip link add ... srcport MIN MAX+1  (the kernel's MAX is exclusive)
  --udpcsum, --noudpcsum
                        IPv4 underlay: send outer UDP checksums (default, the kernel's) or zeros.
                        --noudpcsum turns UDP GSO off (the kernel refuses it without checksums).
                          kernel: ip link add ... udpcsum | noudpcsum
  --udp6zerocsumtx, --udp6zerocsumrx
                        IPv6 underlay: send zero UDP checksums / accept them (RFC 6935). Default:
                        neither. --udp6zerocsumtx turns UDP GSO off.
                          kernel: ip link add ... udp6zerocsumtx udp6zerocsumrx

Receive
  --reserved-bits MASK  VXLAN header bits a received datagram must have clear, as a 64-bit hex mask
                        over the 8 header bytes (byte 0 is the top byte), e.g. 0xf7ffffff0000007f
                        also accepts a set last byte. Default: 0xf7ffffff000000ff, i.e. only the I
                        flag and the VNI may be set; other datagrams are dropped (rx_reserved_bits).
                        The I flag and VNI bits cannot be reserved.
                          kernel: ip link add ... reserved_bits MASK  (Linux, iproute2 6.14)

Program
  --config FILE         read the settings above from a YAML or JSON file: 'version: ${CONFIG_SCHEMA_VERSION}', keys
                        named like the long options (docs/config.md). Flags given as well: single
                        values override the file, repeatable ones add to its lists. A file with a
                        'nodes:' list describes the whole overlay (docs/overlay.md): each node
                        derives its FDB, neighbours and routes from the other nodes. A 'vnis:' list
                        runs several devices, one VNI each, on one UDP port, as several kernel
                        vxlan devices share a port: per-device keys inside each entry, shared ones
                        (local, dstport, io, ...) at the top (docs/config.md).
                          kernel: ip link add vx10001 type vxlan id 10001 dstport 4789 ...;
                                  ip link add vx10002 type vxlan id 10002 dstport 4789 ...
  --node NAME           which node of a whole-overlay --config this is. Default: the node whose
                        underlay IP is an address of this host.
  --trace               one tcpdump-style line per packet on stderr: direction, outer and inner
                        headers, and the decision (FDB row, flood, proxy-ARP, delivery) or the drop
                        reason. Rate-limited (50 lines/s after a burst of 200). Costs nothing off.
  --pcap FILE           write the inner frames, the VXLAN datagrams (outer Ethernet/IP/UDP headers
                        synthesised) and the dropped packets to FILE as pcapng, one interface per
                        side. On a port other than 4789, tell tshark/Wireshark it is VXLAN:
                          tshark -r FILE -d udp.port==${SEED_VXLAN_PORT},vxlan
  --io MODE             UDP path: native (batched syscalls through the addon) or dgram
                        (node:dgram, portable and slow). Default: ${DEFAULT_IO}.
  --offload on|off      kernel offloads: TAP TSO + checksum offload (64 KiB TCP super-frames,
                        segmented here), UDP GSO on send, UDP GRO on receive. Each is used only
                        when the kernel accepts it; the start-up log line says which are live.
                        off forces one inner frame per datagram. Default: ${DEFAULT_OFFLOAD}.
  --tx-path auto|tap|udp
                        how TCP super-frames leave. tap: whole, as one UDP-tunnel GSO packet
                        written into an underlay-side TAP (NAME-tx) that the host kernel forwards
                        like its own vxlan device's output (Linux >= 6.17, IPv4 underlay; the TAP
                        gets forwarding=1, accept_local=1, rp_filter=0). udp: segmented here and
                        sent on the UDP socket. auto: tap where it works, else udp; the start-up
                        line and \`show\` say which and why. tap refuses to start where it cannot
                        work. Forwarded packets do not honour --dev. Default: auto.
  --peers-only          accept VXLAN datagrams only from underlay addresses in the FDB or the
                        default destinations; others are dropped and counted (rx_unknown_peer).
                        Stops spoofed injection from other hosts on the underlay.
                          kernel: no equivalent (use a firewall rule on the UDP port)
  --metrics ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics: packets and bytes
                        per direction, drops per reason, FDB size, flood copies. IPv6 as
                        [ADDR]:PORT; :PORT listens on every address; PORT is a TCP port,
                        1..65535. Default: off.
  --quiet               no progress lines on stderr (ready:, errors and counters still print).
  -h, --help            this text.

Membership in etcd (flannel's layout and vxlan backend; docs/overlay.md "Membership in etcd")
  --etcd-endpoints URL[,URL...]
                        join the flannel network described in etcd: VNI and port come from
                        <prefix>/config (defaults 1 and ${LINUX_DEFAULT_VXLAN_PORT}), the device is flannel.<VNI> with
                        <subnet>.0/32 from a subnet lease, and every other lease becomes a
                        neighbour <subnet>.0 → VtepMAC (also 'ip neigh ... nud permanent'), an FDB
                        entry VtepMAC → PublicIP and a route <subnet> via <subnet>.0 onlink. --vni,
                        --dstport and --local may be left out (given, they must match etcd);
                        --addr, --route, --neigh, --fdb, --remote and --config are refused.
                          flanneld: --etcd-endpoints URL (with "Backend":{"Type":"vxlan"})
  --etcd-prefix P       where the network lives. Default: ${DEFAULT_ETCD_PREFIX}.
  --public-ip IP        this node's underlay address, the lease's PublicIP. Default: the first
                        IPv4 address of --iface, else of the device with the default route.
  --iface DEV           take the public IP from DEV.
  --subnet-file FILE    written for the flannel CNI plugin (FLANNEL_NETWORK, FLANNEL_SUBNET=
                        <subnet>.1/<len>, FLANNEL_MTU, FLANNEL_IPMASQ=false) and kept on exit: a
                        restarted node asks for the subnet in it. Default: ${DEFAULT_SUBNET_FILE}.
  --etcd-cafile F, --etcd-certfile F, --etcd-keyfile F
                        TLS to etcd (https:// endpoints): the CA, and a client certificate + key.
  --etcd-username U, --etcd-password P
                        etcd password authentication.
  --subnet-lease-ttl SECONDS
                        the lease's TTL, kept alive every TTL/3 while the node runs; after kill -9
                        the peers drop the node when it runs out. SIGTERM revokes it at once.
                        Default: ${DEFAULT_LEASE_TTL_S} (flannel's 24 h).
  --subnet-lease-renew-margin MINUTES
                        accepted for flanneld compatibility; keepalives every TTL/3 make it moot.
  --etcd-timeout SECONDS
                        etcd unreachable at start: retry this long, then exit 1. Default: ${DEFAULT_ETCD_TIMEOUT_S}.
                        Unreachable while running: forwarding goes on with the last known state,
                        'show' and the log say so, and it re-lists when etcd is back.

Example: node 001 of the seed recipe, kernel first, then vxlan-user
  ip link add vxlan-test type vxlan id 10001 dstport 4899 local 192.168.0.21 dev eth0 nolearning
  ip addr add 179.17.1.21/24 dev vxlan-test
  ip link set dev vxlan-test address c2:6a:9b:e5:39:8d
  ip link set vxlan-test up
  arp -s 179.17.1.31 7a:3a:fe:45:a3:76
  bridge fdb append 7a:3a:fe:45:a3:76 dst 192.168.0.31 dev vxlan-test
  route add -net 10.234.118.0/24 gw 179.17.1.31 dev vxlan-test

  vxlan-user up --vni 10001 --name vxlan-test --dstport 4899 --local 192.168.0.21 \\
    --mac c2:6a:9b:e5:39:8d --addr 179.17.1.21/24 \\
    --neigh 179.17.1.31=7a:3a:fe:45:a3:76 --fdb 7a:3a:fe:45:a3:76=192.168.0.31 \\
    --route 10.234.118.0/24=179.17.1.31

  'dev eth0' becomes '--dev eth0' (optional: the route to the peers picks the interface); 'up' and
  'nolearning' need no flag. The same node as a file: vxlan-user up --config examples/node-001.yaml

Running
  When the TAP is up with its MAC, addresses and MTU, the UDP socket is bound and the routes are
  installed - and not before - one line is printed on stdout, e.g.
    ready: vxlan-test vni 10001 udp 192.168.0.21:4899
  Scripts wait for it. Everything else goes to stderr.
  kill -USR1 <pid>   prints the counters (per direction, per drop reason) as one JSON line
                     on stderr; the same line is printed when the instance stops.
  SIGINT/SIGTERM     removes the routes and the TAP device and exits 0 (within 5 seconds).

Exit codes
  0  clean stop (SIGINT/SIGTERM)
  1  runtime failure after start (what was installed is removed)
  2  bad usage or refused configuration: one sentence on stderr, nothing left on the host
     (also: port already in use, missing CAP_NET_ADMIN)

Not supported
  A multicast underlay (the kernel's 'group' option): list the peers with --remote instead.
`;
}
