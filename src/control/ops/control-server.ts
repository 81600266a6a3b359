/**
 * The control socket of a running instance: `\0vxlan-user/IFNAME` (see control-protocol.ts), served on the
 * event loop next to the dataplane. Each request is handled synchronously, so a table change happens between
 * two dataplane batches, never during one.
 *
 * Access (access.ts): an abstract socket has no file permissions, so any process in the network namespace can
 * connect. Each connection's peer is judged once, on accept, from SO_PEERCRED and /proc/PID: changes need
 * CAP_NET_ADMIN over our network namespace, as the kernel asks for `bridge fdb` and `ip neigh`; reads are open.
 * A refusal is answered (exit 4) and logged with the peer's pid and uid, even with --quiet.
 *
 * Bad input never stops the server: a line that is not JSON or is longer than MAX_REQUEST_BYTES is answered
 * with an error and the connection closed; an unknown op is answered and the connection kept; a request whose
 * newline never came is answered when the client half-closes. Connections are limited (per uid for clients
 * that may only read, and in total: ConnectionQuota), so idle connections from local users cannot use up our
 * file descriptors (which reload's `ip` children and --pcap need) nor lock an administrator out.
 */
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { UpConfig } from '../config/config-types.js';
import {
  controlSocketPath,
  encodeLine,
  FDB_ACTIONS,
  LineSplitter,
  MAX_REQUEST_BYTES,
  NEIGH_ACTIONS,
  type Request,
  type Response,
  type ShowData,
} from './control-protocol.js';
import { deniedMessage, EXIT_DENIED, isChange, ownersOfOurNetns, peerAccess, type PeerAccess } from './access.js';
import { VxlanUserError } from '../config/errors.js';
import type { Device, Instance, Logger } from '../runtime/instance.js';
import { startMetricsServer, type MetricsServer } from './metrics.js';
import { configFileOf, reload, type DeviceGroup, type Runtime } from '../runtime/reload.js';
import type { Notifier } from '../runtime/notifier.js';
import type { PeerInfo } from '../../platform/types.js';
import { applyFdbChange, applyNeighChange, fdbRows, neighRows } from '../runtime/tables.js';

export interface ControlServer {
  readonly path: string;
  close(): void;
}

export interface ControlHooks {
  /** `vxlan-user down`: a clean stop, like SIGTERM. Called after the reply has been flushed. */
  down(): void;
  /** The supervisor to tell about reloads (systemd's NOTIFY_SOCKET), if any. */
  readonly notify?: Notifier | undefined;
  /** How to learn who a connected peer is (SO_PEERCRED, namespaces): the platform's, injected by the CLI. */
  readonly peer: PeerInfo;
  /** etcd mode: the membership that `show` and the metrics report (control/flannel/node.ts). */
  membership?: Runtime['membership'];
}

/** Connections a peer without the right to change may hold at once, per uid (a `stats --watch` needs one)... */
export const MAX_READ_ONLY_CONNECTIONS_PER_UID = 16;
/** ...and all such peers together, so that many uids cannot crowd out an administrator either. */
export const MAX_READ_ONLY_CONNECTIONS = 256;
/**
 * Connections of peers that may change us. With the read-only ones this stays under 1024, the soft
 * RLIMIT_NOFILE systemd and most shells give, so a reload's `ip` children and --pcap still get descriptors.
 */
export const MAX_ADMIN_CONNECTIONS = 512;

/** Open connections per uid and per kind, to enforce the three limits above. */
class ConnectionQuota {
  private readonly readOnlyByUid = new Map<number, number>();
  private readOnly = 0;
  private admin = 0;

  /** Counts one more connection; returns why not (nothing counted) when a limit is reached. */
  take(peer: PeerAccess): string | undefined {
    if (peer.denied === undefined) {
      if (this.admin >= MAX_ADMIN_CONNECTIONS) return `too many connections: at most ${MAX_ADMIN_CONNECTIONS} at once`;
      this.admin++;
      return undefined;
    }
    const n = this.readOnlyByUid.get(peer.uid) ?? 0;
    if (n >= MAX_READ_ONLY_CONNECTIONS_PER_UID) return `too many connections from uid ${peer.uid}: at most ${MAX_READ_ONLY_CONNECTIONS_PER_UID} for a client without CAP_NET_ADMIN`;
    if (this.readOnly >= MAX_READ_ONLY_CONNECTIONS) return `too many connections: at most ${MAX_READ_ONLY_CONNECTIONS} from clients without CAP_NET_ADMIN`;
    this.readOnlyByUid.set(peer.uid, n + 1);
    this.readOnly++;
    return undefined;
  }

