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

  it('SIGTERM leaves at once, kill -9 goes within the TTL, a restart with a new MAC works within TTL + 1 s', async () => {
    assertBuilt();
    c = new EtcdCluster();
    await c.build('etcdleave', 4);
    const ttl = 4;
    for (const n of NODES) await c.addPod(await c.join(n, [], ttl));
    expect(await c.pingAll(NODES)).toEqual([]);
    const has = async (node: string, subnet: string): Promise<boolean> => (await c.kernelTable(node, 'route')).includes(`${subnet} via`);

    // SIGTERM: the lease is revoked, every peer drops the node's route, neighbour and FDB entry at once.
    const m4 = c.members.get('n4')!;
    const mac4 = / mac (\S+)/.exec(m4.vtep.readyLine)![1]!;
    const t0 = Date.now();
    expect((await m4.vtep.stop('SIGTERM')).code).toBe(0);
    // Measured from the signal, on all three peers at once: gone within 1.5 s (the watch delivers the revoke).
    const gone = await Promise.all(['n1', 'n2', 'n3'].map((n) => within(1500, async () => !(await has(n, m4.subnet)))));
    for (const g of gone) expect(g).toBeGreaterThanOrEqual(0);
    expect(Date.now() - t0).toBeLessThan(2500);
    for (const n of ['n1', 'n2', 'n3']) {
      expect(await c.kernelTable(n, 'neigh')).not.toContain(mac4);
      expect(await c.cli(n, ['fdb', 'show', '--name', 'flannel.1'])).not.toContain(mac4);
    }
    c.members.delete('n4');

    // kill -9: nobody revokes; the peers drop it when etcd expires the lease (within the TTL, plus etcd's tick).
    const m3 = c.members.get('n3')!;
    await m3.vtep.stop('SIGKILL');
    const t1 = Date.now();
    const expired = await Promise.all(['n1', 'n2'].map((n) => within((ttl + 2) * 1000, async () => !(await has(n, m3.subnet)))));
    for (const g of expired) expect(g).toBeGreaterThanOrEqual(0);
    // Not at once (nobody revoked), but within the TTL plus etcd's expiry tick and our polling.
    expect(Date.now() - t1).toBeGreaterThan(1000);
    expect(Date.now() - t1).toBeLessThan((ttl + 2) * 1000);
    c.members.delete('n3');

    // n2 dies and comes back with a new MAC: same subnet (its key, its PublicIP), every peer updated in one step.
    const m2 = c.members.get('n2')!;
    const oldMac = / mac (\S+)/.exec(m2.vtep.readyLine)![1]!;
    await m2.vtep.stop('SIGKILL');
    const t2 = Date.now();
    const back = await c.join('n2', ['--mac', '02:aa:bb:cc:dd:02'], ttl);
    expect(back.subnet).toBe(m2.subnet);
    expect(await within((ttl + 1) * 1000 - (Date.now() - t2), async () => (await c.pingAll(['n1', 'n2'])).length === 0)).toBeGreaterThanOrEqual(0);
    expect(await c.kernelTable('n1', 'neigh')).toContain('02:aa:bb:cc:dd:02');
    expect(await c.kernelTable('n1', 'neigh')).not.toContain(oldMac);
    expect(await c.cli('n1', ['fdb', 'show', '--name', 'flannel.1'])).not.toContain(oldMac);
  }, 120_000);

  it('etcd stopped for 20 s: traffic never stops, show says so, and the state resyncs when etcd is back', async () => {
    assertBuilt();
    c = new EtcdCluster();
    await c.build('etcdoutage', 3);
    const ttl = 5;
    await c.addPod(await c.join('n1', ['--metrics', '127.0.0.1:9101'], ttl));
    await c.addPod(await c.join('n2', [], ttl));
    expect(await c.pingAll(['n1', 'n2'])).toEqual([]);
    const scrape = async (): Promise<string> =>
      (await c.topo.exec('n1', process.execPath, ['-e', "fetch('http://127.0.0.1:9101/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"])).stdout;
    expect(await scrape()).toMatch(/^vxlan_user_etcd_reachable\{[^}]*\} 1$/m);
    const m2 = c.members.get('n2')!;
    // A ping every 200 ms across the whole outage.
    const pinger = c.topo.exec('n1pod', 'ping', ['-c', '125', '-i', '0.2', '-W', '1', m2.podIp!], { check: false, timeoutMs: 60_000 });
    await sleep(1000);
    await c.etcd.stop();
    await sleep(3000);
    const during = await c.cli('n1', ['show', '--name', 'flannel.1']);
    expect(during).toContain('UNREACHABLE');
    expect(await scrape()).toMatch(/^vxlan_user_etcd_reachable\{[^}]*\} 0$/m);
    expect(await scrape()).toMatch(/^vxlan_user_etcd_leases\{[^}]*\} 1$/m);
    expect(await c.kernelTable('n1', 'route')).toContain(`${m2.subnet} via`);
    await sleep(17_000);
    await c.etcd.start();
    const r = await pinger;
    const lost = /(\d+) received/.exec(r.stdout)?.[1];
    expect(Number(lost)).toBeGreaterThanOrEqual(124); // at most one reply late, none lost to the outage
    // Back within 2 s: show says reachable, and a node that joins now is seen by the others (watch is live again).
    expect(await within(2000, async () => /reachable for/.test(await c.cli('n1', ['show', '--name', 'flannel.1'])))).toBeGreaterThanOrEqual(0);
    const m3 = await c.join('n3', [], ttl);
    await c.addPod(m3);
    expect(await within(3000, async () => (await c.pingAll(['n1', 'n2', 'n3'])).length === 0)).toBeGreaterThanOrEqual(0);
    // Both leases are still in etcd (our key, put again under a new lease if the old one was lost).
    const keys = (await c.etcd.etcdctl(['get', '--prefix', `${PREFIX}/subnets/`, '--keys-only'])).stdout;
    for (const n of ['n1', 'n2', 'n3']) expect(keys).toContain(c.members.get(n)!.subnet.replace('/', '-'));
    expect(c.members.get('n1')!.vtep.stderr()).toMatch(/etcd: unreachable .*forwarding goes on with the last known state/);
    expect(c.members.get('n1')!.vtep.stderr()).toMatch(/etcd: reachable again after/);
  }, 150_000);
});
