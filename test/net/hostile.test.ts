// Hostile input from a tool we did not write: 10^6 datagrams built by scapy's fuzz() (scripts/hostile-datagrams.py,
// VXLAN/Ethernet/IPv4/IPv6/TCP/UDP/ARP/NS/802.1Q, 10 % truncated, plus mutations of captured real datagrams)
// sent at a VTEP from a third host while pings flow between two VTEPs. The VTEP must stay up, lose < 5 % of
// the pings during and none after, keep its RSS flat, and account for every datagram exactly once.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, waitForExit, type Topology } from '../../src/testbed/index.js';
import { DROP_REASONS } from '../../src/dataplane/counters.js';
import { N1, N2, N3, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli } from './vtep-process.js';

const gate = netTestGate();
const A: SeedNode = { ...N1, name: 'a' };
const B: SeedNode = { ...N2, name: 'b' };
const G: SeedNode = { ...N3, name: 'g' }; // the attacker: a host on the underlay, no VTEP
const DEV = 'vxlan-test';
const COUNT = Number(process.env.VXUT_HOSTILE_COUNT ?? 1_000_000);
const SCRIPT = fileURLToPath(new URL('../../scripts/hostile-datagrams.py', import.meta.url));

const vtepArgs = (self: SeedNode, peer: SeedNode): string[] => [
  '--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', self.underlay, '--mac', self.mac, '--addr', `${self.overlay}/24`,
  '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`,
];

const rssKiB = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

let work: string;
const net = new NetSession();

describe.skipIf(gate.skip)('hostile datagrams from scapy fuzz()', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-hostile-'));
  });
  afterEach(() => net.cleanup());
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it(`${COUNT} fuzzed datagrams: the VTEP stays up, pings pass, RSS stays flat, every datagram counted once`, { timeout: 600_000 }, async () => {
    const t: Topology = await net.topology('hostile', [A, B, G], { ipv6: false });
    const a = await net.up(t, A, vtepArgs(A, B));
    await net.up(t, B, vtepArgs(B, A));
    const stats = async (): Promise<Record<string, number>> => {
      const r = await runCli(['stats', '--json', '--name', DEV], { ns: t.nsOf(A.name) });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { counters: Record<string, number> }).counters;
    };

    // Real datagrams to mutate: capture some of the pings' VXLAN traffic on A's underlay.
    const pcap = join(work, 'real.pcap');
    const cap = t.spawn(A.name, 'tcpdump', ['-i', 'any', '-U', '-c', '20', '-w', pcap, 'udp', 'port', '4899']);
    await new Promise((r) => setTimeout(r, 500));
    await t.exec(B.name, 'ping', ['-c', '20', '-i', '0.05', '-W', '1', A.overlay]);
    expect(await waitForExit(cap, 5_000)).toBe(true);

    const rssBefore = rssKiB(a.child.pid!);
    const before = await stats();
    const pinger = t.spawn(B.name, 'ping', ['-i', '0.05', '-W', '1', A.overlay]);
    let pingOut = '';
    pinger.stdout!.setEncoding('utf8').on('data', (d: string) => (pingOut += d));
    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(rssKiB(a.child.pid!)), 1_000);
    const fuzz = await t.exec(G.name, '/usr/bin/python3', [SCRIPT, '--host', A.underlay, '--port', '4899', '--vni', '10001', '--count', String(COUNT), '--capture', pcap], { timeoutMs: 540_000 });
    clearInterval(sampler);
    pinger.kill('SIGINT');
    await waitForExit(pinger, 3_000);
    const sent = (JSON.parse(fuzz.stdout.trim().split('\n').pop()!) as { sent: number; templates: number; real: number; seconds: number });
    const after = await stats();
    const rssAfter = rssKiB(a.child.pid!);

    const transmitted = Number(/(\d+) packets transmitted/.exec(pingOut)?.[1]);
    const received = Number(/(\d+) received/.exec(pingOut)?.[1]);
    const d = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    const rxDrops = DROP_REASONS.filter((r) => r.startsWith('rx_'));
    process.stderr.write(
      `hostile: sent ${sent.sent} (${sent.templates} templates, ${sent.real} captured) in ${sent.seconds} s; ` +
        `rx_datagrams +${d('rx_datagrams')}, rx_packets +${d('rx_packets')}, drops ${rxDrops.filter((r) => d(r) > 0).map((r) => `${r} +${d(r)}`).join(', ')}; ` +
        `pings ${received}/${transmitted}; RSS ${rssBefore} → ${rssAfter} KiB (samples ${rss.join(' ')})\n`,
    );

    expect(a.child.exitCode).toBeNull(); // still up
    expect(sent.sent).toBeGreaterThanOrEqual(COUNT * 0.99);
    expect(sent.real).toBeGreaterThan(0);
    expect(transmitted).toBeGreaterThan(20);
    expect(received / transmitted).toBeGreaterThanOrEqual(0.95);
    // Every datagram the socket delivered ends in exactly one counter.
    expect(after.rx_datagrams).toBe(after.rx_packets! + rxDrops.reduce((s, r) => s + (after[r] ?? 0), 0) + (after.pool_exhausted ?? 0));
    expect(d('rx_datagrams')).toBeGreaterThan(sent.sent * 0.5); // most reached us (the rest: the kernel's socket buffer)
    // RSS flat: no growth with the input beyond allocator noise.
    expect(rssAfter - rssBefore).toBeLessThan(16 * 1024);
    // After the flood: no loss at all.
    await t.exec(B.name, 'ping', ['-c', '20', '-i', '0.05', '-W', '1', A.overlay]).then((r) => expect(r.stdout).toMatch(/20 received/));
  });
});
