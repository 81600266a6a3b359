/**
 * NDP proxy: neighbour solicitations (RFC 4861 §4.3) for an IPv6 address in the static neighbour table are
 * answered on the TAP with a neighbour advertisement by vxlan-user itself and never leave the host — the IPv6
 * twin of proxy-ARP (proxy-arp.ts), as the kernel's vxlan `proxy` option does in neigh_reduce() /
 * vxlan_na_create(). Other solicitations are forwarded like any multicast (flooded).
 *
 * ```
 *  NS (ICMPv6 type 135)                      NA (type 136), written in place over the NS
 *  0      8      16            32            0      8      16            32
 *  | type | code |  checksum   |             | 136  |  0   |  checksum   |
 *  |         reserved          |             |R|S|O|      reserved       |   S and O set, R clear
 *  |     target address (16)   |             |     target address (16)   |   unchanged
 *  | opt 1 (source lladdr) ... |             | 2 | 1 | target lladdr (6) |   the neighbour's MAC
 * ```
 * The reply goes from the target to the solicitation's source, hop limit 255 (RFC 4861 §7.1.2 checks it),
 * Ethernet from the neighbour's MAC to the asker's (its source link-layer option when present, as the kernel).
 * Not answered: solicitations that fail RFC 4861 §7.1.1 validity (hop limit 255, code 0, length, target not
 * multicast), and duplicate address detection probes (source ::) — those are flooded. The NS checksum is not
 * verified: the frame comes from the local host stack through the TAP, as for the kernel's proxy.
 */