  give(peer: PeerAccess): void {
    if (peer.denied === undefined) {
      this.admin--;
      return;
    }
    this.readOnly--;
    const n = (this.readOnlyByUid.get(peer.uid) ?? 1) - 1;
    if (n <= 0) this.readOnlyByUid.delete(peer.uid);
    else this.readOnlyByUid.set(peer.uid, n);
  }
}

/** Starts listening; rejects with a VxlanUserError when the name is taken in this network namespace. */
export async function startControlServer(rt: Runtime, hooks: ControlHooks): Promise<ControlServer> {
  const path = controlSocketPath(rt.dev.tapName);
  // Who may change us is fixed for the process's life: the owners of the netns we run in.
  const owners = ownersOfOurNetns(hooks.peer);
  const quota = new ConnectionQuota();
  // allowHalfOpen: a client that sends its request and shuts down its side still gets the answer.
  const server: Server = createServer({ allowHalfOpen: true }, (sock) => {
    const peer = peerAccess(sock, owners, hooks.peer);
    const full = quota.take(peer);
    if (full !== undefined) {
      finish(sock, { ok: false, exit: 1, error: full });
      return;
    }
    sock.once('close', () => quota.give(peer));
    serve(sock, rt, hooks, peer);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        new VxlanUserError(
          e.code === 'EADDRINUSE' ? 'EINUSE' : 'EHOST',
          e.code === 'EADDRINUSE'
            ? `the control socket @vxlan-user/${rt.dev.tapName} is taken: another vxlan-user with --name ${rt.dev.tapName} runs in this network namespace`
            : `cannot open the control socket @vxlan-user/${rt.dev.tapName}: ${e.message}`,
        ),
      );
    });
    server.listen(path, () => resolve());
  });
  server.unref();
  return {
    path,
    close(): void {
      server.close();
    },
  };
}

/** How long a finished connection may stay half-open, for the client to read our last response... */
const LINGER_MS = 2_000;
/** ...and how many may at once: past that (a connect flood), they close at once, answer or not. */
const MAX_LINGERING = 64;
let lingering = 0;

/**
 * Sends a last response and closes our side. Not destroy(): closing a Unix socket with unread input resets
 * the peer, and a client whose request crossed our answer would lose the answer. What it still sends is read
 * and ignored until it closes too, or for LINGER_MS at most (MAX_LINGERING connections at once).
 */
function finish(sock: Socket, res: Response): void {
  sock.removeAllListeners('data');
  sock.on('data', () => {});
  if (lingering >= MAX_LINGERING) {
    sock.end(encodeLine(res), () => sock.destroy());
    return;
  }
  lingering++;
  sock.once('close', () => lingering--);
  sock.end(encodeLine(res));
  setTimeout(() => sock.destroy(), LINGER_MS).unref();
}

/** `fdb replace` for the log: only names we know, so a client cannot write arbitrary text into our log. */
function opName(req: { op?: unknown; action?: unknown }): string {
  const action = [...FDB_ACTIONS, ...NEIGH_ACTIONS].find((a) => a === req.action);
  return `${String(req.op)}${action ? ` ${action}` : ''}`;
}

