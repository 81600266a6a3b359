import { describe, expect, it } from 'vitest';
import { IPPROTO_UDP } from '../../src/wire/ipv4.js';
import {
  IPV6_DST,
  IPV6_ERR_PAYLOAD_LEN,
  IPV6_ERR_SHORT,
  IPV6_ERR_VERSION,
  IPV6_HLEN,
  IPV6_HOP_LIMIT,
  IPV6_NEXT_HEADER,
  IPV6_OK,
  IPV6_PAYLOAD_LEN,
  IPV6_REASON_NAMES,
  IPV6_SRC,
  type Ipv6Repr,
  ipv6AddrEqual,
  ipv6AddrFormat,
  ipv6AddrParse,
  ipv6Check,
  ipv6DstOffset,
  ipv6Ecn,
  ipv6Emit,
  ipv6FlowLabel,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6Parse,
  ipv6PayloadLen,
  ipv6SetTrafficClass,
  ipv6SrcOffset,
  ipv6TrafficClass,
  ipv6Version,
  ipv6WriteFixed,
} from '../../src/wire/ipv6.js';
import { L3, UDP6_HELLO, VXLAN6_ICMP } from './fixtures.js';
import { filled, hex } from './helpers.js';

describe('ipv6', () => {
  it('has the RFC 8200 layout', () => {
    expect([IPV6_PAYLOAD_LEN, IPV6_NEXT_HEADER, IPV6_HOP_LIMIT, IPV6_SRC, IPV6_DST, IPV6_HLEN]).toEqual([4, 6, 7, 8, 24, 40]);
  });

  it('reads a captured UDP/IPv6 packet', () => {
    const f = UDP6_HELLO;
    expect(ipv6Check(f, L3, f.length - L3)).toBe(IPV6_OK);
    expect(ipv6Version(f, L3)).toBe(6);
    expect(ipv6TrafficClass(f, L3)).toBe(0);
    expect(ipv6Ecn(f, L3)).toBe(0);
    expect(ipv6FlowLabel(f, L3)).toBe(0xebf78);
    expect(ipv6PayloadLen(f, L3)).toBe(19);
    expect(ipv6NextHeader(f, L3)).toBe(IPPROTO_UDP);
    expect(ipv6HopLimit(f, L3)).toBe(64);
    expect(ipv6SrcOffset(L3)).toBe(22);
    expect(ipv6DstOffset(L3)).toBe(38);
    expect(ipv6AddrFormat(f, ipv6SrcOffset(L3))).toBe('fd00::1');
    expect(ipv6AddrFormat(f, ipv6DstOffset(L3))).toBe('fd00::2');
    expect(ipv6PayloadLen(VXLAN6_ICMP, L3)).toBe(65);
  });

  it('emits the captured header into a 0xa5 buffer and round-trips parse -> emit', () => {
    const b = filled(IPV6_HLEN + 2);
    ipv6WriteFixed(b, 1, 0, 0xebf78, 19, IPPROTO_UDP, 64);
    UDP6_HELLO.copy(b, 1 + IPV6_SRC, L3 + IPV6_SRC, L3 + IPV6_HLEN);
    expect(b.subarray(1, 41)).toEqual(UDP6_HELLO.subarray(L3, L3 + IPV6_HLEN));
    expect([b[0], b[41]]).toEqual([0xa5, 0xa5]);

    for (const f of [UDP6_HELLO, VXLAN6_ICMP]) {
      const repr = ipv6Parse(f, L3, f.length - L3)!;
      const e = filled(IPV6_HLEN);
      ipv6Emit(repr, e, 0);
      expect(e).toEqual(f.subarray(L3, L3 + IPV6_HLEN));
    }
    expect(ipv6Parse(UDP6_HELLO, L3, 59)).toEqual<Ipv6Repr>({
      trafficClass: 0,
      flowLabel: 0xebf78,
      payloadLen: 19,
      nextHeader: IPPROTO_UDP,
      hopLimit: 64,
      src: 'fd00::1',
      dst: 'fd00::2',
    });
  });

  it('traffic class and flow label do not bleed into each other (hand-built: TC 0xb9, FL 0xfffff)', () => {
    const b = hex('6b9f ffff 0000 3b40');
    expect(ipv6TrafficClass(b, 0)).toBe(0xb9);
    expect(ipv6Ecn(b, 0)).toBe(0x01);
    expect(ipv6FlowLabel(b, 0)).toBe(0xfffff);
    const w = filled(8);
    ipv6WriteFixed(w, 0, 0xb9, 0xfffff, 0, 59, 64);
    expect(w).toEqual(b);
    ipv6SetTrafficClass(w, 0, 0x02);
    expect(w).toEqual(hex('602f ffff 0000 3b40'));
  });

  it('compares addresses in place', () => {
    expect(ipv6AddrEqual(UDP6_HELLO, 22, VXLAN6_ICMP, 22)).toBe(true);
    expect(ipv6AddrEqual(UDP6_HELLO, 22, UDP6_HELLO, 38)).toBe(false);
  });

  describe('negative cases, one per reason', () => {
    const pkt = (): Buffer => Buffer.from(UDP6_HELLO.subarray(L3));
    it.each([
      ['short', IPV6_ERR_SHORT, pkt().subarray(0, 39)],
      ['version', IPV6_ERR_VERSION, Buffer.concat([hex('40'), pkt().subarray(1)])],
      ['payload_len', IPV6_ERR_PAYLOAD_LEN, pkt().subarray(0, 58)], // 40 + 19 > 58
    ])('%s', (name, reason, b) => {
      expect(ipv6Check(b, 0, b.length)).toBe(reason);
      expect(IPV6_REASON_NAMES[reason]).toBe(name);
      expect(ipv6Parse(b, 0, b.length)).toBeUndefined();
    });
  });

  describe('address text (RFC 4291 in, RFC 5952 out)', () => {
    it.each([
      ['fd00::1', 'fd00 0000 0000 0000 0000 0000 0000 0001', 'fd00::1'],
      ['::', '0000 0000 0000 0000 0000 0000 0000 0000', '::'],
      ['::1', '0000 0000 0000 0000 0000 0000 0000 0001', '::1'],
      ['2001:DB8:0:0:1:0:0:1', '2001 0db8 0000 0000 0001 0000 0000 0001', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001 0db8 0000 0001 0001 0001 0001 0001', '2001:db8:0:1:1:1:1:1'],
      ['2001:0db8::0001', '2001 0db8 0000 0000 0000 0000 0000 0001', '2001:db8::1'],
      ['1:0:0:2:0:0:0:3', '0001 0000 0000 0002 0000 0000 0000 0003', '1:0:0:2::3'],
      ['fe80::', 'fe80 0000 0000 0000 0000 0000 0000 0000', 'fe80::'],
      ['::ffff:192.0.2.1', '0000 0000 0000 0000 0000 ffff c000 0201', '::ffff:192.0.2.1'],
      ['64:ff9b::192.0.2.33', '0064 ff9b 0000 0000 0000 0000 c000 0221', '64:ff9b::c000:221'],
    ])('%s', (text, bytes, canonical) => {
      const b = filled(18);
      expect(ipv6AddrParse(text, b, 1)).toBe(true);
      expect(b.subarray(1, 17)).toEqual(hex(bytes));
      expect([b[0], b[17]]).toEqual([0xa5, 0xa5]);
      expect(ipv6AddrFormat(b, 1)).toBe(canonical);
    });

    it.each(['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', '12345::', 'g::1', 'fe80::1%eth0', '[fd00::1]', '::1.2.3', '1.2.3.4::', '::256.0.0.1', ':1::'])(
      'refuses %j and leaves the output untouched',
      (text) => {
        const b = filled(16);
        expect(ipv6AddrParse(text, b, 0)).toBe(false);
        expect(b).toEqual(filled(16));
      },
    );
  });
});
