/**
 * Defaults and limits of `vxlan-user up`, in one place.
 *
 * The config front end resolves defaults from here (validate.ts) and quotes the limits in its error
 * sentences (values.ts, validate.ts); the help text (help.ts) prints the same numbers, so the two cannot drift apart.
 * Values resolved later, when the host is known (the MAC and the MTU), are documented here but not set.
 * Numbers fixed by the wire format (the VNI width, the IANA port, the encapsulation overhead) are defined in
 * src/wire and only named here.
 */

import { IPV6_MIN_MTU } from '../../wire/ipv6.js';
import { VXLAN_MTU_OVERHEAD_IPV4, VXLAN_MTU_OVERHEAD_IPV6, VXLAN_PORT_IANA, VXLAN_PORT_LINUX, VXLAN_VNI_MAX } from '../../wire/vxlan.js';

/** `--name`: the TAP device name when none is given. */
export const DEFAULT_NAME = 'vxlan0';
/** A `vnis:` entry without a name is called this plus its VNI (`vx10001`): a default shared by all would clash. */
export const VNIS_NAME_PREFIX = 'vx';
/** Devices one `vnis:` process holds at most (each owns a block of the shared sockets' destination slots). */
export const VNIS_MAX = 32;

/** `--dstport`: the IANA-assigned VXLAN port (RFC 7348 §5: "Destination Port: IANA has assigned the value 4789"). */
export const IANA_VXLAN_PORT: number = VXLAN_PORT_IANA;
/** The Linux kernel's own default when `ip link add ... type vxlan` has no `dstport` (pre-IANA; flannel uses it). */
export const LINUX_DEFAULT_VXLAN_PORT: number = VXLAN_PORT_LINUX;
/** The port our seed clusters use (VNI 10001). */
export const SEED_VXLAN_PORT = 4899;
export const DEFAULT_DSTPORT = IANA_VXLAN_PORT;

/** `--io`: the UDP I/O implementation. */
export const DEFAULT_IO = 'native' as const;
export const IO_MODES = ['native', 'dgram'] as const;
/** Kernel offloads (TAP TSO/CSUM, UDP GSO/GRO): on by default, each used only where the kernel accepts it. */
export const DEFAULT_OFFLOAD = 'on' as const;
export const OFFLOAD_MODES = ['on', 'off'] as const;
/**
 * `--tx-path`: how TCP super-frames leave. `tap`: whole, as UDP-tunnel GSO packets written into an underlay-side
 * TAP (Linux >= 6.17; the kernel forwards them like its own vxlan device's output). `udp`: segmented here and
 * sent on the UDP socket. `auto` (default): tap where it works, else udp, and the start-up line says why.
 */
export const DEFAULT_TX_PATH = 'auto' as const;
export const TX_PATHS = ['auto', 'tap', 'udp'] as const;

/**
 * `--learning` / `--nolearning`: off, as in our users' recipes (`ip link add ... nolearning`); the kernel's own
 * default is on. `--ageing`: the kernel's default, 300 s; 0 = never; a u32 of seconds like IFLA_VXLAN_AGEING.
 */
export const DEFAULT_LEARNING = false;
export const DEFAULT_AGEING = 300;
export const AGEING_MIN = 0;
export const AGEING_MAX = 0xffff_ffff;

/**
 * Outer header: `--ttl N` (default: the route's hop limit, normally 64, as the kernel's `ttl auto`), `--tos N`
 * (default 0; the ECN bits, 0x03, are always 0 here), `--df set|unset` (default unset, the kernel's).
 */
export const TTL_MIN = 1;
export const TTL_MAX = 255;
export const TOS_MIN = 0;
export const TOS_MAX = 255;

/** `--quiet`: off, i.e. the counters JSON line is printed on stderr at exit. */
export const DEFAULT_QUIET = false;

/** The VNI is a 24-bit field (RFC 7348 §5: "VXLAN Network Identifier (VNI): This is a 24-bit value"). */
export const VNI_MIN = 0;
export const VNI_MAX: number = VXLAN_VNI_MAX; // 16777215

/** UDP ports. 0 would mean "any" to bind(2) and "the default" to the kernel's vxlan; we ask for a real port. */
export const PORT_MIN = 1;
export const PORT_MAX = 65535;

/**
 * Interface names: IFNAMSIZ is 16 bytes including the terminating NUL, so at most 15 bytes
 * (the kernel's dev_valid_name(): non-empty, shorter than IFNAMSIZ, not "." or "..", no '/', ':' or whitespace).
 */
export const IFNAMSIZ = 16;
export const IFNAME_MAX = IFNAMSIZ - 1;

/**
 * Encapsulation overhead on the underlay: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) = 50,
 * with an IPv6 underlay 40 + 8 + 8 + 14 = 70. The kernel's vxlan uses the same numbers (VXLAN_HEADROOM,
 * VXLAN6_HEADROOM) for its default MTU and its maximum MTU.
 */
export const VXLAN_OVERHEAD_IPV4: number = VXLAN_MTU_OVERHEAD_IPV4;
export const VXLAN_OVERHEAD_IPV6: number = VXLAN_MTU_OVERHEAD_IPV6;
/** The largest IP datagram (IP_MAX_MTU). */
export const IP_MAX_MTU = 65535;

/** `--mtu` lower bounds: RFC 791 (every IPv4 host must accept 68 octets), RFC 8200 §5 (IPv6 needs 1280). */
export const MTU_MIN_IPV4 = 68;
export const MTU_MIN_IPV6: number = IPV6_MIN_MTU;
/** `--mtu` upper bounds: IP_MAX_MTU minus the encapsulation overhead, as the kernel's vxlan_change_mtu(). */
export const MTU_MAX_IPV4_UNDERLAY = IP_MAX_MTU - VXLAN_OVERHEAD_IPV4; // 65485
export const MTU_MAX_IPV6_UNDERLAY = IP_MAX_MTU - VXLAN_OVERHEAD_IPV6; // 65465
/**
 * `--mtu` default: not set here. The TAP MTU is the underlay MTU (of `--dev`, or of the route to the
 * first remote) minus VXLAN_OVERHEAD_*, resolved at apply time: 1500 − 50 = 1450 on a plain Ethernet underlay.
 */

/**
 * `--mac` default: not set here. A random locally administered unicast MAC (first octet: bit 0x02 set,
 * bit 0x01 clear) is chosen at apply time, as the kernel does for a new vxlan device (eth_hw_addr_random).
 */

/** The only `--config` file schema this version reads. */
export const CONFIG_SCHEMA_VERSION = 1;

// Membership in etcd (control/flannel/): flannel's own defaults.
export const DEFAULT_LEASE_TTL_S = 86_400;
export const DEFAULT_ETCD_TIMEOUT_S = 60;
/** flannel's default `--etcd-prefix`. */
export const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
