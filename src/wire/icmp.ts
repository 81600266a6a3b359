// ICMPv4 (RFC 792), only what the packet printer, ping tests and PMTU signalling need.
//
// Echo / Echo Reply (type 8 / 0):
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Type      |     Code      |          Checksum             |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           Identifier          |        Sequence Number        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Data ...
//    +-+-+-+-+-
//
// Destination Unreachable, code 4 "fragmentation needed and DF set", with the next-hop MTU of RFC 1191:
//
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |   Type = 3    |   Code = 4    |           Checksum            |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           unused = 0          |         Next-Hop MTU          |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |      Internet Header + 64 bits of Original Data Datagram      |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Check contract: icmpCheck(buf, off, len) === ICMP_OK guarantees 8 header bytes and a checksum that
// verifies over all `len` bytes, where len is the IPv4 payload length (the checksum covers the whole ICMP
// message: "the 16-bit one's complement of the one's complement sum of the ICMP message", RFC 792).

import { get16, put16 } from './bytes.js';
import { csumAdd, csumFinish, csumFold } from './checksum.js';

export const ICMP_TYPE = 0 as const;
export const ICMP_CODE = 1 as const;
export const ICMP_CHECKSUM = 2 as const;
export const ICMP_ECHO_ID = 4 as const;
export const ICMP_ECHO_SEQ = 6 as const;
export const ICMP_NEXT_HOP_MTU = 6 as const;
export const ICMP_HLEN = 8 as const;

export const ICMP_ECHO_REPLY = 0 as const;
export const ICMP_DEST_UNREACH = 3 as const;
export const ICMP_ECHO_REQUEST = 8 as const;
export const ICMP_TIME_EXCEEDED = 11 as const;
/** Code for ICMP_DEST_UNREACH. */
export const ICMP_FRAG_NEEDED = 4 as const;

export const ICMP_OK = 0 as const;
/** Fewer than 8 bytes. */
export const ICMP_ERR_SHORT = 1 as const;
/** Checksum over the message does not verify. */
export const ICMP_ERR_CHECKSUM = 2 as const;
export const ICMP_REASON_NAMES = ['ok', 'short', 'checksum'] as const;

export function icmpCheck(buf: Buffer, off: number, len: number): number {
  if (len < ICMP_HLEN) return ICMP_ERR_SHORT;
  if (csumFold(csumAdd(buf, off, len)) !== 0xffff) return ICMP_ERR_CHECKSUM;
  return ICMP_OK;
}

export function icmpType(buf: Buffer, off: number): number {
  return buf[off + ICMP_TYPE]!;
}

export function icmpCode(buf: Buffer, off: number): number {
  return buf[off + ICMP_CODE]!;
}

export function icmpChecksum(buf: Buffer, off: number): number {
  return get16(buf, off + ICMP_CHECKSUM);
}

/** Echo / Echo Reply only. */
export function icmpEchoId(buf: Buffer, off: number): number {
  return get16(buf, off + ICMP_ECHO_ID);
}

/** Echo / Echo Reply only. */
export function icmpEchoSeq(buf: Buffer, off: number): number {
  return get16(buf, off + ICMP_ECHO_SEQ);
}

/** Destination Unreachable / Fragmentation Needed only. */
export function icmpNextHopMtu(buf: Buffer, off: number): number {
  return get16(buf, off + ICMP_NEXT_HOP_MTU);
}

/** Computes and stores the checksum over the `len`-byte message at `off`. */
export function icmpFillChecksum(buf: Buffer, off: number, len: number): void {
  put16(buf, off + ICMP_CHECKSUM, 0);
  put16(buf, off + ICMP_CHECKSUM, csumFinish(csumAdd(buf, off, len)));
}

/** Parsed echo message, for the printer and ping tests (not the hot path). */
export interface IcmpEchoRepr {
  /** ICMP_ECHO_REQUEST or ICMP_ECHO_REPLY. */
  type: number;
  id: number;
  seq: number;
  /** A copy of the data after the 8-byte header. */
  data: Buffer;
}

/** undefined unless icmpCheck passes and the message is an echo request or reply with code 0. */
export function icmpEchoParse(buf: Buffer, off: number, len: number): IcmpEchoRepr | undefined {
  if (icmpCheck(buf, off, len) !== ICMP_OK) return undefined;
  const type = icmpType(buf, off);
  if ((type !== ICMP_ECHO_REQUEST && type !== ICMP_ECHO_REPLY) || icmpCode(buf, off) !== 0) return undefined;
  return {
    type,
    id: icmpEchoId(buf, off),
    seq: icmpEchoSeq(buf, off),
    data: Buffer.from(buf.subarray(off + ICMP_HLEN, off + len)),
  };
}

/** Writes 8 + data.length bytes at `off`, checksum included. */
export function icmpEchoEmit(repr: IcmpEchoRepr, buf: Buffer, off: number): void {
  buf[off + ICMP_TYPE] = repr.type;
  buf[off + ICMP_CODE] = 0;
  put16(buf, off + ICMP_ECHO_ID, repr.id);
  put16(buf, off + ICMP_ECHO_SEQ, repr.seq);
  repr.data.copy(buf, off + ICMP_HLEN);
  icmpFillChecksum(buf, off, ICMP_HLEN + repr.data.length);
}
