// vxlan-user explain: route, neighbour, FDB row, ports and outer headers of one packet, computed from the
// seed overlay (examples/overlay.yaml) without a network; drops and the node's own addresses; bad input.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { UsageError, VxlanUserError } from '../../src/control/config/errors.js';
import { explain, formatExplanation, vxlanHeaderHex, type Explanation } from '../../src/control/tools/explain.js';
import { overlayContext } from '../../src/cli/plan.js';
import { runExplain, splitExplainArgs } from '../../src/cli/explain.js';

const EXAMPLE = new URL('../../examples/overlay.yaml', import.meta.url).pathname;

function on(node: string, dest: string, ...extra: string[]): Explanation {
  const argv = ['--config', EXAMPLE, '--node', node, ...extra];
  const r = parseUpArgs(argv);
  if (r.help) throw new Error('unexpected help');
  return explain(r.config, dest, overlayContext(argv));
}

function usage(argv: string[]): VxlanUserError {
  let caught: unknown;
  try {
    runExplain(argv);
  } catch (e) {
    caught = e;
  }
  expect(caught, argv.join(' ')).toBeInstanceOf(UsageError);
  const e = caught as VxlanUserError;
  expect(e.exitCode).toBe(2);
  expect(e.message).not.toContain('\n');
  return e;
}

describe('explain: a pod IP in another cluster', () => {
  const e = on('multicluster-test-001', '10.235.88.10');

  it('takes the pod route via the peer overlay IP, the proxy-ARP answer and the FDB row of node 003', () => {
    expect(e.verdict).toBe('encap');
    expect(e.route).toMatchObject({ cidr: '10.235.88.0/24', via: '179.17.1.16' });
    expect(e.route?.node?.node).toBe('multicluster-test-003');
    expect(e.nextHop).toBe('179.17.1.16');
    expect(e.neigh).toMatchObject({ ip: '179.17.1.16', mac: '36:f9:67:c0:70:1c' });
    expect(e.mac).toBe('36:f9:67:c0:70:1c');
    expect(e.fdb).toHaveLength(1);
    expect(e.fdb?.[0]).toMatchObject({ ip: '192.168.0.16', port: 4899, vni: 10001 });
  });

  it('carries the outer headers the demo capture shows: 192.168.0.21.4899 > 192.168.0.16.4899, VXLAN 08 00 00 00 00 27 11 00', () => {
    const o = e.outer?.[0];
    expect(o).toMatchObject({ family: 4, src: '192.168.0.21', dst: '192.168.0.16', srcPort: 4899, dstPort: 4899, vni: 10001, df: 'unset', tos: 0, udpChecksum: true });
    expect(o?.ttl).toBeUndefined(); // the route's default (64 in the capture)
    // Bytes from docs/walkthrough.md's capture (underlay frame, offset 0x2a), written out by hand.
    expect(o?.vxlanHex).toBe('08 00 00 00 00 27 11 00');
    expect(o?.innerDst).toBe('36:f9:67:c0:70:1c');
    expect(o?.innerSrc).toBe('c2:6a:9b:e5:39:8d');
    const text = formatExplanation(e, overlayContext(['--config', EXAMPLE, '--node', 'multicluster-test-001']));
    expect(text).toContain('10.235.88.0/24 via 179.17.1.16 dev vxlan-test');
    expect(text).toContain('179.17.1.16 is-at 36:f9:67:c0:70:1c');
    expect(text).toContain('36:f9:67:c0:70:1c -> dst 192.168.0.16 port 4899 vni 10001');
    expect(text).toContain('source port 4899');
    expect(text).toContain('+50 bytes');
  });

  it('takes the source and destination port from --dstport; the VXLAN header bytes for other VNIs', () => {
    const x = on('multicluster-test-001', '10.235.88.10', '--dstport', '8472');
    expect(x.outer?.[0]).toMatchObject({ srcPort: 8472, dstPort: 8472 });
    expect(vxlanHeaderHex(1)).toBe('08 00 00 00 00 00 01 00');
    expect(vxlanHeaderHex(4096)).toBe('08 00 00 00 00 10 00 00');
    expect(vxlanHeaderHex(0xffffff)).toBe('08 00 00 00 ff ff ff 00');
  });

  it('with --srcport MIN-MAX the source port is in the range, picked by the inner flow', () => {
    const e = on('multicluster-test-001', '10.235.88.10', '--srcport', '40000-40007');
    expect(e.outer?.[0]).toMatchObject({ srcPort: 40000, srcRange: { min: 40000, max: 40007 }, dstPort: 4899 });
    expect(e.steps.join('\n')).toContain('source port in 40000-40007');
  });

  it('works from every node to every other node’s pod', () => {
    const nodes = ['001', '002', '003', '004', '005', '006'].map((s) => `multicluster-test-${s}`);
    const pods = ['10.234.111.7', '10.234.118.7', '10.235.88.7', '10.235.113.7', '10.236.115.7', '10.236.106.7'];
    const locals = ['192.168.0.21', '192.168.0.31', '192.168.0.16', '192.168.0.44', '192.168.0.15', '192.168.0.13'];
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 6; j++) {
        const x = on(nodes[i]!, pods[j]!);
        if (i === j) expect(x.verdict).toBe('local');
        else expect(x.outer?.[0]).toMatchObject({ src: locals[i], dst: locals[j] });
      }
    }
  });
});

