import { describe, expect, it } from 'vitest';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_CHECKSUM,
  IPV4_DST,
  IPV4_ERR_CHECKSUM,
  IPV4_ERR_IHL,
  IPV4_ERR_SHORT,
  IPV4_ERR_TOTAL_LEN,
  ipv4CheckLengths,
  IPV4_ERR_VERSION,
  IPV4_FLAG_DF,
  IPV4_FLAGS_FRAG,
  IPV4_ID,
  IPV4_MIN_HLEN,
  IPV4_OK,
  IPV4_PROTOCOL,
  IPV4_REASON_NAMES,
  IPV4_SRC,
  IPV4_TOS,
  IPV4_TOTAL_LEN,
  IPV4_TTL,
  IPV4_VER_IHL,
  type Ipv4Repr,
  ipv4AddrFormat,
  ipv4AddrParse,
  ipv4Check,
  ipv4Checksum,
  ipv4DontFragment,
  ipv4Dst,
  ipv4Ecn,
  ipv4Emit,
  ipv4FillChecksum,
  ipv4FragOffset,
  ipv4HeaderLen,
  ipv4Id,
  ipv4IsFragment,
  ipv4MoreFragments,
  ipv4Parse,
  ipv4PayloadLen,
  ipv4Protocol,
  ipv4SetTtl,
  ipv4Src,
  ipv4Tos,
  ipv4TotalLen,
  ipv4Ttl,
  ipv4Version,
  ipv4WriteHeader,
} from '../../src/wire/ipv4.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, L3, TCP4_SYN, VXLAN4_ICMP } from './fixtures.js';
import { filled, hex, octets, refChecksum } from './helpers.js';

const IP_1 = 0xc0a86401; // 192.168.100.1
const IP_2 = 0xc0a86402;

/** A header with a fresh checksum, computed by the reference code. */
function withRefChecksum(hdr: Buffer): Buffer {
  const b = Buffer.from(hdr);
  const hlen = (b[0]! & 0x0f) * 4;
  b.writeUInt16BE(0, 10);
  b.writeUInt16BE(refChecksum(octets(b, 0, hlen)), 10);
  return b;
}

