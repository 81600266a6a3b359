// ECN through the tunnel (RFC 6040, as the kernel's vxlan device does it), on real namespaces: the outer ECN
// field on encapsulation (with a fixed --tos and with --tos inherit) and the inner one on decapsulation,
// compared byte for byte with the kernel's device where it takes part.
import { expect, it } from 'vitest';
import { addKernelVtep, type Topology } from '../../src/testbed/index.js';
import { capture } from './probes.js';
import { DEV, N1, N2, seedArgs, type SeedNode as Node } from './seed-nodes.js';
import { describeNet, NetSession } from './vtep-process.js';

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes, { ipv6: false });
const up = (t: Topology, node: Node, args: string[]) => net.up(t, node, args);

/** The outer TOS bytes of the VXLAN datagrams from `src` seen on `capNode`'s eth0 while `from` pings with -Q tos. */
async function outerTos(t: Topology, capNode: Node, src: Node, from: Node, to: string, qos: number): Promise<string> {
  const out = await capture(t, capNode, 'eth0', `udp dst port 4899 and src host ${src.underlay}`, 1, () =>
    t.exec(from.name, 'ping', ['-c', '1', '-W', '1', '-Q', String(qos), to], { check: false }),
  );
  const m = /tos (0x[0-9a-f]+)/.exec(out);
  return m?.[1] ?? `none in: ${out}`;
}

describeNet('ECN on real namespaces', net, () => {
  it('ECN encapsulation: the outer ECN follows the inner one (CE leaves as ECT(0)), byte for byte as the kernel vxlan device', async () => {
    const t = await topology('ecn-enc', [N1, N2]);
    await up(t, N1, [...seedArgs(N1, N2), '--tos', '32']);
    await addKernelVtep(t, N2.name, {
      name: DEV, vni: 10001, dstport: 4899, mac: N2.mac, addr: `${N2.overlay}/24`,
      fdb: [{ mac: N1.mac, dst: N1.underlay }], neigh: [{ ip: N1.overlay, mac: N1.mac }],
    });
    // iproute2 reads a TOS in hex (rtnl_dsfield_a2n): 20 is our decimal 32.
    await t.exec(N2.name, 'ip', ['link', 'set', DEV, 'type', 'vxlan', 'tos', '20']);
    // inner TOS (ping -Q) → outer TOS: DSCP from --tos 32, ECN from the inner packet, CE → ECT(0).
    const want: [number, string][] = [[0x00, '0x20'], [0x01, '0x21'], [0x02, '0x22'], [0x03, '0x22'], [0xb9, '0x21']];
    for (const [q, outer] of want) {
      expect(await outerTos(t, N2, N1, N1, N2.overlay, q), `vxlan-user, inner tos ${q}`).toBe(outer);
      expect(await outerTos(t, N1, N2, N2, N1.overlay, q), `kernel, inner tos ${q}`).toBe(outer);
    }
  });

  it('--tos inherit copies the inner DSCP, ECN as above', async () => {
    const t = await topology('ecn-inh', [N1, N2]);
    await up(t, N1, [...seedArgs(N1, N2), '--tos', 'inherit']);
    expect(await outerTos(t, N1, N1, N1, N2.overlay, 0xb9)).toBe('0xb9');
    expect(await outerTos(t, N1, N1, N1, N2.overlay, 0xbb)).toBe('0xba');
    expect(await outerTos(t, N1, N1, N1, N2.overlay, 0x00)).toBe('0x0');
  });

  it('ECN decapsulation: outer CE marks an ECT inner packet CE (valid IPv4 checksum), drops a Not-ECT one (rx_ecn_not_ect)', async () => {
    const t = await topology('ecn-dec', [N1, N2]);
    const a = await up(t, N1, seedArgs(N1, N2));
    // Datagrams from n2 with a chosen outer TOS (a plain UDP socket with IP_TOS), each carrying an ICMP echo
    // request n2 → n1 whose inner TOS is given.
    const py = `
import socket, struct
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def frame(tos, seq):
    icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'ecn-test'
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, tos, 20 + len(icmp), seq, 0, 64, 1, 0, socket.inet_aton('${N2.overlay}'), socket.inet_aton('${N1.overlay}'))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return bytes.fromhex('${N1.mac.replaceAll(':', '')}${N2.mac.replaceAll(':', '')}0800') + ip + icmp
vx = bytes.fromhex('0800000000271100')
for outer, inner, seq in [(3, 2, 1), (3, 0, 2), (1, 2, 3), (0, 1, 4)]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, outer)
    s.bind(('${N2.underlay}', 0))
    s.sendto(vx + frame(inner, seq), ('${N1.underlay}', 4899))
    s.close()
`;
    const out = await capture(t, N1, DEV, 'icmp[icmptype] = 8', 3, () => t.exec(N2.name, 'python3', ['-c', py]));
    // seq 1: outer CE over ECT(0) → CE; seq 2: dropped; seq 3: outer ECT(1) over ECT(0) → ECT(1); seq 4 untouched.
    expect(out).toMatch(/tos 0x3,[^\n]*id 1,/);
    expect(out).not.toMatch(/id 2,/);
    expect(out).toMatch(/tos 0x1,[^\n]*id 3,/);
    expect(out).toMatch(/tos 0x1,[^\n]*id 4,/);
    expect(out).not.toMatch(/bad cksum/);
    const c = await a.counters();
    expect(c.rx_ecn_not_ect).toBe(1);
    expect(c.rx_datagrams).toBeGreaterThanOrEqual(4);
  });
});
