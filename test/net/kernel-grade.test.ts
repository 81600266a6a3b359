// Kernel-grade behaviour on real namespaces (issue 3): learning and ageing, PMTU signalling, outer TTL/TOS.
// Each test builds its own topology and tears it down; assertions are on counts and contents, never on timing
// (polls have generous deadlines because the machine is shared).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, type Topology } from '../../src/testbed/index.js';
import { assertBuilt, NetSession, runCli, type RunningVtep } from './vtep-process.js';
import { N1, N2, N3, type SeedNode } from './seed-nodes.js';
import { capture } from './capture.js';

const gate = netTestGate();

type Node = SeedNode;
const DEV = 'vxlan-test';

const net = new NetSession();

/** IPv6 stays off on the overlay devices unless the test needs it (see NetSession.topology). */
const topology = (tag: string, nodes: Node[], ipv6 = false): Promise<Topology> => net.topology(tag, nodes, { ipv6: ipv6 });

function base(self: Node): string[] {
  return ['--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', self.underlay, '--mac', self.mac, '--addr', `${self.overlay}/24`];
}

const up = (t: Topology, node: Node, args: string[]): Promise<RunningVtep> => net.up(t, node, args);

async function ping(t: Topology, from: Node, to: string, count = 3, extra: string[] = []): Promise<string> {
  return (await t.exec(from.name, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ...extra, to])).stdout;
}

async function fdbShow(t: Topology, node: Node): Promise<string> {
  const r = await runCli(['fdb', 'show', '--name', DEV], { ns: t.nsOf(node.name) });
  expect(r.code).toBe(0);
  return r.stdout;
}

/** Writes one Ethernet frame into `node`'s TAP from userspace (AF_PACKET), as if its host stack sent it. */
async function injectFrame(t: Topology, node: Node, frameHex: string): Promise<void> {
  const py = `import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${DEV}', 0)); s.send(bytes.fromhex('${frameHex}'))`;
  await t.exec(node.name, 'python3', ['-c', py]);
}

const macHex = (m: string): string => m.replaceAll(':', '');

let work: string;

