/**
 * The control commands: `vxlan-user fdb|neigh|stats|show|reload|down`, each a client of the running
 * instance's control socket (control-protocol.ts), in the grammar of `bridge fdb` and `ip neigh`.
 *
 * Every command takes `--name IFNAME` (default vxlan0) or `dev IFNAME`, and talks to the instance of that name
 * in the caller's network namespace. Exit codes: 0 ok, 1 no such instance or runtime failure, 2 bad usage or a
 * refused change, 4 permission denied (a change without CAP_NET_ADMIN; reads are open to every local user).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { DEFAULT_NAME } from '../control/config/defaults.js';
import {
  controlSocketPath,
  encodeLine,
  FDB_ACTIONS,
  formatDuration,
  formatFdbRow,
  formatNeighRow,
  LineSplitter,
  NEIGH_ACTIONS,
  type FdbAction,
  type FdbRow,
  type NeighAction,
  type NeighRow,
  type Request,
  type Response,
  type ShowData,
} from '../control/ops/control-protocol.js';
import { ConfigError, UsageError, VxlanUserError } from '../control/config/errors.js';
import { parseFdbCommand, parseNeighCommand } from '../control/config/grammar.js';
import { COUNTER_NAMES, DROP_REASONS } from '../dataplane/counters.js';
import { formatEtcdShow } from '../control/flannel/node.js';

export const CTL_COMMANDS = ['fdb', 'neigh', 'stats', 'show', 'reload', 'down'] as const;
export type CtlCommand = (typeof CTL_COMMANDS)[number];

const REQUEST_TIMEOUT_MS = 10_000;

// ───────────────────────────────────────────────── the client ─────────────────────────────────────────────────

/** One connection to an instance's control socket; requests are answered in order. */
export class ControlClient {
  private readonly waiting: ((r: Response) => void)[] = [];
  /** Responses that came before their request was sent: a server that refuses the connection answers at once. */
  private readonly early: Response[] = [];
  private readonly lines = new LineSplitter(16 * 1024 * 1024);
  private closedResolve!: () => void;
  /** Resolves when the server closes the connection (after `down`: when the instance has exited). */
  readonly closed = new Promise<void>((r) => (this.closedResolve = r));

