// The kernel's l2_tos_ttl_inherit.sh, written for our testbed (issue 12): outer IPv4/IPv6 × inner IPv4/IPv6/ARP
// × inherit/fixed × no VLAN/VLAN 99. vxlan-user runs on n1, the kernel's vxlan device with the same options on
// n2; the same inner frames leave each (an ICMP echo with a chosen TOS and TTL, an ARP frame), untagged or with
// an 802.1Q tag for VLAN 99, and tcpdump on each underlay reads the outer TOS and TTL. Both must equal what
// the kernel's rules give (ip_tunnel_get_dsfield / ip_tunnel_get_ttl past the VLAN tag since 7074732c8fae;
// ECN as INET_ECN_encapsulate; non-IP: TOS 0, TTL 64 with inherit).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, type Topology } from '../../src/testbed/index.js';
import { capture, underlay6 } from './probes.js';
import { N1, N2, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession } from './vtep-process.js';

const gate = netTestGate();
const net = new NetSession();
const DEV = 'vxlan-test';
type Node = SeedNode;

/** The inner packets: a ping with this TOS / traffic class and TTL / hop limit, or an ARP frame. */
const INNER = {
  v4: { tos: 0xb9, ttl: 33 }, // DSCP 46 with ECT(1)
  v6: { tos: 0x2a, ttl: 201 }, // DSCP 10 with ECT(0)
} as const;
type Inner = 'v4' | 'v6' | 'arp';
/** Fixed mode: --ttl 20 --tos 32 (the kernel: ttl 20 tos 20, hex). */
const FIXED = { tos: 0x20, ttl: 20 };

/** What the kernel's rules give for the outer header. */
function expected(inner: Inner, inherit: boolean): { tos: number; ttl: number } {
  const ecnOut = (t: number): number => ((t & 3) === 3 ? 2 : t & 3); // INET_ECN_encapsulate: CE leaves as ECT(0)
  if (inner === 'arp') return inherit ? { tos: 0, ttl: 64 } : FIXED;
  const i = INNER[inner];
  return inherit ? { tos: (i.tos & ~3) | ecnOut(i.tos), ttl: i.ttl } : { tos: FIXED.tos | ecnOut(i.tos), ttl: FIXED.ttl };
}

const macHex = (m: string): string => m.replaceAll(':', '');

/**
 * One inner frame from `self` to `peer`'s MAC, written into `self`'s overlay device with AF_PACKET as if its
 * host stack sent it — with an inline 802.1Q tag, VID 99, when `vlan` (this kernel has no 8021q module for a
 * VLAN device; AF_PACKET points the kernel's network header past the tag, as the VLAN driver would): an ICMP
 * echo in IPv4 or IPv6 with INNER's TOS and TTL, or an ARP request.
 */
async function send(t: Topology, self: Node, peer: Node, inner: Inner, vlan: boolean): Promise<void> {
  const eth = `${macHex(peer.mac)}${macHex(self.mac)}${vlan ? '81000063' : ''}`;
  const b = (n: number): string => n.toString(16).padStart(2, '0');
  let l3: string;
  if (inner === 'v4') l3 = `0800 45${b(INNER.v4.tos)}001c 00014000 ${b(INNER.v4.ttl)}010000 b3110115 b311011f 0800f7fe00010000`;
  else if (inner === 'v6') {
    const tc = INNER.v6.tos;
    l3 = `86dd 6${b(tc).charAt(0)}${b(tc).charAt(1)}00000 0008 3a${b(INNER.v6.ttl)} fd100000000000000000000000000021 fd100000000000000000000000000031 8000 0000 0001 0001`;
  } else l3 = `0806 0001080006040001 ${macHex(self.mac)} b3110115 000000000000 b311014d`;
  const frame = (eth + l3).replaceAll(' ', '');
  const py = `import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${DEV}', 0)); s.send(bytes.fromhex('${frame}'))`;
  await t.exec(self.name, 'python3', ['-c', py]);
}

/** The outer TOS and TTL of the first VXLAN datagram from `self` while it sends `inner`. */
async function outer(t: Topology, self: Node, peer: Node, inner: Inner, vlan: boolean): Promise<{ tos: number; ttl: number }> {
  const out = await capture(t, self, 'eth0', `udp dst port 4899 and src host ${self.underlay}`, 1, () => send(t, self, peer, inner, vlan));
  const line = out.split('\n')[0] ?? '';
  const tos = /(?:tos|class) (0x[0-9a-f]+)/.exec(line)?.[1] ?? '0x0'; // tcpdump leaves out a zero traffic class
  const ttl = /(?:ttl|hlim) (\d+)/.exec(line)?.[1];
  if (ttl === undefined) throw new Error(`no outer header from ${self.name} in: ${out}`);
  return { tos: Number(tos), ttl: Number(ttl) };
}

async function matrix(outerV6: boolean): Promise<void> {
  const t = await net.topology(outerV6 ? 'inh6' : 'inh4', [N1, N2], { ipv6: false });
  const [a, b] = outerV6 ? ((await underlay6(t, [N1, N2])) as [Node, Node]) : [N1, N2];
  const dst = (n: Node): string => (outerV6 ? `[${n.underlay}]` : n.underlay);
  for (const inherit of [true, false]) {
    const opts = inherit ? ['--ttl', 'inherit', '--tos', 'inherit'] : ['--ttl', String(FIXED.ttl), '--tos', String(FIXED.tos)];
    const v = await net.up(t, a, [
      '--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', a.underlay, '--mac', a.mac,
      '--fdb', `${b.mac}=${dst(b)}`, '--quiet', ...opts,
    ]);
    const kernelOpts = inherit ? ['ttl', 'inherit', 'tos', 'inherit'] : ['ttl', String(FIXED.ttl), 'tos', FIXED.tos.toString(16)];
    const kip = (...x: string[]) => t.exec(b.name, 'ip', x);
    await kip('link', 'add', DEV, 'type', 'vxlan', 'id', '10001', 'dstport', '4899', 'local', b.underlay, 'dev', 'eth0', 'nolearning', ...kernelOpts);
    await kip('link', 'set', 'dev', DEV, 'address', b.mac, 'up');
    await t.exec(b.name, 'bridge', ['fdb', 'append', a.mac, 'dst', a.underlay, 'dev', DEV]);
    for (const vlan of [false, true]) {
      for (const inner of ['v4', 'v6', 'arp'] as const) {
        const what = `outer IPv${outerV6 ? 6 : 4}, inner ${inner}, ${inherit ? 'inherit' : 'fixed'}, ${vlan ? 'VLAN 99' : 'no VLAN'}`;
        const want = expected(inner, inherit);
        expect(await outer(t, b, a, inner, vlan), `kernel: ${what}`).toEqual(want);
        expect(await outer(t, a, b, inner, vlan), `vxlan-user: ${what}`).toEqual(want);
      }
    }
    await v.stop('SIGTERM');
    await kip('link', 'del', DEV);
  }
}

describe.skipIf(gate.skip)('TOS and TTL inherit (l2_tos_ttl_inherit.sh), against the kernel device', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterEach(() => net.cleanup());

  it('outer IPv4: inner IPv4/IPv6/ARP × inherit/fixed × no VLAN/VLAN 99', () => matrix(false), 180_000);
  it('outer IPv6: inner IPv4/IPv6/ARP × inherit/fixed × no VLAN/VLAN 99', () => matrix(true), 180_000);
});
