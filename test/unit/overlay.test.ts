// The whole-overlay form of --config (nodes:): derivation for every node of the seed example, node selection,
// every validation error, and plan's output (readable and --as-kernel).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { loadOverlay } from '../../src/control/config/file.js';
import type { UpConfig } from '../../src/control/config/config-types.js';
import { ConfigError, UsageError } from '../../src/control/config/errors.js';
import { selectNode } from '../../src/control/config/overlay.js';
import { formatKernelScript, formatPlan, kernelCommands, underlayFromAddrs } from '../../src/control/tools/plan.js';

const EXAMPLE = new URL('../../examples/overlay.yaml', import.meta.url).pathname;

/** The seed table from the issue, written out independently of examples/overlay.yaml. */
const SEED = [
  ['multicluster-test-001', 'test-cluster1', '192.168.0.21', '179.17.1.21', 'c2:6a:9b:e5:39:8d', '10.234.111.0/24'],
  ['multicluster-test-002', 'test-cluster1', '192.168.0.31', '179.17.1.31', '7a:3a:fe:45:a3:76', '10.234.118.0/24'],
  ['multicluster-test-003', 'test-cluster2', '192.168.0.16', '179.17.1.16', '36:f9:67:c0:70:1c', '10.235.88.0/24'],
  ['multicluster-test-004', 'test-cluster2', '192.168.0.44', '179.17.1.44', '12:d1:df:44:3d:aa', '10.235.113.0/24'],
  ['multicluster-test-005', 'test-cluster3', '192.168.0.15', '179.17.1.15', 'ba:a7:54:aa:bc:ce', '10.236.115.0/24'],
  ['multicluster-test-006', 'test-cluster3', '192.168.0.13', '179.17.1.13', '4e:ac:f5:6f:4e:76', '10.236.106.0/24'],
] as const;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vxlan-user-overlay-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string): string {
  const p = join(dir, `ov-${++n}.yaml`);
  writeFileSync(p, text);
  return p;
}

function up(...argv: string[]): UpConfig {
  const r = parseUpArgs(argv);
  if (r.help) throw new Error('unexpected help');
  return r.config;
}

