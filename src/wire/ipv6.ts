// IPv6 fixed header (RFC 8200 section 3).
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |Version| Traffic Class |           Flow Label                  |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |         Payload Length        |  Next Header  |   Hop Limit   |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +                         Source Address                        +
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +                      Destination Address                      +
//    |                                                               |
//    +                                                               +
//    |                                                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Addresses stay in the buffer: the accessors give their offsets (ipv6SrcOffset / ipv6DstOffset), and
// callers compare or copy the 16 bytes there. Text conversion is for the CLI and printer only.
//
// Check contract: ipv6Check(buf, off, len) === IPV6_OK guarantees version 6 and 40 + payload length <=
// len. The packet ends at off + 40 + payload length; bytes after that are link padding. Jumbograms
// (payload length 0 plus a Hop-by-Hop Jumbo option, RFC 2675) are not supported: they read as an empty
// payload.

import { get16, get32, put16, put32 } from './bytes.js';

export const IPV6_VER_TC_FL = 0 as const;
export const IPV6_PAYLOAD_LEN = 4 as const;
export const IPV6_NEXT_HEADER = 6 as const;
export const IPV6_HOP_LIMIT = 7 as const;
export const IPV6_SRC = 8 as const;
export const IPV6_DST = 24 as const;
export const IPV6_HLEN = 40 as const;
export const IPV6_ADDR_LEN = 16 as const;
/** RFC 8200 section 5: "every link in the Internet [must] have an MTU of 1280 octets or greater". */
export const IPV6_MIN_MTU = 1280 as const;

/**
 * Fragment extension header (RFC 8200 section 4.5), Next Header 44, 8 bytes:
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                         Identification                        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const IPV6_NEXT_FRAGMENT = 44 as const;
export const IPV6_FRAG_OFFSET_FLAGS = 2 as const;
export const IPV6_FRAG_HLEN = 8 as const;
/** Mask over the 16-bit offset/flags word: the 13-bit Fragment Offset (in 8-byte units, shifted left by 3). */
export const IPV6_FRAG_OFFSET_MASK = 0xfff8 as const;

export const IPV6_OK = 0 as const;
/** Fewer than 40 bytes. */
export const IPV6_ERR_SHORT = 1 as const;
/** Version field is not 6. */
export const IPV6_ERR_VERSION = 2 as const;
/** 40 + payload length exceeds the bytes received (truncated packet). */
export const IPV6_ERR_PAYLOAD_LEN = 3 as const;
export const IPV6_REASON_NAMES = ['ok', 'short', 'version', 'payload_len'] as const;

export function ipv6Check(buf: Buffer, off: number, len: number): number {
  if (len < IPV6_HLEN) return IPV6_ERR_SHORT;
  if (buf[off]! >>> 4 !== 6) return IPV6_ERR_VERSION;
  if (IPV6_HLEN + get16(buf, off + IPV6_PAYLOAD_LEN) > len) return IPV6_ERR_PAYLOAD_LEN;
  return IPV6_OK;
}

export function ipv6Version(buf: Buffer, off: number): number {
  return buf[off]! >>> 4;
}

/** The 8-bit Traffic Class (DSCP << 2 | ECN). */
export function ipv6TrafficClass(buf: Buffer, off: number): number {
  return (get16(buf, off) >>> 4) & 0xff;
}

export function ipv6Ecn(buf: Buffer, off: number): number {
  return (buf[off + 1]! >>> 4) & 0x03;
}

export function ipv6FlowLabel(buf: Buffer, off: number): number {
  return get32(buf, off) & 0x000f_ffff;
}

export function ipv6PayloadLen(buf: Buffer, off: number): number {
  return get16(buf, off + IPV6_PAYLOAD_LEN);
}

export function ipv6NextHeader(buf: Buffer, off: number): number {
  return buf[off + IPV6_NEXT_HEADER]!;
}

export function ipv6HopLimit(buf: Buffer, off: number): number {
  return buf[off + IPV6_HOP_LIMIT]!;
}

export function ipv6SrcOffset(off: number): number {
  return off + IPV6_SRC;
}

export function ipv6DstOffset(off: number): number {
  return off + IPV6_DST;
}

export function ipv6SetPayloadLen(buf: Buffer, off: number, payloadLen: number): void {
  put16(buf, off + IPV6_PAYLOAD_LEN, payloadLen);
}

export function ipv6SetHopLimit(buf: Buffer, off: number, hopLimit: number): void {
  buf[off + IPV6_HOP_LIMIT] = hopLimit;
}