describe('ipv4', () => {
  it('has the RFC 791 layout', () => {
    expect([IPV4_VER_IHL, IPV4_TOS, IPV4_TOTAL_LEN, IPV4_ID, IPV4_FLAGS_FRAG, IPV4_TTL, IPV4_PROTOCOL]).toEqual([
      0, 1, 2, 4, 6, 8, 9,
    ]);
    expect([IPV4_CHECKSUM, IPV4_SRC, IPV4_DST, IPV4_MIN_HLEN]).toEqual([10, 12, 16, 20]);
    expect([IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6]).toEqual([1, 6, 17, 58]);
  });

  it('reads a captured ICMP echo request', () => {
    const f = ICMP_ECHO_REQUEST;
    expect(ipv4Check(f, L3, f.length - L3)).toBe(IPV4_OK);
    expect(ipv4Version(f, L3)).toBe(4);
    expect(ipv4HeaderLen(f, L3)).toBe(20);
    expect(ipv4Tos(f, L3)).toBe(0);
    expect(ipv4Ecn(f, L3)).toBe(0);
    expect(ipv4TotalLen(f, L3)).toBe(84);
    expect(ipv4PayloadLen(f, L3)).toBe(64);
    expect(ipv4Id(f, L3)).toBe(0x9d83);
    expect(ipv4DontFragment(f, L3)).toBe(true);
    expect(ipv4MoreFragments(f, L3)).toBe(false);
    expect(ipv4FragOffset(f, L3)).toBe(0);
    expect(ipv4IsFragment(f, L3)).toBe(false);
    expect(ipv4Ttl(f, L3)).toBe(64);
    expect(ipv4Protocol(f, L3)).toBe(IPPROTO_ICMP);
    expect(ipv4Checksum(f, L3)).toBe(0x53d1);
    expect(ipv4Src(f, L3)).toBe(IP_1);
    expect(ipv4Dst(f, L3)).toBe(IP_2);
    expect(ipv4DontFragment(ICMP_ECHO_REPLY, L3)).toBe(false);
    expect(ipv4Protocol(TCP4_SYN, L3)).toBe(IPPROTO_TCP);
    expect(ipv4Protocol(VXLAN4_ICMP, L3)).toBe(IPPROTO_UDP);
  });

  it('ipv4FillChecksum reproduces the kernel checksums', () => {
    for (const [f, want] of [
      [ICMP_ECHO_REQUEST, 0x53d1],
      [ICMP_ECHO_REPLY, 0x7d1a],
      [TCP4_SYN, 0x1b08],
      [VXLAN4_ICMP, 0xc4ef],
    ] as const) {
      const b = Buffer.from(f);
      b.writeUInt16BE(0xa5a5, L3 + IPV4_CHECKSUM);
      ipv4FillChecksum(b, L3);
      expect(ipv4Checksum(b, L3)).toBe(want);
      expect(b).toEqual(f);
    }
  });

  it('ipv4WriteHeader emits the captured header into a 0xa5 buffer', () => {
    const b = filled(22);
    ipv4WriteHeader(b, 1, 0, 84, 0x9d83, IPV4_FLAG_DF, 64, IPPROTO_ICMP, IP_1, IP_2);
    expect(b.subarray(1, 21)).toEqual(ICMP_ECHO_REQUEST.subarray(L3, L3 + 20));
    expect([b[0], b[21]]).toEqual([0xa5, 0xa5]);
  });

  it('round-trips parse -> emit', () => {
    for (const f of [ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, TCP4_SYN, VXLAN4_ICMP]) {
      const repr = ipv4Parse(f, L3, f.length - L3)!;
      const b = filled(20);
      ipv4Emit(repr, b, 0);
      expect(b).toEqual(f.subarray(L3, L3 + 20));
    }
    expect(ipv4Parse(ICMP_ECHO_REQUEST, L3, 84)).toEqual<Ipv4Repr>({
      tos: 0,
      payloadLen: 64,
      id: 0x9d83,
      dontFragment: true,
      moreFragments: false,
      fragOffset: 0,
      ttl: 64,
      protocol: IPPROTO_ICMP,
      src: IP_1,
      dst: IP_2,
    });
  });

  it('takes the packet length from Total Length, not from len (Ethernet padding)', () => {
    const padded = Buffer.concat([ICMP_ECHO_REQUEST, Buffer.alloc(30)]);
    expect(ipv4Check(padded, L3, padded.length - L3)).toBe(IPV4_OK);
    expect(ipv4TotalLen(padded, L3)).toBe(84);
  });

  it('reads fragment fields (hand-built: MF set, offset 185 units = 1480 bytes)', () => {
    const mf = withRefChecksum(hex('4500 001c 1234 20b9 4011 0000 0a00 0001 0a00 0002 0000 0000 0000 0000'));
    expect(ipv4Check(mf, 0, mf.length)).toBe(IPV4_OK);
    expect(ipv4MoreFragments(mf, 0)).toBe(true);
    expect(ipv4FragOffset(mf, 0)).toBe(1480);
    expect(ipv4IsFragment(mf, 0)).toBe(true);
    const last = withRefChecksum(hex('4500 001c 1234 00b9 4011 0000 0a00 0001 0a00 0002 0000 0000 0000 0000'));
    expect(ipv4MoreFragments(last, 0)).toBe(false);
    expect(ipv4IsFragment(last, 0)).toBe(true);
    const first = withRefChecksum(hex('4500 001c 1234 2000 4011 0000 0a00 0001 0a00 0002 0000 0000 0000 0000'));
    expect(ipv4IsFragment(first, 0)).toBe(true);
    expect(ipv4Parse(mf, 0, mf.length)).toMatchObject({ moreFragments: true, fragOffset: 1480 });
    const e = filled(20);
    ipv4Emit(ipv4Parse(mf, 0, mf.length)!, e, 0);
    expect(e).toEqual(mf.subarray(0, 20));
  });

  it('accepts a header with options (IHL 6, hand-built, NOP padding)', () => {
    const b = withRefChecksum(hex('4600 0018 0001 0000 4001 0000 0a00 0001 0a00 0002 0101 0101'));
    expect(ipv4Check(b, 0, b.length)).toBe(IPV4_OK);
    expect(ipv4HeaderLen(b, 0)).toBe(24);
    expect(ipv4PayloadLen(b, 0)).toBe(0);
  });

  it('setters leave the checksum stale until ipv4FillChecksum', () => {
    const b = Buffer.from(ICMP_ECHO_REQUEST);
    ipv4SetTtl(b, L3, 63);
    expect(ipv4Check(b, L3, 84)).toBe(IPV4_ERR_CHECKSUM);
    ipv4FillChecksum(b, L3);
    expect(ipv4Check(b, L3, 84)).toBe(IPV4_OK);
    expect(ipv4Checksum(b, L3)).toBe(0x54d1);
  });

  describe('negative cases, one per reason', () => {
    const hdr = (): Buffer => Buffer.from(ICMP_ECHO_REQUEST.subarray(L3));
    const cases: [string, number, Buffer, number?][] = [
      ['short', IPV4_ERR_SHORT, hdr(), 19],
      ['short', IPV4_ERR_SHORT, withRefChecksum(Buffer.concat([hex('46'), hdr().subarray(1, 22)])), 22], // IHL 6 > len 22
      ['version', IPV4_ERR_VERSION, withRefChecksum(Buffer.concat([hex('65'), hdr().subarray(1)]))],
      ['ihl', IPV4_ERR_IHL, withRefChecksum(Buffer.concat([hex('44'), hdr().subarray(1)]))],
      ['total_len', IPV4_ERR_TOTAL_LEN, hdr(), 83], // truncated: 84 > 83
      ['total_len', IPV4_ERR_TOTAL_LEN, withRefChecksum(Buffer.concat([hdr().subarray(0, 2), hex('0013'), hdr().subarray(4)]))], // 19 < 20
      ['checksum', IPV4_ERR_CHECKSUM, Buffer.concat([hdr().subarray(0, 10), hex('53d0'), hdr().subarray(12)])],
    ];
    it.each(cases)('%s', (name, reason, b, len) => {
      expect(ipv4Check(b, 0, len ?? b.length)).toBe(reason);
      expect(IPV4_REASON_NAMES[reason]).toBe(name);
      expect(ipv4Parse(b, 0, len ?? b.length)).toBeUndefined();
      // The same verdict without the checksum, which alone it does not look at.
      expect(ipv4CheckLengths(b, 0, len ?? b.length)).toBe(reason === IPV4_ERR_CHECKSUM ? IPV4_OK : reason);
    });
  });

  describe('address text', () => {
    it('parses and formats dotted quads', () => {
      expect(ipv4AddrParse('192.168.100.1')).toBe(IP_1);
      expect(ipv4AddrParse('0.0.0.0')).toBe(0);
      expect(ipv4AddrParse('255.255.255.255')).toBe(0xffffffff);
      expect(ipv4AddrParse('179.17.1.10')).toBe(0xb311010a);
      expect(ipv4AddrFormat(IP_1)).toBe('192.168.100.1');
      expect(ipv4AddrFormat(0xffffffff)).toBe('255.255.255.255');
      expect(ipv4AddrFormat(0x0a000001)).toBe('10.0.0.1');
    });

    it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-4', '01.2.3.4', '1.2.3.4 ', '0x1.2.3.4', '1..3.4', '1.2.3.1000'])(
      'refuses %j',
      (text) => {
        expect(ipv4AddrParse(text)).toBeUndefined();
      },
    );
  });
});
