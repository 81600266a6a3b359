// TCP header (RFC 9293 section 3.1).
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |          Source Port          |       Destination Port        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                        Sequence Number                        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                    Acknowledgment Number                      |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |  Data |       |C|E|U|A|P|R|S|F|                               |
//    | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//    |       |       |R|E|G|K|H|T|N|N|                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           Checksum            |         Urgent Pointer        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                           [Options]                           |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                                                               :
//    :                             Data                              :
//    :                                                               |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Check contract: tcpCheck(buf, off, len) === TCP_OK guarantees 20 <= Data Offset*4 <= len, where len is
// the L4 length from the IP header (not buf.length). Data is [off + tcpHeaderLen(), off + len). The
// checksum is not verified here: it needs the IP pseudo-header, see l4ChecksumVerify in checksum.ts.

import { get16, get32, put16, put32 } from './bytes.js';
import { csumUpdate16 } from './checksum.js';

export const TCP_SRC_PORT = 0 as const;
export const TCP_DST_PORT = 2 as const;
export const TCP_SEQ = 4 as const;
export const TCP_ACK = 8 as const;
/** High nibble: data offset in 32-bit words. */
export const TCP_DATA_OFF = 12 as const;
export const TCP_FLAGS = 13 as const;
export const TCP_WINDOW = 14 as const;
export const TCP_CHECKSUM = 16 as const;
/** Offset of the checksum field from the TCP header (virtio-net csum_offset for TCP). */
export const TCP_CSUM_OFFSET = 16 as const;
export const TCP_URGENT = 18 as const;
export const TCP_MIN_HLEN = 20 as const;
export const TCP_MAX_HLEN = 60 as const;

export const TCP_FLAG_FIN = 0x01 as const;
export const TCP_FLAG_SYN = 0x02 as const;
export const TCP_FLAG_RST = 0x04 as const;
export const TCP_FLAG_PSH = 0x08 as const;
export const TCP_FLAG_ACK = 0x10 as const;
export const TCP_FLAG_URG = 0x20 as const;
export const TCP_FLAG_ECE = 0x40 as const;
export const TCP_FLAG_CWR = 0x80 as const;

export const TCP_OPT_EOL = 0 as const;
export const TCP_OPT_NOP = 1 as const;
export const TCP_OPT_MSS = 2 as const;
export const TCP_OPT_MSS_LEN = 4 as const;

export const TCP_OK = 0 as const;
/** Fewer than 20 bytes. */
export const TCP_ERR_SHORT = 1 as const;
/** Data offset below 5 words, or a header longer than the segment. */
export const TCP_ERR_DATA_OFFSET = 2 as const;
export const TCP_REASON_NAMES = ['ok', 'short', 'data_offset'] as const;

export function tcpCheck(buf: Buffer, off: number, len: number): number {
  if (len < TCP_MIN_HLEN) return TCP_ERR_SHORT;
  const hlen = (buf[off + TCP_DATA_OFF]! >>> 4) * 4;
  if (hlen < TCP_MIN_HLEN || hlen > len) return TCP_ERR_DATA_OFFSET;
  return TCP_OK;
}

export function tcpSrcPort(buf: Buffer, off: number): number {
  return get16(buf, off + TCP_SRC_PORT);
}

export function tcpDstPort(buf: Buffer, off: number): number {
  return get16(buf, off + TCP_DST_PORT);
}

/** Unsigned 32-bit. */
export function tcpSeq(buf: Buffer, off: number): number {
  return get32(buf, off + TCP_SEQ);
}

/** Unsigned 32-bit. */
export function tcpAck(buf: Buffer, off: number): number {
  return get32(buf, off + TCP_ACK);
}

/** Header length in bytes (Data Offset * 4). */
export function tcpHeaderLen(buf: Buffer, off: number): number {
  return (buf[off + TCP_DATA_OFF]! >>> 4) * 4;
}

/** The eight flag bits CWR..FIN (TCP_FLAG_*). */
export function tcpFlags(buf: Buffer, off: number): number {
  return buf[off + TCP_FLAGS]!;
}

export function tcpWindow(buf: Buffer, off: number): number {
  return get16(buf, off + TCP_WINDOW);
}

export function tcpChecksum(buf: Buffer, off: number): number {
  return get16(buf, off + TCP_CHECKSUM);
}

export function tcpUrgent(buf: Buffer, off: number): number {
  return get16(buf, off + TCP_URGENT);
}

// Setters for segmentation/coalescing; they leave the checksum stale (refill with l4ChecksumFill).

export function tcpSetSeq(buf: Buffer, off: number, seq: number): void {
  put32(buf, off + TCP_SEQ, seq >>> 0);
}

export function tcpSetAck(buf: Buffer, off: number, ack: number): void {
  put32(buf, off + TCP_ACK, ack >>> 0);
}

export function tcpSetFlags(buf: Buffer, off: number, flags: number): void {
  buf[off + TCP_FLAGS] = flags;
}

