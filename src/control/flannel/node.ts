/**
 * `vxlan-user up --etcd-endpoints ...`: a node of a flannel network (vxlan backend), membership in etcd.
 *
 *   prepare   read <prefix>/config (VNI, port, Network), find the public IP, take a subnet lease, and turn it
 *             all into ordinary `up` flags: --vni --dstport --name flannel.<VNI> --local --mac
 *             --addr <subnet>.0/32 (the MTU is the underlay's minus 50, as always);
 *   attach    once the device is up: write the subnet file, program every remote lease (program.ts), watch
 *             the prefix (sync.ts), keep the lease alive, re-take it when it is lost;
 *   leave     revoke the lease (peers drop us at once), stop watching. The subnet file stays.
 *
 * etcd unreachable at start: retried with a message every few seconds until --etcd-timeout, then exit 1.
 * etcd unreachable while running: nothing is flushed; `show` and the log say so; everything is re-listed
 * when it is back. A lease lost meanwhile is taken again for the same subnet (our key, our PublicIP).
 */
import type { EtcdShow } from '../ops/control-protocol.js';
export type { EtcdShow };
import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { VxlanUserError } from '../config/errors.js';
import { ip } from '../runtime/host.js';
import type { Instance, Logger } from '../runtime/instance.js';
import type { Runtime } from '../runtime/reload.js';
import { macFormat, macParse, macRandomLocal } from '../../wire/mac.js';
import { refuseEtcdConflicts, splitEtcdArgs, type EtcdArgs } from './args.js';
import { createEtcdClient, ETCD_RETRY_CAP_MS, etcdErrorText } from './etcd-client.js';
import { acquireLease, type HeldLease } from './lease.js';
import { LayoutError, parseNetworkConfig, subnetAddr, subnetEq, subnetText, type NetworkConfig } from './layout.js';
import { Membership, type PeerChange } from './members.js';
import { Programmer } from './program.js';
import { formatSubnetFile, readSubnetFile, writeSubnetFile } from './subnet-file.js';
import { PrefixSync } from './sync.js';

/** What `show` prints about etcd membership (control protocol `show`, field `etcd`). */

export interface EtcdMember {
  /** The `up` arguments that build this node's device. */
  readonly upArgv: readonly string[];
  readonly subnet: string;
  attach(inst: Instance, rt: Runtime, fatal: (message: string) => void): Promise<void>;
  /** Revokes the lease and stops watching; bounded in time, never throws. */
  leave(): Promise<void>;
  show(): EtcdShow;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `op` until it succeeds or `timeoutS` has passed since `start`. A VxlanUserError (bad input) is final;
 * other failures (etcd unreachable) are logged every few seconds and retried with a pause capped at ~1 s.
 */
export async function retryUntil<T>(what: string, a: EtcdArgs, start: number, log: Logger, op: () => Promise<T>): Promise<T> {
  let pause = 100;
  let lastLog = 0;
  for (;;) {
    try {
      return await op();
    } catch (e) {
      if (e instanceof VxlanUserError) throw e;
      const why = etcdErrorText(e);
      const waited = (Date.now() - start) / 1000;
      if (waited >= a.timeoutS)
        throw new VxlanUserError('ERUNTIME', `etcd at ${a.endpoints.join(',')} did not answer within --etcd-timeout ${a.timeoutS} s (${what}: ${why})`);
      if (Date.now() - lastLog > 3000) {
        lastLog = Date.now();
        log(`etcd: ${what}: ${why}; retrying until --etcd-timeout ${a.timeoutS} s (${Math.floor(waited)} s so far)`);
      }
      await sleep(pause);
      pause = Math.min(pause * 2, ETCD_RETRY_CAP_MS);
    }
  }
}

/** Reads <prefix>/config; absent is retried (flanneld waits for it too), malformed is refused (exit 2). */
async function readConfig(client: Etcd3, prefix: string): Promise<NetworkConfig> {
  const key = `${prefix}/config`;
  const text = await client.get(key).string();
  if (text === null) throw new Error(`no network config at ${key} yet (write it with: etcdctl put ${key} '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')`);
  try {
    return parseNetworkConfig(key, text);
  } catch (e) {
    if (e instanceof LayoutError) throw new VxlanUserError('ECONFIG', e.message);
    throw e;
  }
}

/** --public-ip, else the first IPv4 address of --iface, else that of the device holding the default route. */
export function findPublicIp(a: EtcdArgs): string {
  if (a.publicIp !== undefined) return a.publicIp;
  let dev = a.iface;
  if (dev === undefined) {
    const r = ip(['-j', '-4', 'route', 'show', 'default']);
    dev = r.ok ? (JSON.parse(r.stdout || '[]') as { dev?: string }[])[0]?.dev : undefined;
    if (dev === undefined) throw new VxlanUserError('ECONFIG', 'no --public-ip or --iface given and there is no IPv4 default route to take the address from: give --public-ip IP');
  }
  const r = ip(['-j', '-4', 'addr', 'show', 'dev', dev]);
  if (!r.ok) throw new VxlanUserError('ECONFIG', `--iface ${dev}: no such network device in this namespace`);
  const addr = (JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[])[0]?.addr_info?.[0]?.local;
  if (addr === undefined) throw new VxlanUserError('ECONFIG', `--iface ${dev} has no IPv4 address to use as the public IP`);
  return addr;
}

/** The last value of an `up` flag in `rest` (`--mac X` or `--mac=X`). */
function flagValue(rest: readonly string[], name: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') break;
    if (a === `--${name}`) v = rest[i + 1];
    else if (a.startsWith(`--${name}=`)) v = a.slice(name.length + 3);
  }
  return v;
}

