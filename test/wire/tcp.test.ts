import { describe, expect, it } from 'vitest';
import {
  TCP_ACK,
  TCP_CHECKSUM,
  TCP_CSUM_OFFSET,
  TCP_DATA_OFF,
  TCP_DST_PORT,
  TCP_ERR_DATA_OFFSET,
  TCP_ERR_SHORT,
  TCP_FLAGS,
  TCP_FLAG_ACK,
  TCP_FLAG_CWR,
  TCP_FLAG_ECE,
  TCP_FLAG_FIN,
  TCP_FLAG_PSH,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TCP_FLAG_URG,
  TCP_MIN_HLEN,
  TCP_OK,
  TCP_REASON_NAMES,
  TCP_SEQ,
  TCP_SRC_PORT,
  TCP_URGENT,
  TCP_WINDOW,
  type TcpRepr,
  tcpAck,
  tcpCheck,
  tcpChecksum,
  tcpClampMss,
  tcpDstPort,
  tcpEmit,
  tcpFlags,
  tcpHeaderLen,
  tcpMss,
  tcpParse,
  tcpSeq,
  tcpSetSeq,
  tcpSrcPort,
  tcpUrgent,
  tcpWindow,
} from '../../src/wire/tcp.js';
import { L3, L4_V4, TCP4_HELLO, TCP4_SYN } from './fixtures.js';
import { filled, hex, octets, refChecksum, refOnesSum, refPseudoV4 } from './helpers.js';

/** Sum over pseudo-header + segment (checksum field included), by the reference code: 0xffff when valid. */
function refVerifyV4(frame: Buffer): number {
  const l4len = frame.readUInt16BE(L3 + 2) - 20;
  return refOnesSum([...refPseudoV4(octets(frame, 26, 4), octets(frame, 30, 4), 6, l4len), ...octets(frame, L4_V4, l4len)]);
}