describe('explain: an overlay IP and a MAC', () => {
  it('an overlay IP takes the connected overlay route: the next hop is the destination itself', () => {
    const e = on('multicluster-test-004', '179.17.1.31');
    expect(e.verdict).toBe('encap');
    expect(e.route).toEqual({ cidr: '179.17.1.0/24' });
    expect(e.nextHop).toBe('179.17.1.31');
    expect(e.neigh).toMatchObject({ ip: '179.17.1.31', mac: '7a:3a:fe:45:a3:76' });
    expect(e.outer?.[0]).toMatchObject({ src: '192.168.0.44', dst: '192.168.0.31' });
  });

  it('a MAC goes straight to the FDB (no route, no neighbour); upper case is accepted, dashes are not (grammar.ts)', () => {
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001', 'BA-A7-54-AA-BC-CE']).message).toContain('neither a MAC address');
    const e = on('multicluster-test-001', 'BA:A7:54:AA:BC:CE');
    expect(e.kind).toBe('mac');
    expect(e.route).toBeUndefined();
    expect(e.neigh).toBeUndefined();
    expect(e.fdb?.[0]).toMatchObject({ ip: '192.168.0.15', port: 4899, vni: 10001 });
    expect(e.fdb?.[0]?.node?.node).toBe('multicluster-test-005');
  });

  it('an FDB row with its own port goes to that port, still from --dstport', () => {
    const e = on('multicluster-test-001', '02:00:00:00:00:09', '--fdb', '02:00:00:00:00:09=192.168.0.99:4789');
    expect(e.outer?.[0]).toMatchObject({ dst: '192.168.0.99', dstPort: 4789, srcPort: 4899 });
  });
});

describe('explain: an IPv6 overlay address', () => {
  it('takes the connected IPv6 subnet and the NDP proxy answer; an unknown one is a tx_fdb_miss', () => {
    const extra = ['--addr', 'fd00:17::21/64', '--neigh', 'fd00:17::31=7a:3a:fe:45:a3:76'];
    const e = on('multicluster-test-001', 'fd00:17::31', ...extra);
    expect(e.verdict).toBe('encap');
    expect(e.route).toEqual({ cidr: 'fd00:17::/64' });
    expect(e.neigh).toMatchObject({ ip: 'fd00:17::31', mac: '7a:3a:fe:45:a3:76' });
    expect(e.steps.join('\n')).toContain('NDP proxy');
    expect(e.outer?.[0]).toMatchObject({ family: 4, dst: '192.168.0.31' }); // the underlay stays IPv4
    const u = on('multicluster-test-001', 'fd00:17::99', ...extra);
    expect(u.drop?.counter).toBe('tx_fdb_miss');
    // The solicitation goes to the solicited-node group's MAC (RFC 4861: ff02::1:ff00:99 -> 33:33:ff:00:00:99).
    expect(u.mac).toBe('33:33:ff:00:00:99');
  });
});

describe('explain: destinations that are dropped or not tunnelled', () => {
  it('no tunnel route: never reaches vxlan-user; names the kernel counters', () => {
    const e = on('multicluster-test-001', '10.99.0.1');
    expect(e.verdict).toBe('not-tunnel');
    expect(e.drop?.counter).toContain('IpOutNoRoutes');
    expect(e.steps.join('\n')).toContain('no route through vxlan-test covers 10.99.0.1');
  });

  it('an unknown overlay IP: the ARP request has nowhere to go (tx_fdb_miss)', () => {
    const e = on('multicluster-test-001', '179.17.1.99');
    expect(e.verdict).toBe('drop');
    expect(e.drop?.counter).toBe('tx_fdb_miss');
    expect(e.neigh).toBeUndefined();
    expect(e.mac).toBe('ff:ff:ff:ff:ff:ff');
    const f = on('multicluster-test-001', '179.17.1.99', '--remote', '192.168.0.44');
    expect(f.verdict).toBe('flood');
    expect(f.outer?.[0]).toMatchObject({ dst: '192.168.0.44', innerDst: 'ff:ff:ff:ff:ff:ff' });
  });

  it('an unknown MAC without default destinations: tx_fdb_miss; with --remote: flooded to each', () => {
    const d = on('multicluster-test-001', '02:00:00:00:00:01');
    expect(d.verdict).toBe('drop');
    expect(d.drop?.counter).toBe('tx_fdb_miss');
    const f = on('multicluster-test-001', '02:00:00:00:00:01', '--remote', '192.168.0.31', '--remote', '192.168.0.16');
    expect(f.verdict).toBe('flood');
    expect(f.fdb?.map((r) => r.ip)).toEqual(['192.168.0.31', '192.168.0.16']);
    expect(f.outer).toHaveLength(2);
  });

  it('broadcast: the subnet broadcast address maps to ff:ff:ff:ff:ff:ff and floods or drops', () => {
    const e = on('multicluster-test-001', '179.17.1.255');
    expect(e.mac).toBe('ff:ff:ff:ff:ff:ff');
    expect(e.drop?.counter).toBe('tx_fdb_miss');
    const f = on('multicluster-test-001', 'ff:ff:ff:ff:ff:ff', '--remote', '192.168.0.44');
    expect(f.verdict).toBe('flood');
  });
});