/** The network config and the public IP, with the retry of a start; shared by `up` and `plan`. */
export async function connectEtcd(argv: readonly string[], cmd: string, log: Logger): Promise<{ a: EtcdArgs; rest: string[]; client: Etcd3; cfg: NetworkConfig; start: number }> {
  const { etcd: a, rest } = splitEtcdArgs(argv, cmd);
  const client = createEtcdClient(a);
  const start = Date.now();
  try {
    const cfg = await retryUntil(`reading ${a.prefix}/config`, a, start, log, () => readConfig(client, a.prefix));
    return { a, rest, client, cfg, start };
  } catch (e) {
    client.close();
    throw e;
  }
}

export async function prepareEtcdMember(argv: readonly string[], log: Logger): Promise<EtcdMember> {
  const { a, rest, client, cfg, start } = await connectEtcd(argv, 'up', log);
  let held: HeldLease;
  let publicIp: string;
  let mac: string;
  try {
    publicIp = findPublicIp(a);
    refuseEtcdConflicts(rest, { vni: cfg.vni, dstport: cfg.port, local: publicIp, key: `${a.prefix}/config` });
    const macArg = flagValue(rest, 'mac');
    const macNum = macArg !== undefined ? macParse(macArg) : macRandomLocal(randomBytes(6));
    if (macNum === undefined) throw new VxlanUserError('ECONFIG', `--mac ${macArg} is not a MAC address: expected six hex octets like 7a:3a:fe:45:a3:76`);
    mac = macFormat(macNum);
    const preferred = readSubnetFile(a.subnetFile);
    held = await retryUntil('taking a subnet lease', a, start, log, () => acquireLease(client, { prefix: a.prefix, cfg, publicIp, mac, ttl: a.leaseTtl, preferred }));
    log(`etcd: lease ${subnetText(held.subnet)} for ${publicIp} (${held.how}; ttl ${a.leaseTtl} s) at ${held.key}`);
  } catch (e) {
    client.close();
    throw e;
  }
  const name = flagValue(rest, 'name') ?? `flannel.${cfg.vni}`;
  const upArgv = [
    ...rest.filter((x, i) => !(x === '--mac' || x.startsWith('--mac=') || rest[i - 1] === '--mac')),
    '--vni', String(cfg.vni), '--dstport', String(cfg.port), '--local', publicIp, '--mac', mac,
    '--addr', `${subnetAddr(held.subnet, 0)}/32`,
    ...(flagValue(rest, 'name') === undefined ? ['--name', name] : []),
  ];
  // The flags we add may repeat ones given with equal values: parseArgs keeps the last, which is the same.
  return new Node(a, client, cfg, publicIp, mac, held, upArgv, log);
}

