/**
 * Path-MTU signalling into the TAP: a frame too big for the underlay is dropped (RFC 7348: a VTEP never
 * fragments) and, where the sender can learn from it, answered with ICMP "fragmentation needed" (IPv4 with DF)
 * or ICMPv6 "packet too big", written back into the TAP as if the inner destination had sent it.
 *
 * This mirrors the kernel's ip_tunnel_core.c (skb_tunnel_check_pmtu → iptunnel_pmtud_check_icmp[v6] →
 * iptunnel_pmtud_build_icmp[v6]), which the vxlan driver uses for a device attached to a bridge:
 *   - the MTU announced is the underlay route's MTU minus the full encapsulation (50 over IPv4, 70 over IPv6);
 *   - IPv4: only when the MTU is at least 576, the packet has DF set and is not a fragment (frag_off == DF),
 *     its destination is not broadcast/multicast, its source not zero/loopback/broadcast/multicast, and it is
 *     not itself an ICMP error; the quote is trimmed to 576 - 20 - 8 bytes;
 *   - IPv6: only when the MTU is at least 1280, the source is not unspecified/multicast/loopback, the packet is
 *     not a non-first fragment, and it is not itself an ICMPv6 error; the quote is trimmed to 1280 - 40 - 8;
 *   - the reply: Ethernet addresses swapped, IP source = the inner destination, IP destination = the inner
 *     source, TTL / hop limit copied from the packet, TOS/traffic class 0, IPv4 id 0 with DF.
 * The kernel does this only for bridged devices; on a plain vxlan device it lowers the sender's route PMTU
 * directly (skb_dst_update_pmtu_no_confirm), which a userspace VTEP cannot do. An ICMP into the TAP has the same
 * effect on the host's stack (the route cache learns the MTU; TCP lowers its MSS), so we always do it.
 *
 * No allocation: the reply is built in a caller-owned scratch buffer.
 */
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { csumAdd, csumFinish, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { FRAG_LATER, type InnerFrame } from '../wire/inner-frame.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPV4_FLAG_DF, IPV4_MIN_HLEN, ipv4Dst, ipv4Src } from '../wire/ipv4.js';
import { IPV6_MIN_MTU } from '../wire/ipv6.js';

/** Largest reply frame: the IPv6 case, 14 + 1280. */
export const PMTU_REPLY_MAX = ETH_HLEN + IPV6_MIN_MTU;
const IPV4_PMTU_MIN = 576; // the kernel's check (RFC 1122's minimum reassembly size)
const IPV4_QUOTE_MAX = 576 - 20 - 8;
const IPV6_QUOTE_MAX = IPV6_MIN_MTU - 40 - 8;

/**
 * If the frame `v` (parsed from `buf`) deserves an ICMP "fragmentation needed" / "packet too big" with next-hop
 * MTU `mtu`, writes the reply frame at `out[oo]` and returns its length; otherwise returns 0.
 * The frame's end may lie past the bytes actually present only for TSO super-frames: we read at most the quote.
 */
export function buildPmtuReply(buf: Buffer, v: InnerFrame, mtu: number, out: Buffer, oo: number): number {
  if (v.tags !== 0) return 0; // decided on the EtherType after the MACs
  const fo = v.fo;
  const l3 = v.l3;
  const l3len = v.end - l3;
  if (v.ipVersion === 4) {
    if (mtu < IPV4_PMTU_MIN) return 0;
    // The header as far as it is present; its total length is not needed (the quote is cut from the frame).
    if (v.l3Hlen < IPV4_MIN_HLEN || v.l4 > v.end) return 0;
    if (v.flagsFrag !== IPV4_FLAG_DF) return 0; // DF set, MF clear, offset 0: exactly "frag_off == DF"
    const src = ipv4Src(buf, l3);
    const dst = ipv4Dst(buf, l3);
    if (dst === 0xffffffff || dst >>> 28 === 0xe) return 0; // limited broadcast, multicast
    const s8 = src >>> 24;
    if (src === 0 || s8 === 0 || s8 === 127 || src === 0xffffffff || src >>> 28 === 0xe) return 0; // zeronet, loopback, bcast, mcast
    if (v.proto === IPPROTO_ICMP && v.l4 < v.end) {
      const t = buf[v.l4]!;
      // icmp_is_err(): destination unreachable, source quench, redirect, time exceeded, parameter problem
      if (t === 3 || t === 4 || t === 5 || t === 11 || t === 12) return 0;
    }
    const quote = Math.min(l3len, IPV4_QUOTE_MAX);
    const ip = oo + ETH_HLEN;
    const icmp = ip + 20;
    buf.copy(out, icmp + 8, l3, l3 + quote);
    out[icmp] = 3; // destination unreachable
    out[icmp + 1] = 4; // fragmentation needed and DF set
    out.writeUInt16BE(0, icmp + 2);
    out.writeUInt16BE(0, icmp + 4);
    out.writeUInt16BE(mtu, icmp + 6);
    out.writeUInt16BE(csumFinish(csumAdd(out, icmp, 8 + quote)), icmp + 2);
    out[ip] = 0x45;
    out[ip + 1] = 0; // tos 0
    out.writeUInt16BE(20 + 8 + quote, ip + 2);
    out.writeUInt16BE(0, ip + 4); // id 0
    out.writeUInt16BE(0x4000, ip + 6); // DF
    out[ip + 8] = buf[l3 + 8]!; // the packet's TTL
    out[ip + 9] = 1; // ICMP
    out.writeUInt16BE(0, ip + 10);
    out.writeUInt32BE(dst, ip + 12);
    out.writeUInt32BE(src, ip + 16);
    out.writeUInt16BE(csumFinish(csumAdd(out, ip, 20)), ip + 10);
    swapEthernet(buf, fo, out, oo, ETHERTYPE_IPV4);
    return ETH_HLEN + 20 + 8 + quote;
  }
  if (v.ipVersion === 6) {
    if (mtu < IPV6_MIN_MTU) return 0;
    const s0 = buf[l3 + 8]!;
    if (s0 === 0xff) return 0; // multicast source
    if (isZeroOrLoopback6(buf, l3 + 8)) return 0;
    // A fragment header: only the first fragment (offset 0) may be answered.
    if (v.frag === FRAG_LATER) return 0;
    // icmpv6_is_err(): types below 128 are errors.
    if (v.proto === IPPROTO_ICMPV6 && v.l4 < v.end && buf[v.l4]! < 128) return 0;
    const quote = Math.min(l3len, IPV6_QUOTE_MAX);
    const ip = oo + ETH_HLEN;
    const icmp = ip + 40;
    buf.copy(out, icmp + 8, l3, l3 + quote);
    out.writeUInt32BE(0x60000000, ip); // version 6, traffic class 0, flow label 0
    out.writeUInt16BE(8 + quote, ip + 4);
    out[ip + 6] = 58;
    out[ip + 7] = buf[l3 + 7]!; // the packet's hop limit
    buf.copy(out, ip + 8, l3 + 24, l3 + 40); // source = its destination
    buf.copy(out, ip + 24, l3 + 8, l3 + 24); // destination = its source
    out[icmp] = 2; // packet too big
    out[icmp + 1] = 0;
    out.writeUInt16BE(0, icmp + 2);
    out.writeUInt32BE(mtu, icmp + 4);
    const sum = csumAdd(out, icmp, 8 + quote, pseudoHeaderSumV6(out, ip + 8, ip + 24, 58, 8 + quote));
    out.writeUInt16BE(csumFinish(sum), icmp + 2);
    swapEthernet(buf, fo, out, oo, ETHERTYPE_IPV6);
    return ETH_HLEN + 40 + 8 + quote;
  }
  return 0;
}

/** Reply Ethernet header: to the frame's source, from the frame's destination. */
function swapEthernet(buf: Buffer, fo: number, out: Buffer, oo: number, ethertype: number): void {
  buf.copy(out, oo, fo + 6, fo + 12);
  buf.copy(out, oo + 6, fo, fo + 6);
  out.writeUInt16BE(ethertype, oo + 12);
}

function isZeroOrLoopback6(buf: Buffer, a: number): boolean {
  for (let i = 0; i < 15; i++) if (buf[a + i] !== 0) return false;
  const last = buf[a + 15]!;
  return last === 0 || last === 1;
}
