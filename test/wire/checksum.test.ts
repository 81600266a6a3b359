import { describe, expect, it } from 'vitest';
import {
  csumAdd,
  csumCompletePartial,
  csumFinish,
  csumFold,
  csumUpdate16,
  csumUpdate32,
  l4ChecksumFill,
  l4ChecksumOffset,
  l4ChecksumVerify,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
} from '../../src/wire/checksum.js';
import {
  ICMP_ECHO_REQUEST,
  L3,
  L4_V4,
  L4_V6,
  TCP4_HELLO,
  TCP4_SYN,
  UDP6_HELLO,
  VXLAN4_ARP_REPLY,
  VXLAN4_ARP_REQUEST,
  VXLAN4_ICMP,
  VXLAN6_ARP_REQUEST,
  VXLAN6_ICMP,
} from './fixtures.js';
import { hex, octets, prng, randomBytes, refChecksum, refOnesSum, refPseudoV4, refPseudoV6 } from './helpers.js';

/** The TCP/UDP checksum of a captured frame, recomputed by the reference code alone. */
function refL4(frame: Buffer, v6: boolean, field: number): number {
  const copy = Buffer.from(frame);
  if (v6) {
    const plen = copy.readUInt16BE(L3 + 4);
    copy.writeUInt16BE(0, L4_V6 + field);
    const ph = refPseudoV6(octets(copy, L3 + 8, 16), octets(copy, L3 + 24, 16), copy[L3 + 6]!, plen);
    return refChecksum([...ph, ...octets(copy, L4_V6, plen)]);
  }
  const l4len = copy.readUInt16BE(L3 + 2) - 20;
  copy.writeUInt16BE(0, L4_V4 + field);
  const ph = refPseudoV4(octets(copy, L3 + 12, 4), octets(copy, L3 + 16, 4), copy[L3 + 9]!, l4len);
  return refChecksum([...ph, ...octets(copy, L4_V4, l4len)]);
}

describe('checksum: the reference implementation agrees with the captures', () => {
  // Guards the guard: if the slow reference were wrong, the comparisons below would prove nothing.
  it.each([
    ['TCP4_SYN', TCP4_SYN, false, 16, 0xc518],
    ['TCP4_HELLO', TCP4_HELLO, false, 16, 0x282c],
    ['UDP6_HELLO', UDP6_HELLO, true, 6, 0x63e9],
    ['VXLAN4_ARP_REQUEST', VXLAN4_ARP_REQUEST, false, 6, 0x3930],
    ['VXLAN6_ICMP', VXLAN6_ICMP, true, 6, 0xb74d],
  ])('%s', (_name, frame, v6, field, expected) => {
    expect(refL4(frame, v6, field)).toBe(expected);
    const hdr = octets(ICMP_ECHO_REQUEST, L3, 20);
    hdr[10] = 0;
    hdr[11] = 0;
    expect(refChecksum(hdr)).toBe(0x53d1);
  });
});

