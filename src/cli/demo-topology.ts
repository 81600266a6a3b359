/**
 * A whole overlay (the `nodes:` form of --config) as network namespaces: one namespace per node on one
 * underlay switch, and one "pod" namespace behind each node that has pod subnets (a veth, the pod at
 * `<subnet>.10`, the node at `<subnet>.1` as its default gateway). Used by `vxlan-user demo` and the tests.
 *
 * ```
 *   pod (10.234.111.10) ── vp0 ─ node 001 (eth0 192.168.0.21) ─┐              ┌─ node 004 ─ vp0 ── pod (10.235.113.10)
 *                                                               ├─ switch br0 ─┤
 *                                                         ...  ─┘              └─  ...
 * ```
 * The VTEPs (vxlan-user or the kernel's vxlan) are started by the caller; this only builds the wiring.
 */
import ipaddr from 'ipaddr.js';
import type { Overlay, OverlayNode } from '../control/config/overlay.js';
import { buildTopology, type PodInfo, type Topology } from '../testbed/topology.js';

export interface OverlayHost {
  readonly node: OverlayNode;
  /** Testbed host name of the node (its namespace is `${prefix}-${host}`). */
  readonly host: string;
  /** Its pod, when the node has a pod subnet. */
  readonly pod?: PodInfo & { readonly ip: string };
}

export interface OverlayTestbed {
  readonly topo: Topology;
  readonly hosts: readonly OverlayHost[];
  hostOf(node: string): OverlayHost;
}

const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,27}$/;

/** The underlay prefix length: the common prefix of all underlay addresses, at most /24 (at least /8). */
export function underlayPrefix(ov: Overlay): number {
  const bytes = ov.nodes.map((n) => ipaddr.parse(n.local).toByteArray());
  let p = 0;
  const first = bytes[0]!;
  outer: for (let bit = 0; bit < first.length * 8; bit++) {
    const mask = 0x80 >> (bit % 8);
    for (const b of bytes) if (((b[bit >> 3]! ^ first[bit >> 3]!) & mask) !== 0) break outer;
    p = bit + 1;
  }
  return Math.max(8, Math.min(24, p));
}

/** The network address of `ip/prefix`. */
function networkText(ip: string, prefix: number): string {
  const b = ipaddr.parse(ip).toByteArray();
  for (let i = 0; i < b.length; i++) b[i] = b[i]! & (0xff << (8 - Math.max(0, Math.min(8, prefix - i * 8)))) & 0xff;
  return ipaddr.fromByteArray(b).toString();
}

/** `10.234.111.0/24` → the address `n` hosts into it: `10.234.111.10` for n = 10. */
export function hostInSubnet(cidr: string, n: number): string {
  const [net] = ipaddr.parseCIDR(cidr);
  const b = net.toByteArray();
  let carry = n;
  for (let i = b.length - 1; i >= 0 && carry > 0; i--) {
    const v = b[i]! + carry;
    b[i] = v & 0xff;
    carry = v >> 8;
  }
  return ipaddr.fromByteArray(b).toString();
}

/**
 * Builds the namespaces for `ov` under `prefix`. `progress` is told what is being built. On failure,
 * whatever was made is torn down before the promise rejects (buildTopology's contract).
 */
export async function buildOverlayTestbed(
  ov: Overlay,
  prefix: string,
  progress: (what: string) => void = () => {},
): Promise<OverlayTestbed> {
  const names = ov.nodes.map((n, i) => (HOST_RE.test(n.node) ? n.node : `n${i + 1}`));
  const plen = underlayPrefix(ov);
  progress(`underlay: a switch and ${ov.nodes.length} node namespaces on ${networkText(ov.nodes[0]!.local, plen)}/${plen}`);
  const topo = await buildTopology({
    prefix,
    nodes: ov.nodes.map((n, i) => ({ name: names[i]!, underlayIp: n.local, underlayPrefix: plen })),
  });
  const hosts: OverlayHost[] = [];
  try {
    for (let i = 0; i < ov.nodes.length; i++) {
      const node = ov.nodes[i]!;
      const host = names[i]!;
      const subnet = node.pods[0];
      if (subnet === undefined) {
        hosts.push({ node, host });
        continue;
      }
      const plenPod = subnet.split('/')[1]!;
      const ip = hostInSubnet(subnet, 10);
      progress(`pod behind ${node.node}: ${ip}/${plenPod}, gateway ${hostInSubnet(subnet, 1)}`);
      const pod = await topo.addPodNamespace(host, `${host}-pod`, `${ip}/${plenPod}`, hostInSubnet(subnet, 1));
      hosts.push({ node, host, pod: { ...pod, ip } });
    }
  } catch (e) {
    await topo.teardown();
    throw e;
  }
  return {
    topo,
    hosts,
    hostOf(name: string): OverlayHost {
      const h = hosts.find((x) => x.node.node === name);
      if (h === undefined) throw new Error(`the overlay has no node ${name}`);
      return h;
    },
  };
}
