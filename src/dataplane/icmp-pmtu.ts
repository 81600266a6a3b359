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
import { IPV6_MIN_MTU } from '../wire/ipv6.js';

/** Largest reply frame: the IPv6 case, 14 + 1280. */
export const PMTU_REPLY_MAX = ETH_HLEN + IPV6_MIN_MTU;
const IPV4_PMTU_MIN = 576; // the kernel's check (RFC 1122's minimum reassembly size)
const IPV4_QUOTE_MAX = 576 - 20 - 8;
const IPV6_QUOTE_MAX = IPV6_MIN_MTU - 40 - 8;

/**
 * If the frame at `buf[fo .. fo+flen)` deserves an ICMP "fragmentation needed" / "packet too big" with next-hop
 * MTU `mtu`, writes the reply frame at `out[oo]` and returns its length; otherwise returns 0.
 * `flen` may exceed the bytes actually present only for TSO super-frames: we read at most the quote.
 */
export function buildPmtuReply(buf: Buffer, fo: number, flen: number, mtu: number, out: Buffer, oo: number): number {
  if (flen < ETH_HLEN + 20) return 0;
  const type = buf.readUInt16BE(fo + 12);
  const l3 = fo + ETH_HLEN;
  const l3len = flen - ETH_HLEN;
  if (type === ETHERTYPE_IPV4) {
    if (mtu < IPV4_PMTU_MIN) return 0;
    const vihl = buf[l3]!;
    const ihl = (vihl & 0x0f) << 2;
    if (vihl >> 4 !== 4 || ihl < 20 || l3len < ihl) return 0;
    if (buf.readUInt16BE(l3 + 6) !== 0x4000) return 0; // DF set, MF clear, offset 0: exactly "frag_off == DF"
    const src = buf.readUInt32BE(l3 + 12);
    const dst = buf.readUInt32BE(l3 + 16);
    if (dst === 0xffffffff || dst >>> 28 === 0xe) return 0; // limited broadcast, multicast
    const s8 = src >>> 24;
    if (src === 0 || s8 === 0 || s8 === 127 || src === 0xffffffff || src >>> 28 === 0xe) return 0; // zeronet, loopback, bcast, mcast
    if (buf[l3 + 9] === 1 && l3len >= ihl + 1) {
      const t = buf[l3 + ihl]!;
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
  if (type === ETHERTYPE_IPV6) {
    if (mtu < IPV6_MIN_MTU || l3len < 40 || buf[l3]! >> 4 !== 6) return 0;
    const s0 = buf[l3 + 8]!;
    if (s0 === 0xff) return 0; // multicast source
    if (isZeroOrLoopback6(buf, l3 + 8)) return 0;
    const nh = buf[l3 + 6]!;
    // A fragment header: only the first fragment (offset 0) may be answered.
    if (nh === 44 && (l3len < 48 || (buf.readUInt16BE(l3 + 42) & ~0x7) !== 0)) return 0;
    // icmpv6_is_err(): types below 128 are errors.
    if (nh === 58 && l3len >= 41 && buf[l3 + 40]! < 128) return 0;
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
