// IPv4 header (RFC 791 section 3.1).
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |Version|  IHL  |Type of Service|          Total Length         |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |         Identification        |Flags|      Fragment Offset    |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |  Time to Live |    Protocol   |         Header Checksum       |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                       Source Address                          |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                    Destination Address                        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                    Options                    |    Padding    |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The Type of Service octet is today DSCP (6 bits, RFC 2474) + ECN (2 bits, RFC 3168).
// Flags: bit 0 reserved, bit 1 DF (don't fragment), bit 2 MF (more fragments).
//
// Check contract: ipv4Check(buf, off, len) === IPV4_OK guarantees: version 4, a header of IHL*4 >= 20
// bytes inside `len`, IHL*4 <= total length <= len, and a valid header checksum. Accessors then read
// without checking. The packet ends at off + ipv4TotalLen(), not at off + len: Ethernet pads short frames
// to 60 bytes, so trailing bytes past the total length are padding, not payload.

import { get16, get32, put16, put32 } from './bytes.js';
import { csumAdd, csumFinish, csumFold } from './checksum.js';

export const IPV4_VER_IHL = 0 as const;
export const IPV4_TOS = 1 as const;
export const IPV4_TOTAL_LEN = 2 as const;
export const IPV4_ID = 4 as const;
export const IPV4_FLAGS_FRAG = 6 as const;
export const IPV4_TTL = 8 as const;
export const IPV4_PROTOCOL = 9 as const;
export const IPV4_CHECKSUM = 10 as const;
export const IPV4_SRC = 12 as const;
export const IPV4_DST = 16 as const;
export const IPV4_MIN_HLEN = 20 as const;
export const IPV4_MAX_HLEN = 60 as const;
export const IPV4_ADDR_LEN = 4 as const;

/** Masks over the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000 as const;
export const IPV4_FLAG_MF = 0x2000 as const;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff as const;

/** ECN codepoints (RFC 3168 section 5), the low two bits of the TOS octet. */
export const IP_ECN_MASK = 0x03 as const;
export const IP_ECN_NOT_ECT = 0x00 as const;
export const IP_ECN_ECT1 = 0x01 as const;
export const IP_ECN_ECT0 = 0x02 as const;
export const IP_ECN_CE = 0x03 as const;

/** IANA protocol numbers (shared by IPv4 Protocol and IPv6 Next Header). */
export const IPPROTO_ICMP = 1 as const;
export const IPPROTO_TCP = 6 as const;
export const IPPROTO_UDP = 17 as const;
export const IPPROTO_ICMPV6 = 58 as const;

export const IPV4_OK = 0 as const;
/** Fewer than 20 bytes, or fewer than IHL*4 bytes. */
export const IPV4_ERR_SHORT = 1 as const;
/** Version field is not 4. */
export const IPV4_ERR_VERSION = 2 as const;
/** IHL < 5: "the minimum value for a correct header is 5" (RFC 791). */
export const IPV4_ERR_IHL = 3 as const;
/** Total length < IHL*4, or larger than the bytes received (truncated packet). */
export const IPV4_ERR_TOTAL_LEN = 4 as const;
/** Header checksum does not verify. */
export const IPV4_ERR_CHECKSUM = 5 as const;
export const IPV4_REASON_NAMES = ['ok', 'short', 'version', 'ihl', 'total_len', 'checksum'] as const;

export function ipv4Check(buf: Buffer, off: number, len: number): number {
  const r = ipv4CheckLengths(buf, off, len);
  if (r !== IPV4_OK) return r;
  // RFC 791: "The checksum field is the 16 bit one's complement of the one's complement sum of all 16 bit
  // words in the header." Summing the header including the field gives all ones when it is right.
  if (csumFold(csumAdd(buf, off, ipv4HeaderLen(buf, off))) !== 0xffff) return IPV4_ERR_CHECKSUM;
  return IPV4_OK;
}

/**
 * ipv4Check without the header checksum: version, IHL and total length against `len`, so every length the
 * accessors give stays inside the packet. For a packet in transit whose header checksum is the receiving
 * host's business, as the kernel's tunnel paths treat an inner packet (inner-frame.ts).
 */
