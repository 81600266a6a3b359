// The per-frame inner view over captured frames (fixtures.ts), placed at odd offsets in 0xa5-filled buffers so
// a read outside the frame shows; then named negatives, each a one-byte change to a capture.
import { describe, expect, it } from 'vitest';
import {
  FRAG_FIRST,
  FRAG_LATER,
  FRAG_NONE,
  INNER_ERR_IP,
  INNER_ERR_SHORT,
  INNER_ERR_TCP,
  INNER_NOT_IP,
  INNER_OK,
  INNER_REASON_NAMES,
  InnerFrame,
  innerTypeOffset,
} from '../../src/wire/inner-frame.js';
import { IPV4_ERR_IHL, IPV4_ERR_SHORT, IPV4_ERR_TOTAL_LEN, IPV4_ERR_VERSION, IPV4_OK } from '../../src/wire/ipv4.js';
import { IPV6_ERR_PAYLOAD_LEN, IPV6_OK } from '../../src/wire/ipv6.js';
import { TCP_ERR_DATA_OFFSET, TCP_ERR_SHORT, TCP_OK } from '../../src/wire/tcp.js';
import { ARP_REQUEST, ICMP_ECHO_REQUEST, L3, L4_V4, L4_V6, TCP4_SYN, TCP4_HELLO, UDP6_HELLO } from './fixtures.js';
import { hex, placed } from './helpers.js';

const OFF = 3;

/** Parses `frame` placed at `off` in a 0xa5-filled buffer (7 spare bytes after it); `flen` defaults to the frame. */
function view(frame: Buffer, off = OFF, flen = frame.length): InnerFrame {
  const v = new InnerFrame();
  v.parse(placed(frame, off), off, flen);
  return v;
}

/** `frame` with `tags` (hex, 4 bytes each) inserted after its MAC addresses. */
function tagged(frame: Buffer, tags: string): Buffer {
  return Buffer.concat([frame.subarray(0, 12), hex(tags), frame.subarray(12)]);
}

/** A copy of `frame` with byte `at` set to `value`. */
function poke(frame: Buffer, at: number, ...values: number[]): Buffer {
  const b = Buffer.from(frame);
  values.forEach((x, i) => (b[at + i] = x));
  return b;
}

/** IPv6 UDP6_HELLO turned into a fragment: a fragment header (offset/flags word `offFlags`) before the UDP header. */
function v6Fragment(offFlags: number): Buffer {
  const f = Buffer.concat([UDP6_HELLO.subarray(0, L4_V6), hex(`11 00 ${offFlags.toString(16).padStart(4, '0')} 0000 abcd`), UDP6_HELLO.subarray(L4_V6)]);
  f[L3 + 6] = 44; // Next Header: Fragment
  f.writeUInt16BE(8 + 19, L3 + 4);
  return f;
}

