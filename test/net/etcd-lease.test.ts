// Subnet leases against a real etcd on loopback (no dataplanes): concurrent allocation, reuse, the start-up
// timeout, a malformed network config at start.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/control/flannel/etcd-client.js';
import { acquireLease } from '../../src/control/flannel/lease.js';
import { parseNetworkConfig, subnetText } from '../../src/control/flannel/layout.js';
import { startEtcd, type EtcdServer } from '../../src/testbed/index.js';
import { assertBuilt, runCli } from './vtep-process.js';

const P = '/coreos.com/network';
const CFG_TEXT = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
const cfg = parseNetworkConfig(`${P}/config`, CFG_TEXT);

describe('subnet leases in a real etcd', () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcd();
    await etcd.etcdctl(['put', `${P}/config`, CFG_TEXT]);
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  it('10 nodes allocating at once get 10 distinct subnets; a node that comes back gets its own again', async () => {
    const clients = Array.from({ length: 10 }, () => createEtcdClient({ endpoints: [etcd.endpoint] }));
    try {
      const held = await Promise.all(
        clients.map((c, i) => acquireLease(c, { prefix: P, cfg, publicIp: `192.168.7.${10 + i}`, mac: `02:00:00:00:07:${(10 + i).toString(16)}`, ttl: 30 })),
      );
      const subnets = held.map((h) => subnetText(h.subnet));
      expect(new Set(subnets).size).toBe(10);
      const keys = (await etcd.etcdctl(['get', '--prefix', `${P}/subnets/`, '--keys-only'])).stdout.split('\n').filter((l) => l !== '');
      expect(keys).toHaveLength(10);
      // Node 3 restarts: its key (its PublicIP) is reused, not a new subnet.
      const again = await acquireLease(clients[3]!, { prefix: P, cfg, publicIp: '192.168.7.13', mac: '02:00:00:00:07:99', ttl: 30 });
      expect(again.how).toBe('reused');
      expect(subnetText(again.subnet)).toBe(subnets[3]);
      // A preferred subnet (the subnet file's) that is free is taken.
      const pref = await acquireLease(clients[0]!, { prefix: P, cfg, publicIp: '192.168.7.200', mac: '02:00:00:00:07:c8', ttl: 30, preferred: { net: (10 << 24) | (244 << 16) | (250 << 8), len: 24 } });
      expect([pref.how, subnetText(pref.subnet)]).toEqual(['preferred', '10.244.250.0/24']);
      // A forced race: five nodes that all prefer 10.244.251.0/24 at once. The create-if-absent transaction gives
      // it to exactly one; the others lose, re-list and take other subnets.
      const race = await Promise.all(
        clients.slice(5).map((c, i) => acquireLease(c, { prefix: P, cfg, publicIp: `192.168.8.${i}`, mac: `02:00:00:00:08:0${i}`, ttl: 30, preferred: { net: (10 << 24) | (244 << 16) | (251 << 8), len: 24 } })),
      );
      expect(race.filter((h) => h.how === 'preferred')).toHaveLength(1);
      const all = [...held, pref, ...race].map((h) => subnetText(h.subnet));
      expect(new Set(all).size).toBe(all.length);
      await Promise.all([...held, again, pref, ...race].map((h) => h.lease.revoke()));
      expect((await etcd.etcdctl(['get', '--prefix', `${P}/subnets/`, '--keys-only'])).stdout.trim()).toBe('');
    } finally {
      for (const c of clients) c.close();
    }
  }, 60_000);

  it('unreachable at start: retried with a message until --etcd-timeout, then exit 1 with a sentence', async () => {
    assertBuilt();
    const t0 = Date.now();
    const r = await runCli(['up', '--etcd-endpoints', 'http://127.0.0.1:9', '--public-ip', '127.0.0.1', '--etcd-timeout', '2'], { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(r.stderr).toMatch(/retrying until --etcd-timeout 2 s/);
    expect(r.stderr).toMatch(/vxlan-user: etcd at http:\/\/127\.0\.0\.1:9 did not answer within --etcd-timeout 2 s \(reading \/coreos\.com\/network\/config: .*\)\n$/);
  }, 30_000);

  it('a malformed network config at start is refused (exit 2) with a sentence naming the key', async () => {
    assertBuilt();
    await etcd.etcdctl(['put', '/bad/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}']);
    const r = await runCli(['up', '--etcd-endpoints', etcd.endpoint, '--etcd-prefix', '/bad', '--public-ip', '127.0.0.1', '--etcd-timeout', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`vxlan-user: /bad/config has Backend.Type "host-gw": vxlan-user speaks flannel's vxlan backend only (set "Backend":{"Type":"vxlan"})\n`);
  }, 30_000);
});
