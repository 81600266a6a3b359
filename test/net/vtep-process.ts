// Runs the real `vxlan-user` binary (dist/, built by `npm test` before vitest) inside a testbed namespace.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { afterEach, beforeAll, describe } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { buildTopology, netTestGate, testPrefix, waitForExit } from '../../src/testbed/index.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm test runs tsc before vitest)`);
}

export interface RunningVtep {
  readonly child: ChildProcess;
  readonly readyLine: string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** SIGUSR1, then the counters from the JSON line it prints. */
  counters(): Promise<Record<string, number>>;
  /** Sends `signal` and waits for the exit; returns the exit code and stderr. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

/** Starts `vxlan-user up ARGS` in `node`'s namespace and waits for its `ready:` line. */
export async function startVtep(topo: Topology, node: string, args: string[], timeoutMs = 15_000): Promise<RunningVtep> {
  const child = topo.spawn(node, process.execPath, [CLI, 'up', ...args]);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const readyLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vxlan-user in ${node} not ready after ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    const check = (): void => {
      const m = /^ready:.*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vxlan-user in ${node} exited with ${code} before ready; stderr: ${err}`));
    });
  });
  return {
    child,
    readyLine,
    stderr: () => err,
    async counters() {
      const before = err.length;
      child.kill('SIGUSR1');
      for (let i = 0; i < 50; i++) {
        const m = /^\{"event":"counters".*\}$/m.exec(err.slice(before));
        if (m) return (JSON.parse(m[0]) as { counters: Record<string, number> }).counters;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no counters line after SIGUSR1; stderr: ${err}`);
    },
    async stop(signal = 'SIGTERM') {
      child.kill(signal);
      const exited = await waitForExit(child, 5_000);
      if (!exited) throw new Error(`vxlan-user in ${node} did not exit within 5 s of ${signal}`);
      return { code: child.exitCode, stderr: err };
    },
  };
}

/** Runs `vxlan-user ARGS` to completion (for commands that fail fast); ns may be undefined for the host ns. */
export function runCli(
  args: string[],
  opts: { ns?: string; wrap?: string[]; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cmd = [...(opts.ns ? ['ip', 'netns', 'exec', opts.ns] : []), ...(opts.wrap ?? []), process.execPath, CLI, ...args];
  return new Promise((resolve) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The per-file scaffolding every network test suite shares: one topology and the VTEPs started in it, all
 * torn down by cleanup() (call it from afterEach), whatever the test did.
 */
export class NetSession {
  private topo: Topology | undefined;
  private readonly running: RunningVtep[] = [];

  /**
   * Builds the underlay (one namespace per node, /24) under testPrefix(tag). `ipv6: false` turns IPv6 off on
   * devices created afterwards (the overlay TAP): its router solicitations and MLD reports would blur counts.
   */
  async topology(tag: string, nodes: readonly { name: string; underlay: string }[], opts: { ipv6?: boolean } = {}): Promise<Topology> {
    this.topo = await buildTopology({
      prefix: testPrefix(tag),
      nodes: nodes.map((n) => ({ name: n.name, underlayIp: n.underlay, underlayPrefix: 24 })),
    });
    if (opts.ipv6 === false)
      for (const n of nodes) await this.topo.exec(n.name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    return this.topo;
  }

  /** `vxlan-user up ARGS` in `node`'s namespace, stopped by cleanup(). */
  async up(t: Topology, node: { name: string }, args: string[]): Promise<RunningVtep> {
    const v = await startVtep(t, node.name, args);
    this.running.push(v);
    return v;
  }

  /** Kills the VTEPs and deletes the topology; never throws. */
  async cleanup(): Promise<void> {
    for (const v of this.running.splice(0)) await v.stop('SIGKILL').catch(() => {});
    await this.topo?.teardown();
    this.topo = undefined;
  }
}

/**
 * The describe block of a network test file: skipped outside CI without root (failed in CI, see netTestGate),
 * the build checked first, and `net`'s topology and VTEPs torn down after each test whatever it did.
 */
export function describeNet(title: string, net: NetSession, body: () => void): void {
  const gate = netTestGate();
  describe.skipIf(gate.skip)(title, () => {
    beforeAll(() => {
      gate.assert();
      assertBuilt();
    });
    afterEach(() => net.cleanup());
    body();
  });
}