  private constructor(private readonly sock: Socket, private readonly name: string) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      for (const line of this.lines.push(chunk)) {
        const r = JSON.parse(line) as Response;
        const w = this.waiting.shift();
        if (w) w(r);
        else this.early.push(r);
      }
    });
    sock.on('close', () => {
      this.closedResolve();
      for (const w of this.waiting.splice(0)) w({ ok: false, exit: 1, error: `the instance ${this.name} closed the connection` });
    });
    sock.on('error', () => {});
  }

  static open(name: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(controlSocketPath(name));
      sock.once('connect', () => resolve(new ControlClient(sock, name)));
      sock.once('error', (e: NodeJS.ErrnoException) => {
        const none = e.code === 'ECONNREFUSED' || e.code === 'ENOENT';
        reject(
          new VxlanUserError(
            'ERUNTIME',
            none
              ? `no vxlan-user instance named ${name} in this network namespace (nothing listens on @vxlan-user/${name}); see --name`
              : `cannot reach the instance ${name}: ${e.message}`,
          ),
        );
      });
    });
  }

  request(req: Request): Promise<Response> {
    const early = this.early.shift();
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new VxlanUserError('ERUNTIME', `the instance ${this.name} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
      this.waiting.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.sock.write(encodeLine(req));
    });
  }

  close(): void {
    this.sock.end();
  }
}

/** Sends one request and returns its data; a refusal becomes a VxlanUserError with the server's exit code. */
async function call(name: string, req: Request): Promise<unknown> {
  const c = await ControlClient.open(name);
  try {
    return unwrap(await c.request(req));
  } finally {
    c.close();
  }
}

function unwrap(r: Response): unknown {
  if (r.ok) return r.data;
  throw new VxlanUserError(r.exit === 1 ? 'ERUNTIME' : r.exit === 4 ? 'EDENIED' : 'ECONFIG', r.error);
}

// ───────────────────────────────────────────────── arguments ─────────────────────────────────────────────────

interface CommonArgs {
  name: string;
  json: boolean;
  help: boolean;
  /** Words that are not common options, in order. */
  words: string[];
}

/** Pulls out `--name X`, `--name=X`, `dev X`, `--json`/`-j`, `-h`/`--help`; refuses other dashed options. */
function common(argv: readonly string[], cmd: string, extraFlags: readonly string[] = []): CommonArgs & { flags: Map<string, string | true> } {
  const out = { name: DEFAULT_NAME, json: false, help: false, words: [] as string[], flags: new Map<string, string | true>() };
  let nameSeen: string | undefined;
  const setName = (v: string | undefined, how: string): void => {
    if (v === undefined || v === '') throw new UsageError(`${how} needs an interface name; see 'vxlan-user ${cmd} --help'`);
    if (nameSeen !== undefined && nameSeen !== v) throw new UsageError(`two device names given (${nameSeen} and ${v}); give one with --name or dev`);
    nameSeen = v;
    out.name = v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--name') setName(argv[++i], '--name');
    else if (a.startsWith('--name=')) setName(a.slice(7), '--name');
    else if (a === 'dev') setName(argv[++i], 'dev');
    else if (a === '--json' || a === '-j') out.json = true;
    else if (a === '--help' || a === '-h' || a === 'help') out.help = true;
    else if (a.startsWith('-')) {
      const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
      const spec = extraFlags.find((f) => f.replace(/=$/, '') === flag);
      if (spec === undefined) throw new UsageError(`unknown option '${a}'; see 'vxlan-user ${cmd} --help'`);
      if (spec.endsWith('=')) {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`option '${flag}' needs a value; see 'vxlan-user ${cmd} --help'`);
        out.flags.set(flag, v);
      } else out.flags.set(flag, true);
    } else out.words.push(a);
  }
  return out;
}

function intArg(text: string | undefined, what: string, min: number, max: number, cmd: string): number {
  if (text === undefined) throw new UsageError(`'${what}' needs a value; see 'vxlan-user ${cmd} --help'`);
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${what} ${text} is out of range: ${min}..${max}`);
  return Number(text);
}

/** Keyword arguments after the positional ones: `dst IP port P vni N`, with a few no-op words accepted. */
function keywords(words: readonly string[], allowed: readonly string[], ignored: readonly string[], cmd: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (ignored.includes(w)) continue;
    if (w === 'nud') {
      const state = words[++i];
      if (state !== 'permanent' && state !== 'PERMANENT') throw new UsageError(`only 'nud permanent' neighbours exist here (got '${state ?? ''}')`);
      continue;
    }
    if (!allowed.includes(w)) throw new UsageError(`unexpected '${w}': ${cmd} takes ${allowed.map((a) => `${a} ...`).join(', ')}; see 'vxlan-user ${cmd} --help'`);
    const v = words[++i];
    if (v === undefined) throw new UsageError(`'${w}' needs a value; see 'vxlan-user ${cmd} --help'`);
    if (kv.has(w)) throw new UsageError(`'${w}' given twice`);
    kv.set(w, v);
  }
  return kv;
}

// ───────────────────────────────────────────────── commands ─────────────────────────────────────────────────

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') || s === '' ? s : `${s}\n`);

export async function runCtl(cmd: CtlCommand, argv: readonly string[]): Promise<number> {
  switch (cmd) {
    case 'fdb':
      return fdbCmd(argv);
    case 'neigh':
      return neighCmd(argv);
    case 'stats':
      return statsCmd(argv);
    case 'show':
      return showCmd(argv);
    case 'reload':
      return simpleCmd(argv, 'reload', HELP.reload);
    case 'down':
      return downCmd(argv);
  }
}

