import { describe, expect, it } from 'vitest';
import {
  ICMP_CHECKSUM,
  ICMP_CODE,
  ICMP_DEST_UNREACH,
  ICMP_ECHO_ID,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_ECHO_SEQ,
  ICMP_ERR_CHECKSUM,
  ICMP_ERR_SHORT,
  ICMP_FRAG_NEEDED,
  ICMP_HLEN,
  ICMP_OK,
  ICMP_REASON_NAMES,
  ICMP_TYPE,
  icmpCheck,
  icmpChecksum,
  icmpCode,
  icmpEchoEmit,
  icmpEchoId,
  icmpEchoParse,
  icmpEchoSeq,
  icmpFillChecksum,
  icmpNextHopMtu,
  icmpType,
} from '../../src/wire/icmp.js';
import * as fx from './fixtures.js';
import { filled, hex, octets, refChecksum } from './helpers.js';

const L4 = fx.L4_V4;
const LEN = 64; // IPv4 total length 84 - 20

describe('icmp', () => {
  it('has the RFC 792 echo layout', () => {
    expect([ICMP_TYPE, ICMP_CODE, ICMP_CHECKSUM, ICMP_ECHO_ID, ICMP_ECHO_SEQ, ICMP_HLEN]).toEqual([0, 1, 2, 4, 6, 8]);
  });

  it('reads a captured echo request and reply', () => {
    const q = fx.ICMP_ECHO_REQUEST;
    expect(icmpCheck(q, L4, LEN)).toBe(ICMP_OK);
    expect(icmpType(q, L4)).toBe(ICMP_ECHO_REQUEST);
    expect(icmpCode(q, L4)).toBe(0);
    expect(icmpChecksum(q, L4)).toBe(0xb82c);
    expect(icmpEchoId(q, L4)).toBe(0x10c2);
    expect(icmpEchoSeq(q, L4)).toBe(1);
    const r = fx.ICMP_ECHO_REPLY;
    expect(icmpCheck(r, L4, LEN)).toBe(ICMP_OK);
    expect(icmpType(r, L4)).toBe(ICMP_ECHO_REPLY);
    expect(icmpChecksum(r, L4)).toBe(0xc02c);
  });

  it('icmpFillChecksum reproduces the kernel checksums (even and odd message lengths)', () => {
    for (const [f, off, len, want] of [
      [fx.ICMP_ECHO_REQUEST, L4, LEN, 0xb82c],
      [fx.ICMP_ECHO_REPLY, L4, LEN, 0xc02c],
      [fx.VXLAN6_ICMP, 104, 15, 0xd980], // ping -s 7: 15-byte message inside VXLAN over IPv6
    ] as const) {
      const b = Buffer.from(f);
      b.writeUInt16BE(0xa5a5, off + ICMP_CHECKSUM);
      icmpFillChecksum(b, off, len);
      expect(icmpChecksum(b, off)).toBe(want);
      expect(b).toEqual(f);
    }
  });

  it('turning the captured request into a reply gives the captured reply message', () => {
    const b = Buffer.from(fx.ICMP_ECHO_REQUEST.subarray(L4, L4 + LEN));
    b[ICMP_TYPE] = ICMP_ECHO_REPLY;
    icmpFillChecksum(b, 0, LEN);
    expect(b).toEqual(fx.ICMP_ECHO_REPLY.subarray(L4, L4 + LEN));
  });

  it('round-trips parse -> emit into a 0xa5 buffer', () => {
    const repr = icmpEchoParse(fx.ICMP_ECHO_REQUEST, L4, LEN)!;
    expect(repr.type).toBe(ICMP_ECHO_REQUEST);
    expect(repr.id).toBe(0x10c2);
    expect(repr.data.length).toBe(56);
    const b = filled(LEN + 1);
    icmpEchoEmit(repr, b, 0);
    expect(b.subarray(0, LEN)).toEqual(fx.ICMP_ECHO_REQUEST.subarray(L4, L4 + LEN));
    expect(b[LEN]).toBe(0xa5);
  });

  it('reads a fragmentation-needed message (hand-built, RFC 1191 next-hop MTU 1450)', () => {
    const m = hex('0304 0000 0000 05aa 4500 05dc 0000 4000 4006 0000 0a00 0001 0a00 0002 0000 0000 0000 0000');
    m.writeUInt16BE(refChecksum(octets(m)), 2);
    expect(icmpCheck(m, 0, m.length)).toBe(ICMP_OK);
    expect([icmpType(m, 0), icmpCode(m, 0)]).toEqual([ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED]);
    expect(icmpNextHopMtu(m, 0)).toBe(1450);
    expect(icmpEchoParse(m, 0, m.length)).toBeUndefined(); // not an echo
  });

  describe('negative cases, one per reason', () => {
    const msg = (): Buffer => Buffer.from(fx.ICMP_ECHO_REQUEST.subarray(L4, L4 + LEN));
    const corrupt = msg();
    corrupt[40]! ^= 0x80;
    it.each([
      ['short', ICMP_ERR_SHORT, msg(), 7],
      ['checksum', ICMP_ERR_CHECKSUM, corrupt, LEN],
      ['checksum', ICMP_ERR_CHECKSUM, msg(), LEN - 1], // the checksum covers the whole message
    ])('%s', (name, reason, b, len) => {
      expect(icmpCheck(b, 0, len)).toBe(reason);
      expect(ICMP_REASON_NAMES[reason]).toBe(name);
      expect(icmpEchoParse(b, 0, len)).toBeUndefined();
    });
  });
});
