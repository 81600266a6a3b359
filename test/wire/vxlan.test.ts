import { describe, expect, it } from 'vitest';
import { l4ChecksumFill } from '../../src/wire/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, ethernetCheck, ethernetType, ethernetWrite } from '../../src/wire/ethernet.js';
import { ICMP_ECHO_REQUEST as ICMP_TYPE_ECHO_REQUEST, ICMP_OK, icmpCheck, icmpEchoSeq, icmpType } from '../../src/wire/icmp.js';
import { IPPROTO_UDP, IPV4_OK, ipv4Check, ipv4HeaderLen, ipv4PayloadLen, ipv4Protocol, ipv4WriteHeader } from '../../src/wire/ipv4.js';
import { IPV6_OK, ipv6AddrParse, ipv6Check, ipv6NextHeader, ipv6PayloadLen, ipv6WriteFixed } from '../../src/wire/ipv6.js';
import { macParse } from '../../src/wire/mac.js';
import { UDP_HLEN, UDP_OK, udpCheck, udpDstPort, udpLength, udpWriteHeader } from '../../src/wire/udp.js';
import {
  VXLAN_ERR_FLAGS,
  VXLAN_ERR_RESERVED,
  VXLAN_ERR_SHORT,
  VXLAN_FLAGS,
  VXLAN_FLAG_I,
  VXLAN_HLEN,
  VXLAN_MIN_LEN,
  VXLAN_MTU_OVERHEAD_IPV4,
  VXLAN_MTU_OVERHEAD_IPV6,
  VXLAN_OK,
  VXLAN_PORT_IANA,
  VXLAN_PORT_LINUX,
  VXLAN_REASON_NAMES,
  VXLAN_RESERVED_HI,
  VXLAN_RESERVED_LO,
  VXLAN_USED_HI,
  VXLAN_USED_LO,
  VXLAN_VNI,
  VXLAN_VNI_MAX,
  vxlanCheck,
  vxlanEmit,
  vxlanParse,
  vxlanReservedFormat,
  vxlanReservedParse,
  vxlanVni,
  vxlanVniIsValid,
  vxlanWrite,
} from '../../src/wire/vxlan.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  ICMP_ECHO_REQUEST,
  L3,
  L4_V4,
  L4_V6,
  VX4,
  VX6,
  VXLAN4_ARP_REPLY,
  VXLAN4_ARP_REQUEST,
  VXLAN4_ICMP,
  VXLAN6_ARP_REQUEST,
  VXLAN6_ICMP,
} from './fixtures.js';
import { filled, hex } from './helpers.js';

/** The decap path over a captured underlay frame, as the dataplane will walk it. Returns [vni, inner]. */
function decap(frame: Buffer): [number, Buffer] {
  expect(ethernetCheck(frame, 0, frame.length)).toBe(0);
  let l4: number;
  let l4len: number;
  if (ethernetType(frame, 0) === ETHERTYPE_IPV4) {
    expect(ipv4Check(frame, L3, frame.length - L3)).toBe(IPV4_OK);
    expect(ipv4Protocol(frame, L3)).toBe(IPPROTO_UDP);
    l4 = L3 + ipv4HeaderLen(frame, L3);
    l4len = ipv4PayloadLen(frame, L3);
  } else {
    expect(ethernetType(frame, 0)).toBe(ETHERTYPE_IPV6);
    expect(ipv6Check(frame, L3, frame.length - L3)).toBe(IPV6_OK);
    expect(ipv6NextHeader(frame, L3)).toBe(IPPROTO_UDP);
    l4 = L3 + 40;
    l4len = ipv6PayloadLen(frame, L3);
  }
  expect(udpCheck(frame, l4, l4len)).toBe(UDP_OK);
  const vx = l4 + UDP_HLEN;
  const vxlen = udpLength(frame, l4) - UDP_HLEN;
  expect(vxlanCheck(frame, vx, vxlen)).toBe(VXLAN_OK);
  return [vxlanVni(frame, vx), frame.subarray(vx + VXLAN_HLEN, vx + vxlen)];
}