const isShow = (verb: string | undefined): verb is undefined | 'show' | 'list' | 'ls' => verb === undefined || verb === 'show' || verb === 'list' || verb === 'ls';

/** `fdb show` / `neigh show`: one line per row in iproute2's format, or the rows as JSON. */
async function showTable<R>(a: CommonArgs, rest: readonly string[], table: 'fdb' | 'neigh', format: (r: R) => string): Promise<number> {
  if (rest.length > 0) throw new UsageError(`unexpected '${rest[0]}' after '${table} show'`);
  const rows = (await call(a.name, { op: `${table}-show` })) as R[];
  out(a.json ? JSON.stringify(rows) : rows.map(format).join('\n'));
  return 0;
}

async function fdbCmd(argv: readonly string[]): Promise<number> {
  const a = common(argv, 'fdb');
  if (a.help) return help(HELP.fdb);
  const [verb, ...rest] = a.words;
  if (isShow(verb)) return showTable(a, rest, 'fdb', (r: FdbRow) => formatFdbRow(r, a.name));
  if (!(FDB_ACTIONS as readonly string[]).includes(verb)) throw new UsageError(`unknown fdb command '${verb}': use add, append, replace, del or show`);
  const [mac, ...kw] = rest;
  if (mac === undefined) throw new UsageError(`fdb ${verb} needs a MAC address; see 'vxlan-user fdb --help'`);
  const kv = keywords(kw, ['dst', 'port', 'vni'], ['self', 'permanent', 'static'], 'fdb');
  // The instance's own grammar (control/config/grammar.ts), here too: a bad value exits 2 with the instance's
  // sentence, whether or not the instance runs.
  const row = parseFdbCommand({ mac, dst: kv.get('dst'), port: kv.get('port'), vni: kv.get('vni') });
  if (typeof row === 'string') throw new ConfigError(row);
  if (row.dst === undefined && verb !== 'del') throw new UsageError(`fdb ${verb} needs 'dst IP' (the peer's underlay address)`);
  const req: Request = {
    op: 'fdb',
    action: verb as FdbAction,
    mac: row.mac.mac,
    ...(row.dst === undefined ? {} : { dst: row.dst.text }),
    ...(row.port === undefined ? {} : { port: row.port }),
    ...(row.vni === undefined ? {} : { vni: row.vni }),
  };
  await call(a.name, req);
  return 0;
}

async function neighCmd(argv: readonly string[]): Promise<number> {
  const a = common(argv, 'neigh');
  if (a.help) return help(HELP.neigh);
  const [verb, ...rest] = a.words;
  if (isShow(verb)) return showTable(a, rest, 'neigh', (r: NeighRow) => formatNeighRow(r, a.name));
  if (!(NEIGH_ACTIONS as readonly string[]).includes(verb)) throw new UsageError(`unknown neigh command '${verb}': use add, replace, del or show`);
  const [ip, ...kw] = rest;
  if (ip === undefined) throw new UsageError(`neigh ${verb} needs an IP address; see 'vxlan-user neigh --help'`);
  const kv = keywords(kw, ['lladdr'], ['proxy'], 'neigh');
  const row = parseNeighCommand({ ip, lladdr: kv.get('lladdr') });
  if (typeof row === 'string') throw new ConfigError(row);
  if (row.lladdr === undefined && verb !== 'del') throw new UsageError(`neigh ${verb} needs 'lladdr MAC'`);
  await call(a.name, { op: 'neigh', action: verb as NeighAction, ip: row.ip.text, ...(row.lladdr === undefined ? {} : { lladdr: row.lladdr.mac }) });
  return 0;
}

interface StatsData {
  readonly uptime_s: number;
  readonly counters: Record<string, number>;
  /** A `vnis:` process: the datagrams that belong to no device (an unknown VNI, a bad header). */
  readonly socket?: Record<string, number>;
}

