/**
 * The control socket of a running instance: `\0vxlan-user/IFNAME` (see control-protocol.ts), served on the
 * event loop next to the dataplane. Each request is handled synchronously, so a table change happens between
 * two dataplane batches, never during one.
 *
 * Access: an abstract socket has no file permissions, so any process in the network namespace can connect.
 * Node cannot read SO_PEERCRED, so the peer's uid is not checked yet (the native addon would need a getsockopt
 * call; see docs/operations.md "Security"). Until then, run untrusted workloads in other network namespaces.
 */
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import type { UpConfig } from './config-types.js';
import {
  controlSocketPath,
  encodeLine,
  FDB_ACTIONS,
  LineSplitter,
  NEIGH_ACTIONS,
  type Request,
  type Response,
  type ShowData,
} from './control-protocol.js';
import { VxlanUserError } from './errors.js';
import type { Instance, Logger } from './instance.js';
import { startMetricsServer, type MetricsServer } from './metrics.js';
import { configFileOf, reload, type Runtime } from './reload.js';
import { applyFdbChange, applyNeighChange, fdbRows, neighRows } from './tables.js';

export interface ControlServer {
  readonly path: string;
  close(): void;
}

export interface ControlHooks {
  /** `vxlan-user down`: a clean stop, like SIGTERM. Called after the reply has been flushed. */
  down(): void;
  /** etcd mode: the membership that `show` and the metrics report (control/flannel/node.ts). */
  membership?: Runtime['membership'];
}

/** Starts listening; rejects with a VxlanUserError when the name is taken in this network namespace. */
export async function startControlServer(rt: Runtime, hooks: ControlHooks): Promise<ControlServer> {
  const path = controlSocketPath(rt.inst.tapName);
  const server: Server = createServer((sock) => serve(sock, rt, hooks));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        new VxlanUserError(
          e.code === 'EADDRINUSE' ? 'EINUSE' : 'EHOST',
          e.code === 'EADDRINUSE'
            ? `the control socket @vxlan-user/${rt.inst.tapName} is taken: another vxlan-user with --name ${rt.inst.tapName} runs in this network namespace`
            : `cannot open the control socket @vxlan-user/${rt.inst.tapName}: ${e.message}`,
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

function serve(sock: Socket, rt: Runtime, hooks: ControlHooks): void {
  sock.setEncoding('utf8');
  const lines = new LineSplitter();
  sock.on('error', () => {}); // a client that goes away mid-reply is not our problem
  sock.on('data', (chunk: string) => {
    for (const line of lines.push(chunk)) {
      let req: Request;
      try {
        req = JSON.parse(line) as Request;
      } catch {
        sock.end(encodeLine({ ok: false, exit: 2, error: 'malformed request: not a JSON line' }));
        return;
      }
      const res = handle(rt, req);
      if (req.op === 'down' && res.ok) {
        // Reply first, then stop: the client waits for the connection to close, which the exit does.
        sock.write(encodeLine(res), () => hooks.down());
        return;
      }
      sock.write(encodeLine(res));
    }
    if (lines.overflow) sock.destroy();
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
      return { uptime_s: Math.round((Date.now() - rt.inst.startedAt) / 1000), counters: t.vtep.counters.snapshot() };
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
  const v = i.vtep;
  return {
    name: i.tapName,
    pid: process.pid,
    vni: rt.config.vni,
    local: i.localAddress,
    port: i.localPort,
    mac: i.mac,
    mtu: i.mtu,
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
    routes: [...i.routes].map(([cidr, gateway]) => ({ cidr, gateway })),
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
  const rt: Runtime = {
    inst,
    argv,
    log,
    tables: { vtep: inst.vtep, vni: config.vni, dstport: config.dstport, family: isIPv6(inst.localAddress) ? 6 : 4 },
    config,
    reloads: 0,
    lastReload: undefined,
    metrics: undefined,
    ...(hooks.membership ? { membership: hooks.membership } : {}),
  };
  const control = await startControlServer(rt, hooks);
  let metrics: MetricsServer | undefined;
  try {
    if (config.metrics) {
      metrics = await startMetricsServer(rt, config.metrics.host, config.metrics.port);
      rt.metrics = metrics.address;
      log(`${inst.tapName}: metrics at http://${metrics.address}/metrics`);
    }
  } catch (e) {
    control.close();
    throw e;
  }
  let closed = false;
  return {
    rt,
    close(): void {
      if (closed) return;
      closed = true;
      control.close();
      metrics?.close();
    },
  };
}