describe('tcp', () => {
  it('has the RFC 9293 layout', () => {
    expect([TCP_SRC_PORT, TCP_DST_PORT, TCP_SEQ, TCP_ACK, TCP_DATA_OFF, TCP_FLAGS, TCP_WINDOW, TCP_CHECKSUM, TCP_URGENT]).toEqual([
      0, 2, 4, 8, 12, 13, 14, 16, 18,
    ]);
    expect(TCP_CSUM_OFFSET).toBe(16);
    expect(TCP_MIN_HLEN).toBe(20);
    expect([TCP_FLAG_FIN, TCP_FLAG_SYN, TCP_FLAG_RST, TCP_FLAG_PSH, TCP_FLAG_ACK, TCP_FLAG_URG, TCP_FLAG_ECE, TCP_FLAG_CWR]).toEqual([
      1, 2, 4, 8, 16, 32, 64, 128,
    ]);
  });

  it('reads a captured SYN with options', () => {
    const f = TCP4_SYN;
    const len = f.length - L4_V4;
    expect(tcpCheck(f, L4_V4, len)).toBe(TCP_OK);
    expect(tcpSrcPort(f, L4_V4)).toBe(32968);
    expect(tcpDstPort(f, L4_V4)).toBe(5000);
    expect(tcpSeq(f, L4_V4)).toBe(2114260845);
    expect(tcpAck(f, L4_V4)).toBe(0);
    expect(tcpHeaderLen(f, L4_V4)).toBe(40);
    expect(tcpFlags(f, L4_V4)).toBe(TCP_FLAG_SYN);
    expect(tcpWindow(f, L4_V4)).toBe(64240);
    expect(tcpChecksum(f, L4_V4)).toBe(0xc518);
    expect(tcpUrgent(f, L4_V4)).toBe(0);
    expect(tcpMss(f, L4_V4)).toBe(1460);
  });

  it('reads a captured data segment; payload from the IP length', () => {
    const f = TCP4_HELLO;
    const len = f.readUInt16BE(L3 + 2) - 20;
    expect(tcpCheck(f, L4_V4, len)).toBe(TCP_OK);
    expect(tcpSeq(f, L4_V4)).toBe(2114260846);
    expect(tcpAck(f, L4_V4)).toBe(1195929921);
    expect(tcpFlags(f, L4_V4)).toBe(TCP_FLAG_PSH | TCP_FLAG_ACK);
    expect(tcpWindow(f, L4_V4)).toBe(63);
    expect(tcpHeaderLen(f, L4_V4)).toBe(32);
    expect(f.subarray(L4_V4 + tcpHeaderLen(f, L4_V4), L4_V4 + len).toString()).toBe('hello');
    expect(tcpMss(f, L4_V4)).toBe(-1); // NOP NOP TS only
  });

  it('round-trips parse -> emit into a 0xa5 buffer', () => {
    for (const f of [TCP4_SYN, TCP4_HELLO]) {
      const repr = tcpParse(f, L4_V4, f.length - L4_V4)!;
      const hl = tcpHeaderLen(f, L4_V4);
      const b = filled(hl + 2);
      tcpEmit(repr, b, 1);
      expect(b.subarray(1, 1 + hl)).toEqual(f.subarray(L4_V4, L4_V4 + hl));
      expect([b[0], b[hl + 1]]).toEqual([0xa5, 0xa5]);
    }
    expect(tcpParse(TCP4_HELLO, L4_V4, 37)).toEqual<TcpRepr>({
      srcPort: 32968,
      dstPort: 5000,
      seq: 2114260846,
      ack: 1195929921,
      flags: TCP_FLAG_PSH | TCP_FLAG_ACK,
      window: 63,
      checksum: 0x282c,
      urgent: 0,
      options: hex('0101 080a 3f14 131a ff0a cae9'),
    });
    expect(() => tcpEmit({ ...tcpParse(TCP4_SYN, L4_V4, 40)!, options: Buffer.alloc(3) }, filled(60), 0)).toThrow(RangeError);
  });

  it('writes 32-bit sequence numbers across the sign bit', () => {
    const b = Buffer.from(TCP4_SYN);
    tcpSetSeq(b, L4_V4, 0xfffffffe + 5); // wraps mod 2^32
    expect(tcpSeq(b, L4_V4)).toBe(3);
    tcpSetSeq(b, L4_V4, 0x80000000);
    expect(b.subarray(L4_V4 + 4, L4_V4 + 8)).toEqual(hex('8000 0000'));
  });

  describe('MSS clamping with an incremental checksum update', () => {
    it('captured SYN: 1460 -> 1410 keeps the checksum valid', () => {
      const b = Buffer.from(TCP4_SYN);
      expect(tcpClampMss(b, L4_V4, 1410)).toBe(true);
      expect(tcpMss(b, L4_V4)).toBe(1410);
      expect(refVerifyV4(b)).toBe(0xffff);
      expect(tcpClampMss(b, L4_V4, 1410)).toBe(false);
      expect(tcpClampMss(b, L4_V4, 1500)).toBe(false);
    });

    it('hand-built SYN with the MSS value at an odd offset (NOP first)', () => {
      // 10.0.0.1:1000 > 10.0.0.2:2000 SYN, data offset 7: options NOP, MSS 1460, EOL, padding.
      const b = hex(`
        0200 0000 0b01 0200 0000 0a01 0800
        4500 0030 0000 4000 4006 0000 0a00 0001 0a00 0002
        03e8 07d0 0000 0001 0000 0000 7002 ffff 0000 0000
        0102 0405 b400 0000`);
      const l4len = 28;
      b.writeUInt16BE(
        refChecksum([...refPseudoV4([10, 0, 0, 1], [10, 0, 0, 2], 6, l4len), ...octets(b, L4_V4, l4len)]),
        L4_V4 + 16,
      );
      expect(tcpCheck(b, L4_V4, l4len)).toBe(TCP_OK);
      expect(tcpMss(b, L4_V4)).toBe(1460);
      expect(tcpClampMss(b, L4_V4, 1360)).toBe(true);
      expect(tcpMss(b, L4_V4)).toBe(1360);
      expect(refVerifyV4(b)).toBe(0xffff);
    });

    it('ignores malformed option lists', () => {
      const base = '03e8 07d0 0000 0001 0000 0000 6002 ffff 0000 0000';
      expect(tcpMss(hex(`${base} 0203 05b4`), 0)).toBe(-1); // MSS with length 3
      expect(tcpMss(hex(`${base} 0101 0102`), 0)).toBe(-1); // kind without room for its length
      expect(tcpMss(hex(`${base} 0800 0204`), 0)).toBe(-1); // length 0 would loop forever
      expect(tcpMss(hex(`${base} 0006 0204`), 0)).toBe(-1); // EOL first
      expect(tcpMss(hex(`${base} 0204 0578`), 0)).toBe(1400);
    });
  });

  describe('negative cases, one per reason', () => {
    const seg = (): Buffer => Buffer.from(TCP4_SYN.subarray(L4_V4));
    const withDoff = (doff: number): Buffer => {
      const b = seg();
      b[12] = doff << 4;
      return b;
    };
    it.each([
      ['short', TCP_ERR_SHORT, seg(), 19],
      ['data_offset', TCP_ERR_DATA_OFFSET, withDoff(4), 40], // below 5 words
      ['data_offset', TCP_ERR_DATA_OFFSET, withDoff(0), 40],
      ['data_offset', TCP_ERR_DATA_OFFSET, seg(), 39], // 40-byte header in 39 bytes
    ])('%s', (name, reason, b, len) => {
      expect(tcpCheck(b, 0, len)).toBe(reason);
      expect(TCP_REASON_NAMES[reason]).toBe(name);
      expect(tcpParse(b, 0, len)).toBeUndefined();
    });
  });
});
