/**
 * Reload of a running instance (SIGHUP, or `vxlan-user reload`): the `up` command line is parsed again —
 * which re-reads its --config file — and the result replaces the FDB, the neighbours and the routes.
 *
 * Order, so that a refusal leaves the running state exactly as it was:
 *   1. parse + validate (the config module's own checks; an invalid file is refused with its error);
 *   2. refuse changes to what cannot change live (VNI, port, local address, ...), naming each field;
 *   3. routes: diffed against the installed set — unchanged routes are not touched, new ones added, changed
 *      gateways replaced, gone ones deleted; a route the host refuses rolls back the route changes made so far;
 *   4. tables: FDB and neighbours replaced in one synchronous step (tables.ts), --peers-only applied.
 *
 * The file (plus the command line's flags) is the whole truth after a reload: FDB and neighbour entries added
 * at runtime with `vxlan-user fdb` / `neigh` and not in the file are removed. Write them into the file to keep
 * them.
 */
import type { RouteSpec, UpConfig } from '../config/config-types.js';
import { parseUpArgs } from '../config/config.js';
import { DEVICE_KEYS } from '../config/raw.js';
import { VxlanUserError } from '../config/errors.js';
import { ip } from './host.js';
import type { Device, Instance, Logger } from './instance.js';
import type { Notifier } from './notifier.js';
import type { EtcdShow } from '../ops/control-protocol.js';
import { replaceFdb, replaceNeigh, type TableContext, type TableDiff } from './tables.js';

/** The live state of one device of an `up` process that the control plane reads and changes. */
export interface Runtime {
  readonly inst: Instance;
  /** The device this runtime serves (its control socket, its tables); a single-VNI process has one. */
  readonly dev: Device;
  /** A `vnis:` process: every device's runtime, and how a reload opens and closes one. */
  readonly group?: DeviceGroup;
  /** The `up` arguments, parsed again on every reload. */
  readonly argv: readonly string[];
  readonly tables: TableContext;
  readonly log: Logger;
  /** The configuration in force (the start-up one, then each accepted reload's). */
  config: UpConfig;
  reloads: number;
  /** One line about the last reload attempt (time and outcome), for `show`. */
  lastReload: string | undefined;
  /** Where --metrics listens, once it does. */
  metrics: string | undefined;
  /** systemd, when it supervises us (sd-notify.ts): told RELOADING=1 / READY=1 around each reload. */
  notify?: Notifier | undefined;
  /** etcd mode (control/flannel/): what `show` prints about the membership. */
  membership?: () => EtcdShow;
}

/** The devices of a `vnis:` process as the operations side serves them (one control socket each). */
export interface DeviceGroup {
  /** Every device's runtime, by device name. */
  readonly byName: Map<string, Runtime>;
  /** The runtime the process-wide views (metrics) were built on: told about every reload too. */
  readonly head: Runtime;
  /** Starts serving a device a reload added (its runtime and control socket). */
  open(dev: Device, config: UpConfig): Runtime;
  /** Stops serving a device a reload is about to remove. */
  close(name: string): void;
}

/** The --config file named in `up`'s arguments, if any. */
export function configFileOf(argv: readonly string[]): string | undefined {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--config') file = argv[++i];
    else if (a.startsWith('--config=')) file = a.slice('--config='.length);
  }
  return file;
}

/** Fields of UpConfig that a running single-VNI instance cannot change: the socket, the device and the metrics server. */
const FIXED: readonly string[] = [
  'vni', 'name', 'dstport', 'local', 'dev', 'mac', 'mtu', 'addr', 'io', 'offload', 'metrics', 'learning', 'ageing',
  'ttl', 'tos', 'df', 'udpcsum', 'udp6zerocsumtx', 'udp6zerocsumrx', 'srcport', 'txPath', 'reservedBits',
];
/** Of those, a device's own (a `vnis:` reload may remove the device and add another instead)... */
const DEVICE_FIXED: readonly string[] = FIXED.filter((k) => DEVICE_KEYS.includes(k));
/** ...and the ones every device of the process shares: the sockets and the metrics server. */
const SHARED_FIXED: readonly string[] = FIXED.filter((k) => !DEVICE_KEYS.includes(k));