/** The counters as text: delivery counters grouped by direction, then the non-zero drops. */
export function formatStats(name: string, s: StatsData, rates?: Record<string, number>): string {
  const drops = new Set<string>(DROP_REASONS);
  const line = (n: string): string => {
    const v = s.counters[n] ?? 0;
    const r = rates?.[n];
    return `  ${n.padEnd(20)} ${String(v).padStart(14)}${r !== undefined && r !== 0 ? `  (${r >= 0 ? '+' : ''}${r.toFixed(0)}/s)` : ''}`;
  };
  const tx = COUNTER_NAMES.filter((n) => !drops.has(n) && !n.startsWith('rx_'));
  const rx = COUNTER_NAMES.filter((n) => !drops.has(n) && n.startsWith('rx_'));
  const nz = DROP_REASONS.filter((n) => (s.counters[n] ?? 0) !== 0);
  return [
    `${name}: up ${formatDuration(s.uptime_s)}`,
    'tx (TAP → underlay):',
    ...tx.map(line),
    'rx (underlay → TAP):',
    ...rx.map(line),
    nz.length === 0 ? 'drops: none' : 'drops:',
    ...nz.map(line),
    ...(s.socket !== undefined ? formatSocketSection(s.socket) : []),
  ].join('\n');
}

/** The shared socket's own counters: datagrams no device of the process took, by reason. */
function formatSocketSection(c: Record<string, number>): string[] {
  const nz = DROP_REASONS.filter((n) => (c[n] ?? 0) !== 0);
  return [
    `socket (datagrams for no device of this process): ${c.rx_datagrams ?? 0}`,
    ...nz.map((n) => `  ${n.padEnd(20)} ${String(c[n]).padStart(14)}`),
  ];
}

async function statsCmd(argv: readonly string[]): Promise<number> {
  const a = common(argv, 'stats', ['--watch', '--interval=', '--count=']);
  if (a.help) return help(HELP.stats);
  if (a.words.length > 0) throw new UsageError(`unexpected '${a.words[0]}'; see 'vxlan-user stats --help'`);
  const interval = a.flags.has('--interval') ? Number(a.flags.get('--interval')) : 1;
  if (!(interval >= 0.1 && interval <= 3600)) throw new UsageError(`--interval ${String(a.flags.get('--interval'))} is out of range: 0.1..3600 seconds`);
  const watch = a.flags.has('--watch') || a.flags.has('--count');
  const count = a.flags.has('--count') ? intArg(a.flags.get('--count') as string, '--count', 1, 1e9, 'stats') : Infinity;
  const c = await ControlClient.open(a.name);
  try {
    let prev: StatsData | undefined;
    let prevAt = 0;
    for (let i = 0; i < (watch ? count : 1); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, interval * 1000));
      const s = unwrap(await c.request({ op: 'stats' })) as StatsData;
      const now = Date.now();
      let rates: Record<string, number> | undefined;
      if (prev) {
        rates = {};
        const dt = (now - prevAt) / 1000;
        for (const n of COUNTER_NAMES) rates[n] = ((s.counters[n] ?? 0) - (prev.counters[n] ?? 0)) / dt;
      }
      if (a.json) out(JSON.stringify(watch ? { time: new Date(now).toISOString(), ...s, ...(rates ? { rates } : {}) } : s));
      else out(`${watch ? `${new Date(now).toISOString()}\n` : ''}${formatStats(a.name, s, rates)}${watch ? '\n' : ''}`);
      prev = s;
      prevAt = now;
    }
  } finally {
    c.close();
  }
  return 0;
}

async function showCmd(argv: readonly string[]): Promise<number> {
  const a = common(argv, 'show', ['--all']);
  if (a.help) return help(HELP.show);
  if (a.words.length > 0) throw new UsageError(`unexpected '${a.words[0]}'; see 'vxlan-user show --help'`);
  if (a.flags.has('--all')) return showAll(a.json);
  const d = (await call(a.name, { op: 'show' })) as ShowData;
  if (a.json) {
    out(JSON.stringify(d));
    return 0;
  }
  out(formatShow(d));
  return 0;
}

