// The inner Ethernet frame of a VXLAN datagram, parsed once: where its L3 and L4 headers are and what their
// length fields say, so the dataplane's helpers (ECN, checksum hints, flow hash, coalescing, PMTU, rx-super,
// flow MSS, df inherit) read offsets from one place instead of each walking the headers again.
//
//    | dst MAC (6) | src MAC (6) | [TPID 0x8100/0x88a8 | TCI]* | EtherType | L3 header ... | L4 header ... |
//    ^ fo                        ^ fo + ETH_TYPE                ^ l3 - 2    ^ l3            ^ l4
//
// Up to INNER_VLAN_MAX_DEPTH 802.1Q / 802.1ad tags are looked through, as the kernel's skb_protocol(skb, true)
// (VLAN_MAX_DEPTH). `tags` says how many there were: the kernel looks through them only for the outer
// header's DSCP, ECN and TTL (ip_tunnel_get_dsfield / ip_tunnel_get_ttl, since 7074732c8fae); everything else
// decides on the EtherType right after the MAC addresses, so helpers that are not about the outer TOS/TTL want
// `tags === 0`.
//
// What parse() fills, in layers; a layer's fields are set only when the layer before could be read:
//   - Ethernet: `ethertype` and `l3` once the EtherType (past the tags) is inside the frame.
//   - IP: `ipVersion` 4 or 6 once the EtherType says IPv4/IPv6, the version nibble agrees and the fixed header
//     (20 / 40 bytes) is inside the frame. Then the fields are what the header says (`l3Hlen`, `ipLen`,
//     `proto`, fragment state, DF), whether or not they are consistent; `l3Reason` is the wire check's verdict
//     on them (ipv4CheckLengths / ipv6Check: IHL, total / payload length against the bytes present). The IPv4
//     header checksum is not verified: an inner packet's header is its receiving host's to check (ip_rcv); the
//     kernel's VXLAN device does not verify it either, and a frame from our TAP was written by the local stack.
//     IPv6 extension headers are not walked: `proto` is the fixed header's Next Header (44 for a fragment,
//     whose offset gives `frag`).
//   - TCP: `tcpHlen` (Data Offset * 4) once the packet is TCP, not a fragment, its IP header length is at least
//     the minimum and the 20-byte fixed TCP header is inside the frame; `tcpReason` is tcpCheck's verdict over
//     the L4 length from the IP header, for unfragmented TCP whose IP header is consistent.
// The IP and TCP layers are judged against the frame's end (`end`); lengths from header fields (`ipLen`,
// `l4Len`) are what a consumer uses once `l3Reason` (or `reason`) says they fit.
//
// Check contract: parse(buf, fo, flen) returns INNER_OK when the frame is IPv4/IPv6 with consistent lengths
// and, when it is an unfragmented TCP packet, a TCP header that fits its L4 length; otherwise a reason
// (INNER_ERR_*, INNER_NOT_IP). The caller guarantees fo + flen <= buf.length. No allocation: one InnerFrame per
// direction, refilled for every frame; it holds offsets only, never the buffer.

import { get16 } from './bytes.js';
import { ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, VLAN_HLEN } from './ethernet.js';
import {
  IPPROTO_TCP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FLAGS_FRAG,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_MIN_HLEN,
  IPV4_PROTOCOL,
  IPV4_TOTAL_LEN,
  IPV4_VER_IHL,
  ipv4CheckLengths,
} from './ipv4.js';
import {
  IPV6_FRAG_HLEN,
  IPV6_FRAG_OFFSET_FLAGS,
  IPV6_FRAG_OFFSET_MASK,
  IPV6_HLEN,
  IPV6_NEXT_FRAGMENT,
  IPV6_NEXT_HEADER,
  IPV6_PAYLOAD_LEN,
  ipv6Check,
} from './ipv6.js';
import { TCP_DATA_OFF, TCP_MIN_HLEN, TCP_OK, tcpCheck } from './tcp.js';

/** Tags looked through, as the kernel's VLAN_MAX_DEPTH. */
export const INNER_VLAN_MAX_DEPTH = 8 as const;

