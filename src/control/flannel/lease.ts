/**
 * This node's subnet lease: `<prefix>/subnets/<a.b.c.d>-<len>` holding our lease JSON, attached to an etcd
 * lease of --subnet-lease-ttl seconds.
 *
 * Allocation, in flannel's order (flannel's pkg/subnet/etcd):
 *   1. the key whose PublicIP is ours: put again under our new lease (guarded by its mod revision);
 *   2. the subnet in the subnet file (or the one we held before an outage), if no key holds it;
 *   3. a free subnet, picked at random from the first 100 free ones;
 * each created with Txn(If Version(key) == 0 Then Put(key, value, lease)), so no two nodes ever share a
 * subnet; a lost race re-lists and tries again.
 *
 * Keepalive: the etcd3 client's KeepAlive stream, every TTL/3 (not flannel's grant-and-put at expiry minus
 * --subnet-lease-renew-margin). SIGTERM revokes the lease, so peers drop us at once.
 */
import type { Etcd3, Lease } from 'etcd3';
import { VxlanUserError } from '../config/errors.js';
import { formatLease, freeSubnets, parseSubnetKey, subnetKey, subnetText, subnetUsable, type NetworkConfig, type Subnet } from './layout.js';

export interface LeaseRequest {
  readonly prefix: string;
  readonly cfg: NetworkConfig;
  readonly publicIp: string;
  readonly mac: string;
  readonly ttl: number;
  /** The subnet to prefer when free: the subnet file's, or the one held before the lease was lost. */
  readonly preferred?: Subnet | undefined;
}

export interface HeldLease {
  readonly subnet: Subnet;
  readonly key: string;
  readonly lease: Lease;
  /** How the subnet was found: 'reused' (our key), 'preferred' (subnet file / previous), 'new'. */
  readonly how: 'reused' | 'preferred' | 'new';
}

const ATTEMPTS = 20;

function leasePublicIp(value: Buffer): string | undefined {
  try {
    const j = JSON.parse(value.toString()) as { PublicIP?: unknown };
    return typeof j.PublicIP === 'string' ? j.PublicIP : undefined;
  } catch {
    return undefined;
  }
}

/** Takes a subnet lease (see the top of the file). Rejects with the etcd error when etcd cannot be reached. */
export async function acquireLease(client: Etcd3, req: LeaseRequest): Promise<HeldLease> {
  const value = formatLease(req.publicIp, req.cfg.vni, req.mac);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const res = await client.getAll().prefix(`${req.prefix}/subnets/`).exec();
    const taken = new Set<number>();
    let mine: { key: string; subnet: Subnet; mod: string } | undefined;
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      const s = parseSubnetKey(key, req.prefix);
      if (typeof s === 'string') continue;
      taken.add(s.net);
      if (mine === undefined && subnetUsable(req.cfg, s) && leasePublicIp(kv.value) === req.publicIp) mine = { key, subnet: s, mod: kv.mod_revision };
    }
    let target: { subnet: Subnet; how: HeldLease['how']; mod?: string };
    if (mine !== undefined) target = { subnet: mine.subnet, how: 'reused', mod: mine.mod };
    else if (req.preferred !== undefined && subnetUsable(req.cfg, req.preferred) && !taken.has(req.preferred.net)) target = { subnet: req.preferred, how: 'preferred' };
    else {
      const free = freeSubnets(req.cfg, taken);
      if (free.length === 0)
        throw new VxlanUserError('ERUNTIME', `no free /${req.cfg.subnetLen} is left in Network ${subnetText(req.cfg.network)} (${taken.size} leases): widen Network or SubnetMin/SubnetMax in ${req.prefix}/config`);
      target = { subnet: free[Math.floor(Math.random() * free.length)]!, how: 'new' };
    }
    const key = subnetKey(req.prefix, target.subnet);
    const lease = client.lease(req.ttl);
    lease.on('lost', () => {}); // the owner attaches its own handler; a lease given up below is no loss
    try {
      const id = await lease.grant();
      const txn = target.mod !== undefined ? client.if(key, 'Mod', '==', target.mod) : client.if(key, 'Version', '==', 0);
      const r = await txn.then(client.put(key).value(value).lease(id)).commit();
      if (r.succeeded) return { subnet: target.subnet, key, lease, how: target.how };
    } catch (e) {
      await lease.revoke().catch(() => {});
      throw e;
    }
    // Lost a race for the key: give the etcd lease back and look again.
    await lease.revoke().catch(() => {});
  }
  throw new VxlanUserError('ERUNTIME', `could not take a subnet lease under ${req.prefix}/subnets/ after ${ATTEMPTS} attempts: other nodes keep taking the same subnets`);
}
