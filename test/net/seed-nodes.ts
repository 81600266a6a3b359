import type { Topology } from '../../src/testbed/index.js';

// The seed topology's three nodes (underlay 192.168.0.0/24, overlay 179.17.1.0/24), shared by network tests.
export interface SeedNode {
  readonly name: string;
  readonly underlay: string;
  readonly overlay: string;
  readonly mac: string;
}
export const N1: SeedNode = { name: 'n1', underlay: '192.168.0.21', overlay: '179.17.1.21', mac: 'c2:6a:9b:e5:39:8d' };
export const N2: SeedNode = { name: 'n2', underlay: '192.168.0.31', overlay: '179.17.1.31', mac: '7a:3a:fe:45:a3:76' };
export const N3: SeedNode = { name: 'n3', underlay: '192.168.0.16', overlay: '179.17.1.16', mac: '36:f9:67:c0:70:1c' };

/** The overlay device name every seed-topology test uses. */
export const DEV = 'vxlan-test';

/**
 * `vxlan-user up` arguments for `self` in the seed overlay (VNI 10001, port 4899); with `peer`, the static
 * neighbour and FDB row that reach it.
 */
export function seedArgs(self: SeedNode, peer?: SeedNode): string[] {
  const own = ['--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', self.underlay, '--mac', self.mac, '--addr', `${self.overlay}/24`];
  return peer === undefined ? own : [...own, '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`];
}

/** A kernel vxlan device on `self` peering with `peer` (the seed overlay), created with extra `ip link add` words. */
export async function kernelPeer(t: Topology, self: SeedNode, peer: SeedNode, extra: readonly string[]): Promise<void> {
  const ip = (...a: string[]) => t.exec(self.name, 'ip', a);
  await ip('link', 'add', DEV, 'type', 'vxlan', 'id', '10001', 'dstport', '4899', 'local', self.underlay, 'dev', 'eth0', 'nolearning', ...extra);
  await ip('link', 'set', 'dev', DEV, 'address', self.mac);
  await ip('addr', 'add', `${self.overlay}/24`, 'dev', DEV);
  await ip('link', 'set', DEV, 'up');
  await ip('neigh', 'replace', peer.overlay, 'lladdr', peer.mac, 'dev', DEV, 'nud', 'permanent');
  await t.exec(self.name, 'bridge', ['fdb', 'append', peer.mac, 'dst', peer.underlay, 'dev', DEV]);
}
