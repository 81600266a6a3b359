/**
 * flannel's etcd layout, read and written exactly (shared/notes/flannel-etcd.md; flannel's pkg/subnet/etcd and
 * pkg/backend/vxlan):
 *
 *   <prefix>/config                    {"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"Port":8472}}
 *   <prefix>/subnets/10.244.3.0-24     {"PublicIP":"192.168.0.21","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c2:6a:..."}}
 *
 * Pure functions: no I/O, no etcd. Every refusal is a sentence naming the key (a LayoutError), so the caller
 * can skip and count one bad entry without losing the others. IPv4 overlay only (flannel's IPv6 twins are kept
 * as they are in a lease we re-write, but not routed).
 */
import { DEFAULT_ETCD_PREFIX } from '../config/defaults.js';
export { DEFAULT_ETCD_PREFIX };
import { ipv4AddrFormat, ipv4AddrParse } from '../../wire/ipv4.js';
import { macFormat, macIsMulticast, macParse } from '../../wire/mac.js';
import { LINUX_DEFAULT_VXLAN_PORT, PORT_MAX, PORT_MIN, VNI_MAX, VNI_MIN } from '../config/defaults.js';

/** flannel's vxlan backend: VNI 1 when the config has none. */
export const FLANNEL_DEFAULT_VNI = 1;
/** flannel's Port 0 means the kernel default, 8472. */
export const FLANNEL_DEFAULT_PORT = LINUX_DEFAULT_VXLAN_PORT;

/** One bad key or value: the message names the key. */
export class LayoutError extends Error {
  constructor(readonly key: string, message: string) {
    super(message);
    this.name = 'LayoutError';
  }
}

/** An IPv4 subnet as a 32-bit network address (unsigned) and a prefix length. */
export interface Subnet {
  readonly net: number;
  readonly len: number;
}

const mask = (len: number): number => (len === 0 ? 0 : (0xffff_ffff << (32 - len)) >>> 0);
const size = (len: number): number => 2 ** (32 - len);

export function subnetText(s: Subnet): string {
  return `${ipv4AddrFormat(s.net)}/${s.len}`;
}
/** `10.244.3.0-24`: the key form (the last path element under <prefix>/subnets/). */
export function subnetKeyName(s: Subnet): string {
  return `${ipv4AddrFormat(s.net)}-${s.len}`;
}
/** The n-th address of the subnet as text: `.0` is the VTEP address, `.1` the CNI bridge's. */
export function subnetAddr(s: Subnet, n: number): string {
  return ipv4AddrFormat((s.net + n) >>> 0);
}
export function subnetContains(outer: Subnet, inner: Subnet): boolean {
  return inner.len >= outer.len && ((inner.net & mask(outer.len)) >>> 0) === outer.net;
}
export function subnetEq(a: Subnet, b: Subnet): boolean {
  return a.net === b.net && a.len === b.len;
}

/** `10.244.0.0/16` → Subnet; the host part must be zero, as flannel's ParseIP4Net + Canonical comparison asks. */
export function parseSubnet(text: string): Subnet | string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  if (!m) return `${JSON.stringify(text)} is not an IPv4 CIDR like 10.244.0.0/16`;
  const addr = ipv4AddrParse(m[1]!);
  const len = Number(m[2]);
  if (addr === undefined || len > 32) return `${JSON.stringify(text)} is not an IPv4 CIDR like 10.244.0.0/16`;
  if (((addr & mask(len)) >>> 0) !== addr) return `${text} has host bits set (the network is ${ipv4AddrFormat((addr & mask(len)) >>> 0)}/${len})`;
  return { net: addr, len };
}

// ───────────────────────────────────────────── <prefix>/config ─────────────────────────────────────────────

