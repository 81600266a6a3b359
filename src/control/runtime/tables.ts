/**
 * Live changes to a running VTEP's tables: the FDB (`bridge fdb add|append|replace|del`), the static
 * neighbours answered by proxy-ARP and the NDP proxy (`ip neigh add|replace|del`, IPv4 and IPv6), and a
 * whole-table replacement for a reload.
 *
 * Atomicity: the dataplane runs in event-loop callbacks, one batch at a time, and every function here is
 * synchronous, so no batch ever runs in the middle of a change. On top of that each FDB entry is published
 * immutable (a new entry swapped in with one Map.set, see dataplane/fdb.ts) and the neighbour Map is built
 * aside and swapped whole. A packet sees the table before or after a change, never half of it.
 *
 * Refusals are VxlanUserErrors (exit 2), one sentence with the offending value, like the config module's:
 * values are read by grammar.ts, as the client (cli/ctl.ts) and the config read them, then checked against
 * this instance (its socket's family, --local, --addr), as the config checks them across its entries.
 */
import type { FdbSpec, NeighSpec } from '../config/config-types.js';
import type { FdbAction, FdbRow, NeighAction, NeighRow } from '../ops/control-protocol.js';
import { VxlanUserError } from '../config/errors.js';
import { MAC_ZERO } from '../../dataplane/fdb.js';
import type { Vtep } from '../../dataplane/vtep.js';
import { Neigh6Table } from '../../dataplane/ndp-proxy.js';
import { macFormat } from '../../wire/mac.js';
import { ipv4AddrFormat, ipv4AddrParse } from '../../wire/ipv4.js';
import {
  cidrOf,
  defaultDestinationOwnPortOrVni,
  NEIGHBOUR_IS_SELF,
  neighbourOffLink,
  parseFdbCommand,
  parseNeighCommand,
  type NeighCommandRow,
  PEER_IS_SELF,
  type Ip,
} from '../config/grammar.js';

/** What the tables need to know about the instance they belong to. */
export interface TableContext {
  readonly vtep: Vtep;
  readonly vni: number;
  readonly dstport: number;
  /** The underlay family of the instance's one UDP socket. */
  readonly family: 4 | 6;
  /** `--local`, when given: no FDB destination may be this node itself. */
  readonly local?: string;
  /** `--addr` (CIDR text): a neighbour must be on one of these subnets and not one of these addresses. */
  readonly addr?: readonly string[];
}

function refuse(message: string): never {
  throw new VxlanUserError('ECONFIG', message);
}

/** The instance's side of an underlay destination: its socket's family, and not itself. */
function peerIp(ctx: TableContext, ip: Ip): string {
  if (ip.family !== ctx.family)
    refuse(`dst ${ip.text} is IPv${ip.family}, but this instance's underlay socket is IPv${ctx.family}: one instance sends from one socket`);
  if (ctx.local !== undefined && ip.text === ctx.local) refuse(`dst ${ip.text} conflicts with --local ${ctx.local}: ${PEER_IS_SELF}`);
  return ip.text;
}

// ───────────────────────────────────────────────────── FDB ─────────────────────────────────────────────────────

export interface FdbChange {
  readonly action: FdbAction;
  readonly mac: string;
  readonly dst?: string;
  readonly port?: number;
  readonly vni?: number;
}

/** Applies one `fdb` command. Returns a short description of what changed. */
export function applyFdbChange(ctx: TableContext, c: FdbChange): string {
  // The same grammar the client checked with (cli/ctl.ts), then what only the instance knows.
  const parsed = parseFdbCommand(c);
  if (typeof parsed === 'string') refuse(parsed);
  const mac = parsed.mac.macNum;
  if (mac === MAC_ZERO) {
    const own = defaultDestinationOwnPortOrVni(parsed.port, parsed.vni, ctx.dstport, ctx.vni);
    if (own !== undefined) refuse(`MAC ${parsed.mac.mac} ${own}`);
  }
  // Stored like the config module stores them: a port equal to --dstport and a VNI equal to --vni are the defaults.
  const port = parsed.port;
  const vni = parsed.vni === undefined || parsed.vni === ctx.vni ? undefined : parsed.vni;
  const fdb = ctx.vtep.fdb;
  const macText = macFormat(mac);
  const existing = fdb.lookup(mac);

  if (c.action === 'del') {
    if (parsed.dst === undefined) {
      if (!fdb.delete(mac)) refuse(`no FDB entry for ${macText}`);
      return `deleted ${macText}`;
    }
    const dst = peerIp(ctx, parsed.dst!);
    if (!fdb.removeRemote(mac, dst, port, parsed.vni === undefined ? undefined : (vni ?? -1)))
      refuse(`the FDB entry for ${macText} has no destination ${dst}${port !== undefined ? ` port ${port}` : ''}`);
    return `deleted ${macText} dst ${dst}`;
  }

  if (parsed.dst === undefined) refuse(`fdb ${c.action} needs 'dst IP'`);
  const dst = peerIp(ctx, parsed.dst);
  const row = { ip: dst, ...(port === undefined ? {} : { port }), ...(vni === undefined ? {} : { vni }) };
  try {
    switch (c.action) {
      case 'add':
        // `bridge fdb add` of an existing MAC: "RTNETLINK answers: File exists".
        if (existing) refuse(`an FDB entry for ${macText} already exists (${existing.remotes.map((r) => r.ip).join(', ')}): use 'fdb replace' or 'fdb append'`);
        fdb.set(mac, [row]);
        return `added ${macText} dst ${dst}`;
      case 'append':
        fdb.append(mac, dst, port, vni);
        return `appended ${macText} dst ${dst}`;
      case 'replace':
        fdb.set(mac, [row]);
        return `replaced ${macText} dst ${dst}`;
    }
  } catch (e) {
    if (e instanceof RangeError) throw new VxlanUserError('ERUNTIME', e.message);
    throw e;
  }
}

