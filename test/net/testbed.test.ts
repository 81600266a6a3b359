/**
 * The testbed itself, checked against the kernel's vxlan driver (no vxlan-user involved): two nodes joined by
 * an underlay switch, the seed recipe's kernel VTEPs on them, ping across the overlay; pods routed through it;
 * and the clean-up promises (teardown, failed builds, spawned processes, stale namespaces).
 *
 * Every namespace here is named `vxut-<our pid>-...`, so runs on the same machine never touch each other's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addKernelVtep,
  buildTopology,
  cleanupStale,
  CommandError,
  hasExited,
  listNamespaces,
  netTestGate,
  run,
  testPrefix,
  waitForExit,
  type Topology,
  type TopologySpec,
} from '../../src/testbed/index.js';

const gate = netTestGate();
const OURS = `vxut-${process.pid}-`;

const VNI = 10001;
const PORT = 4899;
const A = { underlay: '192.168.0.21', overlay: '179.17.1.21', mac: 'c2:6a:9b:e5:39:8d' };
const B = { underlay: '192.168.0.31', overlay: '179.17.1.31', mac: '7a:3a:fe:45:a3:76' };

function twoNodes(tag: string): TopologySpec {
  return {
    prefix: testPrefix(tag),
    nodes: [
      { name: 'a', underlayIp: A.underlay, underlayPrefix: 24 },
      { name: 'b', underlayIp: B.underlay, underlayPrefix: 24 },
    ],
  };
}

async function ourNamespaces(prefix: string): Promise<string[]> {
  return (await listNamespaces()).filter((ns) => ns.startsWith(`${prefix}-`));
}

/** The seed recipe on both nodes: nolearning, static neighbour, static FDB entry, optional routes. */
async function addSeedVteps(topo: Topology, routes = false): Promise<void> {
  await addKernelVtep(topo, 'a', {
    name: 'vxlan-test', vni: VNI, dstport: PORT, local: A.underlay, mac: A.mac, addr: `${A.overlay}/24`,
    neigh: [{ ip: B.overlay, mac: B.mac }],
    fdb: [{ mac: B.mac, dst: B.underlay }],
    routes: routes ? [{ cidr: '10.234.118.0/24', via: B.overlay }] : [],
  });
  await addKernelVtep(topo, 'b', {
    name: 'vxlan-test', vni: VNI, dstport: PORT, local: B.underlay, mac: B.mac, addr: `${B.overlay}/24`,
    neigh: [{ ip: A.overlay, mac: A.mac }],
    fdb: [{ mac: A.mac, dst: A.underlay }],
    routes: routes ? [{ cidr: '10.234.117.0/24', via: A.overlay }] : [],
  });
}