describe('checksum: csumAdd / csumFold / csumFinish against the reference', () => {
  it('every length 0..300 at offsets 0, 1, 2, 3 (seeded random data, random surroundings)', () => {
    const rand = prng(0x7348);
    for (let len = 0; len <= 300; len++) {
      for (let off = 0; off < 4; off++) {
        const buf = randomBytes(rand, off + len + 5);
        const want = refOnesSum(octets(buf, off, len));
        const sum = csumAdd(buf, off, len);
        expect(csumFold(sum), `len ${len} off ${off}`).toBe(want);
        expect(csumFinish(sum), `len ${len} off ${off}`).toBe(0xffff - want);
      }
    }
  });

  it('worst case for overflow: all-0xff buffers across the internal fold interval', () => {
    for (const len of [32766, 32767, 32768, 32769, 32770, 65536, 65537, 200_001]) {
      for (const off of [0, 1]) {
        const buf = Buffer.alloc(off + len, 0xff);
        expect(csumFold(csumAdd(buf, off, len)), `len ${len} off ${off}`).toBe(refOnesSum(octets(buf, off, len)));
      }
    }
  });

  it('large random buffers', () => {
    const rand = prng(4789);
    for (const len of [1499, 1500, 9001, 65535, 65536 * 3 + 3]) {
      const buf = randomBytes(rand, len + 3);
      expect(csumFold(csumAdd(buf, 3, len))).toBe(refOnesSum(octets(buf, 3, len)));
    }
  });

  it('all-zero data sums to 0; csumFinish of that is 0xffff', () => {
    expect(csumAdd(Buffer.alloc(40), 0, 40)).toBe(0);
    expect(csumFold(0)).toBe(0);
    expect(csumFinish(0)).toBe(0xffff);
  });

  it('pads an odd trailing byte on the right (RFC 1071 section 4.1)', () => {
    expect(csumAdd(hex('ab'), 0, 1)).toBe(0xab00);
    expect(csumAdd(hex('0102 03'), 0, 3)).toBe(0x0102 + 0x0300);
  });

  it('composes: even-length prefix plus rest, via `initial` or `+`', () => {
    const rand = prng(8472);
    for (let n = 0; n < 200; n++) {
      const len = Math.floor(rand() * 200);
      const split = Math.floor((rand() * (len + 1)) / 2) * 2;
      const buf = randomBytes(rand, len + 1);
      const whole = refOnesSum(octets(buf, 1, len));
      expect(csumFold(csumAdd(buf, 1 + split, len - split, csumAdd(buf, 1, split)))).toBe(whole);
      expect(csumFold(csumAdd(buf, 1, split) + csumAdd(buf, 1 + split, len - split))).toBe(whole);
    }
  });

  it('csumFold is exact for sums up to 2^53 (no 32-bit truncation)', () => {
    const rand = prng(1071);
    for (let n = 0; n < 1000; n++) {
      const x = Math.floor(rand() * 2 ** 53);
      // One's-complement folding is reduction mod 0xffff, with 0xffff standing for a non-zero multiple.
      const want = x === 0 ? 0 : Number((BigInt(x) - 1n) % 0xffffn) + 1;
      expect(csumFold(x)).toBe(want);
    }
    expect(csumFold(2 ** 53 - 1)).toBe(Number((2n ** 53n - 2n) % 0xffffn) + 1);
  });

  it('verifies a captured IPv4 header (sum including the field is all ones)', () => {
    expect(csumFold(csumAdd(ICMP_ECHO_REQUEST, L3, 20))).toBe(0xffff);
  });
});

describe('checksum: pseudo-headers', () => {
  it('IPv4 pseudo-header matches the octet-built reference', () => {
    const rand = prng(768);
    for (let n = 0; n < 200; n++) {
      const b = randomBytes(rand, 9);
      const len = Math.floor(rand() * 65536);
      const proto = Math.floor(rand() * 256);
      const want = refOnesSum(refPseudoV4(octets(b, 1, 4), octets(b, 5, 4), proto, len));
      expect(csumFold(pseudoHeaderSumV4(b, 1, 5, proto, len))).toBe(want);
    }
  });

  it('IPv6 pseudo-header matches the octet-built reference, including 32-bit lengths', () => {
    const rand = prng(8200);
    for (let n = 0; n < 200; n++) {
      const b = randomBytes(rand, 35);
      const len = n % 2 === 0 ? Math.floor(rand() * 65536) : Math.floor(rand() * 2 ** 32);
      const nh = Math.floor(rand() * 256);
      const want = refOnesSum(refPseudoV6(octets(b, 3, 16), octets(b, 19, 16), nh, len));
      expect(csumFold(pseudoHeaderSumV6(b, 3, 19, nh, len))).toBe(want);
    }
  });
});

