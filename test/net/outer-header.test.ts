// The outer IPv4 header on real namespaces (tcpdump on the peer): --ttl, --tos and --df set it, the default does
// not, and --df inherit copies the inner packet's DF bit.
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { capture, ping } from './probes.js';
import { N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

/** Runs `action` while tcpdump on `node`'s eth0 waits for one VXLAN datagram from `src`; returns tcpdump -v's line. */
const captureOne = (t: Topology, node: Node, src: string, action: () => Promise<unknown>): Promise<string> =>
  capture(t, node, 'eth0', `udp dst port 4899 and src host ${src}`, 1, action);

describeNet('outer header on real namespaces', net, () => {
  it('--ttl / --tos / --df: the outer header on the underlay carries them (tcpdump on the peer), the default does not', async () => {
    const t = await topology('outer', [N1, N2]);
    await up(t, N1, [...seedArgs(N1, N2), '--ttl', '33', '--tos', '184', '--df', 'set']);
    await up(t, N2, seedArgs(N2, N1));
    // n1 → n2: tos 0xb8, ttl 33, DF.
    expect(await captureOne(t, N2, N1.underlay, () => ping(t, N1, N2.overlay, 2))).toMatch(/tos 0xb8, ttl 33, .*flags \[DF\]/);
    // n2 (defaults) → n1, captured on n2's eth0 as it leaves: tos 0, ttl 64, no DF (the kernel's defaults).
    expect(await captureOne(t, N2, N2.underlay, () => ping(t, N2, N1.overlay, 2))).toMatch(/tos 0x0, ttl 64, .*flags \[none\]/);
  });

  it('--df inherit: the outer DF bit follows the inner IPv4 packet (ping -M do vs -M dont)', async () => {
    const t = await topology('dfinh', [N1, N2]);
    const a = await up(t, N1, [...seedArgs(N1, N2), '--df', 'inherit']);
    await up(t, N2, seedArgs(N2, N1));
    expect(a.stderr()).toMatch(/--df inherit: 1 DF-set sending socket/);
    const pingDf = (mode: string) => () => t.exec(N1.name, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '-M', mode, N2.overlay]);
    expect(await captureOne(t, N2, N1.underlay, pingDf('do'))).toMatch(/flags \[DF\]/);
    expect(await captureOne(t, N2, N1.underlay, pingDf('dont'))).toMatch(/flags \[none\]/);
  });
});