export function ipv4CheckLengths(buf: Buffer, off: number, len: number): number {
  if (len < IPV4_MIN_HLEN) return IPV4_ERR_SHORT;
  const vi = buf[off]!;
  if (vi >>> 4 !== 4) return IPV4_ERR_VERSION;
  const hlen = (vi & 0x0f) * 4;
  if (hlen < IPV4_MIN_HLEN) return IPV4_ERR_IHL;
  if (hlen > len) return IPV4_ERR_SHORT;
  const total = get16(buf, off + IPV4_TOTAL_LEN);
  if (total < hlen || total > len) return IPV4_ERR_TOTAL_LEN;
  return IPV4_OK;
}

export function ipv4Version(buf: Buffer, off: number): number {
  return buf[off + IPV4_VER_IHL]! >>> 4;
}

/** Header length in bytes (IHL * 4). */
export function ipv4HeaderLen(buf: Buffer, off: number): number {
  return (buf[off + IPV4_VER_IHL]! & 0x0f) * 4;
}

export function ipv4Tos(buf: Buffer, off: number): number {
  return buf[off + IPV4_TOS]!;
}

export function ipv4Ecn(buf: Buffer, off: number): number {
  return buf[off + IPV4_TOS]! & IP_ECN_MASK;
}

export function ipv4TotalLen(buf: Buffer, off: number): number {
  return get16(buf, off + IPV4_TOTAL_LEN);
}

/** Total length minus header length. */
export function ipv4PayloadLen(buf: Buffer, off: number): number {
  return get16(buf, off + IPV4_TOTAL_LEN) - (buf[off + IPV4_VER_IHL]! & 0x0f) * 4;
}

export function ipv4Id(buf: Buffer, off: number): number {
  return get16(buf, off + IPV4_ID);
}

export function ipv4DontFragment(buf: Buffer, off: number): boolean {
  return (get16(buf, off + IPV4_FLAGS_FRAG) & IPV4_FLAG_DF) !== 0;
}

export function ipv4MoreFragments(buf: Buffer, off: number): boolean {
  return (get16(buf, off + IPV4_FLAGS_FRAG) & IPV4_FLAG_MF) !== 0;
}