describe('checksum: l4ChecksumFill / l4ChecksumVerify on captured packets', () => {
  it.each([
    ['TCP/IPv4 SYN with options', TCP4_SYN, false, L4_V4 + 16, 0xc518],
    ['TCP/IPv4 with odd payload "hello"', TCP4_HELLO, false, L4_V4 + 16, 0x282c],
    ['UDP/IPv6 with odd payload', UDP6_HELLO, true, L4_V6 + 6, 0x63e9],
    ['VXLAN outer UDP/IPv4 (ARP request)', VXLAN4_ARP_REQUEST, false, L4_V4 + 6, 0x3930],
    ['VXLAN outer UDP/IPv4 (ARP reply)', VXLAN4_ARP_REPLY, false, L4_V4 + 6, 0xeb54],
    ['VXLAN outer UDP/IPv4 (ICMP)', VXLAN4_ICMP, false, L4_V4 + 6, 0x6d2d],
    ['VXLAN outer UDP/IPv6 (ARP)', VXLAN6_ARP_REQUEST, true, L4_V6 + 6, 0x6799],
    ['VXLAN outer UDP/IPv6 (ICMP, odd length)', VXLAN6_ICMP, true, L4_V6 + 6, 0xb74d],
  ])('%s', (_name, frame, v6, at, expected) => {
    expect(l4ChecksumVerify(frame, L3, v6)).toBe(true);
    const b = Buffer.from(frame);
    b.writeUInt16BE(0xa5a5, at);
    expect(l4ChecksumFill(b, L3, v6)).toBe(expected);
    expect(b).toEqual(frame);
    b[b.length - 1]! ^= 0x01;
    expect(l4ChecksumVerify(b, L3, v6)).toBe(false);
  });

  it('UDP: a computed 0 is sent as 0xffff (RFC 768), and verifies', () => {
    // Hand-built UDP/IPv4: 10.0.0.1:1000 > 10.0.0.2:2000, 2-byte payload chosen with the reference code so
    // that the true checksum comes out as 0x0000.
    const pkt = hex(`
      4500 001e 0000 4000 4011 0000 0a00 0001 0a00 0002
      03e8 07d0 000a 0000 0000`);
    const ph = refPseudoV4([10, 0, 0, 1], [10, 0, 0, 2], 17, 10);
    const w = refChecksum([...ph, ...octets(pkt, 20, 10)]);
    pkt.writeUInt16BE(w, 28);
    expect(refChecksum([...ph, ...octets(pkt, 20, 10)])).toBe(0);
    expect(l4ChecksumFill(pkt, 0, false)).toBe(0xffff);
    expect(pkt.readUInt16BE(26)).toBe(0xffff);
    expect(l4ChecksumVerify(pkt, 0, false)).toBe(true);
  });

  it('UDP checksum 0 means "none" on IPv4 but is invalid on IPv6 unless allowed (RFC 6935)', () => {
    const v4 = Buffer.from(VXLAN4_ARP_REQUEST);
    v4.writeUInt16BE(0, L4_V4 + 6);
    expect(l4ChecksumVerify(v4, L3, false)).toBe(true);
    const v6 = Buffer.from(UDP6_HELLO);
    v6.writeUInt16BE(0, L4_V6 + 6);
    expect(l4ChecksumVerify(v6, L3, true)).toBe(false);
    expect(l4ChecksumVerify(v6, L3, true, true)).toBe(true);
  });

  it('refuses protocols without a TCP/UDP checksum, writing nothing', () => {
    const b = Buffer.from(ICMP_ECHO_REQUEST);
    expect(l4ChecksumFill(b, L3, false)).toBe(-1);
    expect(b).toEqual(ICMP_ECHO_REQUEST);
    expect(l4ChecksumVerify(b, L3, false)).toBe(false);
    expect([l4ChecksumOffset(6), l4ChecksumOffset(17), l4ChecksumOffset(1)]).toEqual([16, 6, -1]);
  });
});