/** The FDB as rows, sorted by MAC then in remote order (the all-zeros entry first, like `bridge fdb show`). */
export function fdbRows(ctx: TableContext): FdbRow[] {
  const rows: FdbRow[] = [];
  const entries = ctx.vtep.fdb.all().sort((a, b) => a.mac - b.mac);
  for (const e of entries)
    for (const r of e.remotes)
      rows.push({
        mac: macFormat(e.mac),
        dst: r.ip,
        ...(r.port !== ctx.dstport ? { port: r.port } : {}),
        ...(r.vni >= 0 && r.vni !== ctx.vni ? { vni: r.vni } : {}),
        // Learned entries (--learning) print like the kernel's: no state word (`bridge -j` gives "").
        state: e.static ? 'permanent' : '',
      });
  return rows;
}

// ───────────────────────────────────────────────── neighbours ─────────────────────────────────────────────────

export interface NeighChange {
  readonly action: NeighAction;
  readonly ip: string;
  readonly lladdr?: string;
}

/**
 * Applies one `neigh` command: IPv4 entries are answered by proxy-ARP (the `neigh` map), IPv6 ones by the NDP
 * proxy (the Neigh6Table, rebuilt aside and swapped whole, like the map).
 */
export function applyNeighChange(ctx: TableContext, c: NeighChange): string {
  // IPv6 entries: the NDP proxy's table. IPv4: the same grammar the client checked with (cli/ctl.ts), then the
  // config's rules against this instance's --addr.
  const parsed = parseNeighCommand(c);
  if (typeof parsed === 'string') refuse(parsed);
  if (parsed.ip.family === 6) return applyNeigh6Change(ctx, c.action, parsed);
  const ipText = parsed.ip.text;
  const ip = ipv4AddrParse(ipText)!;
  const cur = ctx.vtep.neigh;
  if (c.action === 'del') {
    if (!cur.has(ip)) refuse(`no neighbour entry for ${ipText}`);
    const next = new Map(cur);
    next.delete(ip);
    ctx.vtep.neigh = next;
    return `deleted ${ipText}`;
  }
  if (parsed.lladdr === undefined) refuse(`neigh ${c.action} needs 'lladdr MAC'`);
  const addrs = (ctx.addr ?? []).map(cidrOf);
  const own = addrs.find((a) => a.ip.text === ipText);
  if (own !== undefined) refuse(`neighbour ${ipText} conflicts with --addr ${own.ip.text}/${own.prefix}: ${NEIGHBOUR_IS_SELF}`);
  const offLink = neighbourOffLink(parsed.ip, addrs);
  if (offLink !== undefined) refuse(`neighbour ${ipText} ${offLink}`);
  const mac = parsed.lladdr.macNum;
  const old = cur.get(ip);
  if (c.action === 'add' && old !== undefined)
    refuse(`a neighbour entry for ${ipText} already exists (lladdr ${macFormat(old)}): use 'neigh replace'`);
  const next = new Map(cur);
  next.set(ip, mac);
  ctx.vtep.neigh = next;
  return `${c.action === 'add' ? 'added' : 'replaced'} ${ipText} lladdr ${macFormat(mac)}`;
}

function applyNeigh6Change(ctx: TableContext, action: NeighAction, parsed: NeighCommandRow): string {
  const ipText = parsed.ip.text;
  const entries = ctx.vtep.neigh6.entries();
  const at = entries.findIndex(([ip]) => ip === ipText);
  if (action === 'del') {
    if (at < 0) refuse(`no neighbour entry for ${ipText}`);
    entries.splice(at, 1);
    ctx.vtep.neigh6 = new Neigh6Table(entries);
    return `deleted ${ipText}`;
  }
  if (parsed.lladdr === undefined) refuse(`neigh ${action} needs 'lladdr MAC'`);
  const mac = parsed.lladdr.macNum;
  if (action === 'add' && at >= 0)
    refuse(`a neighbour entry for ${ipText} already exists (lladdr ${macFormat(entries[at]![1])}): use 'neigh replace'`);
  if (at >= 0) entries[at] = [ipText, mac];
  else entries.push([ipText, mac]);
  ctx.vtep.neigh6 = new Neigh6Table(entries);
  return `${action === 'add' ? 'added' : 'replaced'} ${ipText} lladdr ${macFormat(mac)}`;
}

