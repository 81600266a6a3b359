// An IPv6 underlay on real namespaces, against the kernel's vxlan device: ping and TCP both ways, with outer
// UDP checksums (the default) and with zero checksums (--udp6zerocsumtx / --udp6zerocsumrx on both sides).
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { ping, tcpTransfer, udpChecksum, underlay6 } from './probes.js';
import { kernelPeer, N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

describeNet('IPv6 underlay on real namespaces', net, () => {
  it('IPv6 underlay: interop with the kernel vxlan device (ping and TCP both ways), --udp6zerocsumtx/rx against the kernel\'s', async () => {
    const t = await topology('ul6', [N1, N2]);
    const [M1, M2] = (await underlay6(t, [N1, N2])) as [Node, Node];
    const a = await up(t, M1, [...seedArgs(M1, M2), '--udp6zerocsumtx', '--udp6zerocsumrx']);
    expect(a.stderr()).toMatch(/UDP GSO off \(--udp6zerocsumtx/);
    await kernelPeer(t, M2, M1, ['udp6zerocsumtx', 'udp6zerocsumrx']);
    await ping(t, M1, M2.overlay, 2);
    await ping(t, M2, M1.overlay, 2);
    expect(await udpChecksum(t, M2, M1, () => ping(t, M1, M2.overlay, 2))).toBe('0x0000');
    expect(await udpChecksum(t, M1, M2, () => ping(t, M2, M1.overlay, 2))).toBe('0x0000');
    await tcpTransfer(t, M1, M2, M2.overlay, 1, 5203, 60_000);
    await tcpTransfer(t, M2, M1, M1.overlay, 1, 5204, 60_000);
    const c = await a.counters();
    expect(c.rx_packets).toBeGreaterThan(100);
  });

  it('IPv6 underlay with checksums (the default) against the kernel device', async () => {
    const t = await topology('ul6c', [N1, N2]);
    const [M1, M2] = (await underlay6(t, [N1, N2])) as [Node, Node];
    await up(t, M1, seedArgs(M1, M2));
    await kernelPeer(t, M2, M1, []);
    expect(await udpChecksum(t, M2, M1, () => ping(t, M1, M2.overlay, 2))).not.toBe('0x0000');
    await tcpTransfer(t, M1, M2, M2.overlay, 1, 5205, 60_000);
    await tcpTransfer(t, M2, M1, M1.overlay, 1, 5206, 60_000);
  });
});
