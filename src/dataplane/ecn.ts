/**
 * ECN through the tunnel, exactly as the kernel's vxlan device does it (include/net/inet_ecn.h,
 * include/net/ip_tunnels.h). Where the kernel differs from RFC 6040's normal mode, the kernel wins: users
 * compare vxlan-user against it.
 *
 * Encapsulation (INET_ECN_encapsulate): the outer ECN field copies the inner one, except that an inner CE
 * becomes outer ECT(0) (a congestion mark is not re-signalled by the tunnel). The outer DSCP is `--tos N`'s
 * (ECN bits dropped) or, with `--tos inherit`, the inner packet's (ip_tunnel_get_dsfield). The inner packet
 * is found past any 802.1Q / 802.1ad tags, as the kernel does since 7074732c8fae (2022: ip_tunnel_get_dsfield
 * and ip_tunnel_get_ttl read skb_protocol(skb, true)). A frame that is not IPv4/IPv6 under its tags counts as
 * Not-ECT with DSCP 0. `--ttl inherit` takes the inner TTL / hop limit the same way (innerHopLimit); for a
 * non-IP frame it is 0, which means the route's hop limit, as the kernel's `ttl ? : ip4_dst_hoplimit()`.
 * Decapsulation reads the inner header without looking through tags: the kernel's vxlan_rcv decides on
 * skb->protocol after eth_type_trans, which is the tag's type for a tagged frame.
 *
 * Decapsulation (INET_ECN_decapsulate), rows = inner ECN, columns = outer ECN:
 * ```
 *                  outer Not-ECT   outer ECT(1)      outer ECT(0)   outer CE
 *   inner Not-ECT  deliver         deliver (*)       deliver (*)    DROP (rx_ecn_not_ect)
 *   inner ECT(1)   deliver         deliver           deliver        inner := CE
 *   inner ECT(0)   deliver         inner := ECT(1)   deliver        inner := CE
 *   inner CE       deliver         deliver           deliver        deliver
 * ```
 * (*) the kernel logs "non-ECT from ... with TOS=..." (rate-limited) and delivers; we deliver silently.
 * Changing an inner IPv4 TOS fixes its header checksum incrementally (RFC 1624), as IP_ECN_set_ce does.
 * Non-IP frames and IP frames too short for their header are delivered untouched.
 *
 * Every function reads the frame through its InnerFrame (wire/inner-frame.ts), parsed once per frame by the
 * encapsulation / decapsulation: "IP" here means its fixed header is whole and its version agrees.
 */
import { csumUpdate16 } from '../wire/checksum.js';
import type { InnerFrame } from '../wire/inner-frame.js';
import { IP_ECN_CE, IP_ECN_ECT0, IP_ECN_ECT1, IP_ECN_MASK, IP_ECN_NOT_ECT, IPV4_CHECKSUM, ipv4SetTos, ipv4Tos, ipv4Ttl } from '../wire/ipv4.js';
import { ipv6HopLimit, ipv6TrafficClass } from '../wire/ipv6.js';

/** `--tos inherit` as a VtepOptions value (the kernel stores inherit as tos 1, a value no real TOS uses here). */
export const TOS_INHERIT = -1 as const;

/** Decapsulation results. */
export const ECN_DELIVER = 0 as const;
/** Outer CE over a Not-ECT inner packet: drop (kernel: rx_frame_errors; here rx_ecn_not_ect). */
export const ECN_DROP = 2 as const;

/** INET_ECN_encapsulate: the outer TOS from the configured one and the inner TOS. */
export function ecnEncapsulate(outer: number, inner: number): number {
  const e = inner & IP_ECN_MASK;
  return (outer & ~IP_ECN_MASK & 0xff) | (e === IP_ECN_CE ? IP_ECN_ECT0 : e);
}

/**
 * The inner packet's DS field (TOS / traffic class) of the frame `v` (parsed from `buf`), past VLAN tags, or 0
 * when it is not IPv4/IPv6 with a whole fixed header.
 */
export function innerDsfield(buf: Buffer, v: InnerFrame): number {
  if (v.ipVersion === 4) return ipv4Tos(buf, v.l3);
  if (v.ipVersion === 6) return ipv6TrafficClass(buf, v.l3);
  return 0;
}

/**
 * `--ttl inherit` (ip_tunnel_get_ttl): the inner IPv4 TTL or IPv6 hop limit of the frame `v`, past VLAN tags;
 * 0 for anything else (ARP, a short frame), which leaves the route's hop limit.
 */
export function innerHopLimit(buf: Buffer, v: InnerFrame): number {
  if (v.ipVersion === 4) return ipv4Ttl(buf, v.l3);
  if (v.ipVersion === 6) return ipv6HopLimit(buf, v.l3);
  return 0;
}

/**
 * The outer TOS for the frame `v`: `base` (a fixed `--tos`, ECN bits ignored) or, when base is TOS_INHERIT,
 * the inner DS field; then the ECN bits per INET_ECN_encapsulate.
 */
export function encapTos(base: number, buf: Buffer, v: InnerFrame): number {
  const inner = innerDsfield(buf, v);
  return ecnEncapsulate(base === TOS_INHERIT ? inner : base, inner);
}

/** __INET_ECN_decapsulate's decision for an outer and inner ECN pair: the new inner ECN, or -1 to drop. */
export function ecnDecapsulate(outerEcn: number, innerEcn: number): number {
  if (innerEcn === IP_ECN_NOT_ECT) return outerEcn === IP_ECN_CE ? -1 : IP_ECN_NOT_ECT;
  if (outerEcn === IP_ECN_CE) return IP_ECN_CE;
  if (outerEcn === IP_ECN_ECT1 && innerEcn === IP_ECN_ECT0) return IP_ECN_ECT1;
  return innerEcn;
}

/**
 * Applies the outer TOS `outer` to the inner frame `v` (parsed from `buf`) in place. Returns ECN_DELIVER or
 * ECN_DROP. Cost on the common path (outer Not-ECT): one compare.
 */
export function decapEcn(buf: Buffer, v: InnerFrame, outer: number): number {
  const oe = outer & IP_ECN_MASK;
  if (oe === IP_ECN_NOT_ECT || oe === IP_ECN_ECT0) {
    // Only a CE or ECT(1) outer changes anything, and only Not-ECT inner + CE drops.
    return ECN_DELIVER;
  }
  if (v.tags !== 0) return ECN_DELIVER; // decided on the EtherType after the MACs, as vxlan_rcv (see the top)
  const l3 = v.l3;
  if (v.ipVersion === 4) {
    const tos = ipv4Tos(buf, l3);
    const ne = ecnDecapsulate(oe, tos & IP_ECN_MASK);
    if (ne < 0) return ECN_DROP;
    const nt = (tos & ~IP_ECN_MASK) | ne;
    if (nt !== tos) {
      const old = buf.readUInt16BE(l3 + IPV4_CHECKSUM);
      buf.writeUInt16BE(csumUpdate16(old, (buf[l3]! << 8) | tos, (buf[l3]! << 8) | nt), l3 + IPV4_CHECKSUM);
      ipv4SetTos(buf, l3, nt);
    }
    return ECN_DELIVER;
  }
  if (v.ipVersion === 6) {
    const b1 = buf[l3 + 1]!;
    const ne = ecnDecapsulate(oe, (b1 >> 4) & IP_ECN_MASK);
    if (ne < 0) return ECN_DROP;
    buf[l3 + 1] = (b1 & 0xcf) | (ne << 4);
    return ECN_DELIVER;
  }
  return ECN_DELIVER;
}
