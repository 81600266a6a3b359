/**
 * The kernel's own VTEP on a testbed node, set up exactly as our users' recipe does it (issue 2), so interop
 * tests and A/B benchmarks compare vxlan-user against the real thing:
 * ```
 * ip link add NAME type vxlan id VNI dstport P local IP dev eth0 nolearning
 * ip link set dev NAME address MAC
 * ip addr add CIDR dev NAME
 * ip link set NAME up
 * ip neigh replace IP lladdr MAC dev NAME nud permanent        (arp -s)
 * bridge fdb append MAC dst IP dev NAME                         (remotes: MAC 00:00:00:00:00:00)
 * ip route replace CIDR via GW dev NAME                         (route add -net)
 * ```
 * The device lives in the node's namespace and disappears with it; removeKernelVtep() deletes it earlier.
 */
import type { Topology } from './topology.js';

export interface KernelVtepOptions {
  /** Device name (at most 15 characters), e.g. 'vxlan-test'. */
  name: string;
  vni: number;
  dstport: number;
  /** Underlay address to send from. Default: the node's underlay IP. */
  local?: string;
  /** Underlay device. Default 'eth0' (the testbed's underlay veth). */
  dev?: string;
  mac: string;
  /** Overlay address with prefix length, e.g. '179.17.1.21/24'. */
  addr: string;
  mtu?: number;
  /** Static unicast FDB entries: inner MAC → underlay IP of its VTEP. */
  fdb?: { mac: string; dst: string }[];
  /** Default destinations (the all-zeros FDB entry): flood / unknown-unicast copies go to each. */
  remotes?: string[];
  /** Permanent neighbours (static ARP). */
  neigh?: { ip: string; mac: string }[];
  /** Routes through the device, added after it is up. */
  routes?: { cidr: string; via: string }[];
}

export const ZERO_MAC = '00:00:00:00:00:00';

/** Creates and configures a kernel vxlan device in `node`'s namespace; rejects with the failing command's stderr. */
export async function addKernelVtep(topo: Topology, node: string, opts: KernelVtepOptions): Promise<void> {
  const ip = (...args: string[]) => topo.exec(node, 'ip', args);
  const bridge = (...args: string[]) => topo.exec(node, 'bridge', args);
  const name = opts.name;
  const local = opts.local ?? topo.underlayIpOf(node);
  await ip(
    'link', 'add', name, 'type', 'vxlan', 'id', String(opts.vni), 'dstport', String(opts.dstport),
    'local', local, 'dev', opts.dev ?? 'eth0', 'nolearning',
  );
  await ip('link', 'set', 'dev', name, 'address', opts.mac);
  await ip('addr', 'add', opts.addr, 'dev', name);
  if (opts.mtu !== undefined) await ip('link', 'set', 'dev', name, 'mtu', String(opts.mtu));
  await ip('link', 'set', name, 'up');
  for (const n of opts.neigh ?? []) {
    await ip('neigh', 'replace', n.ip, 'lladdr', n.mac, 'dev', name, 'nud', 'permanent');
  }
  for (const r of opts.remotes ?? []) {
    await bridge('fdb', 'append', ZERO_MAC, 'dst', r, 'dev', name);
  }
  for (const f of opts.fdb ?? []) {
    await bridge('fdb', 'append', f.mac, 'dst', f.dst, 'dev', name);
  }
  for (const r of opts.routes ?? []) {
    await ip('route', 'replace', r.cidr, 'via', r.via, 'dev', name);
  }
}

/** Deletes a kernel vxlan device (and with it its FDB, neighbours and routes). Resolves if it is already gone. */
export async function removeKernelVtep(topo: Topology, node: string, name: string): Promise<void> {
  await topo.exec(node, 'ip', ['link', 'del', 'dev', name], { check: false });
}
