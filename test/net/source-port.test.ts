// --srcport on real namespaces: inner flows spread over the outer source ports of the whole range, one flow
// from one port, about as many distinct ports as the kernel's vxlan (udp_flow_src_port) gives for the same
// flows, measured in the same test; a kernel vxlan device receives them whatever the source port.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { ping, tsharkField } from './probes.js';
import { DEV, kernelPeer, N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

/** Python that sends `perFlow` datagrams from each of `flows` inner UDP flows (source ports 20000 + i) of `from` to `to`. */
const flowsPy = (from: Node, to: Node, flows: number, perFlow: number): string => `
import socket
for i in range(${flows}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('${from.overlay}', 20000 + i))
    for _ in range(${perFlow}):
        s.sendto(b'flow', ('${to.overlay}', 9))
    s.close()
`;

/**
 * The outer `field` of each VXLAN datagram `from` sends to `to` while the flows run, as captured on `to`. Over a
 * veth a UDP GSO train (consecutive datagrams of one socket) is captured as one packet: so the capture runs for a
 * fixed time and only distinct values are compared; delivery is checked at the receiver.
 */
async function outerField(t: Topology, from: Node, to: Node, field: string, flows: number, perFlow: number): Promise<string[]> {
  const out = await tsharkField(t, to, from, field, 'time', () => t.exec(from.name, 'python3', ['-c', flowsPy(from, to, flows, perFlow)]));
  return out.filter((l) => l !== '');
}

describeNet('source ports on real namespaces', net, () => {
  it('--srcport 40000-40999: 65 inner flows leave from about as many distinct ports as the kernel vxlan gives them, one flow from one port; a kernel peer receives them', async () => {
    const t = await topology('srcport', [N1, N2]);
    const a = await up(t, N1, [...seedArgs(N1, N2), '--srcport', '40000-40999']);
    expect(a.stderr()).toMatch(/--srcport 40000-40999: a send socket per port on its first flow, at most \d+/);
    // The kernel's srcport MAX is exclusive: 41000 gives it the same 1000 ports.
    await kernelPeer(t, N2, N1, ['srcport', '40000', '41000']);
    await ping(t, N1, N2.overlay, 1); // underlay ARP resolved both ways before counting
    const ours = (await outerField(t, N1, N2, 'udp.srcport', 65, 1)).map(Number);
    const kernel = (await outerField(t, N2, N1, 'udp.srcport', 65, 1)).map(Number);
    expect(ours.every((p) => p >= 40000 && p <= 40999)).toBe(true);
    expect(kernel.every((p) => p >= 40000 && p <= 40999)).toBe(true);
    const mine = new Set(ours).size;
    const theirs = new Set(kernel).size;
    // 1000 * (1 - (999/1000)^65) = 63 expected of either; the 16-socket pool this replaced gave 15.
    const counts = `distinct ports: ours ${mine}, the kernel's ${theirs}`;
    expect(mine, counts).toBeGreaterThanOrEqual(55);
    expect(theirs, counts).toBeGreaterThanOrEqual(55); // the comparison is only worth something if the kernel spreads too
    expect(Math.abs(mine - theirs), counts).toBeLessThanOrEqual(6);
    const one = (await outerField(t, N1, N2, 'udp.srcport', 1, 20)).map(Number);
    expect(one.length).toBeGreaterThanOrEqual(1);
    expect(new Set(one).size).toBe(1);
    // The kernel peer takes them (it listens on 4899 whatever the source port): its device counts them.
    const rx = Number((await t.exec(N2.name, 'cat', [`/sys/class/net/${DEV}/statistics/rx_packets`])).stdout.trim());
    expect(rx).toBeGreaterThanOrEqual(65 + 20);
  });

  it('--srcport with --df inherit: DF-set twins bind the same ports (SO_REUSEPORT), the flows still spread, the outer DF bit follows the inner one', async () => {
    const t = await topology('srcportdf', [N1, N2]);
    const a = await up(t, N1, [...seedArgs(N1, N2), '--srcport', '40000-40999', '--df', 'inherit']);
    expect(a.stderr()).toMatch(/at most \d+ per kind \(DF clear, DF set\)/);
    // prime() opened the first port of the range twice: DF clear and its DF-set twin (SO_REUSEPORT).
    const bound = (await t.exec(N1.name, 'ss', ['-uanH', 'sport = :40000'])).stdout.trim().split('\n').filter((l) => l !== '');
    expect(bound).toHaveLength(2);
    await kernelPeer(t, N2, N1, []);
    await ping(t, N1, N2.overlay, 1);
    // Linux sets DF on these inner UDP datagrams (IP_PMTUDISC_WANT, they fit the path): all leave DF-set.
    const ports = (await outerField(t, N1, N2, 'udp.srcport', 65, 1)).map(Number);
    expect(new Set(ports).size).toBeGreaterThanOrEqual(55);
    const df = await outerField(t, N1, N2, 'ip.flags.df', 65, 1);
    expect(df.length).toBeGreaterThanOrEqual(1);
    expect(df.every((f) => f === '1' || f === 'True')).toBe(true);
    const rx = Number((await t.exec(N2.name, 'cat', [`/sys/class/net/${DEV}/statistics/rx_packets`])).stdout.trim());
    expect(rx).toBeGreaterThanOrEqual(130);
  });

  it('a vnis: process: both devices spread their flows over the range, one socket per port in use', async () => {
    const t = await topology('srcportvnis', [N1, N2]);
    const dir = mkdtempSync(join(tmpdir(), 'vxut-srcport-'));
    try {
      const vnis = [
        { vni: 10001, name: 'vx10001', net: '10.101.0', mac1: '02:00:00:01:00:01', mac2: '02:00:00:01:00:02' },
        { vni: 10002, name: 'vx10002', net: '10.102.0', mac1: '02:00:00:02:00:01', mac2: '02:00:00:02:00:02' },
      ];
      const file = join(dir, 'n1.yaml');
      const entries = vnis.map((o) => `  - {vni: ${o.vni}, name: ${o.name}, mac: '${o.mac1}', addr: [${o.net}.1/24], fdb: ['${o.mac2}=${N2.underlay}'], neigh: ['${o.net}.2=${o.mac2}']}`);
      writeFileSync(file, `version: 1\nlocal: ${N1.underlay}\ndstport: 4899\nsrcport: 40000-40999\nvnis:\n${entries.join('\n')}\n`);
      for (const o of vnis) {
        const ip = (...a: string[]) => t.exec(N2.name, 'ip', a);
        await ip('link', 'add', `k${o.vni}`, 'type', 'vxlan', 'id', String(o.vni), 'dstport', '4899', 'local', N2.underlay, 'dev', 'eth0', 'nolearning');
        await ip('link', 'set', 'dev', `k${o.vni}`, 'address', o.mac2);
        await ip('addr', 'add', `${o.net}.2/24`, 'dev', `k${o.vni}`);
        await ip('link', 'set', `k${o.vni}`, 'up');
        await ip('neigh', 'replace', `${o.net}.1`, 'lladdr', o.mac1, 'dev', `k${o.vni}`, 'nud', 'permanent');
        await t.exec(N2.name, 'bridge', ['fdb', 'append', o.mac1, 'dst', N1.underlay, 'dev', `k${o.vni}`]);
      }
      await up(t, N1, ['--config', file, '--quiet']);
      const seen: number[][] = [];
      for (const o of vnis) {
        await ping(t, N1, `${o.net}.2`, 1);
        const from = { ...N1, overlay: `${o.net}.1` };
        const to = { ...N2, overlay: `${o.net}.2` };
        seen.push((await outerField(t, from, to, 'udp.srcport', 65, 1)).map(Number));
      }
      for (const ports of seen) {
        expect(ports.every((p) => p >= 40000 && p <= 40999)).toBe(true);
        expect(new Set(ports).size).toBeGreaterThanOrEqual(55);
      }
      // One socket per port in use, whichever device opened it first: the ports the flows left from, plus the
      // first port of the range (opened at start) and the ports of the two pings.
      const bound = (await t.exec(N1.name, 'ss', ['-uanH', 'sport >= :40000 and sport <= :40999'])).stdout.trim().split('\n').map((l) => Number(l.split(/\s+/)[3]!.split(':').pop()));
      expect(new Set(bound).size).toBe(bound.length);
      const used = new Set([...seen[0]!, ...seen[1]!]).size;
      expect(bound.length).toBeGreaterThanOrEqual(used);
      expect(bound.length).toBeLessThanOrEqual(used + 8); // 3, and room for a datagram the capture missed
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
