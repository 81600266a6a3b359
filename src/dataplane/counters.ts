/**
 * Dataplane counters: one canonical set of names, reused by every view (the SIGUSR1/exit JSON dump, and
 * later `stats`, `--trace` and the Prometheus metrics). Every frame read from the TAP and every datagram
 * received on the UDP socket ends in exactly one of: delivered (tx_packets / rx_packets, proxy-ARP), or a
 * drop counted under its reason. Counters only go up.
 *
 * Direction names follow the kernel's vxlan device: "tx" is TAP → underlay (encapsulation), "rx" is
 * underlay → TAP (decapsulation).
 */
export const COUNTER_NAMES = [
  // TAP → UDP (encapsulation)
  'tx_frames', // frames read from the TAP
  'tx_packets', // VXLAN datagrams handed to the kernel (one per remote for a flooded frame)
  'tx_bytes', // UDP payload bytes of those datagrams (VXLAN header + inner frame)
  'tx_flood_frames', // frames sent to the default destinations (broadcast, multicast, unknown unicast)
  'tx_flood_copies', // datagrams those floods produced (head-end replication: one per remote)
  'arp_proxied', // ARP requests answered locally from the neighbour table (never leave the host)
  'ndp_proxied', // IPv6 neighbour solicitations answered locally from the neighbour table (NDP proxy)
  'tx_csum_completed', // inner checksums finished in userspace (the TAP handed a partial one)
  'tx_tso_frames', // TCP super-frames read from the TAP (TSO) and segmented in userspace
  'tx_tso_segments', // inner segments those produced
  'tx_tunnel_writes', // --tx-path tap: whole VXLAN super-packets written to the underlay-side TAP (one per TSO frame and remote)
  'rx_coalesced_frames', // TCP super-frames written to the TAP (userspace GRO)
  'rx_coalesced_segments', // inner segments glued into them
  'rx_gro_datagrams', // datagrams that arrived coalesced by UDP GRO (each counts once more in rx_datagrams per segment)
  'tap_super_writes', // inner frames larger than the TAP MTU (a kernel peer's whole super-datagram) written to the TAP as one GSO super-frame
  'pmtu_icmp_sent', // ICMP "fragmentation needed" / ICMPv6 "packet too big" written back into the TAP (each for a tx_too_big drop)
  'fdb_learned', // --learning: new FDB entries learned from inner source MACs
  'fdb_moved', // --learning: learned entries that moved to another VTEP
  'fdb_aged', // --learning: learned entries removed after --ageing seconds without traffic from their MAC
  'fdb_learn_skipped', // --learning: a source not learned (LEARNED_MAX entries, or no destination slot left); the frame is delivered
  'tx_runt', // drop: frame shorter than an Ethernet header
  'tx_fdb_miss', // drop: no FDB entry and no default destination
  'tx_too_big', // drop: the encapsulated datagram would not fit the underlay MTU (RFC 7348: never fragment)
  'tx_sock_full', // drop: the UDP socket buffer was full (EAGAIN/ENOBUFS)
  'tx_error', // drop: the kernel refused the send (no route to the remote, ...)
  'tx_gso_unsupported', // drop: a GSO super-frame arrived although no offload was negotiated
  'tx_gso_bad_size', // drop: a TAP super-frame whose gso_size is 0 or larger than the frame
  // UDP → TAP (decapsulation)
  'rx_datagrams', // datagrams received on the VXLAN socket
  'rx_packets', // inner frames written to the TAP
  'rx_bytes', // bytes of those inner frames
  'rx_short', // drop: shorter than VXLAN header + inner Ethernet header (8 + 14)
  'rx_bad_flags', // drop: I flag clear
  'rx_reserved_bits', // drop: a reserved bit set (strict, like the kernel)
  'rx_wrong_vni', // drop: VNI is not ours
  'rx_loop', // drop: inner source MAC is our own (a loop or a reflected flood)
  'rx_bad_src_mac', // drop: inner source MAC is multicast/broadcast or all-zeros
  'rx_truncated', // drop: datagram larger than the receive slot
  'rx_unknown_peer', // drop: --peers-only and the outer source is not a known remote
  'rx_fdb_static_conflict', // drop: --learning, and the inner source MAC has a static FDB entry pointing to another VTEP
  'rx_ecn_not_ect', // drop: outer ECN is CE but the inner packet is not ECN-capable (RFC 6040, kernel INET_ECN_decapsulate)
  'rx_too_big', // drop: an inner frame larger than the TAP MTU that cannot be written as a GSO super-frame (not TCP/UDP, a fragment, or UDP without its segment size)
  'rx_super_bad_len', // drop: an inner frame larger than the TAP MTU (or a UDP GRO datagram) whose lengths don't add up
  'rx_super_bad_tcp_hdr', // drop: an inner TCP super-frame whose TCP header is shorter than 20 bytes or longer than the segment
  'rx_tap_error', // drop: the TAP refused the write
  'pool_exhausted', // drop: no free buffer slot (bounded pools never grow)
] as const;

export type CounterName = (typeof COUNTER_NAMES)[number];

/** Index of each counter in the backing array: `C.tx_fdb_miss` etc. Resolved once, used on the hot path. */
export const C: { readonly [K in CounterName]: number } = Object.freeze(
  Object.fromEntries(COUNTER_NAMES.map((n, i) => [n, i])) as { [K in CounterName]: number },
);

/**
 * The one exit for a frame or datagram the dataplane does not deliver: counts it under its reason and returns
 * the reason, which is the packet's verdict for the observer (`return drop(v, C.rx_short)`).
 */
export function drop(v: Float64Array, reason: number): number {
  v[reason]!++;
  return reason;
}

export class Counters {
  /** Float64 so byte counters stay exact far beyond 2^32. Index with `C.name`. */
  readonly v = new Float64Array(COUNTER_NAMES.length);

  get(name: CounterName): number {
    return this.v[C[name]]!;
  }

  /** A plain snapshot object with every counter, zeros included, in canonical order. */
  snapshot(): Record<CounterName, number> {
    const out = {} as Record<CounterName, number>;
    for (let i = 0; i < COUNTER_NAMES.length; i++) out[COUNTER_NAMES[i]!] = this.v[i]!;
    return out;
  }

  /** Only the drop reasons that are non-zero: what a user wants to see first. */
  drops(): Partial<Record<CounterName, number>> {
    const out: Partial<Record<CounterName, number>> = {};
    for (const n of DROP_REASONS) if (this.get(n) !== 0) out[n] = this.get(n);
    return out;
  }
}

export const DROP_REASONS: readonly CounterName[] = [
  'tx_runt',
  'tx_fdb_miss',
  'tx_too_big',
  'tx_sock_full',
  'tx_error',
  'tx_gso_unsupported',
  'tx_gso_bad_size',
  'rx_short',
  'rx_bad_flags',
  'rx_reserved_bits',
  'rx_wrong_vni',
  'rx_loop',
  'rx_bad_src_mac',
  'rx_truncated',
  'rx_unknown_peer',
  'rx_fdb_static_conflict',
  'rx_ecn_not_ect',
  'rx_too_big',
  'rx_super_bad_len',
  'rx_super_bad_tcp_hdr',
  'rx_tap_error',
  'pool_exhausted',
];