export interface NetworkConfig {
  readonly network: Subnet;
  readonly subnetLen: number;
  /** First and last subnet network address that may be leased (inclusive). */
  readonly subnetMin: number;
  readonly subnetMax: number;
  readonly vni: number;
  readonly port: number;
  /** The JSON as stored, for `plan` and the docs. */
  readonly raw: Record<string, unknown>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Parses and checks `<prefix>/config` the way flannel's subnet.ParseConfig + CheckNetworkConfig do. */
export function parseNetworkConfig(key: string, text: string): NetworkConfig {
  const bad = (what: string): never => {
    throw new LayoutError(key, `${key} ${what}`);
  };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return bad(`is not JSON (${(e as Error).message}): expected flannel's network config, e.g. {"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`);
  }
  if (!isObj(j)) return bad('must be a JSON object with Network and Backend');
  if (typeof j.Network !== 'string') return bad('has no Network: flannel needs e.g. "Network":"10.244.0.0/16" (IPv6-only networks are not supported)');
  const network = parseSubnet(j.Network);
  if (typeof network === 'string') return bad(`has a bad Network: ${network}`);
  // flannel: SubnetLen defaults to 24, or to the network's length + 2 when the network is smaller than a /22.
  let subnetLen = network.len < 22 ? 24 : network.len + 2;
  if (j.SubnetLen !== undefined) {
    if (!isInt(j.SubnetLen)) return bad(`has SubnetLen ${JSON.stringify(j.SubnetLen)}: it must be an integer`);
    subnetLen = j.SubnetLen;
  }
  // A lease is <subnet>.0 (the VTEP) plus the .1 gateway at least: /30 is the smallest useful.
  if (subnetLen <= network.len || subnetLen > 30)
    return bad(`has SubnetLen ${subnetLen}: it must be longer than the Network's /${network.len} and at most 30`);
  const step = size(subnetLen);
  const lastNet = (network.net + size(network.len) - step) >>> 0;
  const bound = (name: 'SubnetMin' | 'SubnetMax', dflt: number): number => {
    const v = j[name];
    if (v === undefined) return dflt;
    const a = typeof v === 'string' ? ipv4AddrParse(v) : undefined;
    if (a === undefined) return bad(`has ${name} ${JSON.stringify(v)}: it must be an IPv4 address like 10.244.1.0`);
    if (!subnetContains(network, { net: a, len: 32 })) return bad(`has ${name} ${v} outside Network ${subnetText(network)}`);
    if (((a - network.net) % step) !== 0) return bad(`has ${name} ${v}, which is not on a /${subnetLen} boundary`);
    return a;
  };
  // flannel's defaults: the first subnet after the network address, and the last one.
  const subnetMin = bound('SubnetMin', (network.net + step) >>> 0);
  const subnetMax = bound('SubnetMax', lastNet);
  if (subnetMin > subnetMax) return bad(`has SubnetMin ${ipv4AddrFormat(subnetMin)} above SubnetMax ${ipv4AddrFormat(subnetMax)}`);
  const backend = j.Backend ?? {};
  if (!isObj(backend)) return bad('has a Backend that is not an object: expected {"Type":"vxlan"}');
  // flannel's own default backend is udp; this node speaks vxlan only, and says so.
  const type = backend.Type ?? 'udp';
  if (type !== 'vxlan')
    return bad(`has Backend.Type ${JSON.stringify(type)}: vxlan-user speaks flannel's vxlan backend only (set "Backend":{"Type":"vxlan"})`);
  let vni = FLANNEL_DEFAULT_VNI;
  if (backend.VNI !== undefined) {
    if (!isInt(backend.VNI) || backend.VNI < VNI_MIN || backend.VNI > VNI_MAX) return bad(`has Backend.VNI ${JSON.stringify(backend.VNI)}: it must be an integer ${VNI_MIN}..${VNI_MAX}`);
    vni = backend.VNI;
  }
  let port = FLANNEL_DEFAULT_PORT;
  if (backend.Port !== undefined && backend.Port !== 0) {
    if (!isInt(backend.Port) || backend.Port < PORT_MIN || backend.Port > PORT_MAX) return bad(`has Backend.Port ${JSON.stringify(backend.Port)}: it must be an integer ${PORT_MIN}..${PORT_MAX} (0 = 8472)`);
    port = backend.Port;
  }
  if (backend.GBP === true) return bad('has Backend.GBP true: group-based policy is not supported by vxlan-user');
  if (backend.DirectRouting === true) return bad('has Backend.DirectRouting true: direct routing is not supported by vxlan-user');
  return { network, subnetLen, subnetMin, subnetMax, vni, port, raw: j };
}

// ───────────────────────────────────────── <prefix>/subnets/<key> ─────────────────────────────────────────

export interface FlannelLease {
  readonly subnet: Subnet;
  readonly publicIp: string;
  readonly vni: number;
  /** VtepMAC, lower-case colon form, and as a 48-bit number. */
  readonly mac: string;
  readonly macNum: number;
}