/**
 * `show --all`: every device of every vxlan-user process in this network namespace. The control sockets are
 * abstract Unix sockets, which /proc/net/unix lists per network namespace (`@vxlan-user/NAME`).
 */
async function showAll(json: boolean): Promise<number> {
  const names = runningDeviceNames();
  const rows: ShowData[] = [];
  for (const name of names) {
    try {
      rows.push((await call(name, { op: 'show' })) as ShowData);
    } catch {
      // Gone between the listing and the call (a process that just stopped): not ours to report.
    }
  }
  if (json) out(JSON.stringify(rows));
  else if (rows.length === 0) out('no vxlan-user device runs in this network namespace');
  else out(rows.map(formatShow).join('\n'));
  return 0;
}

/** Names of the devices whose control sockets listen in this network namespace, sorted. */
function runningDeviceNames(): string[] {
  const names = new Set<string>();
  let text = '';
  try {
    text = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    throw new VxlanUserError('EHOST', 'cannot read /proc/net/unix to list the running devices');
  }
  for (const line of text.split('\n')) {
    // Node binds abstract names with the whole sockaddr length: the kernel shows the padding NULs as '@'.
    const m = / @vxlan-user\/(\S+?)@*$/.exec(line);
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}

function formatShow(d: ShowData): string {
  const udp = d.local.includes(':') ? `[${d.local}]:${d.port}` : `${d.local}:${d.port}`;
  return (
    [
      `${d.name}: vni ${d.vni} udp ${udp} mac ${d.mac} mtu ${d.mtu} (underlay mtu ${d.underlayMtu})`,
      `  pid ${d.pid}, up ${formatDuration(d.uptimeS)}`,
      `  io ${d.io}: ${d.ioPath}`,
      `  addr ${d.addr.length ? d.addr.join(' ') : '(none)'}`,
      `  fdb ${d.fdbEntries} entries; default destinations ${d.defaultDestinations.length ? d.defaultDestinations.join(' ') : '(none)'}`,
      `  neigh ${d.neighbours} entries`,
      `  routes ${d.routes.length ? d.routes.map((r) => `${r.cidr} via ${r.gateway}`).join(', ') : '(none)'}`,
      `  peers-only ${d.peersOnly ? 'on' : 'off'}; metrics ${d.metrics ? `http://${d.metrics}/metrics` : 'off'}`,
      `  config ${d.configFile ?? '(command line only)'}; reloads ${d.reloads}${d.lastReload ? `; last: ${d.lastReload}` : ''}`,
      ...(d.devices ? [`  process devices ${d.devices.map((x) => `${x.name} (vni ${x.vni})`).join(', ')}`] : []),
      ...(d.etcd ? formatEtcdShow(d.etcd, formatDuration) : []),
    ].join('\n')
  );
}

async function simpleCmd(argv: readonly string[], op: 'reload', text: string): Promise<number> {
  const a = common(argv, op);
  if (a.help) return help(text);
  if (a.words.length > 0) throw new UsageError(`unexpected '${a.words[0]}'; see 'vxlan-user ${op} --help'`);
  const r = await call(a.name, { op });
  if (typeof r === 'string') out(r);
  return 0;
}

async function downCmd(argv: readonly string[]): Promise<number> {
  const a = common(argv, 'down');
  if (a.help) return help(HELP.down);
  if (a.words.length > 0) throw new UsageError(`unexpected '${a.words[0]}'; see 'vxlan-user down --help'`);
  const c = await ControlClient.open(a.name);
  unwrap(await c.request({ op: 'down' }));
  // The instance closes the connection when it exits, after removing its routes and device.
  const gone = await Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), REQUEST_TIMEOUT_MS).unref())]);
  c.close();
  if (!gone) throw new VxlanUserError('ERUNTIME', `the instance ${a.name} accepted down but has not exited within ${REQUEST_TIMEOUT_MS / 1000} s`);
  return 0;
}

function help(text: string): number {
  out(text);
  return 0;
}