describe('vxlan', () => {
  it('has the RFC 7348 layout and well-known numbers', () => {
    expect([VXLAN_FLAGS, VXLAN_VNI, VXLAN_HLEN, VXLAN_FLAG_I, VXLAN_VNI_MAX]).toEqual([0, 4, 8, 0x08, 0xffffff]);
    expect([VXLAN_PORT_IANA, VXLAN_PORT_LINUX]).toEqual([4789, 8472]);
    expect(VXLAN_MIN_LEN).toBe(VXLAN_HLEN + ETH_HLEN);
    expect(VXLAN_MTU_OVERHEAD_IPV4).toBe(20 + 8 + 8 + 14);
    expect(VXLAN_MTU_OVERHEAD_IPV6).toBe(40 + 8 + 8 + 14);
  });

  it('reads the VNI of captured kernel frames', () => {
    for (const f of [VXLAN4_ARP_REQUEST, VXLAN4_ARP_REPLY, VXLAN4_ICMP]) {
      expect(vxlanCheck(f, VX4, f.length - VX4)).toBe(VXLAN_OK);
      expect(vxlanVni(f, VX4)).toBe(42);
    }
    for (const f of [VXLAN6_ARP_REQUEST, VXLAN6_ICMP]) {
      expect(vxlanCheck(f, VX6, f.length - VX6)).toBe(VXLAN_OK);
      expect(vxlanVni(f, VX6)).toBe(10001);
    }
  });

  it('decap of the underlay captures yields exactly the frames captured on the overlay device', () => {
    expect(decap(VXLAN4_ARP_REQUEST)).toEqual([42, ARP_REQUEST]);
    expect(decap(VXLAN4_ARP_REPLY)).toEqual([42, ARP_REPLY]);
    expect(decap(VXLAN4_ICMP)).toEqual([42, ICMP_ECHO_REQUEST]);
    const [vni6, arp6] = decap(VXLAN6_ARP_REQUEST);
    expect(vni6).toBe(10001);
    expect(ethernetType(arp6, 0)).toBe(ETHERTYPE_ARP);
    const [, icmp6] = decap(VXLAN6_ICMP);
    expect(ipv4Check(icmp6, L3, icmp6.length - L3)).toBe(IPV4_OK);
    expect(icmpCheck(icmp6, 34, ipv4PayloadLen(icmp6, L3))).toBe(ICMP_OK);
    expect(icmpType(icmp6, 34)).toBe(ICMP_TYPE_ECHO_REQUEST);
    expect(icmpEchoSeq(icmp6, 34)).toBe(1);
  });

  it('vxlanWrite emits the captured header into a 0xa5 buffer', () => {
    const b = filled(VXLAN_HLEN + 2);
    vxlanWrite(b, 1, 42);
    expect(b).toEqual(Buffer.concat([hex('a5'), VXLAN4_ARP_REQUEST.subarray(VX4, VX4 + 8), hex('a5')]));
    vxlanWrite(b, 1, 10001);
    expect(b.subarray(1, 9)).toEqual(VXLAN6_ICMP.subarray(VX6, VX6 + 8));
    vxlanWrite(b, 1, VXLAN_VNI_MAX);
    expect(b).toEqual(hex('a5 0800 0000 ffff ff00 a5'));
  });

  it('encap with the wire writers rebuilds the kernel frame byte for byte (IPv4 underlay)', () => {
    const inner = ARP_REQUEST;
    const b = filled(VX4 + VXLAN_HLEN + inner.length);
    ethernetWrite(b, 0, macParse('02:00:00:00:0b:01')!, macParse('02:00:00:00:0a:01')!, ETHERTYPE_IPV4);
    ipv4WriteHeader(b, L3, 0, 20 + 8 + 8 + inner.length, 0xa174, 0, 64, IPPROTO_UDP, 0x0a000001, 0x0a000002);
    udpWriteHeader(b, L4_V4, 49240, VXLAN_PORT_IANA, 8 + 8 + inner.length);
    vxlanWrite(b, VX4, 42);
    inner.copy(b, VX4 + VXLAN_HLEN);
    expect(l4ChecksumFill(b, L3, false)).toBe(0x3930);
    expect(b).toEqual(VXLAN4_ARP_REQUEST);
  });

  it('encap with the wire writers rebuilds the kernel frame byte for byte (IPv6 underlay, odd length)', () => {
    const inner = VXLAN6_ICMP.subarray(VX6 + 8); // the captured inner frame
    const b = filled(VX6 + VXLAN_HLEN + inner.length);
    ethernetWrite(b, 0, macParse('02:00:00:00:0b:01')!, macParse('02:00:00:00:0a:01')!, ETHERTYPE_IPV6);
    ipv6WriteFixed(b, L3, 0, 0, 8 + 8 + inner.length, IPPROTO_UDP, 64);
    expect(ipv6AddrParse('fd00::1', b, L3 + 8)).toBe(true);
    expect(ipv6AddrParse('fd00::2', b, L3 + 24)).toBe(true);
    udpWriteHeader(b, L4_V6, 51702, 4899, 8 + 8 + inner.length);
    vxlanWrite(b, VX6, 10001);
    inner.copy(b, VX6 + VXLAN_HLEN);
    expect(l4ChecksumFill(b, L3, true)).toBe(0xb74d);
    expect(b).toEqual(VXLAN6_ICMP);
    expect(udpDstPort(b, L4_V6)).toBe(4899);
  });

  it('round-trips parse -> emit', () => {
    for (const [f, off] of [
      [VXLAN4_ICMP, VX4],
      [VXLAN6_ICMP, VX6],
    ] as const) {
      const repr = vxlanParse(f, off, f.length - off)!;
      const b = filled(VXLAN_HLEN);
      vxlanEmit(repr, b, 0);
      expect(b).toEqual(f.subarray(off, off + VXLAN_HLEN));
    }
    expect(vxlanParse(VXLAN4_ICMP, VX4, VXLAN4_ICMP.length - VX4)).toEqual({ vni: 42 });
  });

  it('validates VNIs', () => {
    expect([0, 1, 42, 10001, VXLAN_VNI_MAX].every(vxlanVniIsValid)).toBe(true);
    expect([-1, VXLAN_VNI_MAX + 1, 1.5, Number.NaN].some(vxlanVniIsValid)).toBe(false);
  });

  describe('negative cases', () => {
    /** 8-byte header (hex) followed by a minimal inner Ethernet header. */
    const pkt = (header: string): Buffer => Buffer.concat([hex(header), ARP_REQUEST.subarray(0, ETH_HLEN)]);

    it('short: header + 13 bytes', () => {
      const b = pkt('0800 0000 0000 2a00');
      expect(vxlanCheck(b, 0, b.length)).toBe(VXLAN_OK);
      expect(vxlanCheck(b, 0, 21)).toBe(VXLAN_ERR_SHORT);
      expect(vxlanCheck(b, 0, 8)).toBe(VXLAN_ERR_SHORT);
      expect(vxlanParse(b, 0, 21)).toBeUndefined();
      expect(VXLAN_REASON_NAMES[VXLAN_ERR_SHORT]).toBe('short');
    });

    it.each([
      ['all zero', '0000 0000 0000 2a00'],
      ['I clear, other flags set', 'f700 0000 0000 2a00'],
      ['I clear, reserved bytes set too', '0001 0000 0000 2aff'],
    ])('flags: %s', (_name, header) => {
      const b = pkt(header);
      expect(vxlanCheck(b, 0, b.length)).toBe(VXLAN_ERR_FLAGS);
      expect(vxlanParse(b, 0, b.length)).toBeUndefined();
      expect(VXLAN_REASON_NAMES[VXLAN_ERR_FLAGS]).toBe('flags');
    });

    it('reserved: every single reserved bit, one at a time (byte 0 except I, bytes 1-3, byte 7)', () => {
      let n = 0;
      for (const byte of [0, 1, 2, 3, 7]) {
        for (let bit = 0; bit < 8; bit++) {
          if (byte === 0 && 1 << bit === VXLAN_FLAG_I) continue;
          const b = pkt('0800 0000 0000 2a00');
          b[byte]! |= 1 << bit;
          expect(vxlanCheck(b, 0, b.length), `byte ${byte} bit ${bit}`).toBe(VXLAN_ERR_RESERVED);
          n++;
        }
      }
      expect(n).toBe(39);
      expect(VXLAN_REASON_NAMES[VXLAN_ERR_RESERVED]).toBe('reserved');
    });

    it.each([
      // G bit 0x80 + I, policy id 0x1234 in bytes 2-3 (draft-smith-vxlan-group-policy).
      ['VXLAN-GBP', '8800 1234 0000 2a00'],
      // P bit 0x04 + I, Next Protocol 0x01 (IPv4) in byte 3 (draft-ietf-nvo3-vxlan-gpe).
      ['VXLAN-GPE carrying IPv4', '0c00 0001 0000 2a00'],
    ])('reserved: %s is dropped, not misread as Ethernet', (_name, header) => {
      const b = pkt(header);
      expect(vxlanCheck(b, 0, b.length)).toBe(VXLAN_ERR_RESERVED);
    });

    it('the default mask is the kernel\'s: everything but I and the VNI', () => {
      expect(vxlanReservedFormat(VXLAN_RESERVED_HI, VXLAN_RESERVED_LO)).toBe('0xf7ffffff000000ff');
      expect(vxlanReservedFormat(VXLAN_USED_HI, VXLAN_USED_LO)).toBe('0x08000000ffffff00');
      expect((VXLAN_RESERVED_HI & VXLAN_USED_HI) | (VXLAN_RESERVED_LO & VXLAN_USED_LO)).toBe(0);
      expect(vxlanReservedParse('0xf7ffffff000000ff')).toEqual({ hi: VXLAN_RESERVED_HI, lo: VXLAN_RESERVED_LO });
      expect(vxlanReservedParse('0XFF')).toEqual({ hi: 0, lo: 0xff });
      expect(vxlanReservedParse('0x0')).toEqual({ hi: 0, lo: 0 });
      for (const bad of ['', 'ff', '0x', '0x1ffffffffffffffff', '0xg', '255', ' 0x1']) expect(vxlanReservedParse(bad), bad).toBeUndefined();
    });

    // The kernel's vxlan_reserved.sh, on the header alone: number the 64 header bits from the top bit of
    // byte 0 (bit 4 is I, bits 32..55 the VNI); the other 39 are reserved. Each one set on its own is dropped
    // by default; a mask that allows exactly that bit (the default minus it) accepts it and still drops the
    // other 38; a mask of 0 accepts all 39.
    const reservedBitNumbers = Array.from({ length: 64 }, (_, i) => i).filter((i) => i !== 4 && !(i >= 32 && i < 56));
    const withBit = (bit: number): Buffer => {
      const b = pkt('0800 0000 ffff ff00');
      b[bit >> 3]! |= 0x80 >> (bit & 7);
      return b;
    };
    /** The default mask with header bit `bit` cleared, as [hi, lo]. */
    const allowing = (bit: number): [number, number] =>
      bit < 32 ? [(VXLAN_RESERVED_HI & ~(0x8000_0000 >>> bit)) >>> 0, VXLAN_RESERVED_LO] : [VXLAN_RESERVED_HI, (VXLAN_RESERVED_LO & ~(0x8000_0000 >>> (bit - 32))) >>> 0];
    it('reserved_bits: 39 reserved bits, each dropped by default', () => {
      expect(reservedBitNumbers).toHaveLength(39);
      for (const bit of reservedBitNumbers) expect(vxlanCheck(withBit(bit), 0, 22), `bit ${bit}`).toBe(VXLAN_ERR_RESERVED);
    });
    it.each([0, 10, 31, 56, 63, ...reservedBitNumbers])('reserved_bits allowing only bit %i: that bit passes, the other 38 do not', (allowed) => {
      const [hi, lo] = allowing(allowed);
      for (const bit of reservedBitNumbers) {
        expect(vxlanCheck(withBit(bit), 0, 22, hi, lo), `mask ${vxlanReservedFormat(hi, lo)}, bit ${bit}`).toBe(bit === allowed ? VXLAN_OK : VXLAN_ERR_RESERVED);
      }
      // The selftest's own masks (reserved_10_test: 0xf7dfffff000000ff, reserved_56_test: 0xf7ffffff0000007f).
      if (allowed === 10) expect(vxlanReservedFormat(hi, lo)).toBe('0xf7dfffff000000ff');
      if (allowed === 56) expect(vxlanReservedFormat(hi, lo)).toBe('0xf7ffffff0000007f');
    });
    it('reserved_bits 0: every reserved bit passes, the I flag is still required', () => {
      for (const bit of reservedBitNumbers) expect(vxlanCheck(withBit(bit), 0, 22, 0, 0)).toBe(VXLAN_OK);
      expect(vxlanCheck(pkt('f700 0000 0000 2aff'), 0, 22, 0, 0)).toBe(VXLAN_ERR_FLAGS);
      expect(vxlanCheck(pkt('0800 0000 0000 2a00'), 0, 21, 0, 0)).toBe(VXLAN_ERR_SHORT);
    });

    it('VNI bits never count as reserved', () => {
      const b = pkt('0800 0000 ffff ff00');
      expect(vxlanCheck(b, 0, b.length)).toBe(VXLAN_OK);
      expect(vxlanVni(b, 0)).toBe(VXLAN_VNI_MAX);
    });
  });
});