describe.skipIf(gate.skip)('testbed (network namespaces, kernel vxlan)', () => {
  beforeAll(async () => {
    gate.assert();
    for (const tool of ['ip', 'bridge', 'ping', 'sysctl']) {
      await run('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`the network tests need \`${tool}\` on PATH: run scripts/install-deps.sh`);
      });
    }
  });

  afterAll(async () => {
    if (gate.reason !== undefined) return;
    // Whatever a failed test left behind is removed here, and the suite then fails on it below.
    const left = await cleanupStale(OURS, { all: true });
    expect(left, 'namespaces left behind by this file').toEqual([]);
  });

  it('builds two nodes, pings across kernel VTEPs, and tears down every namespace', async () => {
    const spec = twoNodes('ping');
    const topo = await buildTopology(spec);
    try {
      expect((await ourNamespaces(spec.prefix)).sort()).toEqual(
        [`${spec.prefix}-a`, `${spec.prefix}-b`, `${spec.prefix}-sw`].sort(),
      );
      expect(topo.nsOf('a')).toBe(`${spec.prefix}-a`);
      // The underlay first, so a failure below points at the overlay.
      await topo.exec('a', 'ping', ['-c', '1', '-W', '2', B.underlay]);

      await addSeedVteps(topo);
      const link = await topo.exec('a', 'ip', ['-d', 'link', 'show', 'dev', 'vxlan-test']);
      expect(link.stdout).toContain(`vxlan id ${VNI}`);
      expect(link.stdout).toContain(`dstport ${PORT}`);
      expect(link.stdout).toContain('nolearning');
      expect(link.stdout).toContain(A.mac);

      const ab = await topo.exec('a', 'ping', ['-c', '3', '-W', '2', B.overlay]);
      expect(ab.stdout).toMatch(/3 packets transmitted, 3 received/);
      const ba = await topo.exec('b', 'ping', ['-c', '3', '-W', '2', A.overlay]);
      expect(ba.stdout).toMatch(/3 packets transmitted, 3 received/);
    } finally {
      await topo.teardown();
    }
    expect(await ourNamespaces(spec.prefix)).toEqual([]);
    expect(topo.namespaces()).toEqual([]);
    // Idempotent.
    await topo.teardown();
  });

  it('routes pod namespaces through the overlay', async () => {
    const topo = await buildTopology(twoNodes('pods'));
    try {
      await addSeedVteps(topo, true);
      const pa = await topo.addPodNamespace('a', 'pa', '10.234.117.2/24', '10.234.117.1');
      await topo.addPodNamespace('b', 'pb', '10.234.118.2/24', '10.234.118.1');
      expect(pa.ns).toBe(`${topo.spec.prefix}-pa`);
      expect(topo.pods().map((p) => p.name)).toEqual(['pa', 'pb']);
      const r = await topo.exec('pa', 'ping', ['-c', '3', '-W', '2', '10.234.118.2']);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    } finally {
      await topo.teardown();
    }
    expect(await ourNamespaces(topo.spec.prefix)).toEqual([]);
  });

  it('a build that fails halfway (invalid IP) removes what it made and reports ip\'s stderr', async () => {
    const spec = twoNodes('bad');
    spec.nodes[1]!.underlayIp = '192.168.0.300';
    const err = await buildTopology(spec).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).message).toContain('192.168.0.300');
    expect((err as CommandError).stderr).not.toBe('');
    expect(await ourNamespaces(spec.prefix)).toEqual([]);
  });

  it('refuses a namespace that already exists and leaves that namespace alone', async () => {
    const spec = twoNodes('taken');
    const foreign = `${spec.prefix}-b`;
    await run('ip', ['netns', 'add', foreign]);
    try {
      await expect(buildTopology(spec)).rejects.toThrow(/netns add/);
      // Ours (switch and node a) are gone; the one we did not create is still there.
      expect(await ourNamespaces(spec.prefix)).toEqual([foreign]);
    } finally {
      await run('ip', ['netns', 'del', foreign], { check: false });
    }
  });

  it('rejects bad specs before touching the host', async () => {
    await expect(buildTopology({ prefix: 'vxut bad', nodes: [] })).rejects.toThrow(/prefix/);
    await expect(buildTopology({ ...twoNodes('dup'), nodes: [twoNodes('dup').nodes[0]!, twoNodes('dup').nodes[0]!] }))
      .rejects.toThrow(/used twice/);
    await expect(buildTopology({ prefix: testPrefix('sw'), nodes: [{ name: 'sw', underlayIp: '192.168.0.1', underlayPrefix: 24 }] }))
      .rejects.toThrow(/reserved/);
    expect(await ourNamespaces(testPrefix('dup'))).toEqual([]);
  });

  it('teardown stops spawned processes (SIGTERM, then SIGKILL) and anything else left in its namespaces', async () => {
    const topo = await buildTopology({ prefix: testPrefix('proc'), nodes: [{ name: 'a', underlayIp: A.underlay, underlayPrefix: 24 }] });
    let polite: ChildProcess | undefined;
    let stubborn: ChildProcess | undefined;
    try {
      polite = topo.spawn('a', 'sleep', ['300']);
      // Ignores SIGTERM: only the SIGKILL after the grace period stops it.
      stubborn = topo.spawn('a', 'sh', ['-c', 'trap "" TERM; while :; do sleep 0.1; done']);
      // A background process started through exec(), not tracked: the namespace sweep must get it.
      await topo.exec('a', 'sh', ['-c', 'sleep 300 >/dev/null 2>&1 &']);
      const pids = await run('ip', ['netns', 'pids', topo.nsOf('a')]);
      expect(pids.stdout.trim().split(/\s+/).length).toBeGreaterThanOrEqual(3);
      expect(hasExited(polite)).toBe(false);
    } finally {
      await topo.teardown({ termTimeoutMs: 500 });
    }
    expect(polite?.signalCode).toBe('SIGTERM');
    expect(stubborn?.signalCode).toBe('SIGKILL');
    expect(await ourNamespaces(topo.spec.prefix)).toEqual([]);
  });

  it('cleanupStale removes namespaces of dead owners only, and only under its prefix', async () => {
    const prefix = `${testPrefix('stale')}-`;
    const dead = spawn('true');
    await waitForExit(dead, 5_000);
    const staleNs = `${prefix}${dead.pid}-x`;
    const liveNs = `${prefix}${process.pid}-x`;
    const otherNs = `${testPrefix('other')}-${dead.pid}-x`;
    for (const ns of [staleNs, liveNs, otherNs]) await run('ip', ['netns', 'add', ns]);
    try {
      expect(await cleanupStale(prefix)).toEqual([staleNs]);
      const now = await listNamespaces();
      expect(now).not.toContain(staleNs);
      expect(now).toContain(liveNs);
      expect(now).toContain(otherNs);
      expect(await cleanupStale(prefix, { all: true })).toEqual([liveNs]);
      expect(await listNamespaces()).toContain(otherNs);
    } finally {
      for (const ns of [staleNs, liveNs, otherNs]) await run('ip', ['netns', 'del', ns], { check: false });
    }
  });
});