const NAME_OPT = `  --name IFNAME, dev IFNAME   the instance (its TAP device name) in this network namespace; default ${DEFAULT_NAME}`;

export const HELP: Record<CtlCommand, string> = {
  fdb: `Usage: vxlan-user fdb add|append|replace MAC dst IP [port P] [vni N] [--name IFNAME | dev IFNAME]
       vxlan-user fdb del MAC [dst IP [port P] [vni N]] [--name IFNAME]
       vxlan-user fdb show [--json] [--name IFNAME]

Changes the forwarding database of a running vxlan-user, as 'bridge fdb' does for the kernel's
vxlan device. 00:00:00:00:00:00 is the default-destination entry (flooding).
  add       a new entry; refused (exit 2) if the MAC has one        kernel: bridge fdb add
  append    one more destination for the MAC (creates the entry)    kernel: bridge fdb append
  replace   the MAC's entry becomes exactly this one destination     kernel: bridge fdb replace
  del       the whole entry, or only the destination given          kernel: bridge fdb del
  show      one line per destination, like 'bridge fdb show dev IFNAME'
The words 'self', 'permanent' and 'static' are accepted and ignored (every entry is static).
MAC, IP, port and VNI are read as 'up --fdb' reads them (docs/config.md); a malformed one exits 2
before the instance is asked. A group MAC and this node's own --local are refused, as in the config.
${NAME_OPT}
Exit codes: 0 ok, 1 no such instance, 2 bad usage or refused change, 4 permission denied
(changes need CAP_NET_ADMIN over the instance's network namespace; show is open to all).`,
  neigh: `Usage: vxlan-user neigh add|replace IP lladdr MAC [nud permanent] [--name IFNAME | dev IFNAME]
       vxlan-user neigh del IP [--name IFNAME]
       vxlan-user neigh show [--json] [--name IFNAME]

Changes the static neighbours a running vxlan-user answers locally - ARP for IPv4 (proxy-ARP),
neighbour solicitations for IPv6 (NDP proxy) - as 'ip neigh add IP lladdr MAC nud permanent' does
on the kernel's vxlan device.
  add is refused (exit 2) when the IP has an entry; replace creates or overwrites.
IP and MAC are read as 'up --neigh' reads them (docs/config.md); a malformed one exits 2 before the
instance is asked. As in the config, IP must lie in one of the instance's --addr subnets and not
be one of its own addresses.
${NAME_OPT}`,
  stats: `Usage: vxlan-user stats [--json] [--watch [--interval S] [--count N]] [--name IFNAME]

Prints the counters of a running vxlan-user: every frame read from the TAP and every datagram
received ends as delivered or as one drop reason. --watch repeats every --interval seconds
(default 1) with per-second rates, --count times (default: until interrupted); with --json,
one JSON object per line.
${NAME_OPT}`,
  show: `Usage: vxlan-user show [--json] [--name IFNAME | --all]

Prints a running instance's configuration, uptime, live I/O path (and offloads), table sizes,
routes, --peers-only and --metrics state, and its last reload. A device of a process started
from a vnis: list also names its sibling devices.
  --all                       every device of every vxlan-user process in this network namespace
                              (found by their control sockets in /proc/net/unix); --json: an array
${NAME_OPT}`,
  reload: `Usage: vxlan-user reload [--name IFNAME]

Re-reads the instance's --config file, as SIGHUP does, and prints what changed. The file replaces
the FDB, neighbours and routes (entries added at runtime and not in the file are removed); routes
are diffed, not flushed. A changed VNI, port, local address, name, MAC, MTU, address or I/O mode
is refused by name, and an invalid file is refused with its error: the running state is kept
(exit 2).
${NAME_OPT}`,
  down: `Usage: vxlan-user down [--name IFNAME]

Stops a running instance cleanly, as SIGTERM does: its routes and TAP device are removed, and
the command returns once the process has exited. For systemd's ExecStop=.
${NAME_OPT}`,
};
