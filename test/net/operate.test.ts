// Operating a running vxlan-user in real namespaces: control commands with traffic following the change, reload
// on SIGHUP, Prometheus metrics, garbage on the VXLAN port (with and without --peers-only), kill -9 and restart.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, waitForExit, type Topology } from '../../src/testbed/index.js';
import { DROP_REASONS } from '../../src/dataplane/counters.js';
import { ping } from './probes.js';
import { N1, N2, N3, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();

type Node = SeedNode;
const A: Node = { ...N1, name: 'a' };
const B: Node = { ...N2, name: 'b' };
const C: Node = { ...N3, name: 'c' };
const G: Node = { name: 'g', underlay: '192.168.0.66', overlay: '', mac: '' };
const DEV = 'vxlan-test';

/** `self` with static FDB + neighbours for `peers`; `as` lets a node take over another node's overlay identity. */
function args(self: Node, peers: Node[], as: Node = self): string[] {
  const a = ['--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', self.underlay, '--mac', as.mac, '--addr', `${as.overlay}/24`];
  for (const p of peers) a.push('--neigh', `${p.overlay}=${p.mac}`, '--fdb', `${p.mac}=${p.underlay}`);
  return a;
}

let work: string;
const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes);

const up = (t: Topology, node: Node, args: string[]): Promise<RunningVtep> => net.up(t, node, args);

/** `vxlan-user ARGS` in `node`'s namespace. */
function ctl(t: Topology, node: Node, a: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(a, { ns: t.nsOf(node.name) });
}

async function stats(t: Topology, node: Node): Promise<Record<string, number>> {
  const r = await ctl(t, node, ['stats', '--json', '--name', DEV]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { counters: Record<string, number> }).counters;
}

/** Starts a ping in the background; resolves with its output when it ends. */
function pingInBackground(t: Topology, from: Node, to: string, count: number, interval: number): Promise<string> {
  const p = t.spawn(from.name, 'ping', ['-c', String(count), '-i', String(interval), '-W', '1', to]);
  let out = '';
  p.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve) => p.once('exit', () => resolve(out)));
}

const received = (pingOut: string): number => Number(/(\d+) received/.exec(pingOut)?.[1] ?? -1);

