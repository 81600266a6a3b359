/**
 * The overlay the seed recipe exists for, as a testbed: nodes on one underlay switch, some running the
 * kernel's vxlan device and some a userspace VTEP, a pod behind every node, and routes to every other node's
 * pod subnet through the overlay. Used by the pod-forwarding integration test and by the benchmark, so both
 * measure the same thing.
 *
 * ```
 *  pod k1 ── k1 (kernel vxlan) ─┐                ┌─ u1 (vxlan-user) ── pod u1
 *                               ├── underlay br ─┤
 *  pod k2 ── k2 (kernel vxlan) ─┘                └─ u2 (vxlan-user) ── pod u2
 * ```
 * The userspace VTEP is started through a callback (the testbed does not know the CLI), with the same
 * settings as the kernel nodes: VNI 10001, port 4899, static neighbours, FDB rows and routes.
 */
import { addKernelVtep } from './kernel-vtep.js';
import { buildTopology, testPrefix, type Topology } from './topology.js';

export interface MixedNode {
  readonly name: string;
  readonly kind: 'kernel' | 'user';
  readonly underlay: string;
  readonly overlay: string;
  readonly mac: string;
  /** First three octets of the pod subnet /24: the pod is .2, the node's side .1. */
  readonly podNet: string;
}

export const MIXED_NODES: readonly MixedNode[] = [
  { name: 'k1', kind: 'kernel', underlay: '192.168.0.11', overlay: '179.17.1.11', mac: '02:00:00:00:01:11', podNet: '10.234.11' },
  { name: 'k2', kind: 'kernel', underlay: '192.168.0.12', overlay: '179.17.1.12', mac: '02:00:00:00:01:12', podNet: '10.234.12' },
  { name: 'u1', kind: 'user', underlay: '192.168.0.21', overlay: '179.17.1.21', mac: '02:00:00:00:01:21', podNet: '10.234.21' },
  { name: 'u2', kind: 'user', underlay: '192.168.0.22', overlay: '179.17.1.22', mac: '02:00:00:00:01:22', podNet: '10.234.22' },
];

export const mixedPodOf = (n: MixedNode): string => `p${n.name}`;
export const mixedPodIp = (n: MixedNode): string => `${n.podNet}.2`;

/** `vxlan-user up` arguments for `self` in the mixed overlay (the callback adds what it wants). */
export function mixedUserArgs(self: MixedNode, nodes: readonly MixedNode[]): string[] {
  const args = ['--vni', '10001', '--name', 'vxlan-test', '--dstport', '4899', '--local', self.underlay];
  args.push('--mac', self.mac, '--addr', `${self.overlay}/24`);
  for (const p of nodes) {
    if (p === self) continue;
    args.push('--neigh', `${p.overlay}=${p.mac}`, '--fdb', `${p.mac}=${p.underlay}`, '--route', `${p.podNet}.0/24=${p.overlay}`);
  }
  return args;
}

/**
 * Builds the topology under testPrefix(tag) with a pod behind every node and a VTEP on every node: the
 * kernel's for kind 'kernel' (MTU 1450, as `ip link add ... dev eth0` gives), `startUser` for kind 'user'.
 * On failure tears down what it made and rethrows.
 */
export async function buildMixedPods(
  tag: string,
  startUser: (topo: Topology, node: MixedNode, args: string[]) => Promise<void>,
  nodes: readonly MixedNode[] = MIXED_NODES,
): Promise<Topology> {
  const t = await buildTopology({
    prefix: testPrefix(tag),
    nodes: nodes.map((n) => ({ name: n.name, underlayIp: n.underlay, underlayPrefix: 24 })),
  });
  try {
    for (const n of nodes) await t.addPodNamespace(n.name, mixedPodOf(n), `${mixedPodIp(n)}/24`, `${n.podNet}.1`);
    for (const self of nodes) {
      const peers = nodes.filter((p) => p !== self);
      if (self.kind === 'kernel') {
        await addKernelVtep(t, self.name, {
          name: 'vxlan-test', vni: 10001, dstport: 4899, mac: self.mac, addr: `${self.overlay}/24`, mtu: 1450,
          fdb: peers.map((p) => ({ mac: p.mac, dst: p.underlay })),
          neigh: peers.map((p) => ({ ip: p.overlay, mac: p.mac })),
          routes: peers.map((p) => ({ cidr: `${p.podNet}.0/24`, via: p.overlay })),
        });
      } else {
        await startUser(t, self, mixedUserArgs(self, nodes));
      }
    }
    return t;
  } catch (e) {
    await t.teardown();
    throw e;
  }
}

/** Sets the MTU of the pod link behind `n`, both ends (as a CNI plugin does), and drops cached PMTUs. */
export async function setMixedPodMtu(t: Topology, n: MixedNode, mtu: number): Promise<void> {
  const pod = t.pods().find((p) => p.name === mixedPodOf(n))!;
  await t.exec(n.name, 'ip', ['link', 'set', pod.nodeIfname, 'mtu', String(mtu)]);
  await t.exec(pod.name, 'ip', ['link', 'set', 'eth0', 'mtu', String(mtu)]);
  for (const host of [n.name, pod.name]) await t.exec(host, 'ip', ['route', 'flush', 'cache']);
}
