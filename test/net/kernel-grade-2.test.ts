// Kernel-grade behaviour, part 2 (issue 3): ECN through the tunnel, UDP checksum options and an IPv6 underlay,
// observed on real namespaces and compared with (or run against) the kernel's vxlan device. Each test builds its
// own topology and tears it down.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addKernelVtep, netTestGate, type Topology } from '../../src/testbed/index.js';
import { assertBuilt, NetSession, type RunningVtep } from './vtep-process.js';
import { N1, N2, type SeedNode } from './seed-nodes.js';
import { capture, underlay6 } from './capture.js';

const gate = netTestGate();
type Node = SeedNode;
const DEV = 'vxlan-test';

const net = new NetSession();

/** IPv6 stays off on the overlay devices unless the test needs it (see NetSession.topology). */
const topology = (tag: string, nodes: Node[], innerIpv6 = false): Promise<Topology> => net.topology(tag, nodes, { ipv6: innerIpv6 });

/** A kernel vxlan device on `self` peering with `peer`, created with extra `ip link add` words. */
async function kernelPeer(t: Topology, self: Node, peer: Node, extra: string[]): Promise<void> {
  const ip = (...a: string[]) => t.exec(self.name, 'ip', a);
  await ip('link', 'add', DEV, 'type', 'vxlan', 'id', '10001', 'dstport', '4899', 'local', self.underlay, 'dev', 'eth0', 'nolearning', ...extra);
  await ip('link', 'set', 'dev', DEV, 'address', self.mac);
  await ip('addr', 'add', `${self.overlay}/24`, 'dev', DEV);
  await ip('link', 'set', DEV, 'up');
  await ip('neigh', 'replace', peer.overlay, 'lladdr', peer.mac, 'dev', DEV, 'nud', 'permanent');
  await t.exec(self.name, 'bridge', ['fdb', 'append', peer.mac, 'dst', peer.underlay, 'dev', DEV]);
}

/**
 * One tshark field of the VXLAN datagrams from `src` captured on `node`'s eth0 while `action` runs: the first
 * datagram's (`stop` = 'first'), or all seen within 3 s (`stop` = 'time').
 */
async function tsharkField(t: Topology, node: Node, src: Node, field: string, stop: 'first' | 'time', action: () => Promise<unknown>): Promise<string[]> {
  const until = stop === 'first' ? ['-c', '1'] : ['-a', 'duration:3'];
  const tshark = t.spawn(node.name, 'tshark', ['-l', '-i', 'eth0', ...until, '-f', `udp dst port 4899 and src host ${src.underlay}`, '-T', 'fields', '-e', field]);
  let out = '';
  let err = '';
  tshark.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  tshark.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<void>((r) => tshark.once('exit', () => r()));
  for (let i = 0; i < 200 && !/Capturing on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
  await action();
  const timer = setTimeout(() => tshark.kill('SIGTERM'), 5000);
  await done;
  clearTimeout(timer);
  return out.trim().split('\n');
}

/** The UDP checksum field of the first VXLAN datagram from `src` on `node`'s eth0 while `action` runs. */
async function udpChecksum(t: Topology, node: Node, src: Node, action: () => Promise<unknown>): Promise<string> {
  return (await tsharkField(t, node, src, 'udp.checksum', 'first', action))[0] ?? '';
}

async function ping(t: Topology, from: Node, to: string, count = 2): Promise<string> {
  return (await t.exec(from.name, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to])).stdout;
}

