// NDP proxy (src/dataplane/ndp-proxy.ts): hand-written neighbour solicitation and the advertisement expected
// back, with the ICMPv6 checksum from a reference implementation written here (RFC 4443 §2.3 with the RFC 8200
// §8.1 pseudo-header), plus the RFC 4861 §7.1.1 negatives and the Vtep wiring over the fake platform.
import { describe, expect, it } from 'vitest';
import { answerNs, NA_FRAME_LEN, Neigh6Table } from '../../src/dataplane/ndp-proxy.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

/** Reference ICMPv6 checksum of the IPv6 packet `ip` (no extension headers). */
function icmp6Checksum(ip: Buffer): number {
  const len = ip.readUInt16BE(4);
  const pseudo = Buffer.concat([ip.subarray(8, 40), Buffer.from([0, 0, len >> 8, len & 0xff, 0, 0, 0, 58])]);
  const body = Buffer.from(ip.subarray(40, 40 + len));
  body.writeUInt16BE(0, 2);
  const all = Buffer.concat([pseudo, body, Buffer.alloc(body.length % 2)]);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += all.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
function withChecksum(frame: Buffer): Buffer {
  frame.writeUInt16BE(icmp6Checksum(frame.subarray(14)), 14 + 40 + 2);
  return frame;
}

const ASKER_MAC = 'c26a9be5398d';
const NEIGH_MAC = 0x7a3afe45a376;
const ASKER_IP = '20010db8000000000000000000000021';
const TARGET_IP = '20010db8000000000000000000000031';

/** NS from 2001:db8::21 (c2:6a:9b:e5:39:8d) for 2001:db8::31, to its solicited-node group, with a source lladdr option. */
function ns(o: { hop?: number; src?: string; target?: string; opt?: boolean } = {}): Buffer {
  const opt = o.opt ?? true;
  return withChecksum(hex(
    '3333ff000031' + ASKER_MAC + '86dd' +
      '60000000' + (opt ? '0020' : '0018') + '3a' + (o.hop ?? 255).toString(16).padStart(2, '0') +
      (o.src ?? ASKER_IP) + 'ff0200000000000000000001ff000031' +
      '87 00 0000 00000000' + (o.target ?? TARGET_IP) + (opt ? '0101' + ASKER_MAC : ''),
  ));
}

const EXPECTED_NA = withChecksum(hex(
  ASKER_MAC + '7a3afe45a376' + '86dd' +
    '60000000 0020 3a ff' + TARGET_IP + ASKER_IP +
    '88 00 0000 60000000' + TARGET_IP + '0201 7a3afe45a376',
));

const table = new Neigh6Table([['2001:db8::31', NEIGH_MAC], ['2001:db8::99:31', 0x020000000001]]);

describe('answerNs', () => {
  it('rewrites a solicitation into the advertisement, byte for byte (at an odd offset in a pooled buffer)', () => {
    const f = ns();
    const buf = Buffer.alloc(201 + 200, 0xa5);
    f.copy(buf, 201);
    expect(answerNs(buf, 201, f.length, table)).toBe(true);
    expect(buf.subarray(201, 201 + NA_FRAME_LEN).toString('hex')).toBe(EXPECTED_NA.toString('hex'));
    expect(buf[200]).toBe(0xa5);
  });
  it('answers a solicitation without a source lladdr option to the Ethernet source', () => {
    const f = ns({ opt: false });
    const buf = Buffer.alloc(128, 0xa5);
    f.copy(buf);
    expect(answerNs(buf, 0, f.length, table)).toBe(true);
    expect(buf.subarray(0, NA_FRAME_LEN).toString('hex')).toBe(EXPECTED_NA.toString('hex'));
  });
  it('leaves alone: another target, hop limit below 255, DAD (source ::), a multicast target, a truncated packet', () => {
    const cases: [string, Buffer, number?][] = [
      ['unknown target', ns({ target: '20010db8000000000000000000000032' })],
      ['same low 32 bits, other prefix', ns({ target: '20010db9000000000000000000000031' })],
      ['hop limit 254', ns({ hop: 254 })],
      ['DAD', ns({ src: '00000000000000000000000000000000', opt: false })],
      ['multicast target', ns({ target: 'ff020000000000000000000000000031' })],
      ['truncated', ns(), 14 + 40 + 20],
    ];
    for (const [name, f, len] of cases) {
      const copy = Buffer.from(f);
      expect(answerNs(f, 0, len ?? f.length, table), name).toBe(false);
      expect(f.equals(copy), name).toBe(true);
    }
  });
});

describe('Vtep: NDP proxy over the fake platform', () => {
  function make() {
    const tap = new FakeTap('vx0', true);
    const udp = new FakeUdpBind('192.168.0.21', 4789);
    const vtep = new Vtep(tap, udp, { vni: 1, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1518, dstport: 4789 });
    vtep.fdb.append(0, '192.168.0.31');
    vtep.neigh6 = table;
    vtep.start();
    return { tap, udp, vtep };
  }
  it('answers on the TAP and sends nothing to the underlay', () => {
    const { tap, udp, vtep } = make();
    tap.inject(ns());
    tap.wake();
    expect(tap.frames().map((f) => f.toString('hex'))).toEqual([EXPECTED_NA.toString('hex')]);
    expect(tap.written[0]!.subarray(0, 10).equals(Buffer.alloc(10))).toBe(true); // a plain frame: zero vnet header
    expect(udp.sent).toHaveLength(0);
    expect(vtep.counters.get('ndp_proxied')).toBe(1);
  });
  it('floods a solicitation it cannot answer', () => {
    const { tap, udp, vtep } = make();
    tap.inject(ns({ target: '20010db8000000000000000000000032' }));
    tap.wake();
    expect(tap.frames()).toHaveLength(0);
    expect(udp.sent).toHaveLength(1);
    expect(vtep.counters.get('tx_flood_frames')).toBe(1);
  });
});