function serve(sock: Socket, rt: Runtime, hooks: ControlHooks, peer: PeerAccess): void {
  sock.setEncoding('utf8');
  const lines = new LineSplitter();
  let done = false;
  sock.on('error', () => {}); // a client that goes away mid-reply is not our problem
  /** Answers one line; false when the connection is finished. */
  const answer = (line: string): boolean => {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      finish(sock, { ok: false, exit: 2, error: 'malformed request: not a JSON line' });
      return false;
    }
    if (peer.denied !== undefined && typeof req === 'object' && req !== null && isChange(req)) {
      process.stderr.write(`vxlan-user: control: refused ${opName(req)} from pid ${peer.pid} uid ${peer.uid}: ${peer.denied}\n`);
      sock.write(encodeLine({ ok: false, exit: EXIT_DENIED, error: deniedMessage(rt.dev.tapName) }));
      return true;
    }
    const res = handle(rt, req);
    if (req.op === 'down' && res.ok) {
      // Reply first, then stop: the client waits for the connection to close, which the exit does.
      sock.write(encodeLine(res), () => hooks.down());
      return false;
    }
    sock.write(encodeLine(res));
    return true;
  };
  sock.on('data', (chunk: string) => {
    if (done) return;
    for (const line of lines.push(chunk)) {
      if (!answer(line)) {
        done = true;
        return;
      }
    }
    if (lines.overflow) {
      done = true;
      finish(sock, { ok: false, exit: 2, error: `malformed request: a line longer than ${MAX_REQUEST_BYTES} bytes` });
    }
  });
  sock.on('end', () => {
    if (done) return;
    done = true;
    for (const line of lines.rest()) if (!answer(line)) return;
    sock.end();
  });
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const optInt = (v: unknown): boolean => v === undefined || isInt(v);
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** One request → one response. Never throws: refusals become `{ok: false}` with the CLI's exit code. */
export function handle(rt: Runtime, req: Request): Response {
  try {
    return { ok: true, data: dispatch(rt, req) };
  } catch (e) {
    if (e instanceof VxlanUserError) return { ok: false, exit: e.exitCode === 1 ? 1 : 2, error: e.message };
    return { ok: false, exit: 1, error: `internal error: ${(e as Error).message}` };
  }
}

function bad(what: string): never {
  throw new VxlanUserError('EUSAGE', `malformed request: ${what}`);
}