/** Replaces the Traffic Class, keeping version and flow label. */
export function ipv6SetTrafficClass(buf: Buffer, off: number, tc: number): void {
  const w = get16(buf, off);
  put16(buf, off, (w & 0xf00f) | ((tc & 0xff) << 4));
}

/**
 * Writes the first 8 bytes (version through hop limit). The caller copies the addresses
 * (`src.copy(buf, ipv6SrcOffset(off))`), usually from a prepared template.
 */
export function ipv6WriteFixed(
  buf: Buffer,
  off: number,
  trafficClass: number,
  flowLabel: number,
  payloadLen: number,
  nextHeader: number,
  hopLimit: number,
): void {
  put32(buf, off, ((6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0x000f_ffff)) >>> 0);
  put16(buf, off + IPV6_PAYLOAD_LEN, payloadLen);
  buf[off + IPV6_NEXT_HEADER] = nextHeader;
  buf[off + IPV6_HOP_LIMIT] = hopLimit;
}

/** True when the 16 bytes at aOff and bOff are equal. */
export function ipv6AddrEqual(a: Buffer, aOff: number, b: Buffer, bOff: number): boolean {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

// --- text forms (off the hot path) -------------------------------------------------------------------

const HEX_GROUP = /^[0-9a-f]{1,4}$/i;
const DOTTED_TAIL = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/**
 * Parses RFC 4291 section 2.2 text ("fd00::1", "2001:db8:0:0:1:0:0:1", "::ffff:192.0.2.1") into 16
 * bytes at `out[outOff]`. Returns false (and leaves `out` untouched) for anything else, including zone
 * suffixes ("%eth0") and brackets.
 */
export function ipv6AddrParse(text: string, out: Buffer, outOff: number): boolean {
  const words: number[] = [];
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const parseSide = (side: string, allowV4Tail: boolean): number[] | undefined => {
    if (side === '') return [];
    const parts = side.split(':');
    const res: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
        const m = DOTTED_TAIL.exec(p);
        if (m === null) return undefined;
        const o = [1, 2, 3, 4].map((k) => Number(m[k]));
        if (o.some((x) => x > 255)) return undefined;
        res.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
      } else {
        if (!HEX_GROUP.test(p)) return undefined;
        res.push(parseInt(p, 16));
      }
    }
    return res;
  };
  if (halves.length === 1) {
    const all = parseSide(text, true);
    if (all === undefined || all.length !== 8) return false;
    words.push(...all);
  } else {
    const head = parseSide(halves[0]!, false);
    const tail = parseSide(halves[1]!, true);
    if (head === undefined || tail === undefined) return false;
    // "::" stands for one or more groups of zeros (RFC 4291), so at most 7 explicit groups.
    if (head.length + tail.length > 7) return false;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  for (let i = 0; i < 8; i++) put16(out, outOff + 2 * i, words[i]!);
  return true;
}

/**
 * RFC 5952 canonical text: lower case, no leading zeros, the longest run of two or more zero groups
 * (the first on a tie) as "::", and IPv4-mapped addresses as ::ffff:a.b.c.d (section 5).
 */
export function ipv6AddrFormat(buf: Buffer, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(get16(buf, off + 2 * i));
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** Parsed fixed header, for the CLI, tests and the packet printer (not the hot path). */
export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  /** RFC 5952 text. */
  src: string;
  dst: string;
}

/** undefined unless ipv6Check passes; the reason is ipv6Check's. */
export function ipv6Parse(buf: Buffer, off: number, len: number): Ipv6Repr | undefined {
  if (ipv6Check(buf, off, len) !== IPV6_OK) return undefined;
  return {
    trafficClass: ipv6TrafficClass(buf, off),
    flowLabel: ipv6FlowLabel(buf, off),
    payloadLen: ipv6PayloadLen(buf, off),
    nextHeader: ipv6NextHeader(buf, off),
    hopLimit: ipv6HopLimit(buf, off),
    src: ipv6AddrFormat(buf, off + IPV6_SRC),
    dst: ipv6AddrFormat(buf, off + IPV6_DST),
  };
}

/** Writes the 40-byte fixed header at `off`. Throws on an unparseable address (a caller bug). */
export function ipv6Emit(repr: Ipv6Repr, buf: Buffer, off: number): void {
  ipv6WriteFixed(buf, off, repr.trafficClass, repr.flowLabel, repr.payloadLen, repr.nextHeader, repr.hopLimit);
  if (!ipv6AddrParse(repr.src, buf, off + IPV6_SRC)) throw new RangeError(`ipv6Emit: bad source address "${repr.src}"`);
  if (!ipv6AddrParse(repr.dst, buf, off + IPV6_DST)) throw new RangeError(`ipv6Emit: bad destination address "${repr.dst}"`);
}