const show = (v: unknown): string => (v === undefined ? '(unset)' : Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** One phrase per fixed field that differs: `vni 10001 → 10002`. */
export function fixedChanges(cur: UpConfig, next: UpConfig, fields: readonly string[] = FIXED): string[] {
  const out: string[] = [];
  for (const k of fields) {
    const a = show((cur as unknown as Record<string, unknown>)[k]);
    const b = show((next as unknown as Record<string, unknown>)[k]);
    if (a !== b) out.push(`${k} ${a} → ${b}`);
  }
  return out;
}

export interface RoutePlan {
  readonly add: readonly RouteSpec[];
  readonly change: readonly { readonly cidr: string; readonly from: string; readonly to: string }[];
  readonly del: readonly RouteSpec[];
}

/** What turns the installed routes into `next`: unchanged routes appear nowhere. */
export function planRoutes(current: ReadonlyMap<string, string>, next: readonly RouteSpec[]): RoutePlan {
  const add: RouteSpec[] = [];
  const change: { cidr: string; from: string; to: string }[] = [];
  const want = new Map(next.map((r) => [r.cidr, r.gateway]));
  for (const [cidr, gateway] of want) {
    const have = current.get(cidr);
    if (have === undefined) add.push({ cidr, gateway });
    else if (have !== gateway) change.push({ cidr, from: have, to: gateway });
  }
  const del = [...current].filter(([cidr]) => !want.has(cidr)).map(([cidr, gateway]) => ({ cidr, gateway }));
  return { add, change, del };
}

/**
 * Applies a route plan to `dev`, keeping `routes` current. Adds and replacements first (a failure undoes the
 * ones already made and throws), deletions last (a route already gone is fine: someone removed it by hand).
 */
export function applyRoutePlan(dev: string, routes: Map<string, string>, plan: RoutePlan, log: Logger): void {
  const undo: (() => void)[] = [];
  const step = (args: string[], what: string): void => {
    const r = ip(args);
    if (!r.ok) {
      for (const u of undo.reverse()) u();
      throw new VxlanUserError('EHOST', `${what}: ${r.stderr || 'ip ' + args.join(' ') + ' failed'}; no route was changed`);
    }
  };
  for (const r of plan.add) {
    step(['route', 'add', r.cidr, 'via', r.gateway, 'dev', dev], `cannot add route ${r.cidr} via ${r.gateway}`);
    routes.set(r.cidr, r.gateway);
    undo.push(() => {
      ip(['route', 'del', r.cidr, 'via', r.gateway, 'dev', dev]);
      routes.delete(r.cidr);
    });
  }
  for (const c of plan.change) {
    step(['route', 'replace', c.cidr, 'via', c.to, 'dev', dev], `cannot change route ${c.cidr} to go via ${c.to}`);
    routes.set(c.cidr, c.to);
    undo.push(() => {
      ip(['route', 'replace', c.cidr, 'via', c.from, 'dev', dev]);
      routes.set(c.cidr, c.from);
    });
  }
  for (const r of plan.del) {
    const res = ip(['route', 'del', r.cidr, 'via', r.gateway, 'dev', dev]);
    if (!res.ok) log(`reload: route ${r.cidr} via ${r.gateway} was already gone (${res.stderr})`);
    routes.delete(r.cidr);
  }
}

const diffText = (d: TableDiff): string => `+${d.added} -${d.removed} ~${d.changed}`;

/**
 * Reloads the instance from its command line and --config file. Returns a one-line summary; throws a
 * VxlanUserError (exit 2) when the reload is refused — the running state is then unchanged.
 */
export function reload(rt: Runtime): string {
  rt.notify?.reloading();
  try {
    return reloadOnce(rt);
  } finally {
    rt.notify?.ready(); // refused or not, the instance runs and serves again
  }
}

function reloadOnce(rt: Runtime): string {
  const file = configFileOf(rt.argv);
  const stamp = new Date().toISOString();
  try {
    if (file === undefined) throw new VxlanUserError('EUSAGE', 'reload refused: this instance was started without --config FILE, so there is nothing to re-read');
    let next: UpConfig;
    try {
      const parsed = parseUpArgs(rt.argv);
      if (parsed.help) throw new VxlanUserError('EUSAGE', 'reload refused: the command line asks for --help');
      next = parsed.config;
    } catch (e) {
      if (e instanceof VxlanUserError) throw new VxlanUserError('ECONFIG', `reload of ${file} refused, running state kept: ${e.message}`);
      throw e;
    }
    const refused = (what: string): VxlanUserError =>
      new VxlanUserError('ECONFIG', `reload of ${file} refused, running state kept: ${what} (restart the instance to apply)`);
    if (rt.group !== undefined) return reloadGroup(rt, rt.group, file, next, stamp, refused);
    if (next.vnis !== undefined) throw refused('a single-VNI instance cannot take a vnis: list while running');
    const fixed = fixedChanges(rt.config, next);
    if (fixed.length > 0) throw refused(`${fixed.join('; ')} cannot change while running`);
    const summary = `reloaded ${file}: ${reloadTables(rt, next, file)}`;
    rt.config = next;
    rt.reloads++;
    rt.lastReload = `${stamp} ${summary}`;
    return summary;
  } catch (e) {
    rt.lastReload = `${stamp} ${(e as Error).message}`;
    throw e;
  }
}

/** Routes, FDB, neighbours and --peers-only of one device from `next`; returns what changed, in one phrase. */
function reloadTables(rt: Runtime, next: UpConfig, file: string): string {
  const plan = planRoutes(rt.dev.routes, next.route);
  applyRoutePlan(rt.dev.tapName, rt.dev.routes, plan, rt.log);
  let fdb: TableDiff;
  try {
    fdb = replaceFdb(rt.tables, next.remote, next.fdb);
  } catch (e) {
    // Only the destination-slot limit can refuse here (dataplane/fdb.ts): say so plainly.
    throw new VxlanUserError('ERUNTIME', `reload of ${file} failed while replacing the FDB of ${rt.dev.tapName}: ${(e as Error).message}`);
  }
  const neigh = replaceNeigh(rt.tables, next.neigh);
  rt.tables.vtep.peersOnly = next.peersOnly ?? false;
  return `fdb ${diffText(fdb)}, neigh ${diffText(neigh)}, routes +${plan.add.length} -${plan.del.length} ~${plan.change.length}`;
}

/**
 * A `vnis:` process: devices are matched by name. Gone ones are removed, new ones added, kept ones get their
 * tables reloaded — each device alone, so the others' traffic never stops. What cannot change (the shared
 * socket keys, a kept device's VNI, MAC, MTU, ...) is refused before anything is touched.
 */
function reloadGroup(rt: Runtime, g: DeviceGroup, file: string, next: UpConfig, stamp: string, refused: (what: string) => VxlanUserError): string {
  if (next.vnis === undefined) throw refused('a vnis: list cannot become a single-VNI config while running');
  const shared = fixedChanges(rt.config, next, SHARED_FIXED);
  const want = new Map(next.vnis.map((d) => [d.name, d]));
  const perDevice: string[] = [];
  for (const [name, cur] of g.byName) {
    const d = want.get(name);
    if (d !== undefined) perDevice.push(...fixedChanges(cur.config, d, DEVICE_FIXED).map((c) => `${name}: ${c}`));
  }
  const fixed = [...shared, ...perDevice];
  if (fixed.length > 0) throw refused(`${fixed.join('; ')} cannot change while running`);
  const removed = [...g.byName.keys()].filter((n) => !want.has(n));
  // Removed first: their VNIs and destination slots are free for the added ones.
  for (const name of removed) {
    g.close(name);
    rt.inst.removeDevice(name);
  }
  const added: string[] = [];
  for (const d of next.vnis) {
    if (g.byName.has(d.name)) continue;
    let dev: Device;
    try {
      dev = rt.inst.addDevice(d);
    } catch (e) {
      const gone = removed.length > 0 ? ` (${removed.join(', ')} already removed)` : '';
      throw new VxlanUserError('ERUNTIME', `reload of ${file} failed while adding ${d.name}: ${(e as Error).message}${gone}`);
    }
    g.open(dev, d);
    added.push(d.name);
  }
  const parts: string[] = [];
  for (const d of next.vnis) {
    if (added.includes(d.name)) continue;
    const r = g.byName.get(d.name)!;
    parts.push(`${d.name} ${reloadTables(r, d, file)}`);
    r.config = d;
  }
  const summary = `reloaded ${file}: devices +${added.length} -${removed.length}${added.length ? ` (added ${added.join(', ')})` : ''}${removed.length ? ` (removed ${removed.join(', ')})` : ''}; ${parts.join('; ')}`;
  for (const r of new Set([...g.byName.values(), g.head])) {
    r.reloads++;
    r.lastReload = `${stamp} ${summary}`;
  }
  return summary;
}
