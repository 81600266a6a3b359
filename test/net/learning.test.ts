// Learning and ageing on real namespaces (3 nodes): floods before learning, unicast after, static entries never
// move, learned ones age out. Assertions are on counts and contents, never on timing (polls have generous
// deadlines because the machine is shared).
import { expect, it } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { ping } from './probes.js';
import { DEV, N1, N2, N3, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession, runCli } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

async function fdbShow(t: Topology, node: Node): Promise<string> {
  const r = await runCli(['fdb', 'show', '--name', DEV], { ns: t.nsOf(node.name) });
  expect(r.code).toBe(0);
  return r.stdout;
}

/** Writes one Ethernet frame into `node`'s TAP from userspace (AF_PACKET), as if its host stack sent it. */
async function injectFrame(t: Topology, node: Node, frameHex: string): Promise<void> {
  const py = `import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${DEV}', 0)); s.send(bytes.fromhex('${frameHex}'))`;
  await t.exec(node.name, 'python3', ['-c', py]);
}

const macHex = (m: string): string => m.replaceAll(':', '');

describeNet('learning on real namespaces', net, () => {
  it('--learning on 3 nodes: floods before learning, unicast after, static entries never move, learned ones age out', async () => {
    const t = await topology('learn', [N1, N2, N3]);
    // n1 learns; it knows n3 statically and n2 not at all (both are default destinations).
    const a = await up(t, N1, [
      ...seedArgs(N1), '--learning', '--ageing', '2', '--remote', N2.underlay, '--remote', N3.underlay,
      '--neigh', `${N2.overlay}=${N2.mac}`, '--fdb', `${N3.mac}=${N3.underlay}`,
    ]);
    await up(t, N2, [...seedArgs(N2), '--fdb', `${N1.mac}=${N1.underlay}`, '--neigh', `${N1.overlay}=${N1.mac}`]);
    const c = await up(t, N3, [...seedArgs(N3), '--fdb', `${N1.mac}=${N1.underlay}`, '--fdb', `${N2.mac}=${N2.underlay}`]);

    expect(await fdbShow(t, N1)).not.toContain(N2.mac);
    await ping(t, N1, N2.overlay, 3);
    // The first echo request flooded (one copy to each default destination); n2's reply taught n1 where
    // N2's MAC lives, so the next two went unicast.
    let ca = await a.counters();
    expect(ca.tx_flood_frames).toBe(1);
    expect(ca.tx_flood_copies).toBe(2);
    expect(ca.fdb_learned).toBe(1);
    expect((await c.counters()).rx_datagrams).toBe(1);
    const learned = await fdbShow(t, N1);
    expect(learned).toContain(`${N2.mac} dev ${DEV} dst ${N2.underlay} self\n`.trimEnd());
    expect(learned).not.toContain(`${N2.mac} dev ${DEV} dst ${N2.underlay} self permanent`);
    expect(learned).toContain(`${N3.mac} dev ${DEV} dst ${N3.underlay} self permanent`);

    // Unicast after learning: n3 sees nothing more.
    await ping(t, N1, N2.overlay, 3);
    ca = await a.counters();
    expect(ca.tx_flood_frames).toBe(1);
    expect((await c.counters()).rx_datagrams).toBe(1);

    // n2 claims N3's MAC (static at n1, pointing to n3): dropped and counted, the entry stays.
    const spoof = macHex(N1.mac) + macHex(N3.mac) + '0800' + '45000014000000004001000002020202b3110115';
    await injectFrame(t, N2, spoof);
    for (let i = 0; i < 50 && ((await a.counters()).rx_fdb_static_conflict ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    ca = await a.counters();
    expect(ca.rx_fdb_static_conflict).toBe(1);
    expect(await fdbShow(t, N1)).toContain(`${N3.mac} dev ${DEV} dst ${N3.underlay} self permanent`);

    // Ageing: N2 is silent now; its learned entry goes after ~2 s (checked every 0.5 s).
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 200));
      gone = !(await fdbShow(t, N1)).includes(N2.mac);
    }
    expect(gone).toBe(true);
    ca = await a.counters();
    expect(ca.fdb_aged).toBe(1);
    // ... and the next frame to N2 floods again.
    await ping(t, N1, N2.overlay, 1);
    expect((await a.counters()).tx_flood_frames).toBe(2);
  });
});
