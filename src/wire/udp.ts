// UDP header (RFC 768).
//
//     0      7 8     15 16    23 24    31
//    +--------+--------+--------+--------+
//    |     Source      |   Destination   |
//    |      Port       |      Port       |
//    +--------+--------+--------+--------+
//    |                 |                 |
//    |     Length      |    Checksum     |
//    +--------+--------+--------+--------+
//    |
//    |          data octets ...
//    +---------------- ...
//
// "Length is the length in octets of this user datagram including this header and the data. (This
// means the minimum value of the length is eight.)"
//
// Check contract: udpCheck(buf, off, len) === UDP_OK guarantees 8 <= Length <= len, where len is what the
// IP layer says the L4 part is (IPv4 total length - IHL*4, or the IPv6 payload length), not buf.length.
// The datagram's data is [off + 8, off + Length). The checksum is not verified here: it needs the IP
// pseudo-header, see l4ChecksumVerify in checksum.ts.

import { get16, put16 } from './bytes.js';

export const UDP_SRC_PORT = 0 as const;
export const UDP_DST_PORT = 2 as const;
export const UDP_LENGTH = 4 as const;
export const UDP_CHECKSUM = 6 as const;
/** Offset of the checksum field from the UDP header (virtio-net csum_offset for UDP). */
export const UDP_CSUM_OFFSET = 6 as const;
export const UDP_HLEN = 8 as const;

export const UDP_OK = 0 as const;
/** Fewer than 8 bytes. */
export const UDP_ERR_SHORT = 1 as const;
/** Length field below 8 or beyond the bytes the IP layer delivered. */
export const UDP_ERR_LENGTH = 2 as const;
export const UDP_REASON_NAMES = ['ok', 'short', 'length'] as const;

export function udpCheck(buf: Buffer, off: number, len: number): number {
  if (len < UDP_HLEN) return UDP_ERR_SHORT;
  const l = get16(buf, off + UDP_LENGTH);
  if (l < UDP_HLEN || l > len) return UDP_ERR_LENGTH;
  return UDP_OK;
}

export function udpSrcPort(buf: Buffer, off: number): number {
  return get16(buf, off + UDP_SRC_PORT);
}

export function udpDstPort(buf: Buffer, off: number): number {
  return get16(buf, off + UDP_DST_PORT);
}

/** Header plus data, in bytes. */
export function udpLength(buf: Buffer, off: number): number {
  return get16(buf, off + UDP_LENGTH);
}

export function udpPayloadLen(buf: Buffer, off: number): number {
  return get16(buf, off + UDP_LENGTH) - UDP_HLEN;
}

export function udpChecksum(buf: Buffer, off: number): number {
  return get16(buf, off + UDP_CHECKSUM);
}

export function udpSetChecksum(buf: Buffer, off: number, csum: number): void {
  put16(buf, off + UDP_CHECKSUM, csum);
}

/** Writes all 8 header bytes. Checksum 0 means "none" on IPv4; fill it later with l4ChecksumFill. */
export function udpWriteHeader(buf: Buffer, off: number, srcPort: number, dstPort: number, length: number, checksum = 0): void {
  put16(buf, off + UDP_SRC_PORT, srcPort);
  put16(buf, off + UDP_DST_PORT, dstPort);
  put16(buf, off + UDP_LENGTH, length);
  put16(buf, off + UDP_CHECKSUM, checksum);
}

/** Parsed header, for the CLI, tests and the packet printer (not the hot path). */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Header plus data. */
  length: number;
  checksum: number;
}

/** undefined unless udpCheck passes; the reason is udpCheck's. */
export function udpParse(buf: Buffer, off: number, len: number): UdpRepr | undefined {
  if (udpCheck(buf, off, len) !== UDP_OK) return undefined;
  return {
    srcPort: udpSrcPort(buf, off),
    dstPort: udpDstPort(buf, off),
    length: udpLength(buf, off),
    checksum: udpChecksum(buf, off),
  };
}

/** Writes UDP_HLEN bytes at `off`. */
export function udpEmit(repr: UdpRepr, buf: Buffer, off: number): void {
  udpWriteHeader(buf, off, repr.srcPort, repr.dstPort, repr.length, repr.checksum);
}