class Node implements EtcdMember {
  private membership!: Membership;
  private programmer!: Programmer;
  private sync!: PrefixSync;
  private reacquiring = false;
  private leaving = false;
  private renewals = 0;
  private fatal: (m: string) => void = () => {};

  constructor(
    private readonly a: EtcdArgs,
    private readonly client: Etcd3,
    private readonly cfg: NetworkConfig,
    private readonly publicIp: string,
    private readonly mac: string,
    private held: HeldLease,
    readonly upArgv: readonly string[],
    private readonly log: Logger,
  ) {}

  get subnet(): string {
    return subnetText(this.held.subnet);
  }

  async attach(inst: Instance, rt: Runtime, fatal: (message: string) => void): Promise<void> {
    this.fatal = fatal;
    writeSubnetFile(this.a.subnetFile, formatSubnetFile(this.cfg, this.held.subnet, inst.mtu));
    this.log(`etcd: wrote ${this.a.subnetFile} (FLANNEL_SUBNET=${subnetAddr(this.held.subnet, 1)}/${this.held.subnet.len}, FLANNEL_MTU=${inst.mtu})`);
    const configKey = `${this.a.prefix}/config`;
    const subnets = `${this.a.prefix}/subnets/`;
    const report = (_key: string, sentence: string): void => this.log(`etcd: ${sentence}`);
    this.membership = new Membership(this.cfg, this.a.prefix, { publicIp: this.publicIp, subnet: () => this.held.subnet }, report);
    this.programmer = new Programmer(rt.tables, inst.tapName, this.log);
    const apply = (c: PeerChange[]): void => void this.programmer.apply(c);
    this.sync = new PrefixSync(
      this.client,
      this.a.prefix,
      {
        resync: (all) => {
          const leases = new Map<string, string>();
          for (const [k, v] of all) if (k.startsWith(subnets)) leases.set(k, v);
          const cfg = all.get(configKey);
          if (cfg !== undefined) this.configChanged(configKey, cfg);
          apply(this.membership.resync(leases));
          if (!leases.has(this.held.key)) this.ownKeyGone('our key is missing from the listing');
        },
        put: (k, v) => {
          if (k === configKey) this.configChanged(k, v);
          else if (k.startsWith(subnets)) apply(this.membership.put(k, v));
        },
        del: (k) => {
          if (k === this.held.key) this.ownKeyGone('our key was deleted');
          else if (k.startsWith(subnets)) apply(this.membership.del(k));
        },
      },
      this.log,
    );
    await retryUntil('listing the leases', this.a, Date.now(), this.log, () => this.sync.start());
    await this.programmer.apply([]);
    this.watchLease(this.held);
  }

  private lastConfig: string | undefined;
  /** A config change at runtime is reported, never applied: the device's VNI and port are fixed. */
  private configChanged(key: string, value: string): void {
    if (value === this.lastConfig) return;
    this.lastConfig = value;
    try {
      const next = parseNetworkConfig(key, value);
      const same = next.vni === this.cfg.vni && next.port === this.cfg.port && subnetEq(next.network, this.cfg.network) && next.subnetLen === this.cfg.subnetLen;
      if (!same) this.log(`etcd: ${key} changed (Network ${subnetText(next.network)}, VNI ${next.vni}, Port ${next.port}): restart the node to apply it; the running config is kept`);
    } catch (e) {
      if (!(e instanceof LayoutError)) throw e;
      this.membership.skipped++;
      this.log(`etcd: ${e.message}: skipped, the running config is kept`);
    }
  }

  private watchLease(h: HeldLease): void {
    h.lease.on('keepaliveSucceeded', () => this.renewals++);
    h.lease.on('keepaliveFailed', (e: unknown) => this.sync.markUnreachable(`lease keepalive failed: ${etcdErrorText(e)}`));
    h.lease.on('lost', (e: Error) => {
      if (this.held !== h || this.leaving) return;
      this.ownKeyGone(`lease lost: ${etcdErrorText(e)}`);
    });
  }