describe('checksum: completing a CHECKSUM_PARTIAL packet (DESIGN.md section 7)', () => {
  // A kernel peer over veth leaves the folded, uncomplemented pseudo-header sum in the field
  // (th->check = ~tcp_v4_check(len, saddr, daddr, 0)). Rebuild that state with the reference code.
  it('TCP/IPv4: csum_start = L4, csum_offset = 16', () => {
    const b = Buffer.from(TCP4_HELLO);
    const l4len = b.length - L4_V4;
    b.writeUInt16BE(refOnesSum(refPseudoV4(octets(b, 26, 4), octets(b, 30, 4), 6, l4len)), L4_V4 + 16);
    expect(l4ChecksumVerify(b, L3, false)).toBe(false);
    csumCompletePartial(b, L4_V4, b.length, 16);
    expect(b).toEqual(TCP4_HELLO);
  });

  it('UDP/IPv6: csum_start = L4, csum_offset = 6', () => {
    const b = Buffer.from(UDP6_HELLO);
    const l4len = b.length - L4_V6;
    b.writeUInt16BE(refOnesSum(refPseudoV6(octets(b, 22, 16), octets(b, 38, 16), 17, l4len)), L4_V6 + 6);
    csumCompletePartial(b, L4_V6, b.length, 6);
    expect(b).toEqual(UDP6_HELLO);
  });
});

describe('checksum: incremental update (RFC 1624)', () => {
  it('the RFC 1624 section 4 example: eqn 3 gives 0x0000 where eqn 2 gave 0xffff', () => {
    // C = 0xcd7a (sum of the other octets), m = 0x5555 -> m' = 0x3285.
    // HC = ~(C + m) = 0xdd2f; the true new checksum ~(C + m') = ~0xffff = 0x0000.
    expect(csumUpdate16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('matches a full recomputation for random 16-bit changes', () => {
    const rand = prng(1624);
    for (let n = 0; n < 2000; n++) {
      const len = 20 + 2 * Math.floor(rand() * 20);
      const b = randomBytes(rand, len);
      if (n % 10 === 0) b.fill(0, 0, len - 2); // mostly-zero headers reach the 0/0xffff corner cases
      b.writeUInt16BE(0, 10);
      b.writeUInt16BE(refChecksum(octets(b)), 10);
      let at = 2 * Math.floor(rand() * (len / 2));
      if (at === 10) at = 0;
      const oldWord = b.readUInt16BE(at);
      const newWord = n % 7 === 0 ? 0 : Math.floor(rand() * 65536);
      const incremental = csumUpdate16(b.readUInt16BE(10), oldWord, newWord);
      b.writeUInt16BE(newWord, at);
      b.writeUInt16BE(0, 10);
      if (b.every((x) => x === 0)) {
        // The one corner where eqn 3 and recomputation differ: all-zero data (+0 vs -0). No IP header
        // (version nibble) or pseudo-header (protocol) can be all zero, so it never meets a real packet.
        expect(incremental).toBe(0x0000);
        continue;
      }
      expect(incremental).toBe(refChecksum(octets(b)));
    }
  });

  it('csumUpdate32 matches a full recomputation (address rewrite)', () => {
    const rand = prng(3022);
    for (let n = 0; n < 1000; n++) {
      const b = randomBytes(rand, 20);
      b.writeUInt16BE(0, 10);
      b.writeUInt16BE(refChecksum(octets(b)), 10);
      const oldV = b.readUInt32BE(12);
      const newV = Math.floor(rand() * 2 ** 32);
      const incremental = csumUpdate32(b.readUInt16BE(10), oldV, newV);
      b.writeUInt32BE(newV, 12);
      b.writeUInt16BE(0, 10);
      expect(incremental).toBe(refChecksum(octets(b)));
    }
  });

  it('TTL decrement on a captured IPv4 header', () => {
    const b = Buffer.from(ICMP_ECHO_REQUEST);
    const oldWord = b.readUInt16BE(L3 + 8); // TTL | protocol = 0x4001
    b[L3 + 8] = 63;
    b.writeUInt16BE(csumUpdate16(b.readUInt16BE(L3 + 10), oldWord, b.readUInt16BE(L3 + 8)), L3 + 10);
    // 0x53d1 + 0x0100, computed by hand: the sum dropped by 0x0100 so its complement grew by 0x0100.
    expect(b.readUInt16BE(L3 + 10)).toBe(0x54d1);
    const hdr = octets(b, L3, 20);
    expect(refOnesSum(hdr)).toBe(0xffff);
  });
});