import { csumAdd, csumFinish, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { IPV6_ADDR_LEN, IPV6_DST, IPV6_HLEN, IPV6_HOP_LIMIT, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LEN, IPV6_SRC, ipv6AddrFormat, ipv6AddrParse } from '../wire/ipv6.js';
import { IPPROTO_ICMPV6 } from '../wire/ipv4.js';
import { macRead, macWrite } from '../wire/mac.js';

export const ICMPV6_NS = 135 as const;
export const ICMPV6_NA = 136 as const;
/** Offsets in the NS/NA message. */
const ND_FLAGS = 4;
const ND_TARGET = 8;
const ND_OPTIONS = 24;
const ND_OPT_SOURCE_LL = 1;
const ND_OPT_TARGET_LL = 2;
const NA_FLAG_SOLICITED = 0x40;
const NA_FLAG_OVERRIDE = 0x20;
/** NA with one target link-layer option. */
const NA_LEN = ND_OPTIONS + 8;
/** Ethernet + IPv6 + NA: what the caller writes back to the TAP. */
export const NA_FRAME_LEN = ETH_HLEN + IPV6_HLEN + NA_LEN;

/**
 * Static IPv6 neighbours, built by the control plane, read on the hot path without allocation: addresses in
 * one Buffer (16 bytes each), found through a Map keyed by their last 32 bits.
 */
export class Neigh6Table {
  private readonly addrs: Buffer;
  private readonly macs: number[] = [];
  private readonly byTail = new Map<number, number[]>();

  /** `entries`: [IPv6 text, MAC as a 48-bit number]. Throws on an address that does not parse. */
  constructor(entries: readonly (readonly [string, number])[] = []) {
    this.addrs = Buffer.alloc(entries.length * IPV6_ADDR_LEN);
    entries.forEach(([ip, mac], i) => {
      if (!ipv6AddrParse(ip, this.addrs, i * IPV6_ADDR_LEN)) throw new Error(`not an IPv6 address: ${ip}`);
      this.macs.push(mac);
      const tail = this.addrs.readUInt32BE(i * IPV6_ADDR_LEN + 12);
      const list = this.byTail.get(tail);
      if (list === undefined) this.byTail.set(tail, [i]);
      else list.push(i);
    });
  }

  get size(): number {
    return this.macs.length;
  }

  /** The entries as [RFC 5952 text, MAC], in insertion order (control plane: show, and the next table). */
  entries(): [string, number][] {
    return this.macs.map((mac, i) => [ipv6AddrFormat(this.addrs, i * IPV6_ADDR_LEN), mac]);
  }

  /** The MAC for the 16-byte address at buf[off], or -1. */
  lookup(buf: Buffer, off: number): number {
    const list = this.byTail.get(buf.readUInt32BE(off + 12));
    if (list === undefined) return -1;
    for (let k = 0; k < list.length; k++) {
      const i = list[k]!;
      if (this.addrs.compare(buf, off, off + IPV6_ADDR_LEN, i * IPV6_ADDR_LEN, (i + 1) * IPV6_ADDR_LEN) === 0) return this.macs[i]!;
    }
    return -1;
  }
}

/** True when the frame is (by its headers) an ICMPv6 packet without extension headers: the cheap pre-check. */
export function isIcmpv6(buf: Buffer, fo: number, flen: number): boolean {
  return flen >= ETH_HLEN + IPV6_HLEN + 4 && buf[fo + ETH_HLEN + IPV6_NEXT_HEADER] === IPPROTO_ICMPV6;
}

/**
 * If the frame at `fo` (Ethernet type IPv6) is a valid neighbour solicitation for an address in `table`,
 * rewrites it in place into the advertisement and returns true; the caller writes NA_FRAME_LEN bytes back to
 * the TAP. The slot must have room for NA_FRAME_LEN bytes at `fo` (a solicitation with its source link-layer
 * option is exactly that long; batch slots are far larger).
 */
export function answerNs(buf: Buffer, fo: number, flen: number, table: Neigh6Table): boolean {
  const l3 = fo + ETH_HLEN;
  const icmp = l3 + IPV6_HLEN;
  if (!isIcmpv6(buf, fo, flen) || buf[l3]! >> 4 !== 6) return false;
  const plen = buf.readUInt16BE(l3 + IPV6_PAYLOAD_LEN);
  // RFC 4861 §7.1.1: hop limit 255, ICMP code 0, ICMP length 24 or more (and within the frame).
  if (buf[icmp] !== ICMPV6_NS || buf[icmp + 1] !== 0 || buf[l3 + IPV6_HOP_LIMIT] !== 255) return false;
  if (plen < ND_OPTIONS || ETH_HLEN + IPV6_HLEN + plen > flen) return false;
  const target = icmp + ND_TARGET;
  if (buf[target] === 0xff) return false; // a multicast target is invalid
  // Duplicate address detection (source ::) is not answered here: it is flooded.
  let any = true;
  for (let i = 0; i < IPV6_ADDR_LEN && any; i++) any = buf[l3 + IPV6_SRC + i] === 0;
  if (any) return false;
  const mac = table.lookup(buf, target);
  if (mac < 0) return false;
  // The asker: its source link-layer option when present (RFC 4861 §7.2.4), else the Ethernet source.
  let asker = macRead(buf, fo + 6);
  for (let o = icmp + ND_OPTIONS; o + 8 <= icmp + plen; ) {
    const olen = buf[o + 1]! * 8;
    if (olen === 0) return false; // §7.1.1: an option of length 0 makes the message invalid
    if (buf[o] === ND_OPT_SOURCE_LL && olen >= 8) asker = macRead(buf, o + 2);
    o += olen;
  }
  // Ethernet.
  macWrite(buf, fo, asker);
  macWrite(buf, fo + 6, mac);
  // IPv6: to the solicitation's source, from the target.
  buf.copy(buf, l3 + IPV6_DST, l3 + IPV6_SRC, l3 + IPV6_SRC + IPV6_ADDR_LEN);
  buf.copy(buf, l3 + IPV6_SRC, target, target + IPV6_ADDR_LEN);
  buf.writeUInt32BE(0x60000000, l3);
  buf.writeUInt16BE(NA_LEN, l3 + IPV6_PAYLOAD_LEN);
  buf[l3 + IPV6_NEXT_HEADER] = IPPROTO_ICMPV6;
  buf[l3 + IPV6_HOP_LIMIT] = 255;
  // NA: the target stays where it is.
  buf[icmp] = ICMPV6_NA;
  buf[icmp + 1] = 0;
  buf.writeUInt16BE(0, icmp + 2);
  buf.writeUInt32BE(0, icmp + ND_FLAGS);
  buf[icmp + ND_FLAGS] = NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE;
  const opt = icmp + ND_OPTIONS;
  buf[opt] = ND_OPT_TARGET_LL;
  buf[opt + 1] = 1;
  macWrite(buf, opt + 2, mac);
  const sum = csumAdd(buf, icmp, NA_LEN, pseudoHeaderSumV6(buf, l3 + IPV6_SRC, l3 + IPV6_DST, IPPROTO_ICMPV6, NA_LEN));
  buf.writeUInt16BE(csumFinish(sum), icmp + 2);
  return true;
}