describe('InnerFrame over captured frames', () => {
  it('IPv4 TCP SYN (data offset 10): offsets, lengths from the header, DF, the TCP header length', () => {
    const v = view(TCP4_SYN);
    expect(v.reason).toBe(INNER_OK);
    expect({ fo: v.fo, end: v.end, tags: v.tags, ethertype: v.ethertype, l3: v.l3 }).toEqual({ fo: OFF, end: OFF + 74, tags: 0, ethertype: 0x0800, l3: OFF + L3 });
    expect({ ipVersion: v.ipVersion, l3Reason: v.l3Reason, l3Hlen: v.l3Hlen, ipLen: v.ipLen, proto: v.proto }).toEqual({ ipVersion: 4, l3Reason: IPV4_OK, l3Hlen: 20, ipLen: 60, proto: 6 });
    expect({ frag: v.frag, flagsFrag: v.flagsFrag, df: v.df, l4: v.l4, l4Len: v.l4Len, tcpHlen: v.tcpHlen, tcpReason: v.tcpReason }).toEqual({
      frag: FRAG_NONE, flagsFrag: 0x4000, df: true, l4: OFF + L4_V4, l4Len: 40, tcpHlen: 40, tcpReason: TCP_OK,
    });
  });

  it('takes the lengths from the header, not the frame: Ethernet padding after the packet changes nothing', () => {
    const padded = Buffer.concat([TCP4_HELLO, Buffer.alloc(9)]); // 71 + 9: padding the IP length does not cover
    const v = view(padded, 6);
    expect(v.reason).toBe(INNER_OK);
    expect([v.ipLen, v.l4Len, v.tcpHlen, v.end]).toEqual([57, 37, 32, 6 + 80]);
  });

  it('IPv6 UDP at an odd offset: fixed header 40, payload length 19, DF implied, no TCP fields', () => {
    const v = view(UDP6_HELLO, 5);
    expect(v.reason).toBe(INNER_OK);
    expect([v.ethertype, v.ipVersion, v.l3, v.l3Hlen, v.ipLen, v.proto, v.l4, v.l4Len]).toEqual([0x86dd, 6, 5 + L3, 40, 59, 17, 5 + L4_V6, 19]);
    expect([v.frag, v.df, v.flagsFrag, v.tcpHlen]).toEqual([FRAG_NONE, true, 0, -1]);
  });

  it('IPv4 ICMP: protocol 1, total length 84', () => {
    const v = view(ICMP_ECHO_REQUEST, 1);
    expect([v.reason, v.ipVersion, v.proto, v.ipLen, v.l4Len, v.df, v.tcpHlen]).toEqual([INNER_OK, 4, 1, 84, 64, true, -1]);
  });

  it('ARP is not IP: the EtherType and L3 offset are set, nothing after', () => {
    const v = view(ARP_REQUEST);
    expect([v.reason, v.ethertype, v.l3, v.ipVersion, v.proto, v.tcpHlen]).toEqual([INNER_NOT_IP, 0x0806, OFF + 14, 0, -1, -1]);
    expect(INNER_REASON_NAMES[v.reason]).toBe('not_ip');
  });

  it('looks through an 802.1Q tag and a QinQ pair; stops at 8 tags', () => {
    for (const [tags, n] of [['8100 0063', 1], ['88a8 0064 8100 0063', 2]] as const) {
      const f = tagged(TCP4_SYN, tags);
      const v = view(f);
      expect([v.reason, v.tags, v.ethertype, v.l3, v.l4, v.tcpHlen], tags).toEqual([INNER_OK, n, 0x0800, OFF + 14 + 4 * n, OFF + 34 + 4 * n, 40]);
      expect(innerTypeOffset(placed(f, OFF), OFF, f.length)).toBe(OFF + 12 + 4 * n);
    }
    const nine = tagged(TCP4_SYN, '8100 0001 '.repeat(9));
    const v = view(nine);
    expect([v.reason, v.tags, v.ethertype, v.l3]).toEqual([INNER_NOT_IP, 8, 0x8100, OFF + 12 + 32 + 2]);
  });

  it('reuses one object: a frame parsed after another leaves none of its fields behind', () => {
    const v = new InnerFrame();
    const b = placed(Buffer.concat([TCP4_SYN, ARP_REQUEST]), OFF);
    expect(v.parse(b, OFF, TCP4_SYN.length)).toBe(INNER_OK);
    expect(v.parse(b, OFF + TCP4_SYN.length, ARP_REQUEST.length)).toBe(INNER_NOT_IP);
    expect([v.ipVersion, v.l3Hlen, v.ipLen, v.proto, v.df, v.l4, v.l4Len, v.tcpHlen, v.tags]).toEqual([0, 0, 0, -1, false, 0, 0, -1, 0]);
  });
});

