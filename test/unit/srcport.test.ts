// --srcport: config front end, the flow hash, and the Vtep choosing a pool socket per inner flow (fake platform).
import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { flowHash } from '../../src/dataplane/flow-hash.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { InnerFrame } from '../../src/wire/inner-frame.js';

/** The frame `b[fo .. fo+flen)` and its parsed InnerFrame, as the dataplane helpers take them. */
function at(b: Buffer, fo: number, flen: number): [Buffer, InnerFrame] {
  const v = new InnerFrame();
  v.parse(b, fo, flen);
  return [b, v];
}

const up = (...a: string[]) => parseUpArgs(['--vni', '1', ...a]).config!;
const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

/** IPv4 UDP 10.0.0.1:sport -> 10.0.0.2:9000 from c2:6a:.. to 7a:3a:... */
function udpFrame(sport: number, dst = '0a000002'): Buffer {
  const f = hex('7a3afe45a376 c26a9be5398d 0800' + '4500 0020 0000 4000 4011 0000 0a000001' + dst + '0000 2328 000c 0000 61626364');
  f.writeUInt16BE(sport, 34);
  return f;
}

describe('--srcport config', () => {
  it('parses MIN-MAX (inclusive) and refuses bad ranges and --io dgram', () => {
    expect(up('--srcport', '40000-40015').srcport).toEqual({ min: 40000, max: 40015 });
    expect(() => up('--srcport', '40000')).toThrow(/--srcport 40000 is not a port range: write MIN-MAX/);
    expect(() => up('--srcport', '5-70000')).toThrow(/out of range/);
    expect(() => up('--srcport', '50-40')).toThrow(/has its minimum above its maximum/);
    expect(() => up('--io', 'dgram', '--srcport', '40000-40015')).toThrow(/needs --io native/);
  });
});

describe('flowHash', () => {
  it('is stable for one flow and differs across source ports, addresses and MACs', () => {
    expect(flowHash(...at(udpFrame(1000), 0, 46))).toBe(flowHash(...at(udpFrame(1000), 0, 46)));
    const hashes = new Set<number>();
    for (let p = 1000; p < 1064; p++) hashes.add(flowHash(...at(udpFrame(p), 0, 46)));
    expect(hashes.size).toBe(64);
    expect(flowHash(...at(udpFrame(1000, '0a000003'), 0, 46))).not.toBe(flowHash(...at(udpFrame(1000), 0, 46)));
    const arp = Buffer.concat([hex('ffffffffffff c26a9be5398d 0806'), Buffer.alloc(28)]);
    const arp2 = Buffer.concat([hex('ffffffffffff 36f967c0701c 0806'), Buffer.alloc(28)]);
    expect(flowHash(...at(arp, 0, arp.length))).not.toBe(flowHash(...at(arp2, 0, arp2.length)));
  });
});

describe('Vtep with a source-port pool', () => {
  it('sends each flow from one pool socket, spreads flows over all of them, never from the --dstport socket', () => {
    const tap = new FakeTap('vx0', true);
    const udp = new FakeUdpBind('192.168.0.21', 4789);
    const pool = [0, 1, 2, 3].map((i) => new FakeUdpBind('192.168.0.21', 40000 + i));
    const vtep = new Vtep(tap, udp, { vni: 1, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1518, dstport: 4789, srcPool: pool });
    vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
    vtep.start();
    for (let round = 0; round < 3; round++) for (let p = 1000; p < 1064; p++) tap.inject(udpFrame(p));
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(pool.every((b) => b.sent.length > 0)).toBe(true);
    expect(pool.reduce((n, b) => n + b.sent.length, 0)).toBe(192);
    // One flow, one socket: each source port's datagrams all left from the same pool member.
    for (let p = 1000; p < 1064; p++) {
      const holders = pool.filter((b) => b.sent.some((d) => d.data.readUInt16BE(8 + 34) === p));
      expect(holders).toHaveLength(1);
      expect(holders[0]!.sent.filter((d) => d.data.readUInt16BE(8 + 34) === p)).toHaveLength(3);
      expect(holders[0]!.sent[0]!.ip).toBe('192.168.0.31');
    }
    expect(vtep.counters.get('tx_packets')).toBe(192);
  });
});
