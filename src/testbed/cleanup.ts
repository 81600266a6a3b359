/**
 * Removal of namespaces left behind by an earlier run that crashed before its teardown.
 *
 * Only namespaces whose name starts with `prefix` are considered. Tests name theirs `vxut-<pid>-...`
 * (topology.testPrefix), so by default a namespace whose owner PID is still running is left alone: another
 * test run on the same machine may be using it. `all: true` drops that check (for CI, before any test runs).
 */
import { run } from './exec.js';
import { deleteNamespace } from './topology.js';

export interface CleanupOptions {
  /** Also remove namespaces whose owner process is still alive. Default false. */
  all?: boolean;
}

/** Names of all network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.length > 0);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The PID in `<prefix><pid>-...`, or undefined when the name carries none. */
export function ownerPid(ns: string, prefix: string): number | undefined {
  const m = /^(\d+)-/.exec(ns.slice(prefix.length));
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/**
 * Deletes leftover namespaces named `${prefix}...` (killing any process still inside them first) and returns
 * their names. Never touches a namespace outside the prefix; refuses an empty prefix.
 */
export async function cleanupStale(prefix = 'vxut-', opts: CleanupOptions = {}): Promise<string[]> {
  if (prefix.length === 0) throw new Error('cleanupStale needs a non-empty prefix');
  const removed: string[] = [];
  for (const ns of await listNamespaces()) {
    if (!ns.startsWith(prefix)) continue;
    const owner = ownerPid(ns, prefix);
    if (!opts.all && owner !== undefined && isAlive(owner)) continue;
    await deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}