function dispatch(rt: Runtime, req: Request): unknown {
  if (typeof req !== 'object' || req === null) bad('expected a JSON object');
  const t = rt.tables;
  switch (req.op) {
    case 'fdb': {
      if (!(FDB_ACTIONS as readonly string[]).includes(req.action)) bad(`fdb action must be one of ${FDB_ACTIONS.join(', ')}`);
      if (typeof req.mac !== 'string' || !optStr(req.dst) || !optInt(req.port) || !optInt(req.vni)) bad('fdb needs mac (string), dst (string), port and vni (integers)');
      const what = applyFdbChange(t, req);
      rt.log(`control: fdb ${what}`);
      return what;
    }
    case 'fdb-show':
      return fdbRows(t);
    case 'neigh': {
      if (!(NEIGH_ACTIONS as readonly string[]).includes(req.action)) bad(`neigh action must be one of ${NEIGH_ACTIONS.join(', ')}`);
      if (typeof req.ip !== 'string' || !optStr(req.lladdr)) bad('neigh needs ip and lladdr (strings)');
      const what = applyNeighChange(t, req);
      rt.log(`control: neigh ${what}`);
      return what;
    }
    case 'neigh-show':
      return neighRows(t);
    case 'stats':
      return {
        uptime_s: Math.round((Date.now() - rt.inst.startedAt) / 1000),
        counters: t.vtep.counters.snapshot(),
        // A `vnis:` process: the datagrams that belong to no device, in their own section.
        ...(rt.inst.stray !== undefined ? { socket: rt.inst.stray.snapshot() } : {}),
      };
    case 'show':
      return showData(rt);
    case 'reload': {
      const summary = reload(rt);
      rt.log(summary);
      return summary;
    }
    case 'down':
      return 'stopping';
    default:
      bad(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}

function showData(rt: Runtime): ShowData {
  const i = rt.inst;
  const d = rt.dev;
  const v = d.vtep;
  return {
    name: d.tapName,
    pid: process.pid,
    vni: rt.config.vni,
    local: i.localAddress,
    port: i.localPort,
    mac: d.mac,
    mtu: d.mtu,
    underlayMtu: i.underlayMtu,
    io: rt.config.io,
    ioPath: `${i.ioPath}; ${i.offloads}`,
    uptimeS: Math.round((Date.now() - i.startedAt) / 1000),
    peersOnly: v.peersOnly,
    metrics: rt.metrics ?? null,
    configFile: configFileOf(rt.argv) ?? null,
    reloads: rt.reloads,
    lastReload: rt.lastReload ?? null,
    addr: rt.config.addr,
    fdbEntries: v.fdb.size,
    defaultDestinations: v.fdb.defaults?.remotes.map((r) => r.ip) ?? [],
    neighbours: v.neigh.size,
    routes: [...d.routes].map(([cidr, gateway]) => ({ cidr, gateway })),
    // A `vnis:` process: every device it runs (this one included), for `show` to name its siblings.
    ...(rt.group !== undefined ? { devices: i.devices.map((x) => ({ name: x.tapName, vni: x.config.vni })) } : {}),
    ...(rt.membership ? { etcd: rt.membership() } : {}),
  };
}

/** The operator-facing side of one `up` process: control socket, metrics endpoint, reload state. */
export interface Operations {
  readonly rt: Runtime;
  /** Closes the control socket and the metrics endpoint. Idempotent. */
  close(): void;
}

/**
 * Opens the control socket and, with --metrics, the Prometheus endpoint for a started instance. On failure it
 * closes what it opened and rethrows (the caller stops the instance).
 */
export async function startOperations(inst: Instance, config: UpConfig, argv: readonly string[], log: Logger, hooks: ControlHooks): Promise<Operations> {
  const servers = new Map<string, ControlServer>();
  const runtimeOf = (dev: Device, cfg: UpConfig, group: DeviceGroup | undefined): Runtime => ({
    inst,
    dev,
    ...(group ? { group } : {}),
    argv,
    log,
    tables: { vtep: dev.vtep, vni: cfg.vni, dstport: cfg.dstport, family: isIPv6(inst.localAddress) ? 6 : 4, local: cfg.local, addr: cfg.addr },
    config: cfg,
    reloads: 0,
    lastReload: undefined,
    metrics: undefined,
    ...(hooks.membership ? { membership: hooks.membership } : {}),
    notify: hooks.notify,
  });
  let rt: Runtime;
  if (config.vnis === undefined) rt = runtimeOf(inst, config, undefined);
  else {
    // One control socket per device (`--name` picks it), one runtime each; a reload opens and closes them.
    const byName = new Map<string, Runtime>();
    const group: DeviceGroup = {
      byName,
      get head(): Runtime {
        return rt;
      },
      open(dev: Device, cfg: UpConfig): Runtime {
        const r = runtimeOf(dev, cfg, group);
        r.metrics = rt.metrics;
        byName.set(dev.tapName, r);
        startControlServer(r, hooks).then(
          (srv) => servers.set(dev.tapName, srv),
          (e: Error) => log(`${dev.tapName}: ${e.message}`),
        );
        return r;
      },
      close(name: string): void {
        servers.get(name)?.close();
        servers.delete(name);
        byName.delete(name);
      },
    };
    for (const [k, dev] of inst.devices.entries()) byName.set(dev.tapName, runtimeOf(dev, config.vnis[k]!, group));
    rt = byName.get(inst.tapName)!;
  }
  try {
    for (const r of rt.group ? rt.group.byName.values() : [rt]) servers.set(r.dev.tapName, await startControlServer(r, hooks));
  } catch (e) {
    for (const srv of servers.values()) srv.close();
    throw e;
  }
  let metrics: MetricsServer | undefined;
  try {
    if (config.metrics) {
      metrics = await startMetricsServer(rt, config.metrics.host, config.metrics.port);
      for (const r of rt.group ? rt.group.byName.values() : [rt]) r.metrics = metrics.address;
      log(`${inst.tapName}: metrics at http://${metrics.address}/metrics`);
    }
  } catch (e) {
    for (const srv of servers.values()) srv.close();
    throw e;
  }
  let closed = false;
  return {
    rt,
    close(): void {
      if (closed) return;
      closed = true;
      for (const srv of servers.values()) srv.close();
      metrics?.close();
    },
  };
}
