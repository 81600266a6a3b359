// --srcport on real namespaces: inner flows spread over the outer source ports of the range (one flow, one
// port), and a kernel vxlan device receives them whatever the source port.
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { ping, tsharkField } from './probes.js';
import { DEV, kernelPeer, N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

describeNet('source ports on real namespaces', net, () => {
  it('--srcport: 64 inner flows leave from many source ports inside the range, one flow from one port; a kernel peer receives them', async () => {
    const t = await topology('srcport', [N1, N2]);
    const a = await up(t, N1, [...seedArgs(N1, N2), '--srcport', '40000-40063']);
    expect(a.stderr()).toMatch(/--srcport: 16 sending sockets/);
    await kernelPeer(t, N2, N1, []);
    const ports = async (flows: number, perFlow: number): Promise<number[]> => {
      const py = `
import socket
for i in range(${flows}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('${N1.overlay}', 20000 + i))
    for _ in range(${perFlow}):
        s.sendto(b'flow', ('${N2.overlay}', 9))
    s.close()
`;
      // Over a veth, a UDP GSO train (consecutive datagrams of one socket) is captured as one packet: so the
      // capture runs for a fixed time and only distinct ports are compared; delivery is checked at the peer.
      const out = await tsharkField(t, N2, N1, 'udp.srcport', 'time', () => t.exec(N1.name, 'python3', ['-c', py]));
      return out.map(Number);
    };
    await ping(t, N1, N2.overlay, 1); // underlay ARP resolved before counting
    const many = await ports(64, 1);
    expect(many.length).toBeGreaterThanOrEqual(16);
    expect(many.every((p) => p >= 40000 && p <= 40063)).toBe(true);
    expect(new Set(many).size).toBeGreaterThanOrEqual(8);
    const one = await ports(1, 20);
    expect(one.length).toBeGreaterThanOrEqual(1);
    expect(new Set(one).size).toBe(1);
    // The kernel peer takes them (it listens on 4899 whatever the source port): its device counts them.
    const rx = Number((await t.exec(N2.name, 'cat', [`/sys/class/net/${DEV}/statistics/rx_packets`])).stdout.trim());
    expect(rx).toBeGreaterThanOrEqual(84);
  });
});