/** Not a fragment. */
export const FRAG_NONE = 0 as const;
/** The first fragment (offset 0, more to come): it has the L4 header, not the whole L4 payload. */
export const FRAG_FIRST = 1 as const;
/** A later fragment (non-zero offset), or an IPv6 fragment header cut off by the frame's end: no L4 header. */
export const FRAG_LATER = 2 as const;

export const INNER_OK = 0 as const;
/** Shorter than an Ethernet header, or cut inside its VLAN tags (no EtherType). */
export const INNER_ERR_SHORT = 1 as const;
/** Not IPv4/IPv6 under its tags (ARP, ...): not an error, nothing past Ethernet is filled. */
export const INNER_NOT_IP = 2 as const;
/** IPv4/IPv6 EtherType, but the IP header fails its wire check: `l3Reason` (IPV4_ERR_* / IPV6_ERR_*) says how. */
export const INNER_ERR_IP = 3 as const;
/** An unfragmented TCP packet whose TCP header does not fit its L4 length: `tcpReason` (TCP_ERR_*) says how. */
export const INNER_ERR_TCP = 4 as const;
export const INNER_REASON_NAMES = ['ok', 'short', 'not_ip', 'ip', 'tcp'] as const;

/**
 * The offset of the EtherType of the frame at `buf[fo .. fo+flen)` past up to INNER_VLAN_MAX_DEPTH
 * 802.1Q/802.1ad tags (the L3 header follows it), or -1 when the frame ends first.
 */
export function innerTypeOffset(buf: Buffer, fo: number, flen: number): number {
  const end = fo + flen;
  let at = fo + ETH_TYPE;
  for (let depth = 0; at + 2 <= end; depth++) {
    const et = get16(buf, at);
    if ((et !== ETHERTYPE_VLAN && et !== ETHERTYPE_QINQ) || depth === INNER_VLAN_MAX_DEPTH) return at;
    at += VLAN_HLEN;
  }
  return -1;
}

/** One inner frame's header offsets and lengths (see the top of this file). Reused: parse() refills every field. */
export class InnerFrame {
  /** The frame: [fo, end). */
  fo = 0;
  end = 0;
  /** parse()'s answer. */
  reason = INNER_ERR_SHORT as number;
  /** 802.1Q / 802.1ad tags before the EtherType (0 .. INNER_VLAN_MAX_DEPTH). */
  tags = 0;
  /** The EtherType past the tags; -1 when there is none. */
  ethertype = -1;
  /** Offset of the L3 header (right after the EtherType). */
  l3 = 0;
  /** 4 or 6 when the fixed IP header can be read; 0 otherwise (then no field below is meaningful). */
  ipVersion = 0;
  /** ipv4CheckLengths / ipv6Check over [l3, end): 0 when the lengths below fit the frame. */
  l3Reason = 0;
  /** IPv4 IHL * 4 as written (may be below 20 when l3Reason says so); 40 for IPv6. */
  l3Hlen = 0;
  /** IPv4 Total Length; IPv6 40 + Payload Length. As written: trust it once l3Reason is 0. */
  ipLen = 0;
  /** IPv4 Protocol / IPv6 Next Header (extension headers not walked). */
  proto = -1;
  /** FRAG_NONE / FRAG_FIRST / FRAG_LATER. */
  frag = FRAG_NONE as number;
  /** IPv4: the raw 16-bit flags / fragment offset word (reserved bit included); IPv6: 0. */
  flagsFrag = 0;
  /** The packet may not be fragmented on its way: IPv4 with DF, and every IPv6 packet (RFC 8200 section 5). */
  df = false;
  /** Offset of the L4 header: l3 + l3Hlen. */
  l4 = 0;
  /** L4 bytes by the IP header: ipLen - l3Hlen. */
  l4Len = 0;
  /** TCP Data Offset * 4 as written, when the fixed TCP header is in the frame (see the top); -1 otherwise. */
  tcpHlen = -1;
  /** tcpCheck over [l4, l4 + l4Len) for unfragmented TCP whose IP header is consistent; TCP_OK otherwise. */
  tcpReason = TCP_OK as number;

