// Integration tests on the real thing: network namespaces joined by a veth underlay, real TAP devices, real
// UDP, and the kernel's vxlan driver as an interop peer. Needs root; in CI a missing privilege fails the run.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addKernelVtep, netTestGate, type Topology } from '../../src/testbed/index.js';
import { ping, tcpTransfer } from './probes.js';
import { N1, N2, N3, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();

type Node = SeedNode;

/** vxlan-user options for `self` with static FDB + neighbours for `peers` (the seed recipe's shape). */
function staticArgs(self: Node, peers: Node[], vni = 10001): string[] {
  const args = ['--vni', String(vni), '--name', 'vxlan-test', '--dstport', '4899', '--local', self.underlay];
  args.push('--mac', self.mac, '--addr', `${self.overlay}/24`);
  for (const p of peers) args.push('--neigh', `${p.overlay}=${p.mac}`, '--fdb', `${p.mac}=${p.underlay}`);
  return args;
}

const net = new NetSession();

const topology = (tag: string, nodes: Node[]): Promise<Topology> => net.topology(tag, nodes);

const up = (t: Topology, node: Node, args: string[]): Promise<RunningVtep> => net.up(t, node, args);

describe.skipIf(gate.skip)('vxlan-user on real namespaces', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterEach(() => net.cleanup());

  it('two vxlan-user nodes: ping both ways and a 50 MiB TCP transfer, bytes checked', async () => {
    const t = await topology('pair', [N1, N2]);
    const a = await up(t, N1, staticArgs(N1, [N2]));
    await up(t, N2, staticArgs(N2, [N1]));
    expect(a.readyLine).toMatch(/^ready: vxlan-test vni 10001 udp 192\.168\.0\.21:4899/);
    await ping(t, N1, N2.overlay);
    await ping(t, N2, N1.overlay);
    await tcpTransfer(t, N1, N2, N2.overlay, 50, 5001);
    const c = await a.counters();
    expect(c.tx_packets).toBeGreaterThan(1000);
    expect(c.rx_packets).toBeGreaterThan(100);
    // Static neighbours: ARP never left the host, and nothing needed flooding.
    expect(c.tx_flood_frames).toBe(0);
  });

  it('the plain path (--offload off) and the dgram fallback (--io dgram) carry TCP too, bytes checked', async () => {
    const t = await topology('plain', [N1, N2]);
    const a = await up(t, N1, [...staticArgs(N1, [N2]), '--offload', 'off']);
    await up(t, N2, [...staticArgs(N2, [N1]), '--io', 'dgram']);
    expect(a.stderr()).toContain('offloads off (--offload off): plain path');
    await tcpTransfer(t, N1, N2, N2.overlay, 10, 5004);
    await tcpTransfer(t, N2, N1, N1.overlay, 10, 5005);
    const c = await a.counters();
    expect(c.tx_tso_frames).toBe(0);
    expect(c.rx_coalesced_frames).toBe(0);
    expect(c.tx_packets).toBeGreaterThan(7000); // 10 MiB in MSS-sized datagrams, one each
  });

  it('interoperates with the kernel vxlan device: ping and TCP both ways', async () => {
    const t = await topology('kern', [N1, N2]);
    await up(t, N1, staticArgs(N1, [N2]));
    await addKernelVtep(t, N2.name, {
      name: 'vxlan-test',
      vni: 10001,
      dstport: 4899,
      local: N2.underlay,
      mac: N2.mac,
      addr: `${N2.overlay}/24`,
      fdb: [{ mac: N1.mac, dst: N1.underlay }],
      neigh: [{ ip: N1.overlay, mac: N1.mac }],
    });
    await ping(t, N1, N2.overlay);
    await ping(t, N2, N1.overlay);
    // TCP from the kernel node is the case that breaks without checksum handling (DESIGN.md §7).
    await tcpTransfer(t, N2, N1, N1.overlay, 20, 5002);
    await tcpTransfer(t, N1, N2, N2.overlay, 20, 5003);
  });

  it('three nodes with only --remote default destinations: ARP floods and every node reaches every other', async () => {
    const nodes = [N1, N2, N3];
    const t = await topology('flood', nodes);
    const vteps: RunningVtep[] = [];
    for (const self of nodes) {
      const args = ['--vni', '10001', '--name', 'vxlan-test', '--dstport', '4899', '--local', self.underlay];
      args.push('--mac', self.mac, '--addr', `${self.overlay}/24`);
      for (const p of nodes) if (p !== self) args.push('--remote', p.underlay);
      vteps.push(await up(t, self, args));
    }
    for (const from of nodes) for (const to of nodes) if (from !== to) await ping(t, from, to.overlay, 2);
    const c = await vteps[0]!.counters();
    expect(c.tx_flood_frames).toBeGreaterThan(0);
    // Head-end replication: one copy per default destination.
    expect(c.tx_flood_copies).toBe(2 * c.tx_flood_frames!);
    expect(c.arp_proxied).toBe(0);
  });

  it('a peer on another VNI gets nothing, and its counters say why', async () => {
    const t = await topology('vni', [N1, N2]);
    await up(t, N1, staticArgs(N1, [N2], 10001));
    const b = await up(t, N2, staticArgs(N2, [N1], 10002));
    await expect(ping(t, N1, N2.overlay, 2)).rejects.toThrow();
    const c = await b.counters();
    expect(c.rx_wrong_vni).toBeGreaterThanOrEqual(2);
    expect(c.rx_packets).toBe(0);
  });

  it('SIGTERM removes the routes and the TAP device and exits 0 within 5 s', async () => {
    const t = await topology('term', [N1, N2]);
    const a = await up(t, N1, [...staticArgs(N1, [N2]), '--route', `10.234.118.0/24=${N2.overlay}`]);
    const routes = await t.exec(N1.name, 'ip', ['route', 'show', '10.234.118.0/24']);
    expect(routes.stdout).toContain('via 179.17.1.31 dev vxlan-test');
    const t0 = Date.now();
    const { code, stderr } = await a.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(stderr).toMatch(/"event":"stop"/);
    expect((await t.exec(N1.name, 'ip', ['route', 'show', '10.234.118.0/24'])).stdout.trim()).toBe('');
    expect((await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain('vxlan-test');
  });

  it('a start that fails halfway (a route the host refuses) undoes everything it did', async () => {
    const t = await topology('half', [N1, N2]);
    // A pre-existing route makes the second --route fail after the first one was installed.
    await t.exec(N1.name, 'ip', ['route', 'add', '10.8.0.0/24', 'dev', 'eth0']);
    const r = await runCli(
      ['up', ...staticArgs(N1, [N2]), '--route', `10.9.0.0/24=${N2.overlay}`, '--route', `10.8.0.0/24=${N2.overlay}`],
      { ns: t.nsOf(N1.name) },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vxlan-user: cannot add route 10\.8\.0\.0\/24 via 179\.17\.1\.31/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).not.toContain('ready:');
    const routes = (await t.exec(N1.name, 'ip', ['route', 'show'])).stdout;
    expect(routes).not.toContain('10.9.0.0/24');
    expect(routes).toContain('10.8.0.0/24 dev eth0');
    expect((await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain('vxlan-test');
  });

  it('refuses a UDP port that is already in use, with exit 2 and nothing left behind', async () => {
    const t = await topology('port', [N1, N2]);
    const holder = t.spawn(N1.name, 'socat', ['-u', `UDP-RECV:4899,bind=${N1.underlay}`, '/dev/null']);
    for (let i = 0; i < 50; i++) {
      if ((await t.exec(N1.name, 'ss', ['-uln', 'sport = :4899'])).stdout.includes(':4899')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await runCli(['up', ...staticArgs(N1, [N2])], { ns: t.nsOf(N1.name) });
    holder.kill('SIGTERM');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('UDP port 4899 on 192.168.0.21 is already in use');
    expect((await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain('vxlan-test');
  });

  it('refuses to run without CAP_NET_ADMIN (an unprivileged user), with exit 2 and nothing left behind', async () => {
    const t = await topology('priv', [N1, N2]);
    const r = await runCli(['up', '--vni', '10001', '--name', 'vxlan-test'], {
      ns: t.nsOf(N1.name),
      wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'],
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('permission denied; vxlan-user up needs root or CAP_NET_ADMIN');
    expect((await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain('vxlan-test');
  });

  it('refuses a --local address the host does not have, and an existing device name', async () => {
    const t = await topology('bad', [N1, N2]);
    const r1 = await runCli(['up', '--vni', '1', '--local', '192.168.0.99'], { ns: t.nsOf(N1.name) });
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('--local 192.168.0.99 is not an address of this host');
    const r2 = await runCli(['up', '--vni', '1', '--name', 'eth0'], { ns: t.nsOf(N1.name) });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('a network device named eth0 already exists');
  });
});
