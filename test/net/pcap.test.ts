// --trace and --pcap on real namespaces: two nodes of a small overlay file, a pod-to-pod ping, then the trace
// lines on stderr and tshark's dissection of the pcapng (VXLAN on port 4899 via -d, VNI, I flag, inner ICMP,
// real underlay MACs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOverlay } from '../../src/control/config/file.js';
import { netTestGate, testPrefix } from '../../src/testbed/index.js';
import { buildOverlayTestbed, type OverlayTestbed } from '../../src/cli/demo-topology.js';
import { assertBuilt, startVtep, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();

const OVERLAY = `version: 1
vni: 10001
dstport: 4899
name: vxlan-test
nodes:
  - { node: a, local: 192.168.0.21, addr: 179.17.1.21/24, mac: c2:6a:9b:e5:39:8d, pods: [10.234.111.0/24] }
  - { node: b, local: 192.168.0.44, addr: 179.17.1.44/24, mac: 12:d1:df:44:3d:aa, pods: [10.235.113.0/24] }
`;

describe.skipIf(gate.skip)('--trace and --pcap on real namespaces', () => {
  let tb: OverlayTestbed | undefined;
  const vteps: RunningVtep[] = [];
  let dir: string;

  beforeAll(() => {
    gate.assert();
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'vxut-pcap-'));
  });
  afterAll(async () => {
    for (const v of vteps) await v.stop('SIGKILL').catch(() => {});
    await tb?.topo.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a pod-to-pod ping is traced line by line and dissected by tshark from the pcapng', async () => {
    const file = join(dir, 'overlay.yaml');
    writeFileSync(file, OVERLAY);
    tb = await buildOverlayTestbed(loadOverlay(file), testPrefix('pcap'));
    const pcap = join(dir, 'a.pcapng');
    const a = await startVtep(tb.topo, 'a', ['--config', file, '--node', 'a', '--trace', '--pcap', pcap]);
    vteps.push(a);
    vteps.push(await startVtep(tb.topo, 'b', ['--config', file, '--node', 'b', '--quiet']));
    await tb.topo.exec('a-pod', 'ping', ['-c', '2', '-i', '0.2', '-W', '2', '10.235.113.10']);
    const { code, stderr } = await a.stop('SIGTERM');
    vteps.shift();
    expect(code).toBe(0);

    // The trace: proxy-ARP for the next hop, the echo request out by FDB, the reply delivered.
    expect(stderr).toContain('tshark -r');
    expect(stderr).toContain('-d udp.port==4899,vxlan');
    expect(stderr).toMatch(/tap vxlan-test < 12:d1:df:44:3d:aa > [0-9a-f:]+ ARP reply 179\.17\.1\.44 is-at 12:d1:df:44:3d:aa \| proxy-ARP/);
    expect(stderr).toMatch(
      /tx 192\.168\.0\.21\.4899 > 192\.168\.0\.44\.4899: VXLAN flags \[I\] vni 10001 \| c2:6a:9b:e5:39:8d > 12:d1:df:44:3d:aa IPv4 10\.234\.111\.10 > 10\.235\.113\.10 ICMP echo request id \d+ seq 1 length 64 \| fdb 12:d1:df:44:3d:aa -> 192\.168\.0\.44:4899/,
    );
    expect(stderr).toMatch(
      /rx 192\.168\.0\.44\.4899 > 192\.168\.0\.21\.4899: VXLAN flags \[I\] vni 10001 \| 12:d1:df:44:3d:aa > c2:6a:9b:e5:39:8d IPv4 10\.235\.113\.10 > 10\.234\.111\.10 ICMP echo reply id \d+ seq 1 length 64 \| delivered to vxlan-test/,
    );

    // The pcap, dissected as VXLAN on 4899.
    const out = execFileSync(
      'tshark',
      ['-r', pcap, '-d', 'udp.port==4899,vxlan', '-Y', 'vxlan && icmp', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
        '-e', 'frame.interface_name', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'vxlan.flag_i', '-e', 'vxlan.vni', '-e', 'eth.src', '-e', 'eth.dst', '-e', 'icmp.type'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    expect(rows.length).toBe(4); // 2 requests out, 2 replies in
    // The last of each: the first datagram to a peer may go out before the kernel has its MAC (zeros then).
    const req = rows.filter((r) => r[8] === '8').at(-1)!;
    const rep = rows.filter((r) => r[8] === '0').at(-1)!;
    expect(req.slice(0, 6)).toEqual(['eth0', '192.168.0.21,10.234.111.10', '192.168.0.44,10.235.113.10', '4899', '1', '10001']);
    expect(rep.slice(0, 6)).toEqual(['eth0', '192.168.0.44,10.235.113.10', '192.168.0.21,10.234.111.10', '4899', '1', '10001']);
    // Inner MACs are the VTEPs'; outer MACs are the real underlay ones (eth0 of a, the ARP cache for b).
    const ethA = (await tb.topo.exec('a', 'cat', ['/sys/class/net/eth0/address'])).stdout.trim();
    const ethB = (await tb.topo.exec('b', 'cat', ['/sys/class/net/eth0/address'])).stdout.trim();
    expect(req[6]).toBe(`${ethA},c2:6a:9b:e5:39:8d`);
    expect(rep[6]).toBe(`${ethB},12:d1:df:44:3d:aa`);
    expect(rep[7]).toBe(`${ethA},c2:6a:9b:e5:39:8d`);
  });
});