describe('InnerFrame negatives', () => {
  it('a frame shorter than an Ethernet header, or cut inside its tag, has no EtherType', () => {
    expect(view(TCP4_SYN, OFF, 13).reason).toBe(INNER_ERR_SHORT);
    const t = tagged(TCP4_SYN, '8100 0063');
    const v = view(t, OFF, 17);
    expect([v.reason, v.ethertype]).toEqual([INNER_ERR_SHORT, -1]);
    expect(innerTypeOffset(placed(t, OFF), OFF, 17)).toBe(-1);
  });

  it('an IPv4 header cut at 19 bytes cannot be read: ipVersion 0, ipv4Check says short', () => {
    const v = view(TCP4_SYN, OFF, L3 + 19);
    expect([v.reason, v.l3Reason, v.ipVersion, v.proto]).toEqual([INNER_ERR_IP, IPV4_ERR_SHORT, 0, -1]);
  });

  it('an IPv4 EtherType over IPv6 bytes: version error, nothing read', () => {
    const liar = Buffer.concat([TCP4_SYN.subarray(0, L3), UDP6_HELLO.subarray(L3)]);
    const v = view(liar);
    expect([v.reason, v.l3Reason, v.ipVersion]).toEqual([INNER_ERR_IP, IPV4_ERR_VERSION, 0]);
    const liar6 = Buffer.concat([UDP6_HELLO.subarray(0, L3), TCP4_SYN.subarray(L3)]);
    expect(view(liar6).ipVersion).toBe(0);
  });

  it('IHL 4: fields as written (l3Hlen 16), the reason is ihl, no TCP header length', () => {
    const v = view(poke(TCP4_SYN, L3, 0x44));
    expect([v.reason, v.l3Reason, v.ipVersion, v.l3Hlen, v.l4, v.tcpHlen]).toEqual([INNER_ERR_IP, IPV4_ERR_IHL, 4, 16, OFF + L3 + 16, -1]);
  });

  it('a total length past the frame (a truncated packet) or below the header: total_len, the header value kept', () => {
    const long = view(poke(TCP4_SYN, L3 + 2, 0x00, 0x3d)); // 61 > 60 bytes present
    expect([long.reason, long.l3Reason, long.ipLen, long.tcpHlen]).toEqual([INNER_ERR_IP, IPV4_ERR_TOTAL_LEN, 61, 40]);
    const low = view(poke(TCP4_SYN, L3 + 2, 0x00, 0x13));
    expect([low.reason, low.l3Reason, low.ipLen]).toEqual([INNER_ERR_IP, IPV4_ERR_TOTAL_LEN, 19]);
  });

  it('does not verify the IPv4 header checksum (the receiving host does)', () => {
    const v = view(poke(TCP4_SYN, L3 + 10, 0x00, 0x00));
    expect([v.reason, v.l3Reason]).toEqual([INNER_OK, IPV4_OK]);
  });

  it('an IPv6 payload length past the frame: payload_len', () => {
    const v = view(poke(UDP6_HELLO, L3 + 4, 0x00, 0x14));
    expect([v.reason, v.l3Reason, v.ipVersion, v.ipLen]).toEqual([INNER_ERR_IP, IPV6_ERR_PAYLOAD_LEN, 6, 60]);
  });

  it('a TCP data offset below 5 words, or longer than the segment: data_offset, tcpHlen as written', () => {
    const low = view(poke(TCP4_SYN, L4_V4 + 12, 0x40));
    expect([low.reason, low.tcpReason, low.tcpHlen]).toEqual([INNER_ERR_TCP, TCP_ERR_DATA_OFFSET, 16]);
    const high = view(poke(TCP4_SYN, L4_V4 + 12, 0xf0)); // 60 > 40 bytes of L4
    expect([high.reason, high.tcpReason, high.tcpHlen]).toEqual([INNER_ERR_TCP, TCP_ERR_DATA_OFFSET, 60]);
  });

  it('an IP length leaving fewer than 20 TCP bytes: short, although the frame goes on', () => {
    const v = view(poke(TCP4_SYN, L3 + 2, 0x00, 0x27)); // total 39: 19 bytes of TCP
    expect([v.reason, v.tcpReason, v.l4Len, v.tcpHlen]).toEqual([INNER_ERR_TCP, TCP_ERR_SHORT, 19, 40]);
  });
});

describe('InnerFrame fragments', () => {
  it('IPv4: MF at offset 0 is the first fragment, a non-zero offset a later one; neither gets TCP fields', () => {
    const first = view(poke(TCP4_SYN, L3 + 6, 0x20, 0x00));
    expect([first.reason, first.frag, first.df, first.tcpHlen, first.flagsFrag]).toEqual([INNER_OK, FRAG_FIRST, false, -1, 0x2000]);
    const later = view(poke(TCP4_SYN, L3 + 6, 0x40, 0xb9)); // DF and offset 185 * 8
    expect([later.reason, later.frag, later.df, later.tcpHlen]).toEqual([INNER_OK, FRAG_LATER, true, -1]);
    const last = view(poke(TCP4_SYN, L3 + 6, 0x00, 0x01)); // MF clear, offset 8: the last fragment
    expect(last.frag).toBe(FRAG_LATER);
  });

  it('IPv6: a fragment header at offset 0 is the first fragment, else later; one cut off by the frame is later', () => {
    const first = view(v6Fragment(0x0001)); // offset 0, M set
    expect([first.reason, first.proto, first.frag, first.ipLen]).toEqual([INNER_OK, 44, FRAG_FIRST, 40 + 27]);
    const later = view(v6Fragment(0x00a8)); // offset 21 * 8, M clear
    expect([later.reason, later.frag]).toEqual([INNER_OK, FRAG_LATER]);
    const f = v6Fragment(0x0001);
    const cut = view(f, OFF, L4_V6 + 7);
    expect([cut.reason, cut.l3Reason, cut.frag]).toEqual([INNER_ERR_IP, IPV6_ERR_PAYLOAD_LEN, FRAG_LATER]);
    expect(view(f, OFF, L4_V6 + 8).frag).toBe(FRAG_FIRST);
    expect(view(UDP6_HELLO).l3Reason).toBe(IPV6_OK);
  });
});