/** Sends 1 MiB over TCP (socat) from `from` to `to`'s overlay address and compares the bytes. */
async function tcpOnce(t: Topology, from: Node, to: Node, port: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vxut-kg2-'));
  try {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    writeFileSync(src, randomBytes(1 << 20));
    const server = t.spawn(to.name, 'socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, `CREATE:${dst}`]);
    const serverDone = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
    for (let i = 0; i < 50; i++) {
      if ((await t.exec(to.name, 'ss', ['-ltn', `sport = :${port}`])).stdout.includes(`:${port}`)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await t.exec(from.name, 'socat', ['-u', `OPEN:${src}`, `TCP:${to.overlay}:${port},connect-timeout=5`], { timeoutMs: 60_000 });
    expect(await serverDone).toBe(0);
    expect(readFileSync(dst).equals(readFileSync(src))).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function base(self: Node, peer: Node): string[] {
  return [
    '--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', self.underlay, '--mac', self.mac, '--addr', `${self.overlay}/24`,
    '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`,
  ];
}

const up = (t: Topology, node: Node, args: string[]): Promise<RunningVtep> => net.up(t, node, args);

/** The outer TOS bytes of the VXLAN datagrams from `src` seen on `node`'s eth0 while `from` pings with -Q tos. */
async function outerTos(t: Topology, capNode: Node, src: Node, from: Node, to: string, qos: number): Promise<string> {
  const out = await capture(t, capNode, 'eth0', `udp dst port 4899 and src host ${src.underlay}`, 1, () =>
    t.exec(from.name, 'ping', ['-c', '1', '-W', '1', '-Q', String(qos), to], { check: false }),
  );
  const m = /tos (0x[0-9a-f]+)/.exec(out);
  return m?.[1] ?? `none in: ${out}`;
}

describe.skipIf(gate.skip)('kernel-grade behaviour, part 2, on real namespaces', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterEach(() => net.cleanup());

  it('ECN encapsulation: the outer ECN follows the inner one (CE leaves as ECT(0)), byte for byte as the kernel vxlan device', async () => {
    const t = await topology('ecn-enc', [N1, N2]);
    await up(t, N1, [...base(N1, N2), '--tos', '32']);
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
    await up(t, N1, [...base(N1, N2), '--tos', 'inherit']);
    expect(await outerTos(t, N1, N1, N1, N2.overlay, 0xb9)).toBe('0xb9');
    expect(await outerTos(t, N1, N1, N1, N2.overlay, 0xbb)).toBe('0xba');
    expect(await outerTos(t, N1, N1, N1, N2.overlay, 0x00)).toBe('0x0');
  });

  it('ECN decapsulation: outer CE marks an ECT inner packet CE (valid IPv4 checksum), drops a Not-ECT one (rx_ecn_not_ect)', async () => {
    const t = await topology('ecn-dec', [N1, N2]);
    const a = await up(t, N1, base(N1, N2));
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
  it('--noudpcsum: zero outer UDP checksums on the wire, GSO reported off, a kernel peer (udpcsum default) talks to it', async () => {
    const t = await topology('csum4', [N1, N2]);
    const a = await up(t, N1, [...base(N1, N2), '--noudpcsum']);
    expect(a.stderr()).toMatch(/UDP GSO off \(--noudpcsum: the kernel refuses UDP_SEGMENT without checksums\)/);
    await kernelPeer(t, N2, N1, []);
    expect(await udpChecksum(t, N2, N1, () => ping(t, N1, N2.overlay))).toBe('0x0000');
    expect(await udpChecksum(t, N1, N2, () => ping(t, N2, N1.overlay))).not.toBe('0x0000'); // the kernel's default
    await tcpOnce(t, N1, N2, 5201);
    await tcpOnce(t, N2, N1, 5202);
  });

  it('IPv6 underlay: interop with the kernel vxlan device (ping and TCP both ways), --udp6zerocsumtx/rx against the kernel\'s', async () => {
    const t = await topology('ul6', [N1, N2]);
    const [M1, M2] = (await underlay6(t, [N1, N2])) as [Node, Node];
    const a = await up(t, M1, [...base(M1, M2), '--udp6zerocsumtx', '--udp6zerocsumrx']);
    expect(a.stderr()).toMatch(/UDP GSO off \(--udp6zerocsumtx/);
    await kernelPeer(t, M2, M1, ['udp6zerocsumtx', 'udp6zerocsumrx']);
    await ping(t, M1, M2.overlay);
    await ping(t, M2, M1.overlay);
    expect(await udpChecksum(t, M2, M1, () => ping(t, M1, M2.overlay))).toBe('0x0000');
    expect(await udpChecksum(t, M1, M2, () => ping(t, M2, M1.overlay))).toBe('0x0000');
    await tcpOnce(t, M1, M2, 5203);
    await tcpOnce(t, M2, M1, 5204);
    const c = await a.counters();
    expect(c.rx_packets).toBeGreaterThan(100);
  });

  it('IPv6 underlay with checksums (the default) against the kernel device', async () => {
    const t = await topology('ul6c', [N1, N2]);
    const [M1, M2] = (await underlay6(t, [N1, N2])) as [Node, Node];
    await up(t, M1, base(M1, M2));
    await kernelPeer(t, M2, M1, []);
    expect(await udpChecksum(t, M2, M1, () => ping(t, M1, M2.overlay))).not.toBe('0x0000');
    await tcpOnce(t, M1, M2, 5205);
    await tcpOnce(t, M2, M1, 5206);
  });
  it('NDP proxy: an inner IPv6 ping whose neighbour solicitation is answered on the TAP (ndp_proxied)', async () => {
    const t = await topology('ndp', [N1, N2], true);
    const v6 = (n: Node): string => `2001:db8::${n.overlay.split('.')[3]}`;
    const args = (self: Node, peer: Node): string[] => [...base(self, peer), '--addr', `${v6(self)}/64`, '--neigh', `${v6(peer)}=${peer.mac}`];
    const a = await up(t, N1, args(N1, N2));
    await up(t, N2, args(N2, N1));
    for (const n of [N1, N2]) {
      for (let i = 0; i < 60; i++) {
        if ((await t.exec(n.name, 'ip', ['-6', 'addr', 'show', 'dev', DEV, 'tentative'])).stdout.trim() === '') break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const out = (await t.exec(N1.name, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', v6(N2)])).stdout;
    expect(out).toMatch(/2 received/);
    expect((await a.counters()).ndp_proxied).toBeGreaterThanOrEqual(1);
    expect((await t.exec(N1.name, 'ip', ['-6', 'neigh', 'show', v6(N2), 'dev', DEV])).stdout).toContain(`lladdr ${N2.mac}`);
  });
  it('--srcport: 64 inner flows leave from many source ports inside the range, one flow from one port; a kernel peer receives them', async () => {
    const t = await topology('srcport', [N1, N2]);
    const a = await up(t, N1, [...base(N1, N2), '--srcport', '40000-40063']);
    expect(a.stderr()).toMatch(/--srcport: 16 sending sockets/);
    await kernelPeer(t, N2, N1, []);
    const ports = async (flows: number, perFlow: number): Promise<number[]> => {
      const py = `
import socket
for i in range(${flows}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('${N1.overlay}', 20000 + i))
    for _ in range(${perFlow}):
        s.sendto(b'flow', ('${N2.overlay}', 9))
    s.close()
`;
      // Over a veth, a UDP GSO train (consecutive datagrams of one socket) is captured as one packet: so the
      // capture runs for a fixed time and only distinct ports are compared; delivery is checked at the peer.
      const out = await tsharkField(t, N2, N1, 'udp.srcport', 'time', () => t.exec(N1.name, 'python3', ['-c', py]));
      return out.map(Number);
    };
    await ping(t, N1, N2.overlay, 1); // underlay ARP resolved before counting
    const many = await ports(64, 1);
    expect(many.length).toBeGreaterThanOrEqual(16);
    expect(many.every((p) => p >= 40000 && p <= 40063)).toBe(true);
    expect(new Set(many).size).toBeGreaterThanOrEqual(8);
    const one = await ports(1, 20);
    expect(one.length).toBeGreaterThanOrEqual(1);
    expect(new Set(one).size).toBe(1);
    // The kernel peer takes them (it listens on 4899 whatever the source port): its device counts them.
    const rx = Number((await t.exec(N2.name, 'cat', [`/sys/class/net/${DEV}/statistics/rx_packets`])).stdout.trim());
    expect(rx).toBeGreaterThanOrEqual(84);
  });
});
