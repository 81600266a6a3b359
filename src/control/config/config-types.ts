/**
 * The resolved configuration of one `vxlan-user up` instance.
 *
 * Produced by the control plane in three steps (parse → validate → resolve defaults), consumed by the
 * dataplane and the host setup. Every field is final: hot paths never look at option bags.
 */

/** One `--fdb MAC=IP[:PORT]` / `bridge fdb append MAC dst IP [port P] [vni N]` row. */
export interface FdbSpec {
  /** Lower-case colon form, e.g. `7a:3a:fe:45:a3:76`. `00:00:00:00:00:00` is the default-destination entry. */
  readonly mac: string;
  /** The same MAC as a 48-bit integer (exact in a JS number). */
  readonly macNum: number;
  /** Underlay IP in canonical text form. */
  readonly ip: string;
  /** UDP destination port; undefined = the instance's `dstport`. */
  readonly port?: number;
  /** VNI to send with; undefined = the instance's `vni`. */
  readonly vni?: number;
}

/** One `--neigh IP=MAC` row: a permanent neighbour, answered locally by proxy-ARP. */
export interface NeighSpec {
  readonly ip: string;
  readonly mac: string;
  readonly macNum: number;
}

/** One `--route CIDR=GATEWAY` row. `cidr` is normalised to its network address, e.g. `10.234.118.0/24`. */
export interface RouteSpec {
  readonly cidr: string;
  readonly gateway: string;
}

/** Where a raw (not yet validated) value came from: a flag (`--vni`) or a key of a --config file. */
export interface RawOrigin {
  readonly key: string;
  readonly file?: string;
}
/** One value as args.ts (a flag) or file.ts (a file key) collects it (overlay.ts derives them too), before validation. */
export interface RawValue {
  readonly value: unknown;
  readonly origin: RawOrigin;
}

/** Which UDP I/O implementation the dataplane uses. */
export type IoMode = 'native' | 'dgram';

export interface UpConfig {
  readonly vni: number;
  readonly name: string;
  readonly dstport: number;
  /** Underlay address to bind and send from; undefined = bind the wildcard address. */
  readonly local?: string;
  /** Underlay interface (SO_BINDTODEVICE and the MTU default); undefined = none. */
  readonly dev?: string;
  /** TAP MAC, lower-case colon form; undefined = random locally administered (chosen at apply time). */
  readonly mac?: string;
  /** Overlay addresses in CIDR form, as given (host part kept: `179.17.1.21/24`). */
  readonly addr: readonly string[];
  /** TAP MTU; undefined = underlay MTU − 50 (resolved at apply time, when the underlay is known). */
  readonly mtu?: number;
  /** Default destinations (the all-zeros FDB entry). Deduplicated, order kept. */
  readonly remote: readonly string[];
  readonly fdb: readonly FdbSpec[];
  readonly neigh: readonly NeighSpec[];
  readonly route: readonly RouteSpec[];
  /** UDP I/O path. */
  readonly io: IoMode;
  /** No progress lines on stderr (the ready: line, errors and counters still print). */
  readonly quiet: boolean;
  /** `--peers-only`: drop datagrams whose outer source is not a remote in the FDB or the default destinations. */
  readonly peersOnly?: boolean;
  /** `--metrics ADDR:PORT`: serve Prometheus metrics over HTTP there; undefined = off. */
  readonly metrics?: { readonly host: string; readonly port: number };
  /**
   * Kernel offloads (`--offload on|off`, default on): TAP TSO/checksum offload, UDP GSO and GRO, each used
   * only when the kernel accepts it. `off` forces the plain path (one inner frame per datagram).
   */
  readonly offload?: 'on' | 'off';
  /** `--tx-path auto|tap|udp` (default auto): where TCP super-frames leave (defaults.ts DEFAULT_TX_PATH). */
  readonly txPath?: TxPath;
  /** `--learning` / `--nolearning`: learn inner source MAC → outer source IP on receive (default off). */
  readonly learning?: boolean;
  /** `--ageing SECONDS`: learned entries not heard from for this long go (default 300; 0 = never). */
  readonly ageing?: number;
  /**
   * `--ttl N|inherit`: outer TTL / hop limit; inherit = the inner packet's (past VLAN tags; the route's for
   * non-IP frames); undefined = the route's (normally 64).
   */
  readonly ttl?: number | 'inherit';
  /** `--tos N|inherit`: outer TOS / traffic class (ECN bits from the inner packet); undefined = 0. */
  readonly tos?: number | 'inherit';
  /**
   * `--df set|unset|inherit`: the outer DF bit (IPv4); undefined = unset. inherit copies the inner IPv4 DF bit
   * (frames with DF leave from DF-set twin sockets).
   */
  readonly df?: 'set' | 'unset' | 'inherit';
  /** `--noudpcsum` (IPv4 underlay): send zero UDP checksums (SO_NO_CHECK); absent = on, the kernel's default. */
  readonly udpcsum?: false;
  /** `--udp6zerocsumtx` (IPv6 underlay): send zero UDP checksums (UDP_NO_CHECK6_TX). */
  readonly udp6zerocsumtx?: true;
  /** `--udp6zerocsumrx` (IPv6 underlay): accept zero UDP checksums (UDP_NO_CHECK6_RX). */
  readonly udp6zerocsumrx?: true;
  /** `--srcport MIN-MAX` (inclusive): the outer source port is the port of the range the inner flow hashes to (dataplane/source-ports.ts). */
  readonly srcport?: { readonly min: number; readonly max: number };
  /**
   * `--reserved-bits MASK`: VXLAN header bits a received datagram must have clear, as the two 32-bit halves of
   * the kernel's 64-bit `reserved_bits` (hi = bytes 0-3). Absent = the default, only I and the VNI may be set.
   */
  readonly reservedBits?: { readonly hi: number; readonly lo: number };
  /** `--trace`: one tcpdump-style line per packet on stderr, with the decision or drop reason (rate-limited). */
  readonly trace?: boolean;
  /** `--pcap FILE`: write inner frames, outer datagrams (synthesised outer headers) and drops as pcapng. */
  readonly pcap?: string;
  /**
   * A config file's `vnis:` list: one complete config per device (the shared top-level keys copied in), all on
   * one UDP socket. Undefined for a single-VNI config. When present, the per-device fields above are the
   * first device's.
   */
  readonly vnis?: readonly UpConfig[];
}

/** `--tx-path`: see defaults.ts TX_PATHS. */
export type TxPath = 'auto' | 'tap' | 'udp';
