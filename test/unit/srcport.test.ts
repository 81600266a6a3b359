// --srcport: config front end, the flow hash, the port mapping (the kernel's udp_flow_src_port, MAX inclusive),
// the lazy socket pool, and the Vtep sending each inner flow from its port (fake platform).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { flowHash } from '../../src/dataplane/flow-hash.js';
import { SourcePorts, SOURCE_PORTS_CAP } from '../../src/dataplane/source-ports.js';
import { TunnelTx } from '../../src/dataplane/tunnel-tx.js';
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

  it('the CLI refuses a bad range with exit 2 and one sentence', () => {
    const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
    expect(existsSync(cli), `${cli} is missing: build first (npx tsc -p tsconfig.json)`).toBe(true);
    for (const [range, why] of [['50-40', 'has its minimum above its maximum'], ['0-10', 'a UDP port is 1..65535'], ['5-70000', 'a UDP port is 1..65535']] as const) {
      const r = spawnSync(process.execPath, [cli, 'up', '--vni', '1', '--remote', '192.0.2.1', '--srcport', range], { encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`--srcport ${range} `)]);
      expect(r.stderr).toContain(why);
    }
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

/** The kernel's mapping, written from include/net/udp.h with its exclusive MAX: ((u64)hash * (max - min)) >> 32) + min. */
const kernelPort = (hash: number, min: number, maxExclusive: number): number => Number((BigInt(hash) * BigInt(maxExclusive - min)) >> 32n) + min;

/** A seeded xorshift32, so the random hashes are the same every run. */
function prng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** A fake opener: records every call, refuses the ports in `busy` with EADDRINUSE, shares `main`'s destinations. */
function opener(main: FakeUdpBind, busy: ReadonlySet<number> = new Set()) {
  const calls: string[] = [];
  const socks: FakeUdpBind[] = [];
  const open = (port: number, df: boolean): FakeUdpBind | string => {
    calls.push(`${port}${df ? ' df' : ''}`);
    if (busy.has(port)) return 'EADDRINUSE';
    const s = new FakeUdpBind(main.localAddress, port, main);
    socks.push(s);
    return s;
  };
  return { open, calls, socks };
}

describe('source-port mapping', () => {
  it('is the kernel\'s udp_flow_src_port with MAX inclusive: equal to the kernel formula over [min, max+1)', () => {
    const next = prng(12);
    for (const [min, max] of [[40000, 40999], [1, 65535], [32768, 60999], [7000, 7000], [5, 6]] as const) {
      const sp = new SourcePorts({ min, max, open: () => 'EADDRINUSE', fallback: new FakeUdpBind() });
      for (let i = 0; i < 2000; i++) {
        const h = next();
        expect(sp.portOf(h)).toBe(kernelPort(h, min, max + 1));
      }
      expect(sp.portOf(0)).toBe(min);
      expect(sp.portOf(0xffffffff)).toBe(max);
    }
  });

  it('reaches every port of the range, each about equally often', () => {
    const sp = new SourcePorts({ min: 40000, max: 40999, open: () => 'EADDRINUSE', fallback: new FakeUdpBind() });
    const counts = new Uint32Array(1000);
    const next = prng(7);
    for (let i = 0; i < 200_000; i++) counts[sp.portOf(next()) - 40000]!++;
    expect(Math.min(...counts)).toBeGreaterThan(120); // 200 expected per port
    expect(Math.max(...counts)).toBeLessThan(290);
  });

  it('65 inner flows (flowHash of real frames) over 1000 ports land on about as many distinct ports', () => {
    const sp = new SourcePorts({ min: 40000, max: 40999, open: () => 'EADDRINUSE', fallback: new FakeUdpBind() });
    const ports = new Set<number>();
    for (let p = 20000; p < 20065; p++) ports.add(sp.portOf(flowHash(...at(udpFrame(p), 0, 46))));
    // 1000 * (1 - (999/1000)^65) = 63 expected; the old 16-socket pool gave at most 16.
    expect(ports.size).toBeGreaterThanOrEqual(58);
  });
});

describe('source-port pool (lazy sockets)', () => {
  it('opens a port\'s socket on its first flow only, and one flow always gets one socket', () => {
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const o = opener(main);
    const sp = new SourcePorts({ min: 40000, max: 40999, open: o.open, fallback: main });
    expect(o.calls).toEqual([]); // nothing before the first frame, without prime()
    const next = prng(3);
    const hashes = Array.from({ length: 300 }, () => next());
    const first = hashes.map((h) => sp.socketFor(h, false));
    const opened = o.calls.length;
    expect(opened).toBe(new Set(hashes.map((h) => sp.portOf(h))).size);
    for (let round = 0; round < 3; round++) hashes.forEach((h, i) => expect(sp.socketFor(h, false)).toBe(first[i]));
    expect(o.calls.length).toBe(opened); // no syscall per packet
    hashes.forEach((h, i) => expect(first[i]!.localPort).toBe(sp.portOf(h)));
    expect(sp.opened).toEqual({ plain: opened, df: 0 });
    expect(sp.fellBack).toBe(0);
  });

  it('prime() opens the first free port; every port in use is EADDRINUSE, another refusal is returned as is', () => {
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const o = opener(main, new Set([40000, 40001]));
    const sp = new SourcePorts({ min: 40000, max: 40009, open: o.open, fallback: main });
    expect(sp.prime()).toBeUndefined();
    expect(o.calls).toEqual(['40000', '40001', '40002']);
    const all = opener(main, new Set([50, 51, 52]));
    expect(new SourcePorts({ min: 50, max: 52, open: all.open, fallback: main }).prime()).toBe('EADDRINUSE');
    expect(new SourcePorts({ min: 50, max: 52, open: () => 'EACCES', fallback: main }).prime()).toBe('EACCES');
  });

  it('a port in use falls back, once and for good, to an open port: its flows keep that port', () => {
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const busy = new Set([40003, 40007]);
    const o = opener(main, busy);
    const sp = new SourcePorts({ min: 40000, max: 40009, open: o.open, fallback: main });
    expect(sp.prime()).toBeUndefined(); // opens 40000
    // Hashes that map onto each port: the lowest hash of port offset i is ceil(i * 2^32 / span).
    const hashOf = (port: number): number => Math.ceil(((port - 40000) * 2 ** 32) / 10);
    expect(sp.portOf(hashOf(40003))).toBe(40003);
    const a = sp.socketFor(hashOf(40003), false);
    expect(busy.has(a.localPort)).toBe(false);
    expect(a.localPort).toBe(40000); // the only open socket then
    sp.socketFor(hashOf(40005), false); // opens 40005
    expect(sp.socketFor(hashOf(40003), false)).toBe(a); // still the same, although more are open now
    expect(sp.socketFor(hashOf(40003) + 1, false)).toBe(a); // another flow on the same port: same fallback
    const b = sp.socketFor(hashOf(40007), false);
    expect(b.localPort).toBe([40000, 40005][(40007 - 40000) % 2]); // offset % open sockets: deterministic
    expect(o.calls.filter((c) => c === '40003')).toHaveLength(1); // refused once, never retried
    expect(sp.fellBack).toBe(2);
    expect(sp.portFor(hashOf(40003), false)).toBe(40000); // the tunnel path follows the socket path's port
  });

  it('stops opening at the cap: further ports share open sockets; the pool stays bounded', () => {
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const o = opener(main);
    const lines: string[] = [];
    const sp = new SourcePorts({ min: 1000, max: 60999, open: o.open, cap: 50, fallback: main, log: (l) => lines.push(l) });
    const next = prng(99);
    for (let i = 0; i < 5000; i++) sp.socketFor(next(), false);
    expect(o.calls).toHaveLength(50);
    expect(sp.opened.plain).toBe(50);
    expect(lines.filter((l) => /50 sockets open \(the cap\)/.test(l))).toHaveLength(1);
    expect(new SourcePorts({ min: 1, max: 2, open: o.open, fallback: main }).cap).toBe(SOURCE_PORTS_CAP);
    expect(SOURCE_PORTS_CAP).toBeGreaterThanOrEqual(1024);
  });

  it('--df inherit: DF-set sockets are a second kind, opened lazily on the same port as the DF-clear one', () => {
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const o = opener(main);
    const sp = new SourcePorts({ min: 40000, max: 40999, open: o.open, dfTwins: true, fallback: main });
    expect(sp.prime()).toBeUndefined();
    expect(o.calls).toEqual(['40000', '40000 df']); // the twin tries the plain socket's port first
    const h = 0x9abcdef0;
    const df = sp.socketFor(h, true);
    expect(o.calls.slice(2)).toEqual([`${sp.portOf(h)} df`]); // only the DF-set one: no plain socket for it
    const plain = sp.socketFor(h, false);
    expect(plain).not.toBe(df);
    expect(plain.localPort).toBe(df.localPort);
    expect(sp.opened).toEqual({ plain: 2, df: 2 });
    // Without --df inherit a DF frame leaves from the plain socket.
    const one = new SourcePorts({ min: 40000, max: 40999, open: opener(main).open, fallback: main });
    expect(one.socketFor(h, true)).toBe(one.socketFor(h, false));
  });

  it('never retries per packet when nothing can be opened at all (not primed): the fallback socket takes the port', () => {
    const main = new FakeUdpBind('192.168.0.21', 4789);
    let calls = 0;
    const sp = new SourcePorts({ min: 40000, max: 40999, open: () => (calls++, 'EMFILE'), fallback: main });
    for (let i = 0; i < 10; i++) expect(sp.socketFor(0x12345678, false)).toBe(main);
    expect(calls).toBe(1);
  });
});

describe('Vtep with --srcport', () => {
  function setup(o: { busy?: Set<number>; tunnel?: boolean } = {}) {
    const tap = new FakeTap('vx0', true);
    const udp = new FakeUdpBind('192.168.0.21', 4789);
    const op = opener(udp, o.busy);
    const sourcePorts = new SourcePorts({ min: 40000, max: 40999, open: op.open, fallback: udp });
    const under = new FakeTap('vx0-tx', false);
    const tunnelTx = o.tunnel === true ? new TunnelTx({ tap: under, tapMac: 0x02aabbccddee, local: '192.168.0.21', ttl: 64, udpCsum: true }, udp.destinationSlots) : undefined;
    const vtep = new Vtep(tap, udp, {
      vni: 1, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1518, dstport: 4789, sourcePorts,
      ...(tunnelTx === undefined ? {} : { tunnelTx, tso: true, udpGso: true }),
    });
    vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
    vtep.start();
    return { tap, udp, op, sourcePorts, vtep, under };
  }

  it('65 flows leave from ~63 ports of the range, each flow from its mapped port, one socket per port', () => {
    const { tap, udp, op, sourcePorts, vtep } = setup();
    for (let round = 0; round < 3; round++) for (let p = 20000; p < 20065; p++) tap.inject(udpFrame(p));
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    const byFlow = new Map<number, Set<number>>();
    for (const s of op.socks) {
      for (const d of s.sent) {
        const inner = d.data.readUInt16BE(8 + 34);
        byFlow.set(inner, (byFlow.get(inner) ?? new Set()).add(s.localPort));
        expect(d.ip).toBe('192.168.0.31'); // through udp's destination table: the FDB wrote it once
      }
    }
    expect(byFlow.size).toBe(65);
    for (const [p, ports] of byFlow) {
      expect([...ports]).toEqual([sourcePorts.portOf(flowHash(...at(udpFrame(p), 0, 46)))]);
    }
    const distinct = new Set(op.socks.map((s) => s.localPort));
    expect(distinct.size).toBe(op.socks.length);
    expect(distinct.size).toBeGreaterThanOrEqual(58);
    expect(op.calls).toHaveLength(distinct.size); // opened on the first frame of each port, not per packet
    expect(vtep.counters.get('tx_packets')).toBe(195);
  });

  it('the tunnel path writes the flow\'s port into the outer UDP header without opening a socket', () => {
    const { tap, op, sourcePorts, under } = setup({ tunnel: true });
    const f = Buffer.concat([
      hex('7a3afe45a376 c26a9be5398d 0800'),
      hex('4500 3ea8 0001 4000 4006 0000 0a000001 0a000002'), // 20 + 20 + 16000
      hex('c350 1f90 00001000 00000001 5010 ffff 1234 0000'),
      Buffer.alloc(16000, 0x61),
    ]);
    const vnet = hex('01 01 3600 7605 2200 1000'); // NEEDS_CSUM, GSO TCPV4, hdr_len 54, gso_size 1398, csum 34+16
    tap.inbox.push(Buffer.concat([vnet, f]));
    tap.wake();
    expect(under.written).toHaveLength(1);
    expect(under.written[0]!.readUInt16BE(24 + 34)).toBe(sourcePorts.portOf(flowHash(...at(f, 0, f.length))));
    expect(op.calls).toHaveLength(0);
  });

  it('a port in use: its flows leave from an open port of the range, all their datagrams from the same one', () => {
    // Find two flows whose ports differ; make the second one's port busy.
    const h0 = flowHash(...at(udpFrame(20000), 0, 46));
    const probe = new SourcePorts({ min: 40000, max: 40999, open: () => 'EADDRINUSE', fallback: new FakeUdpBind() });
    const busyPort = probe.portOf(flowHash(...at(udpFrame(20001), 0, 46)));
    expect(probe.portOf(h0)).not.toBe(busyPort);
    const { tap, udp, op } = setup({ busy: new Set([busyPort]) });
    tap.inject(udpFrame(20000));
    tap.wake();
    for (let i = 0; i < 3; i++) tap.inject(udpFrame(20001));
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(op.socks).toHaveLength(1);
    expect(op.socks[0]!.sent).toHaveLength(4);
    expect(op.calls.filter((c) => c === String(busyPort))).toHaveLength(1);
  });
});