  /** Our key or lease is gone (an outage longer than the TTL, a deletion): put it again, same subnet. */
  private ownKeyGone(why: string): void {
    if (this.reacquiring || this.leaving) return;
    this.reacquiring = true;
    this.log(`etcd: ${why}; taking the lease for ${subnetText(this.held.subnet)} again`);
    const old = this.held;
    void (async () => {
      let pause = 100;
      while (!this.leaving) {
        try {
          const h = await acquireLease(this.client, { prefix: this.a.prefix, cfg: this.cfg, publicIp: this.publicIp, mac: this.mac, ttl: this.a.leaseTtl, preferred: old.subnet });
          if (this.leaving) {
            await h.lease.revoke().catch(() => {});
            return;
          }
          if (!subnetEq(h.subnet, old.subnet)) {
            await h.lease.revoke().catch(() => {});
            this.fatal(`our subnet ${subnetText(old.subnet)} was taken by another node while our lease was lost; restart to take a new one`);
            return;
          }
          old.lease.release();
          this.held = h;
          this.watchLease(h);
          this.log(`etcd: lease for ${subnetText(h.subnet)} taken again (${h.how})`);
          break;
        } catch (e) {
          if (e instanceof VxlanUserError) {
            this.fatal(e.message);
            return;
          }
          await sleep(pause);
          pause = Math.min(pause * 2, ETCD_RETRY_CAP_MS);
        }
      }
      this.reacquiring = false;
    })();
  }

  async leave(): Promise<void> {
    if (this.leaving) return;
    this.leaving = true;
    this.sync?.stop();
    const revoke = this.held.lease.revoke().then(
      () => this.log(`etcd: lease for ${subnetText(this.held.subnet)} revoked`),
      (e: unknown) => this.log(`etcd: could not revoke the lease (${etcdErrorText(e)}); peers drop us when its TTL runs out`),
    );
    await Promise.race([revoke, sleep(2_000)]);
    this.client.close();
  }

  show(): EtcdShow {
    // Before attach() (a `show` between the control socket opening and the first list) nothing is known yet.
    const s = this.sync?.status() ?? { reachable: true, since: Date.now(), lastError: undefined, resyncs: 0 };
    const now = Date.now();
    return {
      endpoints: this.a.endpoints,
      prefix: this.a.prefix,
      subnet: subnetText(this.held.subnet),
      publicIp: this.publicIp,
      leaseTtl: this.a.leaseTtl,
      subnetFile: this.a.subnetFile,
      reachable: s.reachable,
      stateForS: Math.round((now - s.since) / 1000),
      lastError: s.lastError ?? null,
      resyncs: s.resyncs,
      leaseRenewals: this.renewals,
      skipped: this.membership?.skipped ?? 0,
      rejected: [...(this.membership?.rejections().values() ?? [])],
      leases: [...(this.membership?.peers() ?? [])]
        .sort((x, y) => x.subnet.net - y.subnet.net)
        .map((p) => ({ subnet: subnetText(p.subnet), publicIp: p.publicIp, mac: p.mac, ageS: Math.round((now - p.since) / 1000) })),
    };
  }
}

/** `show`'s etcd lines: the lease, reachability, then one line per remote lease (subnet, public IP, MAC, age). */
export function formatEtcdShow(e: EtcdShow, duration: (s: number) => string): string[] {
  const state = e.reachable ? `reachable for ${duration(e.stateForS)}` : `UNREACHABLE for ${duration(e.stateForS)} (${e.lastError ?? '?'}); forwarding with the last known state`;
  const out = [
    `  etcd ${e.endpoints.join(',')} prefix ${e.prefix}: ${state}; re-lists ${e.resyncs}`,
    `  lease ${e.subnet} public-ip ${e.publicIp} ttl ${e.leaseTtl}s (keepalives ${e.leaseRenewals}); subnet file ${e.subnetFile}`,
    `  remote leases ${e.leases.length}; skipped entries ${e.skipped}`,
    ...e.leases.map((l) => `    ${l.subnet.padEnd(18)} public-ip ${l.publicIp.padEnd(15)} mac ${l.mac} age ${duration(l.ageS)}`),
    ...e.rejected.map((r) => `    skipped: ${r}`),
  ];
  return out;
}
