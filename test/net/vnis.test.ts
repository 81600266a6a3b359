// Several VNIs in one process on one UDP port (issue 12; the kernel's vxlan_bridge_1q.sh and
// test_vxlan_vnifiltering.sh, read to learn, written for our testbed): a `vnis:` vxlan-user on n1, and on n2 the
// kernel's own vxlan devices, one per VNI, sharing port 4789 as the kernel lets them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { ping } from './probes.js';
import { N1, N2 } from './seed-nodes.js';
import { describeNet, NetSession, runCli } from './vtep-process.js';

const net = new NetSession();

/** One overlay per VNI: its subnet, and the MACs of n1's device and n2's kernel device on it. */
const OVERLAYS = [
  { vni: 10001, name: 'vx10001', net: '10.101.0', mac1: '02:00:00:01:00:01', mac2: '02:00:00:01:00:02' },
  { vni: 10002, name: 'vx10002', net: '10.102.0', mac1: '02:00:00:02:00:01', mac2: '02:00:00:02:00:02' },
  { vni: 10003, name: 'vx10003', net: '10.103.0', mac1: '02:00:00:03:00:01', mac2: '02:00:00:03:00:02' },
] as const;
type Overlay = (typeof OVERLAYS)[number];

/** n1's config file, with one vnis: entry per overlay given. */
function writeConfig(file: string, overlays: readonly Overlay[], extra = ''): void {
  const entries = overlays.map(
    (o) => `  - {vni: ${o.vni}, name: ${o.name}, mac: '${o.mac1}', addr: [${o.net}.1/24], fdb: ['${o.mac2}=${N2.underlay}'], neigh: ['${o.net}.2=${o.mac2}']}`,
  );
  writeFileSync(file, `version: 1\nlocal: ${N1.underlay}\ndstport: 4789\n${extra}vnis:\n${entries.join('\n')}\n`);
}

