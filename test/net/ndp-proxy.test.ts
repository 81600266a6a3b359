// The NDP proxy on real namespaces: a configured IPv6 neighbour's solicitation is answered on the TAP, so an
// inner IPv6 ping works without any neighbour discovery crossing the tunnel.
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { dadDone } from './probes.js';
import { DEV, N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: true });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

describeNet('NDP proxy on real namespaces', net, () => {
  it('NDP proxy: an inner IPv6 ping whose neighbour solicitation is answered on the TAP (ndp_proxied)', async () => {
    const t = await topology('ndp', [N1, N2]);
    const v6 = (n: Node): string => `2001:db8::${n.overlay.split('.')[3]}`;
    const args = (self: Node, peer: Node): string[] => [...seedArgs(self, peer), '--addr', `${v6(self)}/64`, '--neigh', `${v6(peer)}=${peer.mac}`];
    const a = await up(t, N1, args(N1, N2));
    await up(t, N2, args(N2, N1));
    for (const n of [N1, N2]) await dadDone(t, n);
    const out = (await t.exec(N1.name, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', v6(N2)])).stdout;
    expect(out).toMatch(/2 received/);
    expect((await a.counters()).ndp_proxied).toBeGreaterThanOrEqual(1);
    expect((await t.exec(N1.name, 'ip', ['-6', 'neigh', 'show', v6(N2), 'dev', DEV])).stdout).toContain(`lladdr ${N2.mac}`);
  });
});
