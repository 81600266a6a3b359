// etcd membership (issue 11) against a real etcd and real nodes in namespaces: join, leave, restart with a new
// MAC, an etcd outage. Each node is `vxlan-user up --etcd-endpoints ...` with a pod behind it.
import { afterEach, describe, expect, it } from 'vitest';
import { assertBuilt } from './vtep-process.js';
import { EtcdCluster, PREFIX, sleep, within } from './etcd-cluster.js';

const NODES = ['n1', 'n2', 'n3', 'n4'];

describe('etcd membership (flannel layout)', () => {
  let c: EtcdCluster;
  afterEach(async () => {
    await c?.cleanup();
  });

  it('4 nodes join, get distinct subnets, write the subnet file, and every pod pair pings', async () => {
    assertBuilt();
    c = new EtcdCluster();
    await c.build('etcdjoin', 4);
    for (const n of NODES) await c.addPod(await c.join(n));
    const subnets = new Set(NODES.map((n) => c.members.get(n)!.subnet));
    expect(subnets.size).toBe(4);
    const m1 = c.members.get('n1')!;
    expect(c.subnetFileText('n1')).toBe(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${m1.subnet.replace(/\.0\//, '.1/')}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`);
    // Kernel tables on n1: three remote leases → three neighbours, three routes.
    await within(3000, async () => (await c.kernelTable('n1', 'route')).split('\n').filter((l) => l.includes('onlink')).length === 3);
    const routes = await c.kernelTable('n1', 'route');
    for (const n of ['n2', 'n3', 'n4']) {
      const s = c.members.get(n)!.subnet;
      expect(routes).toContain(`${s} via ${s.replace(/\/\d+$/, '')} onlink`);
    }
    expect(await c.pingAll(NODES)).toEqual([]);
    // The lease JSON is flannel's.
    const v = (await c.etcd.etcdctl(['get', `${PREFIX}/subnets/${m1.subnet.replace('/', '-')}`, '--print-value-only'])).stdout.trim();
    expect(JSON.parse(v)).toMatchObject({ PublicIP: m1.underlay, BackendType: 'vxlan', BackendData: { VNI: 1 } });
    const show = await c.cli('n1', ['show', '--name', 'flannel.1']);
    expect(show).toMatch(/etcd .*reachable/);
    for (const n of ['n2', 'n3', 'n4']) expect(show).toContain(c.members.get(n)!.subnet);
  }, 120_000);
});