/** Sends `mb` MiB of random bytes over TCP (socat) from `from` to `toAddr` on `to`, and checks the SHA-256. */
async function tcpTransfer(t: Topology, from: Node, to: Node, toAddr: string, mb: number, port: number): Promise<void> {
  const src = join(work, `src-${port}`);
  const dst = join(work, `dst-${port}`);
  writeFileSync(src, randomBytes(mb << 20));
  const v6 = toAddr.includes(':');
  const server = t.spawn(to.name, 'socat', ['-u', `${v6 ? 'TCP6' : 'TCP'}-LISTEN:${port},reuseaddr`, `CREATE:${dst}`]);
  const serverDone = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
  for (let i = 0; i < 50; i++) {
    if ((await t.exec(to.name, 'ss', ['-ltn', `sport = :${port}`])).stdout.includes(`:${port}`)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const target = v6 ? `TCP6:[${toAddr}]:${port}` : `TCP:${toAddr}:${port}`;
  await t.exec(from.name, 'socat', ['-u', `OPEN:${src}`, `${target},connect-timeout=5`], { timeoutMs: 120_000 });
  expect(await serverDone).toBe(0);
  const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
  expect(sha(dst)).toBe(sha(src));
}

/** Waits until no IPv6 address on `node` is still tentative (DAD done). */
async function dadDone(t: Topology, node: Node): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await t.exec(node.name, 'ip', ['-6', 'addr', 'show', 'dev', DEV, 'tentative'])).stdout.trim() === '') return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(gate.skip)('kernel-grade behaviour on real namespaces', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-kg-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  afterEach(() => net.cleanup());

  it('--learning on 3 nodes: floods before learning, unicast after, static entries never move, learned ones age out', async () => {
    const t = await topology('learn', [N1, N2, N3]);
    // n1 learns; it knows n3 statically and n2 not at all (both are default destinations).
    const a = await up(t, N1, [
      ...base(N1), '--learning', '--ageing', '2', '--remote', N2.underlay, '--remote', N3.underlay,
      '--neigh', `${N2.overlay}=${N2.mac}`, '--fdb', `${N3.mac}=${N3.underlay}`,
    ]);
    await up(t, N2, [...base(N2), '--fdb', `${N1.mac}=${N1.underlay}`, '--neigh', `${N1.overlay}=${N1.mac}`]);
    const c = await up(t, N3, [...base(N3), '--fdb', `${N1.mac}=${N1.underlay}`, '--fdb', `${N2.mac}=${N2.underlay}`]);

    expect(await fdbShow(t, N1)).not.toContain(N2.mac);
    await ping(t, N1, N2.overlay, 3);
    // The first echo request flooded (one copy to each default destination); n2's reply taught n1 where
    // N2's MAC lives, so the next two went unicast.
    let ca = await a.counters();
    expect(ca.tx_flood_frames).toBe(1);
    expect(ca.tx_flood_copies).toBe(2);
    expect(ca.fdb_learned).toBe(1);
    expect((await c.counters()).rx_datagrams).toBe(1);
    const learned = await fdbShow(t, N1);
    expect(learned).toContain(`${N2.mac} dev ${DEV} dst ${N2.underlay} self\n`.trimEnd());
    expect(learned).not.toContain(`${N2.mac} dev ${DEV} dst ${N2.underlay} self permanent`);
    expect(learned).toContain(`${N3.mac} dev ${DEV} dst ${N3.underlay} self permanent`);

    // Unicast after learning: n3 sees nothing more.
    await ping(t, N1, N2.overlay, 3);
    ca = await a.counters();
    expect(ca.tx_flood_frames).toBe(1);
    expect((await c.counters()).rx_datagrams).toBe(1);

    // n2 claims N3's MAC (static at n1, pointing to n3): dropped and counted, the entry stays.
    const spoof = macHex(N1.mac) + macHex(N3.mac) + '0800' + '45000014000000004001000002020202b3110115';
    await injectFrame(t, N2, spoof);
    for (let i = 0; i < 50 && ((await a.counters()).rx_fdb_static_conflict ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    ca = await a.counters();
    expect(ca.rx_fdb_static_conflict).toBe(1);
    expect(await fdbShow(t, N1)).toContain(`${N3.mac} dev ${DEV} dst ${N3.underlay} self permanent`);

    // Ageing: N2 is silent now; its learned entry goes after ~2 s (checked every 0.5 s).
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 200));
      gone = !(await fdbShow(t, N1)).includes(N2.mac);
    }
    expect(gone).toBe(true);
    ca = await a.counters();
    expect(ca.fdb_aged).toBe(1);
    // ... and the next frame to N2 floods again.
    await ping(t, N1, N2.overlay, 1);
    expect((await a.counters()).tx_flood_frames).toBe(2);
  });

  it('PMTU: a 1500-byte TAP over a 1500-byte underlay answers DF pings with "frag needed" / "packet too big" (MTU 1450), and TCP adapts', async () => {
    const t = await topology('pmtu', [N1, N2], true);
    const args = (self: Node, peer: Node): string[] => [
      ...base(self), '--mtu', '1500', '--addr', `2001:db8::${self.overlay.split('.')[3]}/64`,
      '--remote', peer.underlay, '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`,
    ];
    const a = await up(t, N1, args(N1, N2));
    await up(t, N2, args(N2, N1));
    await ping(t, N1, N2.overlay, 1);
    // IPv4: 1472 bytes of ICMP data + 8 + 20 = 1500 > 1450.
    const r4 = await t.exec(N1.name, 'ping', ['-c', '2', '-i', '0.3', '-W', '2', '-M', 'do', '-s', '1472', N2.overlay], { check: false });
    expect(r4.code).not.toBe(0);
    expect(r4.stdout + r4.stderr).toMatch(/Frag needed and DF set \(mtu = 1450\)|mtu ?= ?1450/);
    // The route cache learned it.
    expect((await t.exec(N1.name, 'ip', ['route', 'get', N2.overlay])).stdout).toMatch(/mtu 1450/);
    const c4 = await a.counters();
    expect(c4.pmtu_icmp_sent).toBeGreaterThanOrEqual(1);
    expect(c4.tx_too_big).toBeGreaterThanOrEqual(1);
    // IPv6: 1452 + 8 + 40 = 1500.
    await dadDone(t, N1);
    await dadDone(t, N2);
    await t.exec(N1.name, 'ping', ['-6', '-c', '1', '-W', '2', '2001:db8::31'], { check: false }); // neighbour discovery
    const r6 = await t.exec(N1.name, 'ping', ['-6', '-c', '2', '-i', '0.3', '-W', '2', '-M', 'do', '-s', '1452', '2001:db8::31'], { check: false });
    expect(r6.code).not.toBe(0);
    expect(r6.stdout + r6.stderr).toMatch(/Packet too big: mtu=1450|mtu ?= ?1450/);
    expect((await a.counters()).pmtu_icmp_sent).toBeGreaterThan(c4.pmtu_icmp_sent!);
    // TCP both families: the first full-size segments are refused, PMTU discovery lowers the MSS, the bytes arrive.
    await tcpTransfer(t, N2, N1, N1.overlay, 8, 5101);
    await tcpTransfer(t, N2, N1, '2001:db8::21', 8, 5102);
  });

  it('--ttl / --tos / --df: the outer header on the underlay carries them (tcpdump on the peer), the default does not', async () => {
    const t = await topology('outer', [N1, N2]);
    const stat = (self: Node, peer: Node): string[] => [...base(self), '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`];
    await up(t, N1, [...stat(N1, N2), '--ttl', '33', '--tos', '184', '--df', 'set']);
    await up(t, N2, stat(N2, N1));
    // n1 → n2: tos 0xb8, ttl 33, DF.
    expect(await captureOne(t, N2, N1.underlay, () => ping(t, N1, N2.overlay, 2))).toMatch(/tos 0xb8, ttl 33, .*flags \[DF\]/);
    // n2 (defaults) → n1, captured on n2's eth0 as it leaves: tos 0, ttl 64, no DF (the kernel's defaults).
    expect(await captureOne(t, N2, N2.underlay, () => ping(t, N2, N1.overlay, 2))).toMatch(/tos 0x0, ttl 64, .*flags \[none\]/);
  });

  it('--df inherit: the outer DF bit follows the inner IPv4 packet (ping -M do vs -M dont)', async () => {
    const t = await topology('dfinh', [N1, N2]);
    const stat = (self: Node, peer: Node): string[] => [...base(self), '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`];
    const a = await up(t, N1, [...stat(N1, N2), '--df', 'inherit']);
    await up(t, N2, stat(N2, N1));
    expect(a.stderr()).toMatch(/--df inherit: 1 DF-set sending socket/);
    const pingDf = (mode: string) => () => t.exec(N1.name, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-M', mode, N2.overlay]);
    expect(await captureOne(t, N2, N1.underlay, pingDf('do'))).toMatch(/flags \[DF\]/);
    expect(await captureOne(t, N2, N1.underlay, pingDf('dont'))).toMatch(/flags \[none\]/);
  });
});

/** Runs `action` while tcpdump on `node`'s eth0 waits for one VXLAN datagram from `src`; returns tcpdump -v's line. */
function captureOne(t: Topology, node: Node, src: string, action: () => Promise<unknown>): Promise<string> {
  return capture(t, node, 'eth0', `udp dst port 4899 and src host ${src}`, 1, action);
}