export function tcpSetChecksum(buf: Buffer, off: number, csum: number): void {
  put16(buf, off + TCP_CHECKSUM, csum);
}

/**
 * Byte offset (from `off`) of the MSS option's 16-bit value, or -1 when absent or when the options are
 * malformed (an option running past the header, a length below 2). Walks RFC 9293 section 3.1 options:
 * EOL ends the list, NOP is one byte, every other kind carries a length byte.
 */
export function tcpMssOptionOffset(buf: Buffer, off: number): number {
  const end = tcpHeaderLen(buf, off);
  let i = TCP_MIN_HLEN;
  while (i < end) {
    const kind = buf[off + i]!;
    if (kind === TCP_OPT_EOL) return -1;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return -1;
    const olen = buf[off + i + 1]!;
    if (olen < 2 || i + olen > end) return -1;
    if (kind === TCP_OPT_MSS) return olen === TCP_OPT_MSS_LEN ? i + 2 : -1;
    i += olen;
  }
  return -1;
}

/** The MSS option value (only meaningful on SYN segments), or -1 when there is none. */
export function tcpMss(buf: Buffer, off: number): number {
  const o = tcpMssOptionOffset(buf, off);
  return o < 0 ? -1 : get16(buf, off + o);
}

/**
 * MSS clamping: lowers the MSS option to `maxMss` if it is larger, updating the checksum incrementally
 * (RFC 1624). Returns true when the segment was changed. Only a checksum that is complete can be updated
 * this way; a CHECKSUM_PARTIAL segment must be completed first.
 */
export function tcpClampMss(buf: Buffer, off: number, maxMss: number): boolean {
  const o = tcpMssOptionOffset(buf, off);
  if (o < 0) return false;
  const mss = get16(buf, off + o);
  if (mss <= maxMss) return false;
  // The MSS value starts at an even offset from the header whenever it is preceded by an even number of
  // option bytes; otherwise its bytes straddle two checksum words and are updated as those two words.
  if ((o & 1) === 0) {
    put16(buf, off + o, maxMss);
    put16(buf, off + TCP_CHECKSUM, csumUpdate16(get16(buf, off + TCP_CHECKSUM), mss, maxMss));
  } else {
    const oldA = get16(buf, off + o - 1);
    const oldB = get16(buf, off + o + 1);
    put16(buf, off + o, maxMss);
    const c1 = csumUpdate16(get16(buf, off + TCP_CHECKSUM), oldA, get16(buf, off + o - 1));
    put16(buf, off + TCP_CHECKSUM, csumUpdate16(c1, oldB, get16(buf, off + o + 1)));
  }
  return true;
}

/** Parsed header, for the CLI, tests and the packet printer (not the hot path). */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  /** Raw option bytes (header length - 20), a copy. */
  options: Buffer;
}

/** undefined unless tcpCheck passes; the reason is tcpCheck's. */
export function tcpParse(buf: Buffer, off: number, len: number): TcpRepr | undefined {
  if (tcpCheck(buf, off, len) !== TCP_OK) return undefined;
  return {
    srcPort: tcpSrcPort(buf, off),
    dstPort: tcpDstPort(buf, off),
    seq: tcpSeq(buf, off),
    ack: tcpAck(buf, off),
    flags: tcpFlags(buf, off),
    window: tcpWindow(buf, off),
    checksum: tcpChecksum(buf, off),
    urgent: tcpUrgent(buf, off),
    options: Buffer.from(buf.subarray(off + TCP_MIN_HLEN, off + tcpHeaderLen(buf, off))),
  };
}

/**
 * Writes 20 + options.length bytes at `off`. Throws if the options are not a multiple of 4 bytes or longer
 * than 40 (a caller bug: the Data Offset could not describe them).
 */
export function tcpEmit(repr: TcpRepr, buf: Buffer, off: number): void {
  const olen = repr.options.length;
  if (olen % 4 !== 0 || olen > TCP_MAX_HLEN - TCP_MIN_HLEN) {
    throw new RangeError(`tcpEmit: options must be a multiple of 4 bytes and at most 40, got ${olen}`);
  }
  put16(buf, off + TCP_SRC_PORT, repr.srcPort);
  put16(buf, off + TCP_DST_PORT, repr.dstPort);
  put32(buf, off + TCP_SEQ, repr.seq >>> 0);
  put32(buf, off + TCP_ACK, repr.ack >>> 0);
  buf[off + TCP_DATA_OFF] = ((TCP_MIN_HLEN + olen) / 4) << 4;
  buf[off + TCP_FLAGS] = repr.flags;
  put16(buf, off + TCP_WINDOW, repr.window);
  put16(buf, off + TCP_CHECKSUM, repr.checksum);
  put16(buf, off + TCP_URGENT, repr.urgent);
  repr.options.copy(buf, off + TCP_MIN_HLEN);
}