/** A fresh directory for this test's config files, removed after the suite. */
const dirs: string[] = [];
function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vxut-vnis-'));
  dirs.push(d);
  return d;
}
process.on('exit', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** n2: a kernel vxlan device per overlay, all on port 4789. */
async function kernelDevices(t: Topology, overlays: readonly Overlay[]): Promise<void> {
  for (const o of overlays) {
    const ip = (...a: string[]) => t.exec(N2.name, 'ip', a);
    const dev = `k${o.vni}`;
    await ip('link', 'add', dev, 'type', 'vxlan', 'id', String(o.vni), 'dstport', '4789', 'local', N2.underlay, 'dev', 'eth0', 'nolearning');
    await ip('link', 'set', 'dev', dev, 'address', o.mac2);
    await ip('addr', 'add', `${o.net}.2/24`, 'dev', dev);
    await ip('link', 'set', dev, 'up');
    await ip('neigh', 'replace', `${o.net}.1`, 'lladdr', o.mac1, 'dev', dev, 'nud', 'permanent');
    await t.exec(N2.name, 'bridge', ['fdb', 'append', o.mac1, 'dst', N1.underlay, 'dev', dev]);
  }
}

interface Stats {
  counters: Record<string, number>;
  socket?: Record<string, number>;
}
async function stats(t: Topology, name: string): Promise<Stats> {
  const r = await runCli(['stats', '--json', '--name', name], { ns: t.nsOf(N1.name) });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Stats;
}

/** Crafted VXLAN datagrams from n2 to n1:4789 (python3): `count` with VNI `vni` and flags byte `flags`. */
async function sendRaw(t: Topology, vni: number, flags: number, count: number): Promise<void> {
  const py = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
h = bytes([${flags}, 0, 0, 0, ${(vni >> 16) & 0xff}, ${(vni >> 8) & 0xff}, ${vni & 0xff}, 0])
inner = bytes.fromhex('020000010001' + '020000010002' + '0800') + bytes(46)
for _ in range(${count}):
    s.sendto(h + inner, ('${N1.underlay}', 4789))
`;
  await t.exec(N2.name, 'python3', ['-c', py]);
}

async function waitFor(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describeNet('several VNIs on one port (vnis:)', net, () => {
  it('each VNI reaches its own kernel device, and a frame never crosses into another VNI', async () => {
    const t = await net.topology('vnis', [N1, N2], { ipv6: false });
    const file = join(workDir(), 'n1.yaml');
    writeConfig(file, OVERLAYS.slice(0, 2), 'metrics: 127.0.0.1:9641\ntrace: true\n');
    await kernelDevices(t, OVERLAYS.slice(0, 2));
    const v = await net.up(t, N1, ['--config', file, '--quiet']);
    expect(v.readyLine).toMatch(/^ready: vx10001 vni 10001 udp 192\.168\.0\.21:4789/);
    for (const o of OVERLAYS.slice(0, 2)) {
      expect(await ping(t, N1, `${o.net}.2`, 3)).toMatch(/3 received/);
      expect(await ping(t, N2, `${o.net}.1`, 3)).toMatch(/3 received/);
    }
    // Isolation (vxlan_bridge_1q.sh): n2 sends on VNI 10002 a frame addressed to vx10001's MAC. It belongs to
    // VNI 10002, so it lands on vx10002 (whose host stack ignores a MAC not its own) and never on vx10001.
    await t.exec(N2.name, 'ip', ['neigh', 'replace', '10.102.0.99', 'lladdr', OVERLAYS[0].mac1, 'dev', 'k10002', 'nud', 'permanent']);
    await t.exec(N2.name, 'bridge', ['fdb', 'append', OVERLAYS[0].mac1, 'dst', N1.underlay, 'dev', 'k10002']);
    const a0 = await stats(t, 'vx10001');
    const b0 = await stats(t, 'vx10002');
    await ping(t, N2, '10.102.0.99', 5, ['-W', '1']).catch(() => '');
    const a1 = await stats(t, 'vx10001');
    const b1 = await stats(t, 'vx10002');
    expect(b1.counters.rx_packets! - b0.counters.rx_packets!).toBeGreaterThanOrEqual(5);
    expect(a1.counters.rx_datagrams).toBe(a0.counters.rx_datagrams);
    // A datagram for a VNI nobody has counts at the socket; one for a VNI of ours with a bad flag, on its device.
    await sendRaw(t, 10009, 0x08, 3);
    await sendRaw(t, 10001, 0x00, 2);
    await waitFor('the crafted datagrams', async () => ((await stats(t, 'vx10002')).socket?.rx_wrong_vni ?? 0) >= 3);
    const a2 = await stats(t, 'vx10001');
    expect(a2.counters.rx_bad_flags).toBe(2);
    expect(a2.counters.rx_wrong_vni).toBe(0);
    expect(a2.socket?.rx_wrong_vni).toBe(3);
    // --trace: the socket's own printer names every VNI of the process.
    expect(v.stderr()).toMatch(/vni 10009 .*DROP rx_wrong_vni: the VNI is not ours \(10009, ours are 10001, 10002\)/);
    expect(v.stderr()).toMatch(/vni 10001 .*DROP rx_bad_flags/);
    // stats shows the socket's own section in text too.
    const text = await runCli(['stats', '--name', 'vx10001'], { ns: t.nsOf(N1.name) });
    expect(text.stdout).toMatch(/^socket \(datagrams for no device of this process\): 3$/m);
    // show --all lists every device of the process; --name keeps its meaning.
    const all = await runCli(['show', '--all', '--json'], { ns: t.nsOf(N1.name) });
    expect(all.code, all.stderr).toBe(0);
    expect((JSON.parse(all.stdout) as { name: string; vni: number }[]).map((d) => [d.name, d.vni])).toEqual([
      ['vx10001', 10001],
      ['vx10002', 10002],
    ]);
    const one = await runCli(['show', '--name', 'vx10002'], { ns: t.nsOf(N1.name) });
    expect(one.stdout).toMatch(/^vx10002: vni 10002 /);
    expect(one.stdout).toMatch(/process devices vx10001 \(vni 10001\), vx10002 \(vni 10002\)/);
    // fdb commands reach the device named.
    const add = await runCli(['fdb', 'add', '02:00:00:02:00:77', 'dst', N2.underlay, 'dev', 'vx10002'], { ns: t.nsOf(N1.name) });
    expect(add.code, add.stderr).toBe(0);
    const rows = async (name: string): Promise<string> => (await runCli(['fdb', 'show', '--name', name], { ns: t.nsOf(N1.name) })).stdout;
    expect(await rows('vx10002')).toMatch(/02:00:00:02:00:77/);
    expect(await rows('vx10001')).not.toMatch(/02:00:00:02:00:77/);
    // Metrics: each device's series carry device and vni labels; the socket's strays their own metric.
    const show = JSON.parse((await runCli(['show', '--json', '--name', 'vx10001'], { ns: t.nsOf(N1.name) })).stdout) as { metrics: string };
    const body = (await t.exec(N1.name, 'curl', ['-s', `http://${show.metrics}/metrics`])).stdout;
    expect(body).toMatch(/^vxlan_user_packets_total\{direction="rx",device="vx10002",vni="10002"\} [1-9]/m);
    expect(body).toMatch(/^vxlan_user_drops_total\{reason="rx_bad_flags",device="vx10001",vni="10001"\} 2$/m);
    expect(body).toMatch(/^vxlan_user_socket_drops_total\{reason="rx_wrong_vni"\} 3$/m);
  });

  it('a reload adds one VNI and removes another while the first keeps its traffic', async () => {
    const t = await net.topology('vnisrl', [N1, N2], { ipv6: false });
    const file = join(workDir(), 'n1.yaml');
    writeConfig(file, OVERLAYS.slice(0, 2), 'trace: true\n');
    await kernelDevices(t, OVERLAYS);
    const v = await net.up(t, N1, ['--config', file, '--quiet']);
    // 60 pings at 50 ms on VNI 10001 span the reload.
    const flow = ping(t, N1, '10.101.0.2', 60, ['-i', '0.05']);
    await new Promise((r) => setTimeout(r, 1000));
    writeConfig(file, [OVERLAYS[0], OVERLAYS[2]], 'trace: true\n');
    const r = await runCli(['reload', '--name', 'vx10002'], { ns: t.nsOf(N1.name) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/devices \+1 -1 \(added vx10003\) \(removed vx10002\)/);
    expect(await flow).toMatch(/60 packets transmitted, 60 received/);
    const links = (await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout;
    expect(links).not.toMatch(/vx10002/);
    expect(links).toMatch(/vx10003/);
    expect(await ping(t, N1, '10.103.0.2', 3)).toMatch(/3 received/);
    // The added device has its own --trace printer too.
    expect(v.stderr()).toMatch(/vni 10003 .*delivered to vx10003/);
    const gone = await runCli(['show', '--name', 'vx10002'], { ns: t.nsOf(N1.name) });
    expect(gone.code).not.toBe(0);
  });

  it('a refused vnis: file exits 2 with one sentence and creates nothing', async () => {
    const t = await net.topology('vnisbad', [N1, N2], { ipv6: false });
    const file = join(workDir(), 'bad.yaml');
    writeFileSync(file, `version: 1\nlocal: ${N1.underlay}\nvnis:\n  - {vni: 10001, name: vxa}\n  - {vni: 10001, name: vxb}\n`);
    const r = await runCli(['up', '--config', file], { ns: t.nsOf(N1.name) });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/vnis\[1\] \(vxb\) has VNI 10001/);
    expect((await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toMatch(/vx[ab]/);
  });
});