/** Fragment offset in bytes (the field counts 8-byte units). */
export function ipv4FragOffset(buf: Buffer, off: number): number {
  return (get16(buf, off + IPV4_FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK) * 8;
}

/** True for any fragment: MF set or a non-zero offset. Such packets carry no complete L4 header/payload. */
export function ipv4IsFragment(buf: Buffer, off: number): boolean {
  return (get16(buf, off + IPV4_FLAGS_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0;
}

export function ipv4Ttl(buf: Buffer, off: number): number {
  return buf[off + IPV4_TTL]!;
}

export function ipv4Protocol(buf: Buffer, off: number): number {
  return buf[off + IPV4_PROTOCOL]!;
}

export function ipv4Checksum(buf: Buffer, off: number): number {
  return get16(buf, off + IPV4_CHECKSUM);
}

/** Source address as an unsigned 32-bit integer. */
export function ipv4Src(buf: Buffer, off: number): number {
  return get32(buf, off + IPV4_SRC);
}

/** Destination address as an unsigned 32-bit integer. */
export function ipv4Dst(buf: Buffer, off: number): number {
  return get32(buf, off + IPV4_DST);
}

// Setters leave the header checksum stale: call ipv4FillChecksum afterwards, or update it with
// csumUpdate16 / csumUpdate32 from checksum.ts.

export function ipv4SetTos(buf: Buffer, off: number, tos: number): void {
  buf[off + IPV4_TOS] = tos;
}

export function ipv4SetTotalLen(buf: Buffer, off: number, totalLen: number): void {
  put16(buf, off + IPV4_TOTAL_LEN, totalLen);
}

export function ipv4SetId(buf: Buffer, off: number, id: number): void {
  put16(buf, off + IPV4_ID, id);
}

export function ipv4SetTtl(buf: Buffer, off: number, ttl: number): void {
  buf[off + IPV4_TTL] = ttl;
}

export function ipv4SetSrc(buf: Buffer, off: number, addr: number): void {
  put32(buf, off + IPV4_SRC, addr);
}

export function ipv4SetDst(buf: Buffer, off: number, addr: number): void {
  put32(buf, off + IPV4_DST, addr);
}

/** Computes and stores the header checksum over IHL*4 bytes. */
export function ipv4FillChecksum(buf: Buffer, off: number): void {
  put16(buf, off + IPV4_CHECKSUM, 0);
  put16(buf, off + IPV4_CHECKSUM, csumFinish(csumAdd(buf, off, ipv4HeaderLen(buf, off))));
}

/**
 * Writes a 20-byte header without options, checksum included. `flagsFrag` is the raw 16-bit
 * flags/fragment-offset word (IPV4_FLAG_DF for a VTEP's outer header, which must not fragment).
 */
export function ipv4WriteHeader(
  buf: Buffer,
  off: number,
  tos: number,
  totalLen: number,
  id: number,
  flagsFrag: number,
  ttl: number,
  protocol: number,
  src: number,
  dst: number,
): void {
  buf[off + IPV4_VER_IHL] = 0x45;
  buf[off + IPV4_TOS] = tos;
  put16(buf, off + IPV4_TOTAL_LEN, totalLen);
  put16(buf, off + IPV4_ID, id);
  put16(buf, off + IPV4_FLAGS_FRAG, flagsFrag);
  buf[off + IPV4_TTL] = ttl;
  buf[off + IPV4_PROTOCOL] = protocol;
  put16(buf, off + IPV4_CHECKSUM, 0);
  put32(buf, off + IPV4_SRC, src);
  put32(buf, off + IPV4_DST, dst);
  put16(buf, off + IPV4_CHECKSUM, csumFinish(csumAdd(buf, off, IPV4_MIN_HLEN)));
}

const DOTTED_QUAD = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/**
 * Parses strict dotted-quad text to an unsigned 32-bit integer. Refuses leading zeros ("010" is octal to
 * inet_aton and decimal to others; better an error than a silent disagreement), short forms ("10.1"),
 * and octets above 255.
 */
export function ipv4AddrParse(text: string): number | undefined {
  const m = DOTTED_QUAD.exec(text);
  if (m === null) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    v = v * 256 + octet;
  }
  return v;
}

export function ipv4AddrFormat(addr: number): string {
  return `${(addr >>> 24) & 0xff}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Parsed header (options not kept), for the CLI, tests and the packet printer (not the hot path). */
export interface Ipv4Repr {
  tos: number;
  /** Bytes after the header: total length - IHL*4. */
  payloadLen: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes, a multiple of 8. */
  fragOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
}

/** undefined unless ipv4Check passes; the reason is ipv4Check's. */
export function ipv4Parse(buf: Buffer, off: number, len: number): Ipv4Repr | undefined {
  if (ipv4Check(buf, off, len) !== IPV4_OK) return undefined;
  return {
    tos: ipv4Tos(buf, off),
    payloadLen: ipv4PayloadLen(buf, off),
    id: ipv4Id(buf, off),
    dontFragment: ipv4DontFragment(buf, off),
    moreFragments: ipv4MoreFragments(buf, off),
    fragOffset: ipv4FragOffset(buf, off),
    ttl: ipv4Ttl(buf, off),
    protocol: ipv4Protocol(buf, off),
    src: ipv4Src(buf, off),
    dst: ipv4Dst(buf, off),
  };
}

/** Writes a 20-byte header (no options) with a valid checksum at `off`. */
export function ipv4Emit(repr: Ipv4Repr, buf: Buffer, off: number): void {
  const flagsFrag =
    (repr.dontFragment ? IPV4_FLAG_DF : 0) |
    (repr.moreFragments ? IPV4_FLAG_MF : 0) |
    ((repr.fragOffset / 8) & IPV4_FRAG_OFFSET_MASK);
  ipv4WriteHeader(
    buf,
    off,
    repr.tos,
    IPV4_MIN_HLEN + repr.payloadLen,
    repr.id,
    flagsFrag,
    repr.ttl,
    repr.protocol,
    repr.src,
    repr.dst,
  );
}
