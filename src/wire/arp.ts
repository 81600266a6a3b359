// ARP for IPv4 over Ethernet (RFC 826). RFC 826 lists the fields as ar$hrd, ar$pro, ar$hln, ar$pln,
// ar$op, ar$sha, ar$spa, ar$tha, ar$tpa; with hln = 6 and pln = 4 the packet is 28 bytes:
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |     Hardware Type (HTYPE)     |     Protocol Type (PTYPE)     |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |  HLEN (= 6)   |  PLEN (= 4)   |        Operation (OPER)       |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                Sender Hardware Address (SHA)                  |
//    +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                               | Sender Protocol Address (SPA) |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |      SPA (cont.)              | Target Hardware Address (THA) |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//    |                                                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                Target Protocol Address (TPA)                  |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The offsets of the two length fields are named ARP_HLN / ARP_PLN (after ar$hln / ar$pln) so they cannot
// be mistaken for a header length like ETH_HLEN.
//
// Check contract: arpCheck(buf, off, len) === ARP_OK guarantees ARP_LEN bytes at `off` holding an
// Ethernet/IPv4 request or reply; only those are answered by proxy-ARP, anything else is a counted drop.
// len may exceed ARP_LEN: frames shorter than 60 bytes are padded on the wire.

import { get16, get32, put16, put32 } from './bytes.js';
import { MAC_LEN, macRead, macWrite } from './mac.js';

export const ARP_HTYPE = 0 as const;
export const ARP_PTYPE = 2 as const;
export const ARP_HLN = 4 as const;
export const ARP_PLN = 5 as const;
export const ARP_OPER = 6 as const;
export const ARP_SHA = 8 as const;
export const ARP_SPA = 14 as const;
export const ARP_THA = 18 as const;
export const ARP_TPA = 24 as const;
export const ARP_LEN = 28 as const;

export const ARP_HTYPE_ETHERNET = 1 as const;
export const ARP_PTYPE_IPV4 = 0x0800 as const;
export const ARP_OP_REQUEST = 1 as const;
export const ARP_OP_REPLY = 2 as const;

export const ARP_OK = 0 as const;
/** Fewer than ARP_LEN bytes. */
export const ARP_ERR_SHORT = 1 as const;
/** Hardware type is not Ethernet (1). */
export const ARP_ERR_HTYPE = 2 as const;
/** Protocol type is not IPv4 (0x0800). */
export const ARP_ERR_PTYPE = 3 as const;
/** Hardware address length is not 6. */
export const ARP_ERR_HLEN = 4 as const;
/** Protocol address length is not 4. */
export const ARP_ERR_PLEN = 5 as const;
/** Operation is neither request (1) nor reply (2), e.g. RARP (3, 4) or InARP (8, 9). */
export const ARP_ERR_OP = 6 as const;
export const ARP_REASON_NAMES = ['ok', 'short', 'htype', 'ptype', 'hlen', 'plen', 'op'] as const;

export function arpCheck(buf: Buffer, off: number, len: number): number {
  if (len < ARP_LEN) return ARP_ERR_SHORT;
  if (get16(buf, off + ARP_HTYPE) !== ARP_HTYPE_ETHERNET) return ARP_ERR_HTYPE;
  if (get16(buf, off + ARP_PTYPE) !== ARP_PTYPE_IPV4) return ARP_ERR_PTYPE;
  if (buf[off + ARP_HLN] !== MAC_LEN) return ARP_ERR_HLEN;
  if (buf[off + ARP_PLN] !== 4) return ARP_ERR_PLEN;
  const op = get16(buf, off + ARP_OPER);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return ARP_ERR_OP;
  return ARP_OK;
}

export function arpOp(buf: Buffer, off: number): number {
  return get16(buf, off + ARP_OPER);
}

export function arpSenderMac(buf: Buffer, off: number): number {
  return macRead(buf, off + ARP_SHA);
}

/** IPv4 address as an unsigned 32-bit integer. */
export function arpSenderIp(buf: Buffer, off: number): number {
  return get32(buf, off + ARP_SPA);
}

export function arpTargetMac(buf: Buffer, off: number): number {
  return macRead(buf, off + ARP_THA);
}

export function arpTargetIp(buf: Buffer, off: number): number {
  return get32(buf, off + ARP_TPA);
}

/**
 * Gratuitous ARP (RFC 5227 section 3 "announcement"): sender and target protocol address are equal.
 * Proxy-ARP must not answer these.
 */
export function arpIsGratuitous(buf: Buffer, off: number): boolean {
  return get32(buf, off + ARP_SPA) === get32(buf, off + ARP_TPA);
}

/** Writes all 28 bytes of an Ethernet/IPv4 ARP packet. */
export function arpWrite(
  buf: Buffer,
  off: number,
  op: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): void {
  put16(buf, off + ARP_HTYPE, ARP_HTYPE_ETHERNET);
  put16(buf, off + ARP_PTYPE, ARP_PTYPE_IPV4);
  buf[off + ARP_HLN] = MAC_LEN;
  buf[off + ARP_PLN] = 4;
  put16(buf, off + ARP_OPER, op);
  macWrite(buf, off + ARP_SHA, senderMac);
  put32(buf, off + ARP_SPA, senderIp);
  macWrite(buf, off + ARP_THA, targetMac);
  put32(buf, off + ARP_TPA, targetIp);
}

/**
 * Writes the 28-byte body of an ARP reply. For proxy-ARP answering a request: senderMac/senderIp are the
 * answer (the MAC owning the requested IP), targetMac/targetIp are the request's sender. Safe to call
 * in place over the request itself, after the request's fields have been read.
 */
export function arpWriteReply(
  buf: Buffer,
  off: number,
  senderMac: number,
  senderIp: number,
  targetMac: number,
  targetIp: number,
): void {
  arpWrite(buf, off, ARP_OP_REPLY, senderMac, senderIp, targetMac, targetIp);
}

/** Parsed packet, for the CLI, tests and the packet printer (not the hot path). */
export interface ArpRepr {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

/** undefined unless arpCheck passes; the reason is arpCheck's. */
export function arpParse(buf: Buffer, off: number, len: number): ArpRepr | undefined {
  if (arpCheck(buf, off, len) !== ARP_OK) return undefined;
  return {
    op: arpOp(buf, off),
    senderMac: arpSenderMac(buf, off),
    senderIp: arpSenderIp(buf, off),
    targetMac: arpTargetMac(buf, off),
    targetIp: arpTargetIp(buf, off),
  };
}

/** Writes ARP_LEN bytes at `off`. */
export function arpEmit(repr: ArpRepr, buf: Buffer, off: number): void {
  arpWrite(buf, off, repr.op, repr.senderMac, repr.senderIp, repr.targetMac, repr.targetIp);
}
