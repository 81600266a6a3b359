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
 */
import { csumUpdate16 } from '../wire/checksum.js';
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../wire/ethernet.js';
import { IP_ECN_CE, IP_ECN_ECT0, IP_ECN_ECT1, IP_ECN_MASK, IP_ECN_NOT_ECT, IPV4_CHECKSUM, IPV4_MIN_HLEN, IPV4_TOS, IPV4_TTL } from '../wire/ipv4.js';
import { IPV6_HOP_LIMIT } from '../wire/ipv6.js';

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

/** Tags looked through, as the kernel's VLAN_MAX_DEPTH. */
const VLAN_MAX_DEPTH = 8;

/**
 * Where the inner packet's Ethernet type is in the frame at `buf[fo .. fo+flen)`, past up to VLAN_MAX_DEPTH
 * 802.1Q/802.1ad tags (skb_protocol(skb, true)): the offset of the 2-byte type, the L3 header right after it;
 * -1 when the frame ends first. Callers still check that the L3 header fits.
 */
export function innerTypeAt(buf: Buffer, fo: number, flen: number): number {
  let at = fo + 12;
  const end = fo + flen;
  for (let depth = 0; at + 2 <= end; depth++) {
    const et = (buf[at]! << 8) | buf[at + 1]!;
    if ((et !== ETHERTYPE_VLAN && et !== ETHERTYPE_QINQ) || depth === VLAN_MAX_DEPTH) return at;
    at += 4;
  }
  return -1;
}

/**
 * The inner packet's DS field (TOS / traffic class) of the Ethernet frame at `buf[fo .. fo+flen)`, past VLAN
 * tags, or 0 when it is not IPv4/IPv6 or too short.
 */
export function innerDsfield(buf: Buffer, fo: number, flen: number): number {
  const t = innerTypeAt(buf, fo, flen);
  if (t < 0 || t + 4 > fo + flen) return 0;
  const et = (buf[t]! << 8) | buf[t + 1]!;
  const l3 = t + 2;
  if (et === ETHERTYPE_IPV4) return (buf[l3]! >> 4) === 4 ? buf[l3 + IPV4_TOS]! : 0;
  if (et === ETHERTYPE_IPV6) return (buf[l3]! >> 4) === 6 ? ((buf[l3]! & 0x0f) << 4) | (buf[l3 + 1]! >> 4) : 0;
  return 0;
}

/**
 * `--ttl inherit` (ip_tunnel_get_ttl): the inner IPv4 TTL or IPv6 hop limit of the frame at `buf[fo ..
 * fo+flen)`, past VLAN tags; 0 for anything else (ARP, a short frame), which leaves the route's hop limit.
 */
export function innerHopLimit(buf: Buffer, fo: number, flen: number): number {
  const t = innerTypeAt(buf, fo, flen);
  if (t < 0) return 0;
  const et = (buf[t]! << 8) | buf[t + 1]!;
  const l3 = t + 2;
  if (et === ETHERTYPE_IPV4) return l3 + IPV4_MIN_HLEN <= fo + flen && buf[l3]! >> 4 === 4 ? buf[l3 + IPV4_TTL]! : 0;
  if (et === ETHERTYPE_IPV6) return l3 + 40 <= fo + flen && buf[l3]! >> 4 === 6 ? buf[l3 + IPV6_HOP_LIMIT]! : 0;
  return 0;
}

/**
 * The outer TOS for the frame at `fo`: `base` (a fixed `--tos`, ECN bits ignored) or, when base is
 * TOS_INHERIT, the inner DS field; then the ECN bits per INET_ECN_encapsulate.
 */
export function encapTos(base: number, buf: Buffer, fo: number, flen: number): number {
  const inner = innerDsfield(buf, fo, flen);
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
 * Applies the outer TOS `outer` to the inner frame at `buf[fo .. fo+flen)` in place. Returns ECN_DELIVER or
 * ECN_DROP. Cost on the common path (outer Not-ECT): one compare.
 */
export function decapEcn(buf: Buffer, fo: number, flen: number, outer: number): number {
  const oe = outer & IP_ECN_MASK;
  if (oe === IP_ECN_NOT_ECT || oe === IP_ECN_ECT0) {
    // Only a CE or ECT(1) outer changes anything, and only Not-ECT inner + CE drops.
    return ECN_DELIVER;
  }
  if (flen < ETH_HLEN + 2) return ECN_DELIVER;
  const et = buf.readUInt16BE(fo + 12);
  const l3 = fo + ETH_HLEN;
  if (et === ETHERTYPE_IPV4) {
    if (flen < ETH_HLEN + IPV4_MIN_HLEN || buf[l3]! >> 4 !== 4) return ECN_DELIVER;
    const tos = buf[l3 + IPV4_TOS]!;
    const ne = ecnDecapsulate(oe, tos & IP_ECN_MASK);
    if (ne < 0) return ECN_DROP;
    const nt = (tos & ~IP_ECN_MASK) | ne;
    if (nt !== tos) {
      const old = buf.readUInt16BE(l3 + IPV4_CHECKSUM);
      buf.writeUInt16BE(csumUpdate16(old, (buf[l3]! << 8) | tos, (buf[l3]! << 8) | nt), l3 + IPV4_CHECKSUM);
      buf[l3 + IPV4_TOS] = nt;
    }
    return ECN_DELIVER;
  }
  if (et === ETHERTYPE_IPV6) {
    if (flen < ETH_HLEN + 40 || buf[l3]! >> 4 !== 6) return ECN_DELIVER;
    const b1 = buf[l3 + 1]!;
    const ne = ecnDecapsulate(oe, (b1 >> 4) & IP_ECN_MASK);
    if (ne < 0) return ECN_DROP;
    buf[l3 + 1] = (b1 & 0xcf) | (ne << 4);
    return ECN_DELIVER;
  }
  return ECN_DELIVER;
}
