/**
 * Process helpers for the testbed: run a command and fail loudly (with its stderr), run a command inside a
 * network namespace, and spawn long-running processes inside a namespace so that a teardown can stop them.
 *
 * Nothing here goes through a shell: arguments are passed as an argv array, so names and addresses from a
 * topology spec can never be interpreted as shell syntax.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface RunOptions {
  /** Milliseconds before the command is killed (SIGKILL) and the run fails. Default 30 000. */
  timeoutMs?: number;
  /** Throw on a non-zero exit status (default true). A missing binary or a timeout always throws. */
  check?: boolean;
  /** Written to the command's stdin. */
  input?: string | Buffer;
  /** Extra environment variables (merged over process.env). */
  env?: NodeJS.ProcessEnv;
  /** Largest stdout/stderr kept, in bytes. Default 16 MiB. */
  maxBuffer?: number;
}

export interface RunResult {
  /** Exit status (0 unless `check: false`). */
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that failed: the message names the command line, the exit status and the command's stderr. */
export class CommandError extends Error {
  readonly cmd: string;
  readonly args: readonly string[];
  /** Exit status, or null when the command could not start, timed out or died from a signal. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(cmd: string, args: readonly string[], exitCode: number | null, why: string, stdout: string, stderr: string) {
    const line = [cmd, ...args].join(' ');
    const err = stderr.trim();
    super(`\`${line}\` ${why}${err ? `: ${err}` : ''}`);
    this.name = 'CommandError';
    this.cmd = cmd;
    this.args = args;
    this.exitCode = exitCode;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

/** Runs `cmd args...` (no shell) and resolves with its output; rejects with a CommandError on failure. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const check = opts.check ?? true;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      [...args],
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: opts.maxBuffer ?? 16 * 1024 * 1024,
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const e = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string | null };
        if (typeof e.code === 'string') {
          // Could not start at all (ENOENT: binary missing, EACCES, ...).
          reject(new CommandError(cmd, args, null, `could not start (${e.code})`, stdout, stderr));
          return;
        }
        if (e.killed || e.signal) {
          const why = e.killed ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : `died from ${e.signal}`;
          reject(new CommandError(cmd, args, null, why, stdout, stderr));
          return;
        }
        const code = typeof e.code === 'number' ? e.code : 1;
        if (!check) {
          resolve({ code, stdout, stderr });
          return;
        }
        reject(new CommandError(cmd, args, code, `failed with exit status ${code}`, stdout, stderr));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs `cmd args...` inside network namespace `ns` (`ip netns exec ns cmd args...`). */
export function nsExec(ns: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/**
 * Starts `cmd args...` inside namespace `ns` and returns at once. `ip netns exec` execs the command, so the
 * child's PID is the command's own. The child leads its own process group (detached), so stopProcess() also
 * reaches anything it forks; it is not unref'd, so a test that forgets it still sees it.
 * Pass `tracker` (e.g. a Topology's set) so a teardown can stop it.
 */
export function spawnInNs(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts: SpawnOptions = {},
  tracker?: Set<ChildProcess>,
): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'pipe', ...opts, detached: true });
  if (tracker) {
    tracker.add(child);
    // The tracker only needs live processes; an exited child is dropped from it.
    child.once('exit', () => tracker.delete(child));
  }
  // A spawn failure (e.g. ENOENT for `ip`) is reported through 'error'; without a listener it would crash the
  // test process. The caller sees it as an exit with a null code.
  child.once('error', () => {});
  return child;
}

/** True once the child has exited (or never started). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

/** Resolves true when the child exits within `timeoutMs`, false otherwise. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/**
 * Sends `signal` to the child's process group (falling back to the child's PID). Does nothing once the child
 * has exited: its PID may then belong to someone else. Never throws.
 */
export function signalProcess(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid === undefined || hasExited(child)) return;
  try {
    process.kill(-pid, signal);
    return;
  } catch {
    // No such group (not detached, or already gone): try the PID itself.
  }
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Stops a child: SIGTERM to its process group, then SIGKILL if it has not exited within `timeoutMs`.
 * Resolves when the child has exited (or after the SIGKILL grace). Never throws. Anything the child forked
 * that outlives it is left to the namespace sweep of Topology.teardown().
 */
export async function stopProcess(child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  if (hasExited(child)) return;
  signalProcess(child, 'SIGTERM');
  if (await waitForExit(child, timeoutMs)) return;
  signalProcess(child, 'SIGKILL');
  await waitForExit(child, 2_000);
}
