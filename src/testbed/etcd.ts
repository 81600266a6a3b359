/**
 * A real, single-member etcd (Debian's etcd-server) for tests: its data in a fresh temp dir, listening on
 * loopback with free ports (host namespace) or on a given address inside a test namespace. stop() and start()
 * take it down and bring it back on the same ports and data (an outage); destroy() kills it by PID and
 * removes the data dir. `etcdctl()` runs etcd-client's etcdctl against it, in its namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, spawnInNs, stopProcess, type RunResult } from './exec.js';

export interface EtcdServer {
  /** The client URL, e.g. http://127.0.0.1:41234. */
  readonly endpoint: string;
  readonly dataDir: string;
  /** The PID of the running etcd, or undefined while stopped. */
  pid(): number | undefined;
  /** `etcdctl --endpoints URL ARGS...` in etcd's namespace; rejects on a non-zero exit. */
  etcdctl(args: readonly string[], input?: string): Promise<RunResult>;
  /** SIGTERM (SIGKILL after 5 s) and wait: an outage. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data, and waits until it answers. */
  start(): Promise<void>;
  /** Stops it for good and removes the data dir. Never throws. */
  destroy(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface EtcdOptions {
  /** Run inside this network namespace (ports 2379/2380 on `host`); default: the host's loopback, free ports. */
  readonly ns?: string;
  /** The address to listen on; default 127.0.0.1. */
  readonly host?: string;
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdServer> {
  const host = opts.host ?? '127.0.0.1';
  const [cport, pport] = opts.ns !== undefined ? [2379, 2380] : [await freePort(host), await freePort(host)];
  const endpoint = `http://${host}:${cport}`;
  const peer = `http://${host}:${pport}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'vxut-etcd-'));
  const args = [
    '--name', 'vxut', '--data-dir', join(dataDir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `vxut=${peer}`,
    '--log-level', 'warn', '--logger', 'zap',
  ];
  let child: ChildProcess | undefined;
  let log = '';
  const ctl = (a: readonly string[], input?: string): Promise<RunResult> => {
    const argv = ['--endpoints', endpoint, '--dial-timeout', '1s', '--command-timeout', '3s', ...a];
    return opts.ns !== undefined
      ? run('ip', ['netns', 'exec', opts.ns, 'etcdctl', ...argv], input !== undefined ? { input } : {})
      : run('etcdctl', argv, input !== undefined ? { input } : {});
  };
  const start = async (): Promise<void> => {
    child = opts.ns !== undefined ? spawnInNs(opts.ns, 'etcd', args) : spawn('etcd', args, { stdio: 'pipe', detached: true });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-20_000)));
    child.once('error', () => {});
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await ctl(['endpoint', 'health']).catch(() => undefined);
      if (r) return;
      if (child.exitCode !== null || Date.now() > deadline) {
        const c = child;
        child = undefined;
        await stopProcess(c, 1_000);
        throw new Error(`etcd did not start at ${endpoint}: ${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c) await stopProcess(c, 5_000);
  };
  try {
    await start();
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  return {
    endpoint,
    dataDir,
    pid: () => child?.pid,
    etcdctl: ctl,
    stop,
    start,
    async destroy() {
      await stop().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