/** IPv4 neighbours by address, then IPv6 ones in the order they were added (as `ip neigh show` lists families). */
export function neighRows(ctx: TableContext): NeighRow[] {
  const row = (dst: string, mac: number): NeighRow => ({ dst, lladdr: macFormat(mac), state: ['PERMANENT'] as const });
  return [
    ...[...ctx.vtep.neigh.entries()].sort((a, b) => a[0] - b[0]).map(([ip, mac]) => row(ipv4AddrFormat(ip), mac)),
    ...ctx.vtep.neigh6.entries().map(([ip, mac]) => row(ip, mac)),
  ];
}

// ───────────────────────────────────────────────── whole tables ─────────────────────────────────────────────────

export interface TableDiff {
  readonly added: number;
  readonly removed: number;
  readonly changed: number;
}

/** The FDB a configuration describes: MAC → rows (the all-zeros entry holds the default destinations). */
function desiredFdb(remote: readonly string[], fdb: readonly FdbSpec[]): Map<number, { ip: string; port?: number; vni?: number }[]> {
  const want = new Map<number, { ip: string; port?: number; vni?: number }[]>();
  const push = (mac: number, row: { ip: string; port?: number; vni?: number }): void => {
    const l = want.get(mac);
    if (l) l.push(row);
    else want.set(mac, [row]);
  };
  for (const r of remote) push(MAC_ZERO, { ip: r });
  for (const f of fdb) push(f.macNum, { ip: f.ip, ...(f.port === undefined ? {} : { port: f.port }), ...(f.vni === undefined ? {} : { vni: f.vni }) });
  return want;
}

const remoteKey = (r: { ip: string; port: number; vni: number }): string => `${r.ip}|${r.port}|${r.vni}`;

/**
 * Makes the FDB exactly what `remote` + `fdb` describe (a reload). Entries that already match are left alone
 * (same published object), others are swapped one by one — all within this synchronous call.
 */
export function replaceFdb(ctx: TableContext, remote: readonly string[], fdb: readonly FdbSpec[]): TableDiff {
  const want = desiredFdb(remote, fdb);
  const f = ctx.vtep.fdb;
  let added = 0;
  let removed = 0;
  let changed = 0;
  for (const e of f.all()) {
    if (!e.static) continue; // learned entries are traffic's, not the file's: a reload keeps them
    if (!want.has(e.mac)) {
      f.delete(e.mac);
      removed++;
    }
  }
  for (const [mac, rows] of want) {
    const old = f.lookup(mac);
    const norm = rows.map((r) => ({ ip: r.ip, port: r.port ?? ctx.dstport, vni: r.vni === undefined || r.vni === ctx.vni ? -1 : r.vni }));
    if (old && old.remotes.length === norm.length && old.remotes.every((r, i) => remoteKey(r) === remoteKey(norm[i]!))) continue;
    f.set(mac, norm.map((r) => ({ ip: r.ip, port: r.port, ...(r.vni >= 0 ? { vni: r.vni } : {}) })));
    if (old) changed++;
    else added++;
  }
  return { added, removed, changed };
}

/**
 * Replaces the neighbour tables with `neigh` — IPv4 entries for proxy-ARP, IPv6 ones for the NDP proxy — each
 * in one swap.
 */
export function replaceNeigh(ctx: TableContext, neigh: readonly NeighSpec[]): TableDiff {
  const next = new Map<number | string, number>();
  for (const n of neigh) next.set(ipv4AddrParse(n.ip) ?? n.ip, n.macNum); // IPv6 keyed by canonical text
  const cur = new Map<number | string, number>([...ctx.vtep.neigh, ...ctx.vtep.neigh6.entries()]);
  let added = 0;
  let removed = 0;
  let changed = 0;
  for (const [ip, mac] of next) {
    const old = cur.get(ip);
    if (old === undefined) added++;
    else if (old !== mac) changed++;
  }
  for (const ip of cur.keys()) if (!next.has(ip)) removed++;
  const v4 = new Map<number, number>();
  const v6: [string, number][] = [];
  for (const [ip, mac] of next) {
    if (typeof ip === 'number') v4.set(ip, mac);
    else v6.push([ip, mac]);
  }
  ctx.vtep.neigh = v4;
  ctx.vtep.neigh6 = new Neigh6Table(v6);
  return { added, removed, changed };
}
