/**
 * The etcd-mode options of `vxlan-user up` and `plan`, with flannel's own flag names where flannel has one:
 *
 *   --etcd-endpoints URL[,URL...]   turns etcd mode on
 *   --etcd-prefix P                 default /coreos.com/network
 *   --public-ip IP | --iface DEV    this node's underlay address (the lease's PublicIP)
 *   --subnet-file FILE              default /run/flannel/subnet.env
 *   --etcd-cafile/--etcd-certfile/--etcd-keyfile, --etcd-username/--etcd-password
 *   --subnet-lease-ttl SECONDS      default 86400 (flannel's 24 h)
 *   --subnet-lease-renew-margin MIN accepted for compatibility (keepalives every TTL/3 make it moot)
 *   --etcd-timeout SECONDS          how long a start waits for etcd (default 60), then exit 1
 *
 * splitEtcdArgs() takes these out of an argv and leaves the others for the ordinary `up` parser; the flags
 * that the etcd data decides (--vni, --dstport, --addr, ...) are checked against it later, in node.ts.
 */
import { DEFAULT_LEASE_TTL_S, DEFAULT_ETCD_TIMEOUT_S } from '../config/defaults.js';
export { DEFAULT_LEASE_TTL_S, DEFAULT_ETCD_TIMEOUT_S };
import { UsageError } from '../config/errors.js';
import { ipv4AddrParse } from '../../wire/ipv4.js';
import { DEFAULT_ETCD_PREFIX } from './layout.js';
import { DEFAULT_SUBNET_FILE } from './subnet-file.js';
import type { EtcdOptions } from './etcd-client.js';

export const DEFAULT_RENEW_MARGIN_MIN = 60;

const VALUE_FLAGS = [
  'etcd-endpoints', 'etcd-prefix', 'public-ip', 'iface', 'subnet-file', 'etcd-cafile', 'etcd-certfile', 'etcd-keyfile',
  'etcd-username', 'etcd-password', 'subnet-lease-renew-margin', 'subnet-lease-ttl', 'etcd-timeout',
] as const;
type Flag = (typeof VALUE_FLAGS)[number];

export interface EtcdArgs extends EtcdOptions {
  readonly prefix: string;
  readonly publicIp?: string;
  readonly iface?: string;
  readonly subnetFile: string;
  readonly leaseTtl: number;
  readonly renewMargin: number;
  readonly timeoutS: number;
}

/** True when an argv asks for etcd mode. */
export function wantsEtcd(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--etcd-endpoints' || a.startsWith('--etcd-endpoints=')) return true;
  }
  return false;
}

function positiveInt(flag: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${flag} ${v} must be a whole number, at least ${min}`);
  return Number(v);
}

/** Splits the etcd options off `argv`; `rest` is what the ordinary `up` parser reads. */
export function splitEtcdArgs(argv: readonly string[], cmd: string): { etcd: EtcdArgs; rest: string[] } {
  const got = new Map<Flag, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    const name = (a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : '') as Flag;
    if (!(VALUE_FLAGS as readonly string[]).includes(name)) {
      rest.push(a);
      continue;
    }
    const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (v === undefined || (eq < 0 && v.startsWith('--'))) throw new UsageError(`option '--${name}' needs a value; see 'vxlan-user ${cmd} --help'`);
    got.set(name, v);
  }
  const endpoints = (got.get('etcd-endpoints') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (endpoints.length === 0) throw new UsageError(`--etcd-endpoints needs at least one URL, e.g. http://127.0.0.1:2379`);
  for (const e of endpoints) if (!/^https?:\/\/[^/\s]+\/?$/.test(e)) throw new UsageError(`--etcd-endpoints ${e} is not an etcd URL like http://127.0.0.1:2379`);
  const prefix = (got.get('etcd-prefix') ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
  if (!prefix.startsWith('/')) throw new UsageError(`--etcd-prefix ${prefix} must start with '/', like ${DEFAULT_ETCD_PREFIX}`);
  const publicIp = got.get('public-ip');
  if (publicIp !== undefined && ipv4AddrParse(publicIp) === undefined) throw new UsageError(`--public-ip ${publicIp} is not an IPv4 address`);
  const opt = (f: Flag): Record<string, string> => {
    const v = got.get(f);
    return v === undefined ? {} : { [f.replace(/^etcd-/, '')]: v };
  };
  const etcd: EtcdArgs = {
    endpoints,
    prefix,
    ...(publicIp !== undefined ? { publicIp } : {}),
    ...(got.has('iface') ? { iface: got.get('iface')! } : {}),
    subnetFile: got.get('subnet-file') ?? DEFAULT_SUBNET_FILE,
    ...opt('etcd-cafile'),
    ...opt('etcd-certfile'),
    ...opt('etcd-keyfile'),
    ...opt('etcd-username'),
    ...opt('etcd-password'),
    leaseTtl: got.has('subnet-lease-ttl') ? positiveInt('subnet-lease-ttl', got.get('subnet-lease-ttl')!, 1) : DEFAULT_LEASE_TTL_S,
    renewMargin: got.has('subnet-lease-renew-margin') ? positiveInt('subnet-lease-renew-margin', got.get('subnet-lease-renew-margin')!, 1) : DEFAULT_RENEW_MARGIN_MIN,
    timeoutS: got.has('etcd-timeout') ? positiveInt('etcd-timeout', got.get('etcd-timeout')!, 1) : DEFAULT_ETCD_TIMEOUT_S,
  };
  return { etcd, rest };
}

/**
 * The `up` flags that the etcd data decides. Those given with the same value as etcd's are accepted;
 * `--addr`, `--route`, `--neigh`, `--fdb`, `--remote`, `--config` and `--node` are always refused.
 */
export function refuseEtcdConflicts(rest: readonly string[], decided: { vni: number; dstport: number; local: string; key: string }): void {
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--') break;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const value = (): string => (eq > 0 ? a.slice(eq + 1) : rest[i + 1] ?? '');
    switch (name) {
      case 'vni':
        if (value() !== String(decided.vni)) throw new UsageError(`--vni ${value()} conflicts with ${decided.key}, which says VNI ${decided.vni}: leave --vni out in etcd mode`);
        break;
      case 'dstport':
        if (value() !== String(decided.dstport)) throw new UsageError(`--dstport ${value()} conflicts with ${decided.key}, which says Port ${decided.dstport}: leave --dstport out in etcd mode`);
        break;
      case 'local':
        if (value() !== decided.local) throw new UsageError(`--local ${value()} conflicts with the public IP ${decided.local}: in etcd mode give --public-ip only`);
        break;
      case 'addr':
      case 'route':
      case 'neigh':
      case 'fdb':
      case 'remote':
        throw new UsageError(`--${name} cannot be given with --etcd-endpoints: the device address and every peer's neighbour, FDB entry and route come from the leases in etcd`);
      case 'config':
      case 'node':
        throw new UsageError(`--${name} cannot be given with --etcd-endpoints: membership comes from etcd, not from a file`);
    }
  }
}