async function until(what: string, f: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** rx_datagrams == rx_packets + every rx drop reason: each datagram is accounted for exactly once. */
function expectRxAccounted(c: Record<string, number>): void {
  const drops = DROP_REASONS.filter((r) => r.startsWith('rx_')).reduce((s, r) => s + (c[r] ?? 0), 0);
  expect(c.rx_packets! + drops).toBe(c.rx_datagrams);
}

describe.skipIf(gate.skip)('operating vxlan-user on real namespaces', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-op-'));
  });
  afterEach(() => net.cleanup());
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('fdb replace mid-ping moves a peer to another underlay IP: traffic follows at once', async () => {
    const t = await topology('move', [A, B, C]);
    await up(t, A, args(A, [B]));
    await up(t, B, args(B, [A]));
    await up(t, C, args(C, [A], B)); // C stands by with B's overlay MAC and IP
    const pinging = pingInBackground(t, A, B.overlay, 40, 0.1);
    await new Promise((r) => setTimeout(r, 1_500));
    const r = await ctl(t, A, ['fdb', 'replace', B.mac, 'dst', C.underlay, 'dev', DEV]);
    expect(r.code, r.stderr).toBe(0);
    const afterMove = await stats(t, B);
    const out = await pinging;
    expect(received(out)).toBeGreaterThanOrEqual(38); // at most a reply in flight lost
    const b = await stats(t, B);
    const c = await stats(t, C);
    expect(afterMove.rx_packets).toBeGreaterThanOrEqual(8); // B answered before the move...
    expect(b.rx_packets).toBe(afterMove.rx_packets); // ...and got nothing after it
    expect(c.rx_packets).toBeGreaterThanOrEqual(15); // C answered the rest
    const show = await ctl(t, A, ['fdb', 'show', '--name', DEV]);
    expect(show.stdout.trim()).toBe(`${B.mac} dev ${DEV} dst ${C.underlay} self permanent`);
  });

  it('control commands: refusals exit 2, del stops traffic, append restores it, show/neigh/stats, down', async () => {
    const t = await topology('ctl', [A, B]);
    const a = await up(t, A, args(A, [B]));
    await up(t, B, args(B, [A]));
    await ping(t, A, B.overlay, 2);

    const dup = await ctl(t, A, ['fdb', 'add', B.mac, 'dst', B.underlay, '--name', DEV]);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toBe(`vxlan-user: an FDB entry for ${B.mac} already exists (${B.underlay}): use 'fdb replace' or 'fdb append'\n`);
    expect((await ctl(t, A, ['fdb', 'add', 'nonsense', 'dst', B.underlay, '--name', DEV])).code).toBe(2);
    expect((await ctl(t, A, ['fdb', 'add', B.mac, '--name', DEV])).code).toBe(2); // usage: no dst

    expect((await ctl(t, A, ['fdb', 'del', B.mac, '--name', DEV])).code).toBe(0);
    const miss0 = (await stats(t, A)).tx_fdb_miss!;
    await expect(ping(t, A, B.overlay, 2)).rejects.toThrow();
    expect((await stats(t, A)).tx_fdb_miss).toBeGreaterThanOrEqual(miss0 + 2);
    expect((await ctl(t, A, ['fdb', 'append', B.mac, 'dst', B.underlay, 'self', 'permanent', 'dev', DEV])).code).toBe(0);
    await ping(t, A, B.overlay, 2);

    expect((await ctl(t, A, ['neigh', 'add', '179.17.1.40', 'lladdr', '02:00:00:00:00:40', 'nud', 'permanent', 'dev', DEV])).code).toBe(0);
    const neigh = await ctl(t, A, ['neigh', 'show', '--name', DEV]);
    expect(neigh.stdout).toBe(`${B.overlay} dev ${DEV} lladdr ${B.mac} PERMANENT\n179.17.1.40 dev ${DEV} lladdr 02:00:00:00:00:40 PERMANENT\n`);

    const show = await ctl(t, A, ['show', '--name', DEV]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^${DEV}: vni 10001 udp ${A.underlay.replace(/\./g, '\\.')}:4899 mac ${A.mac}`));
    expect(show.stdout).toContain(`pid ${a.child.pid}`); // the instance of this namespace answered
    const watch = await ctl(t, A, ['stats', '--watch', '--interval', '0.2', '--count', '3', '--json', '--name', DEV]);
    const lines = watch.stdout.trim().split('\n').map((l) => JSON.parse(l) as { counters: Record<string, number>; rates?: object });
    expect(lines).toHaveLength(3);
    expect(lines[2]!.counters.tx_packets).toBeGreaterThanOrEqual(lines[0]!.counters.tx_packets!);
    expect(lines[1]!.rates).toBeDefined();

    const none = await ctl(t, A, ['stats', '--name', 'nope']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no vxlan-user instance named nope in this network namespace');

    const down = await ctl(t, A, ['down', '--name', DEV]);
    expect(down.code, down.stderr).toBe(0);
    expect(await waitForExit(a.child, 2_000)).toBe(true);
    expect(a.child.exitCode).toBe(0);
    expect((await t.exec(A.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain(DEV);
  });

  it('SIGHUP reload: a valid file replaces tables and diffs routes; an invalid one or a VNI change is refused', async () => {
    const t = await topology('reload', [A, B, C]);
    const file = join(work, 'a.yaml');
    const yaml = (fdbDst: string, routes: string[], vni = 10001): string =>
      `version: 1\nvni: ${vni}\nname: ${DEV}\ndstport: 4899\nlocal: ${A.underlay}\nmac: ${A.mac}\naddr: ${A.overlay}/24\n` +
      `neigh: [${B.overlay}=${B.mac}]\nfdb: [${B.mac}=${fdbDst}]\nroute: [${routes.join(', ')}]\n`;
    writeFileSync(file, yaml(B.underlay, [`10.234.118.0/24=${B.overlay}`, `10.234.119.0/24=${B.overlay}`]));
    const a = await up(t, A, ['--config', file]);
    await up(t, B, args(B, [A]));
    await up(t, C, args(C, [A], B));
    await ping(t, A, B.overlay, 2);
    expect((await ctl(t, A, ['fdb', 'add', '02:00:00:00:00:99', 'dst', '192.168.0.99', '--name', DEV])).code).toBe(0);

    // Watch route changes while reloading: the unchanged route must not be deleted and re-added.
    const mon = t.spawn(A.name, 'ip', ['monitor', 'route']);
    let events = '';
    mon.stdout!.setEncoding('utf8').on('data', (d: string) => (events += d));
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(file, yaml(C.underlay, [`10.234.118.0/24=${B.overlay}`, `10.234.120.0/24=${B.overlay}`]));
    a.child.kill('SIGHUP');
    await until('the reload line', () => /reloaded .*a\.yaml: fdb \+0 -1 ~1, neigh \+0 -0 ~0, routes \+1 -1 ~0/.test(a.stderr()));
    await new Promise((r) => setTimeout(r, 300));
    mon.kill('SIGTERM');
    expect(events).not.toMatch(/10\.234\.118\.0\/24/);
    expect(events).toMatch(/Deleted 10\.234\.119\.0\/24/);
    const routes = (await t.exec(A.name, 'ip', ['route', 'show', 'dev', DEV])).stdout;
    expect(routes.match(/10\.234\.118\.0\/24/g)).toHaveLength(1);
    expect(routes).toContain('10.234.120.0/24 via 179.17.1.31');
    expect(routes).not.toContain('10.234.119.0/24');
    // The runtime-added entry is gone (the file is the truth), and traffic now goes to C.
    expect((await ctl(t, A, ['fdb', 'show', '--name', DEV])).stdout).toBe(`${B.mac} dev ${DEV} dst ${C.underlay} self permanent\n`);
    const c0 = (await stats(t, C)).rx_packets!;
    await ping(t, A, B.overlay, 2);
    expect((await stats(t, C)).rx_packets).toBeGreaterThanOrEqual(c0 + 2);

    // An invalid file: refused with its error, nothing changes.
    writeFileSync(file, yaml('192.168.0', [`10.234.118.0/24=${B.overlay}`]));
    const before = a.stderr().length;
    a.child.kill('SIGHUP');
    await until('the refusal', () => /refused, running state kept/.test(a.stderr().slice(before)));
    expect(a.stderr().slice(before)).toMatch(/reload of .*a\.yaml refused, running state kept: fdb .*192\.168\.0/);
    expect((await ctl(t, A, ['fdb', 'show', '--name', DEV])).stdout).toBe(`${B.mac} dev ${DEV} dst ${C.underlay} self permanent\n`);
    expect((await t.exec(A.name, 'ip', ['route', 'show', 'dev', DEV])).stdout).toContain('10.234.120.0/24');

    // A VNI change through `vxlan-user reload`: refused by name, exit 2.
    writeFileSync(file, yaml(C.underlay, [`10.234.118.0/24=${B.overlay}`], 10002));
    const r = await ctl(t, A, ['reload', '--name', DEV]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vni 10001 → 10002 cannot change while running');
    await ping(t, A, B.overlay, 1);
  });

  it('--metrics serves Prometheus text that agrees with stats', async () => {
    const t = await topology('metrics', [A, B]);
    await up(t, A, [...args(A, [B]), '--metrics', '127.0.0.1:9470']);
    await up(t, B, args(B, [A]));
    await ping(t, A, B.overlay, 3);
    const script = "fetch('http://127.0.0.1:9470/metrics').then(async (r) => { process.stdout.write(r.headers.get('content-type') + '\\n' + (await r.text())); })";
    const body = (await t.exec(A.name, process.execPath, ['-e', script])).stdout;
    expect(body.split('\n')[0]).toMatch(/^text\/plain; version=0\.0\.4/);
    const metric = (name: string, labels: string): number => {
      const m = new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(body);
      if (!m) throw new Error(`${name}{${labels}} missing`);
      return Number(m[1]);
    };
    const s = await stats(t, A);
    expect(metric('vxlan_user_packets_total', `direction="rx",device="${DEV}"`)).toBe(s.rx_packets);
    expect(metric('vxlan_user_packets_total', `direction="tx",device="${DEV}"`)).toBe(s.tx_packets);
    expect(s.rx_packets).toBeGreaterThanOrEqual(3);
    expect(metric('vxlan_user_bytes_total', `direction="tx",device="${DEV}"`)).toBe(s.tx_bytes);
    expect(metric('vxlan_user_fdb_entries', `device="${DEV}"`)).toBe(1);
    expect(metric('vxlan_user_drops_total', `reason="rx_wrong_vni",device="${DEV}"`)).toBe(0);
    expect(metric('vxlan_user_flood_copies_total', `device="${DEV}"`)).toBe(s.tx_flood_copies);
    expect(metric('vxlan_user_process_resident_memory_bytes', `device="${DEV}"`)).toBeGreaterThan(1e6);
    // Every rx input is a packet or a drop, in the metrics too.
    const rxDrops = DROP_REASONS.filter((r) => r.startsWith('rx_')).reduce((sum, r) => sum + metric('vxlan_user_drops_total', `reason="${r}",device="${DEV}"`), 0);
    expect(metric('vxlan_user_input_total', `direction="rx",device="${DEV}"`)).toBe(metric('vxlan_user_packets_total', `direction="rx",device="${DEV}"`) + rxDrops);
  });

  it('a garbage flood on the VXLAN port: pings still pass, every datagram is counted; --peers-only drops it early', async () => {
    const t = await topology('garbage', [A, B, G]);
    const flood = (seconds: number): Promise<number> => {
      // Random datagrams, half of them with a plausible VXLAN header (I flag, random VNI, zero reserved bits).
      const js = `const d=require('dgram').createSocket('udp4');const {randomBytes}=require('crypto');const end=Date.now()+${seconds * 1000};let n=0;
function burst(){for(let i=0;i<64;i++){const b=randomBytes(Math.floor(Math.random()*1500));if(b.length>=8&&Math.random()<0.5){b[0]=8;b[1]=b[2]=b[3]=b[7]=0;}
if(b.length>=8&&Math.random()<0.2){b[4]=0;b[5]=0x27;b[6]=0x11;}d.send(b,4899,'${A.underlay}');n++;}
if(Date.now()<end)setTimeout(burst,0);else setTimeout(()=>{process.stdout.write(String(n));d.close();},300);}burst();`;
      return t.exec(G.name, process.execPath, ['-e', js], { timeoutMs: (seconds + 10) * 1000 }).then((r) => Number(r.stdout));
    };
    for (const peersOnly of [false, true]) {
      const a = await up(t, A, [...args(A, [B]), ...(peersOnly ? ['--peers-only'] : [])]);
      const b = await up(t, B, args(B, [A]));
      const [sent, out] = await Promise.all([flood(4), pingInBackground(t, A, B.overlay, 25, 0.1)]);
      expect(sent).toBeGreaterThan(2_000);
      expect(received(out)).toBeGreaterThanOrEqual(23);
      const c = await stats(t, A);
      expectRxAccounted(c);
      if (peersOnly) {
        expect(c.rx_unknown_peer).toBeGreaterThan(1_000);
        expect(c.rx_wrong_vni).toBe(0);
      } else {
        expect(c.rx_short! + c.rx_bad_flags! + c.rx_reserved_bits! + c.rx_wrong_vni! + c.rx_bad_src_mac!).toBeGreaterThan(1_000);
        expect(c.rx_unknown_peer).toBe(0);
      }
      await ping(t, A, B.overlay, 2);
      for (const v of [a, b]) expect((await v.stop('SIGTERM')).code).toBe(0);
    }
  });

  it('kill -9 then restart with the same config: no TAP left, routes not duplicated, control socket free', async () => {
    const t = await topology('kill9', [A, B]);
    const file = join(work, 'k.yaml');
    writeFileSync(
      file,
      `version: 1\nvni: 10001\nname: ${DEV}\ndstport: 4899\nlocal: ${A.underlay}\nmac: ${A.mac}\naddr: ${A.overlay}/24\n` +
        `neigh: [${B.overlay}=${B.mac}]\nfdb: [${B.mac}=${B.underlay}]\nroute: [10.234.118.0/24=${B.overlay}]\n`,
    );
    const first = await up(t, A, ['--config', file]);
    await up(t, B, args(B, [A]));
    await ping(t, A, B.overlay, 1);
    first.child.kill('SIGKILL');
    expect(await waitForExit(first.child, 5_000)).toBe(true);
    await until('the TAP to disappear', async () => !(await t.exec(A.name, 'ip', ['-o', 'link', 'show'])).stdout.includes(DEV));
    expect((await t.exec(A.name, 'ip', ['route', 'show', '10.234.118.0/24'])).stdout.trim()).toBe('');
    expect((await ctl(t, A, ['show', '--name', DEV])).code).toBe(1); // nothing answers, nothing stale

    const second = await up(t, A, ['--config', file]);
    expect(second.readyLine).toMatch(/^ready: vxlan-test vni 10001/);
    const routes = (await t.exec(A.name, 'ip', ['route', 'show', '10.234.118.0/24'])).stdout.trim().split('\n');
    expect(routes).toEqual([`10.234.118.0/24 via ${B.overlay} dev ${DEV} `.trim()]);
    const show = await ctl(t, A, ['show', '--json', '--name', DEV]);
    expect((JSON.parse(show.stdout) as { pid: number }).pid).toBe(second.child.pid);
    await ping(t, A, B.overlay, 2);
  });
});

