// Path MTU on real namespaces: a 1500-byte TAP over a 1500-byte underlay answers too-big DF packets with
// ICMP "frag needed" / ICMPv6 "packet too big" (MTU 1450) into the TAP, and TCP adapts in both families.
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { dadDone, ping, tcpTransfer } from './probes.js';
import { N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: true });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

describeNet('PMTU on real namespaces', net, () => {
  it('PMTU: a 1500-byte TAP over a 1500-byte underlay answers DF pings with "frag needed" / "packet too big" (MTU 1450), and TCP adapts', async () => {
    const t = await topology('pmtu', [N1, N2]);
    const args = (self: Node, peer: Node): string[] => [
      ...seedArgs(self), '--mtu', '1500', '--addr', `2001:db8::${self.overlay.split('.')[3]}/64`,
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
});