/** `<prefix>/subnets/10.244.3.0-24` (optionally `&fd00::-64`) → the IPv4 subnet, or a sentence. */
export function parseSubnetKey(key: string, prefix: string): Subnet | string {
  const base = `${prefix}/subnets/`;
  if (!key.startsWith(base)) return `${key} is not under ${base}`;
  const name = key.slice(base.length).split('&')[0]!;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})-(\d{1,2})$/.exec(name);
  if (!m) return `${key} is not a subnet key like ${base}10.244.3.0-24`;
  const s = parseSubnet(`${m[1]}/${m[2]}`);
  return typeof s === 'string' ? `${key}: ${s}` : s;
}

export function subnetKey(prefix: string, s: Subnet): string {
  return `${prefix}/subnets/${subnetKeyName(s)}`;
}

/**
 * Parses a lease value the way flannel's vxlan backend reads it (lease.Attrs): PublicIP, BackendType "vxlan",
 * BackendData.VtepMAC. BackendData.VNI, when present, must be the network's.
 */
export function parseLease(key: string, subnet: Subnet, text: string, cfg: NetworkConfig): FlannelLease {
  const bad = (what: string): never => {
    throw new LayoutError(key, `${key} ${what}`);
  };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return bad('is not JSON: expected a flannel lease like {"PublicIP":"192.168.0.21","BackendType":"vxlan","BackendData":{"VtepMAC":"..."}}');
  }
  if (!isObj(j)) return bad('must be a JSON object with PublicIP, BackendType and BackendData');
  if (subnet.len !== cfg.subnetLen || !subnetContains(cfg.network, subnet))
    return bad(`is outside Network ${subnetText(cfg.network)} (or not a /${cfg.subnetLen}): ignored`);
  if (j.BackendType !== undefined && j.BackendType !== 'vxlan') return bad(`has BackendType ${JSON.stringify(j.BackendType)}: only vxlan leases are programmed`);
  const pub = typeof j.PublicIP === 'string' ? ipv4AddrParse(j.PublicIP) : undefined;
  if (pub === undefined) return bad(`has no usable PublicIP (${JSON.stringify(j.PublicIP)}): expected an IPv4 address`);
  const data = j.BackendData;
  if (!isObj(data) || typeof data.VtepMAC !== 'string') return bad('lacks BackendData.VtepMAC: a vxlan lease names its VTEP MAC');
  const macNum = macParse(data.VtepMAC);
  if (macNum === undefined || macNum === 0 || macIsMulticast(macNum)) return bad(`has VtepMAC ${JSON.stringify(data.VtepMAC)}, which is not a unicast MAC address`);
  if (data.VNI !== undefined && data.VNI !== cfg.vni) return bad(`has BackendData.VNI ${JSON.stringify(data.VNI)}, but the network's VNI is ${cfg.vni}`);
  return { subnet, publicIp: ipv4AddrFormat(pub), vni: cfg.vni, mac: macFormat(macNum), macNum };
}

/** The lease JSON flanneld writes (field order and nulls as flannel's json.Marshal of lease.LeaseAttrs). */
export function formatLease(publicIp: string, vni: number, mac: string): string {
  return JSON.stringify({ PublicIP: publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: vni, VtepMAC: mac } });
}

// ───────────────────────────────────────────── allocation ─────────────────────────────────────────────

/**
 * Free subnets in [SubnetMin, SubnetMax], in order, at most `limit` of them (flannel picks at random from the
 * first 100 free ones, so two nodes starting together rarely race for the same key).
 */
export function freeSubnets(cfg: NetworkConfig, taken: ReadonlySet<number>, limit = 100): Subnet[] {
  const out: Subnet[] = [];
  const step = size(cfg.subnetLen);
  for (let n = cfg.subnetMin; n <= cfg.subnetMax && out.length < limit; n += step) if (!taken.has(n)) out.push({ net: n, len: cfg.subnetLen });
  return out;
}

/** True when `s` may be leased under `cfg` (inside Network, in range, the right length). */
export function subnetUsable(cfg: NetworkConfig, s: Subnet): boolean {
  return s.len === cfg.subnetLen && subnetContains(cfg.network, s) && s.net >= cfg.subnetMin && s.net <= cfg.subnetMax;
}
