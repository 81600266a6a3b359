import { describe, expect, it } from 'vitest';
import {
  UDP_CHECKSUM,
  UDP_CSUM_OFFSET,
  UDP_DST_PORT,
  UDP_ERR_LENGTH,
  UDP_ERR_SHORT,
  UDP_HLEN,
  UDP_LENGTH,
  UDP_OK,
  UDP_REASON_NAMES,
  UDP_SRC_PORT,
  type UdpRepr,
  udpCheck,
  udpChecksum,
  udpDstPort,
  udpEmit,
  udpLength,
  udpParse,
  udpPayloadLen,
  udpSrcPort,
  udpWriteHeader,
} from '../../src/wire/udp.js';
import { L4_V4, L4_V6, UDP6_HELLO, VXLAN4_ARP_REQUEST, VXLAN6_ICMP } from './fixtures.js';
import { filled, hex } from './helpers.js';

describe('udp', () => {
  it('has the RFC 768 layout', () => {
    expect([UDP_SRC_PORT, UDP_DST_PORT, UDP_LENGTH, UDP_CHECKSUM, UDP_CSUM_OFFSET, UDP_HLEN]).toEqual([0, 2, 4, 6, 6, 8]);
  });

  it('reads captured datagrams', () => {
    const f = UDP6_HELLO;
    expect(udpCheck(f, L4_V6, 19)).toBe(UDP_OK);
    expect(udpSrcPort(f, L4_V6)).toBe(33651);
    expect(udpDstPort(f, L4_V6)).toBe(5001);
    expect(udpLength(f, L4_V6)).toBe(19);
    expect(udpPayloadLen(f, L4_V6)).toBe(11);
    expect(udpChecksum(f, L4_V6)).toBe(0x63e9);
    expect(f.subarray(L4_V6 + UDP_HLEN, L4_V6 + udpLength(f, L4_V6)).toString()).toBe('hello, ipv6');
    expect(udpSrcPort(VXLAN4_ARP_REQUEST, L4_V4)).toBe(49240);
    expect(udpDstPort(VXLAN4_ARP_REQUEST, L4_V4)).toBe(4789);
    expect(udpDstPort(VXLAN6_ICMP, L4_V6)).toBe(4899);
    expect(udpLength(VXLAN6_ICMP, L4_V6)).toBe(65);
  });

  it('emits the captured header into a 0xa5 buffer and round-trips parse -> emit', () => {
    const b = filled(10);
    udpWriteHeader(b, 1, 33651, 5001, 19, 0x63e9);
    expect(b).toEqual(Buffer.concat([hex('a5'), UDP6_HELLO.subarray(L4_V6, L4_V6 + 8), hex('a5')]));
    const z = filled(8);
    udpWriteHeader(z, 0, 1, 2, 8);
    expect(z).toEqual(hex('0001 0002 0008 0000'));
    for (const [f, off] of [
      [UDP6_HELLO, L4_V6],
      [VXLAN4_ARP_REQUEST, L4_V4],
      [VXLAN6_ICMP, L4_V6],
    ] as const) {
      const repr = udpParse(f, off, f.length - off)!;
      const e = filled(UDP_HLEN);
      udpEmit(repr, e, 0);
      expect(e).toEqual(f.subarray(off, off + UDP_HLEN));
    }
    expect(udpParse(UDP6_HELLO, L4_V6, 19)).toEqual<UdpRepr>({ srcPort: 33651, dstPort: 5001, length: 19, checksum: 0x63e9 });
  });

  describe('negative cases, one per reason', () => {
    it.each([
      ['short', UDP_ERR_SHORT, hex('0001 0002 0008 00'), 7],
      ['length', UDP_ERR_LENGTH, hex('0001 0002 0007 0000'), 8], // below the minimum of 8
      ['length', UDP_ERR_LENGTH, Buffer.from(UDP6_HELLO.subarray(L4_V6)), 18], // 19 > 18: truncated
    ])('%s', (name, reason, b, len) => {
      expect(udpCheck(b, 0, len)).toBe(reason);
      expect(UDP_REASON_NAMES[reason]).toBe(name);
      expect(udpParse(b, 0, len)).toBeUndefined();
    });
  });
});