  /** Fills the fields for the frame at `buf[fo .. fo+flen)`; returns INNER_OK or a reason (also in `reason`). */
  parse(buf: Buffer, fo: number, flen: number): number {
    const end = fo + flen;
    this.fo = fo;
    this.end = end;
    this.tags = 0;
    this.ethertype = -1;
    this.l3 = 0;
    this.ipVersion = 0;
    this.l3Reason = 0;
    this.l3Hlen = 0;
    this.ipLen = 0;
    this.proto = -1;
    this.frag = FRAG_NONE;
    this.flagsFrag = 0;
    this.df = false;
    this.l4 = 0;
    this.l4Len = 0;
    this.tcpHlen = -1;
    this.tcpReason = TCP_OK;
    if (flen < ETH_HLEN) return (this.reason = INNER_ERR_SHORT);
    const t = innerTypeOffset(buf, fo, flen);
    if (t < 0) return (this.reason = INNER_ERR_SHORT);
    const et = get16(buf, t);
    const l3 = t + 2;
    this.tags = (t - fo - ETH_TYPE) / VLAN_HLEN;
    this.ethertype = et;
    this.l3 = l3;
    const l3len = end - l3;
    if (et === ETHERTYPE_IPV4) {
      const r = ipv4CheckLengths(buf, l3, l3len);
      this.l3Reason = r;
      if (l3len < IPV4_MIN_HLEN || buf[l3 + IPV4_VER_IHL]! >>> 4 !== 4) return (this.reason = INNER_ERR_IP);
      const hlen = (buf[l3 + IPV4_VER_IHL]! & 0x0f) * 4;
      const ff = get16(buf, l3 + IPV4_FLAGS_FRAG);
      this.ipVersion = 4;
      this.l3Hlen = hlen;
      this.ipLen = get16(buf, l3 + IPV4_TOTAL_LEN);
      this.proto = buf[l3 + IPV4_PROTOCOL]!;
      this.flagsFrag = ff;
      this.df = (ff & IPV4_FLAG_DF) !== 0;
      this.frag = (ff & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) === 0 ? FRAG_NONE : (ff & IPV4_FRAG_OFFSET_MASK) === 0 ? FRAG_FIRST : FRAG_LATER;
    } else if (et === ETHERTYPE_IPV6) {
      const r = ipv6Check(buf, l3, l3len);
      this.l3Reason = r;
      if (l3len < IPV6_HLEN || buf[l3]! >>> 4 !== 6) return (this.reason = INNER_ERR_IP);
      const nh = buf[l3 + IPV6_NEXT_HEADER]!;
      this.ipVersion = 6;
      this.l3Hlen = IPV6_HLEN;
      this.ipLen = IPV6_HLEN + get16(buf, l3 + IPV6_PAYLOAD_LEN);
      this.proto = nh;
      this.df = true;
      if (nh === IPV6_NEXT_FRAGMENT) {
        const fh = l3 + IPV6_HLEN;
        this.frag = fh + IPV6_FRAG_HLEN <= end && (get16(buf, fh + IPV6_FRAG_OFFSET_FLAGS) & IPV6_FRAG_OFFSET_MASK) === 0 ? FRAG_FIRST : FRAG_LATER;
      }
    } else return (this.reason = INNER_NOT_IP);
    const l4 = l3 + this.l3Hlen;
    this.l4 = l4;
    this.l4Len = this.ipLen - this.l3Hlen;
    if (this.proto === IPPROTO_TCP && this.frag === FRAG_NONE && this.l3Hlen >= IPV4_MIN_HLEN && l4 + TCP_MIN_HLEN <= end) {
      this.tcpHlen = (buf[l4 + TCP_DATA_OFF]! >>> 4) * 4;
    }
    if (this.l3Reason !== 0) return (this.reason = INNER_ERR_IP);
    if (this.proto === IPPROTO_TCP && this.frag === FRAG_NONE) {
      this.tcpReason = tcpCheck(buf, l4, this.l4Len);
      if (this.tcpReason !== TCP_OK) return (this.reason = INNER_ERR_TCP);
    }
    return (this.reason = INNER_OK);
  }
}
