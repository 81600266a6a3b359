/**
 * Host configuration through iproute2 (`ip`), the same commands an operator would type, so `--verbose` can
 * show them and a user can replay them. Every call runs in the caller's network namespace.
 *
 * Each change that needs undoing is recorded in an UndoStack, so a start that fails halfway and a clean stop
 * both leave the host as they found it.
 */
import { deviceOfAddressIn, type JsonLink } from '../config/iproute-json.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { VxlanUserError } from '../config/errors.js';

export interface IpResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `ip ARGS...`; never throws (the caller turns failures into sentences). */
export function ip(args: readonly string[]): IpResult {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    return { ok: false, stdout: '', stderr: missing ? 'the `ip` command (iproute2) is not installed' : String(r.error.message) };
  }
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').trim() };
}

/** Runs `ip ARGS...` and throws a VxlanUserError(code) with `what` and ip's own complaint when it fails. */
export function ipOrThrow(args: readonly string[], what: string, code: 'EHOST' | 'ECONFIG' = 'EHOST'): string {
  const r = ip(args);
  if (!r.ok) throw new VxlanUserError(code, `${what}: ${r.stderr || 'ip ' + args.join(' ') + ' failed'}`);
  return r.stdout;
}


/** True when a network device with this name exists in this namespace. */
export function linkExists(name: string): boolean {
  return ip(['link', 'show', 'dev', name]).ok;
}

/** MTU of a device, or undefined when it does not exist. */
export function linkMtu(name: string): number | undefined {
  const r = ip(['-j', 'link', 'show', 'dev', name]);
  if (!r.ok) return undefined;
  const links = JSON.parse(r.stdout) as JsonLink[];
  return links[0]?.mtu;
}

/** The device that holds `address` in this namespace, or undefined. */
export function deviceOfAddress(address: string): { ifname: string; mtu: number } | undefined {
  const r = ip(['-j', 'addr', 'show']);
  return r.ok ? deviceOfAddressIn(r.stdout, address) : undefined;
}

/** The device the kernel would use to reach `address`, or undefined when there is no route. */
export function deviceToward(address: string): string | undefined {
  const r = ip(['-j', 'route', 'get', address]);
  if (!r.ok) return undefined;
  const routes = JSON.parse(r.stdout) as { dev?: string }[];
  return routes[0]?.dev;
}

/** LIFO list of undo actions; run() executes them all, newest first, and never throws. */
export class UndoStack {
  private readonly actions: { what: string; fn: () => void }[] = [];

  push(what: string, fn: () => void): void {
    this.actions.push({ what, fn });
  }

  run(log?: (line: string) => void): void {
    while (this.actions.length > 0) {
      const a = this.actions.pop()!;
      try {
        a.fn();
      } catch (e) {
        log?.(`cleanup: ${a.what} failed: ${(e as Error).message}`);
      }
    }
  }
}

/**
 * The process's soft RLIMIT_NOFILE (from /proc/self/limits; Node raises it to the hard limit at start), or
 * undefined when it cannot be read or is unlimited. The --srcport pool sizes itself below it.
 */
export function openFilesLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const n = Number(line?.split(/\s+/)[3]);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
