// Outer UDP checksums on an IPv4 underlay, on real namespaces: --noudpcsum sends zeros (and so no UDP GSO, which
// the kernel refuses without checksums) and still talks to a kernel vxlan device that sends checksums. The IPv6
// options (--udp6zerocsumtx/rx) are in ipv6-underlay.test.ts.
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { ping, tcpTransfer, udpChecksum } from './probes.js';
import { kernelPeer, N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

describeNet('UDP checksums on real namespaces', net, () => {
  it('--noudpcsum: zero outer UDP checksums on the wire, GSO reported off, a kernel peer (udpcsum default) talks to it', async () => {
    const t = await topology('csum4', [N1, N2]);
    const a = await up(t, N1, [...seedArgs(N1, N2), '--noudpcsum']);
    expect(a.stderr()).toMatch(/UDP GSO off \(--noudpcsum: the kernel refuses UDP_SEGMENT without checksums\)/);
    await kernelPeer(t, N2, N1, []);
    expect(await udpChecksum(t, N2, N1, () => ping(t, N1, N2.overlay, 2))).toBe('0x0000');
    expect(await udpChecksum(t, N1, N2, () => ping(t, N2, N1.overlay, 2))).not.toBe('0x0000'); // the kernel's default
    await tcpTransfer(t, N1, N2, N2.overlay, 1, 5201, 60_000);
    await tcpTransfer(t, N2, N1, N1.overlay, 1, 5202, 60_000);
  });
});