function refused(argv: string[], cls: typeof ConfigError | typeof UsageError, ...fragments: string[]): string {
  let caught: unknown;
  try {
    parseUpArgs(argv);
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name} for ${argv.join(' ')}`).toBeInstanceOf(cls);
  const msg = (caught as Error).message;
  for (const f of fragments) expect(msg).toContain(f);
  expect(msg).not.toContain('\n');
  return msg;
}

/** A small valid overlay; `patch` edits the node rows (as YAML flow mappings) or adds top-level lines. */
function overlay(rows: string[], top = ''): string {
  return file(`version: 1\nvni: 42\ndstport: 4789\n${top}nodes:\n${rows.map((r) => `  - ${r}`).join('\n')}\n`);
}
const A = '{ node: a, local: 10.0.0.1, addr: 172.16.0.1/24, mac: 02:00:00:00:00:01, pods: [10.1.0.0/24] }';
const B = '{ node: b, local: 10.0.0.2, addr: 172.16.0.2/24, mac: 02:00:00:00:00:02, pods: [10.2.0.0/24, 10.3.0.0/24] }';

describe('examples/overlay.yaml: derivation for every node', () => {
  for (const [name, , local, ip, mac] of SEED) {
    it(name, () => {
      const c = up('--config', EXAMPLE, '--node', name);
      expect(c.vni).toBe(10001);
      expect(c.dstport).toBe(4899);
      expect(c.name).toBe('vxlan-test');
      expect(c.local).toBe(local);
      expect(c.mac).toBe(mac);
      expect(c.addr).toEqual([`${ip}/24`]);
      expect(c.remote).toEqual([]);
      const others = SEED.filter((s) => s[0] !== name);
      expect(c.neigh.map((x) => `${x.ip}=${x.mac}`)).toEqual(others.map((o) => `${o[3]}=${o[4]}`));
      expect(c.fdb.map((x) => `${x.mac}=${x.ip}${x.port ?? ''}${x.vni ?? ''}`)).toEqual(others.map((o) => `${o[4]}=${o[2]}`));
      expect(c.route.map((x) => `${x.cidr}=${x.gateway}`)).toEqual(others.map((o) => `${o[5]}=${o[3]}`));
      // Never a route to our own pods, a neighbour for our own address, or an FDB row to ourselves.
      expect(c.route.some((r) => r.gateway === ip)).toBe(false);
      expect(c.fdb.some((f) => f.ip === local)).toBe(false);
    });
  }

  it('loadOverlay keeps clusters and pods; the overlay subnet is computed', () => {
    const ov = loadOverlay(EXAMPLE);
    expect(ov.subnet).toBe('179.17.1.0/24');
    expect(ov.nodes.map((x) => [x.node, x.cluster, x.local, x.ip, x.mac, x.pods[0]])).toEqual(SEED.map((s) => [...s]));
  });

  it('flags still override scalars and add to the derived lists', () => {
    const c = up('--config', EXAMPLE, '--node', 'multicluster-test-001', '--dstport', '4789', '--route', '10.99.0.0/16=179.17.1.31');
    expect(c.dstport).toBe(4789);
    expect(c.route.at(-1)).toEqual({ cidr: '10.99.0.0/16', gateway: '179.17.1.31' });
  });

  it('a flag that contradicts a derived row names where the row came from', () => {
    refused(
      ['--config', EXAMPLE, '--node', 'multicluster-test-001', '--route', '10.234.118.0/24=179.17.1.16'],
      ConfigError,
      '--route 10.234.118.0/24=179.17.1.16 conflicts with route (derived from nodes[1] (multicluster-test-002))',
      'two gateways',
    );
  });
});

describe('picking the node', () => {
  it('by the underlay address found on the host', () => {
    const ov = loadOverlay(EXAMPLE);
    expect(selectNode(ov, undefined, () => ['127.0.0.1', '192.168.0.44', 'fe80::1']).node).toBe('multicluster-test-004');
  });
  it('no address matches: says so and asks for --node', () => {
    const ov = loadOverlay(EXAMPLE);
    expect(() => selectNode(ov, undefined, () => ['127.0.0.1'])).toThrow(/none of their underlay addresses .* is on this host: say which node this is with --node NAME/);
  });
  it('two addresses match: refuses to guess', () => {
    const ov = loadOverlay(EXAMPLE);
    expect(() => selectNode(ov, undefined, () => ['192.168.0.21', '192.168.0.31'])).toThrow(/several nodes' underlay addresses are on this host/);
  });
  it('a node that is not in the file', () => {
    refused(['--config', EXAMPLE, '--node', 'multicluster-test-007'], ConfigError, '--node multicluster-test-007 is not in', 'its nodes are multicluster-test-001,');
  });
  it('--node without a file, and with a single-node file', () => {
    refused(['--vni', '1', '--node', 'a'], UsageError, '--node a needs --config FILE in the whole-overlay form');
    const single = file('version: 1\nvni: 1\n');
    refused(['--config', single, '--node', 'a'], UsageError, 'describes one node (no nodes: list)');
  });
});

describe('validation errors, each named', () => {
  const cases: [string, string[], string, ...string[]][] = [
    ['duplicate MAC', [A, B.replace('02:00:00:00:00:02', '02:00:00:00:00:01')], '', 'nodes[1] (b) mac 02:00:00:00:00:01 is also the MAC of nodes[0] (a)'],
    ['duplicate underlay IP', [A, B.replace('10.0.0.2', '10.0.0.1')], '', 'nodes[1] (b) local 10.0.0.1 is also the underlay address of nodes[0] (a)'],
    ['duplicate overlay IP', [A, B.replace('172.16.0.2', '172.16.0.1')], '', 'nodes[1] (b) addr 172.16.0.1/24 has the same overlay IP as nodes[0] (a)'],
    ['duplicate node name', [A, B.replace('node: b', 'node: a')], '', 'nodes[1] (a) has the same name as nodes[0]'],
    ['overlapping pod subnets', [A, B.replace('10.3.0.0/24', '10.1.0.0/16')], '', 'nodes[1] (b) pods 10.1.0.0/16 overlaps pods 10.1.0.0/24 of nodes[0] (a)'],
    ['pod subnets of one node overlap', [A, B.replace('10.3.0.0/24', '10.2.0.128/25')], '', 'overlaps its own pods 10.2.0.0/24'],
    ['overlay IPs outside one subnet', [A, B.replace('172.16.0.2/24', '172.16.1.2/24')], '', 'nodes[1] (b) addr 172.16.1.2/24 is not in the overlay subnet 172.16.0.0/24 of nodes[0] (a)'],
    ['overlay prefix lengths differ', [A, B.replace('172.16.0.2/24', '172.16.0.2/25')], '', 'is not in the overlay subnet 172.16.0.0/24'],
    ['pod subnet overlaps the overlay', [A, B.replace('10.3.0.0/24', '172.16.0.0/16')], '', 'pods 172.16.0.0/16 overlaps the overlay subnet 172.16.0.0/24'],
    ['pod subnet holds an underlay IP', [A, B.replace('10.3.0.0/24', '10.0.0.0/24')], '', 'pods 10.0.0.0/24 contains the underlay address 10.0.0.1 of nodes[0] (a)'],
    ['mixed underlay families', [A, B.replace('10.0.0.2', '2001:db8::2')], '', 'local 2001:db8::2 is IPv6 but nodes[0] (a) is IPv4'],
    ['IPv6 overlay address', [A.replace('172.16.0.1/24', '2001:db8::1/64')], '', 'addr 2001:db8::1/64 is IPv6', 'proxy-ARP'],
    ['overlay address without prefix', [A.replace('172.16.0.1/24', '172.16.0.1')], '', 'nodes[0] (a) addr 172.16.0.1 has no prefix length'],
    ['overlay network address', [A.replace('172.16.0.1/24', '172.16.0.0/24')], '', 'is the network address of its subnet'],
    ['malformed MAC', [A.replace('02:00:00:00:00:01', '02:00:00:00:01')], '', 'nodes[0] (a) mac 02:00:00:00:01 is a malformed MAC address: expected six hex octets'],
    ['multicast MAC', [A.replace('02:00:00:00:00:01', '03:00:00:00:00:01')], '', 'is a multicast MAC'],
    ['malformed underlay IP', [A.replace('10.0.0.1', '10.0.1')], '', 'nodes[0] (a) local 10.0.1 is a malformed underlay IP address'],
    ['multicast underlay IP', [A.replace('10.0.0.1', '239.1.1.1')], '', 'local 239.1.1.1 is a multicast group'],
    ['malformed pod subnet', [A.replace('10.1.0.0/24', '10.1.0.0/33')], '', 'pods 10.1.0.0/33 has a bad prefix length'],
    ['missing key', [A.replace(', mac: 02:00:00:00:00:01', '')], '', "nodes[0] (a) lacks the key 'mac'"],
    ['unknown node key', [A.replace('node: a,', 'node: a, underlay: 1.2.3.4,')], '', "nodes[0] (a) has an unknown key 'underlay'"],
    ['node entry not a mapping', ['just-a-name'], '', 'nodes[0] must be a mapping'],
    ['bad node name', [A.replace('node: a', 'node: "a b"')], '', 'is not a node name'],
    ['per-node key at the top', [A], 'local: 10.0.0.9\n', "'local' is a per-node key in the whole-overlay form"],
    ['derived key at the top', [A], 'fdb: [02:00:00:00:00:09=10.0.0.9]\n', "'fdb' is derived from nodes:"],
    ['unknown top-level key', [A], 'vnid: 1\n', "has an unknown key 'vnid'"],
  ];
  for (const [what, rows, top, ...fragments] of cases) {
    it(what, () => {
      refused(['--config', overlay(rows, top), '--node', 'a'], ConfigError, ...fragments);
    });
  }
  it('an empty nodes list', () => {
    refused(['--config', file('version: 1\nvni: 1\nnodes: []\n'), '--node', 'a'], ConfigError, 'nodes must be a non-empty list');
  });
  it('a bad shared value is refused like in the single-node form', () => {
    refused(['--config', overlay([A, B], 'vni: 16777216\n'.replace('vni', 'mtu')), '--node', 'a'], ConfigError, 'mtu 16777216 in');
  });
  it('the whole file is checked, not only the chosen node', () => {
    refused(['--config', overlay([A, B.replace('02:00:00:00:00:02', 'zz')]), '--node', 'a'], ConfigError, 'nodes[1] (b) mac zz');
  });
});

describe('plan', () => {
  it('--as-kernel: iproute2 commands in apply order, no net-tools', () => {
    const c = up('--config', EXAMPLE, '--node', 'multicluster-test-002');
    const cmds = kernelCommands(c).map((x) => x.join(' '));
    expect(cmds[0]).toBe('ip link add vxlan-test type vxlan id 10001 dstport 4899 local 192.168.0.31 nolearning ageing 300 udpcsum');
    // mtu always: a kernel device left at 1500 fragments its outer packets on a 1500-byte underlay.
    expect(cmds).toContain('ip link set dev vxlan-test address 7a:3a:fe:45:a3:76 mtu 1450');
    expect(cmds).toContain('ip addr add 179.17.1.31/24 dev vxlan-test');
    expect(cmds).toContain('ip neigh replace 179.17.1.21 lladdr c2:6a:9b:e5:39:8d dev vxlan-test nud permanent');
    expect(cmds).toContain('bridge fdb append c2:6a:9b:e5:39:8d dst 192.168.0.21 dev vxlan-test');
    expect(cmds).toContain('ip route replace 10.234.111.0/24 via 179.17.1.21 dev vxlan-test');
    expect(cmds.indexOf('ip link set dev vxlan-test up')).toBeLessThan(cmds.findIndex((x) => x.startsWith('ip route')));
    expect(cmds.filter((x) => x.startsWith('ip neigh'))).toHaveLength(5);
    expect(cmds.filter((x) => x.startsWith('bridge fdb'))).toHaveLength(5);
    expect(cmds.filter((x) => x.startsWith('ip route'))).toHaveLength(5);
    const script = formatKernelScript(c, 'node 002');
    expect(script).not.toMatch(/^(arp|route) /m);
    expect(script).toMatch(/^# undo with: ip link del vxlan-test|undo with: ip link del vxlan-test$/m);
  });
  it('ports and VNIs other than the defaults appear on the fdb rows; remotes as the all-zeros entry', () => {
    const c = up('--vni', '5', '--dstport', '4789', '--fdb', '02:00:00:00:00:09=10.0.0.9:8472', '--remote', '10.0.0.8');
    const cmds = kernelCommands(c).map((x) => x.join(' '));
    expect(cmds).toContain('bridge fdb append 02:00:00:00:00:09 dst 10.0.0.9 port 8472 dev vxlan0');
    expect(cmds).toContain('bridge fdb append 00:00:00:00:00:00 dst 10.0.0.8 dev vxlan0');
  });
  it('--as-kernel writes out every option with a kernel equivalent, in the kernel\'s spelling', () => {
    const c = up('--vni', '7', '--local', '10.0.0.1', '--remote', '10.0.0.2', '--learning', '--ageing', '30', '--ttl', '9', '--tos', '32', '--df', 'inherit', '--srcport', '40000-40999', '--noudpcsum');
    const [add] = kernelCommands(c, { dev: 'eth1', mtu: 9000 }).map((x) => x.join(' '));
    // tos 32 (decimal) is 0x20 to iproute2 (hex); srcport's MAX becomes exclusive.
    expect(add).toBe('ip link add vxlan0 type vxlan id 7 dstport 4789 local 10.0.0.1 dev eth1 srcport 40000 41000 ttl 9 tos 0x20 df inherit learning ageing 30 noudpcsum');
    expect(kernelCommands(c, { dev: 'eth1', mtu: 9000 }).map((x) => x.join(' '))).toContain('ip link set dev vxlan0 mtu 8950');
    expect(kernelCommands(up('--vni', '7', '--tos', 'inherit', '--remote', '10.0.0.2'))[0]!.join(' ')).toContain(' tos inherit ');
  });
  it('--as-kernel on an IPv6 underlay: the IPv6 checksum flags and MTU − 70', () => {
    const c = up('--vni', '7', '--local', 'fd00::1', '--remote', 'fd00::2', '--udp6zerocsumtx');
    const cmds = kernelCommands(c).map((x) => x.join(' '));
    expect(cmds[0]).toMatch(/ nolearning ageing 300 udp6zerocsumtx noudp6zerocsumrx$/);
    expect(cmds).toContain('ip link set dev vxlan0 mtu 1430');
  });
  it('--as-kernel finds dev and its MTU in ip -j addr output; --mtu wins', () => {
    const addrs = JSON.stringify([
      { ifname: 'lo', mtu: 65536, addr_info: [{ local: '127.0.0.1', prefixlen: 8 }] },
      { ifname: 'eth7', mtu: 1400, addr_info: [{ local: '10.0.0.1', prefixlen: 24 }] },
    ]);
    const c = up('--vni', '7', '--local', '10.0.0.1', '--remote', '10.0.0.2');
    expect(underlayFromAddrs(c, addrs)).toEqual({ dev: 'eth7', mtu: 1400 });
    expect(underlayFromAddrs(up('--vni', '7', '--dev', 'lo', '--remote', '10.0.0.2'), addrs)).toEqual({ dev: 'lo', mtu: 65536 });
    expect(underlayFromAddrs(up('--vni', '7', '--local', '10.9.9.9', '--remote', '10.0.0.2'), addrs)).toEqual({});
    const script = formatKernelScript(c, 't', underlayFromAddrs(c, addrs));
    expect(script).toContain('local 10.0.0.1 dev eth7 ');
    expect(script).toContain('ip link set dev vxlan0 mtu 1350');
    expect(script).not.toContain('# no dev');
    const mtu = up('--vni', '7', '--local', '10.0.0.1', '--remote', '10.0.0.2', '--mtu', '1200');
    expect(kernelCommands(mtu, underlayFromAddrs(mtu, addrs)).map((x) => x.join(' '))).toContain('ip link set dev vxlan0 mtu 1200');
  });
  it('--as-kernel names what the kernel has no equivalent for, and what it had to assume', () => {
    const c = up('--vni', '7', '--local', '10.0.0.1', '--remote', '10.0.0.2', '--peers-only', '--offload', 'off', '--trace');
    const script = formatKernelScript(c, 't');
    expect(script).toMatch(/^# no kernel equivalent: --peers-only \(.*\), --offload off, --trace$/m);
    expect(script).toMatch(/^# no dev: 10\.0\.0\.1 is not an address of this host/m);
    expect(script).toMatch(/^# mtu 1450 assumes a 1500-byte underlay/m);
    expect(formatKernelScript(up('--vni', '7', '--remote', '10.0.0.2'), 't')).not.toContain('no kernel equivalent');
  });
  it('the readable plan labels rows with the node they come from and gives the equivalent flags', () => {
    const ov = loadOverlay(EXAMPLE);
    const self = selectNode(ov, 'multicluster-test-005');
    const text = formatPlan(up('--config', EXAMPLE, '--node', 'multicluster-test-005'), ov, self);
    expect(text).toContain('multicluster-test-005 (test-cluster3): node 5 of 6');
    expect(text).toMatch(/10\.234\.111\.0\/24 +via +179\.17\.1\.21 +multicluster-test-001 \(test-cluster1\)/);
    expect(text).toMatch(/12:d1:df:44:3d:aa +-> +192\.168\.0\.44:4899 +multicluster-test-004/);
    expect(text).toContain('vxlan-user up --vni 10001 --name vxlan-test --dstport 4899 --local 192.168.0.15');
  });
});
