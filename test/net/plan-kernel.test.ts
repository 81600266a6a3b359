// One overlay file drives both VTEPs: `vxlan-user plan --as-kernel` output, run as a script in each node's
// namespace, builds kernel vxlan devices that really carry pod-to-pod pings across clusters; one node runs
// vxlan-user from the same file, picking itself by its underlay address (no --node).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOverlay } from '../../src/control/config/file.js';
import { netTestGate, testPrefix } from '../../src/testbed/index.js';
import { buildOverlayTestbed, type OverlayTestbed } from '../../src/cli/demo-topology.js';
import { assertBuilt, runCli, startVtep, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();
const EXAMPLE = new URL('../../examples/overlay.yaml', import.meta.url).pathname;

describe.skipIf(gate.skip)('plan --as-kernel on real namespaces', () => {
  let tb: OverlayTestbed | undefined;
  let user: RunningVtep | undefined;

  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterAll(async () => {
    await user?.stop('SIGKILL').catch(() => {});
    await tb?.topo.teardown();
  });

  it('kernel devices from the plan (five nodes) and vxlan-user (one node, self-detected) ping pod to pod', async () => {
    const ov = loadOverlay(EXAMPLE);
    tb = await buildOverlayTestbed(ov, testPrefix('plan'));
    const kernelNodes = ov.nodes.slice(0, 5);
    for (const n of kernelNodes) {
      const plan = await runCli(['plan', '--config', EXAMPLE, '--node', n.node, '--as-kernel']);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stdout).toContain(`local ${n.local} nolearning ageing 300 udpcsum`);
      // Planned on this host, where --local is not an address: no dev, and the MTU of a 1500-byte underlay.
      expect(plan.stdout).toContain(`# no dev: ${n.local} is not an address of this host`);
      expect(plan.stdout).toContain(`ip link set dev vxlan-test address ${n.mac} mtu 1450`);
      // The script as a user would run it: `... --as-kernel | sh -e` inside the node.
      await tb.topo.exec(tb.hostOf(n.node).host, 'sh', ['-e'], { input: plan.stdout });
      const link = await tb.topo.exec(tb.hostOf(n.node).host, 'ip', ['-d', 'link', 'show', 'vxlan-test']);
      expect(link.stdout).toContain('vxlan id 10001');
      expect(link.stdout).toContain('dstport 4899');
      expect(link.stdout).toContain(n.mac);
      expect(link.stdout).toContain(' mtu 1450 ');
    }
    // Node 006: vxlan-user from the same file, without --node: it finds 192.168.0.13 on its eth0.
    const last = ov.nodes[5]!;
    user = await startVtep(tb.topo, tb.hostOf(last.node).host, ['--config', EXAMPLE, '--quiet']);
    expect(user.readyLine).toContain('udp 192.168.0.13:4899');
    expect(user.readyLine).toContain(last.mac);

    const pod = (name: string): { host: string; ip: string } => {
      const p = tb!.hostOf(name).pod!;
      return { host: p.name, ip: p.ip };
    };
    // Across clusters, kernel to kernel: 001 (cluster1) → 004 (cluster2), 003 (cluster2) → 005 (cluster3).
    await tb.topo.exec(pod('multicluster-test-001').host, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', pod('multicluster-test-004').ip]);
    await tb.topo.exec(pod('multicluster-test-003').host, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', pod('multicluster-test-005').ip]);
    // Kernel ↔ vxlan-user both ways: 002 (cluster1) → 006 (cluster3) and back.
    await tb.topo.exec(pod('multicluster-test-002').host, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', pod('multicluster-test-006').ip]);
    await tb.topo.exec(pod('multicluster-test-006').host, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', pod('multicluster-test-001').ip]);
    const c = await user.counters();
    expect(c.rx_packets).toBeGreaterThanOrEqual(4);
    expect(c.tx_packets).toBeGreaterThanOrEqual(4);
    expect(c.rx_wrong_vni).toBe(0);
  });
});