describe('explain: a destination on the node itself', () => {
  it('its overlay IP, underlay IP, own pods and VTEP MAC are local', () => {
    for (const d of ['179.17.1.21', '192.168.0.21', '10.234.111.10', 'c2:6a:9b:e5:39:8d']) {
      const e = on('multicluster-test-001', d);
      expect(e.verdict, d).toBe('local');
      expect(e.outer, d).toBeUndefined();
    }
  });
});

describe('explain: bad input (exit 2, one sentence)', () => {
  it('a DEST that is neither a MAC nor an IP', () => {
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001', 'bogus']).message).toContain('neither a MAC address');
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001', '10.1']).message).toContain('neither a MAC address');
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001', '00:00:00:00:00:00']).message).toContain('all-zeros');
  });

  it('no DEST, two DESTs, an unknown node, an unknown option', () => {
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001']).message).toContain('needs DEST');
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001', '1.2.3.4', '5.6.7.8']).message).toContain('one DEST');
    expect(usage(['--config', EXAMPLE, '--node', 'multicluster-test-001', '--bogus', 'x', '1.2.3.4']).message).toContain('--bogus');
    let caught: unknown;
    try {
      runExplain(['--config', EXAMPLE, '--node', 'nope', '1.2.3.4']);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(VxlanUserError);
    expect((caught as VxlanUserError).exitCode).toBe(2);
    expect((caught as Error).message).toContain('--node nope is not in');
  });

  it('splits DEST from flag values (including after --) and boolean flags', () => {
    expect(splitExplainArgs(['--config', 'f', '--node', 'n', '10.0.0.1']).dest).toBe('10.0.0.1');
    expect(splitExplainArgs(['--quiet', '10.0.0.1', '--config', 'f']).dest).toBe('10.0.0.1');
    expect(splitExplainArgs(['--config=f', '--', '10.0.0.1'])).toMatchObject({ dest: '10.0.0.1', upArgs: ['--config=f'] });
  });
});

describe('explain: the command', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vxlan-user-explain-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the explanation, or JSON with --json, and exits 0', () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    try {
      expect(runExplain(['--config', EXAMPLE, '--node', 'multicluster-test-001', '10.235.88.10'])).toBe(0);
      expect(runExplain(['--json', '--config', EXAMPLE, '--node', 'multicluster-test-001', '10.235.88.10'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out[0]).toContain('multicluster-test-001 (test-cluster1) -> 10.235.88.10: encapsulated to 192.168.0.16:4899');
    const j = JSON.parse(out[1]!) as { verdict: string; route: { node: string } };
    expect(j.verdict).toBe('encap');
    expect(j.route.node).toBe('multicluster-test-003');
  });

  it('works on a single-node config too (no overlay labels, no own pods)', () => {
    const f = join(dir, 'node.yaml');
    writeFileSync(
      f,
      'version: 1\nvni: 10001\ndstport: 4899\nname: vxlan-test\nlocal: 192.168.0.21\nmac: c2:6a:9b:e5:39:8d\naddr: [179.17.1.21/24]\n' +
        'neigh: ["179.17.1.31=7a:3a:fe:45:a3:76"]\nfdb: ["7a:3a:fe:45:a3:76=192.168.0.31"]\nroute: ["10.234.118.0/24=179.17.1.31"]\n',
    );
    const r = parseUpArgs(['--config', f]);
    if (r.help) throw new Error('unexpected help');
    const e = explain(r.config, '10.234.118.5', overlayContext(['--config', f]));
    expect(e.verdict).toBe('encap');
    expect(e.outer?.[0]).toMatchObject({ src: '192.168.0.21', dst: '192.168.0.31', srcPort: 4899, dstPort: 4899 });
  });
});
