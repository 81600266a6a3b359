/**
 * Who may change a running instance through its control socket: the kernel's rule for the same commands.
 *
 * `bridge fdb add`, `ip neigh add` and `ip link del` need CAP_NET_ADMIN in the user namespace that owns the
 * network namespace (ns_capable(net->user_ns, CAP_NET_ADMIN)). So a change (fdb/neigh add, append, replace,
 * del; reload; down) is allowed when the peer process
 *   1. has CAP_NET_ADMIN (bit 12) in its effective set (`CapEff:` in /proc/PID/status), and
 *   2. lives in the user namespace that owns our network namespace, or in an ancestor of it
 *      (/proc/PID/ns/user compared with NS_GET_USERNS / NS_GET_PARENT of /proc/self/ns/net).
 * uid 0 alone is never enough: root inside a plain `unshare -U` is uid 0 from outside (SO_PEERCRED says 0) and
 * may hold a full CapEff, but over its own new user namespace, not over ours. Reads (show, stats, fdb show,
 * neigh show) stay open to every local user, as `bridge fdb show` and `ip neigh show` are.
 *
 * The peer is judged once, when it connects (the kernel records SO_PEERCRED at connect()); anything we cannot
 * read (pid not visible from our pid namespace, /proc unreadable, uid changed since connect) refuses changes.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Request } from './control-protocol.js';
import type { PeerInfo } from '../../platform/types.js';

/** linux/capability.h */
export const CAP_NET_ADMIN = 12;

/** Requests that change the instance; every other op only reads. */
const CHANGING: ReadonlySet<string> = new Set<Request['op']>(['fdb', 'neigh', 'reload', 'down']);

export const isChange = (req: { op?: unknown }): boolean => typeof req.op === 'string' && CHANGING.has(req.op);

export interface PeerAccess {
  readonly pid: number;
  readonly uid: number;
  /** undefined: may change; otherwise why not, for the server's log. */
  readonly denied: string | undefined;
}

/** Whether `CapEff:` of a /proc/PID/status text has bit `cap` set (false when the line is missing). */
export function hasEffectiveCap(status: string, cap: number): boolean {
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status);
  return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}

/** The effective uid (second field of `Uid:`) of a /proc/PID/status text. */
export function effectiveUid(status: string): number | undefined {
  const m = /^Uid:\s*\d+\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/** The access rule, for one peer, once the facts are read: pure, so the unit tests cover every branch. */
export function judge(facts: { status: string; uid: number; userNs: string }, owners: ReadonlySet<string>): string | undefined {
  if (effectiveUid(facts.status) !== facts.uid) return 'its uid changed since it connected';
  if (!hasEffectiveCap(facts.status, CAP_NET_ADMIN)) return 'no CAP_NET_ADMIN in its effective set';
  if (!owners.has(facts.userNs)) return 'its user namespace does not own this network namespace';
  return undefined;
}

/** Reads the peer of an accepted control connection and applies the rule. Never throws. */
export function peerAccess(sock: Socket, owners: ReadonlySet<string>, info: PeerInfo): PeerAccess {
  let pid = 0;
  let uid = -1;
  try {
    const cred = info.socketPeerCred(sock);
    if (!cred) return { pid, uid, denied: 'its credentials cannot be read (no socket fd)' };
    ({ pid, uid } = cred);
    if (pid === 0) return { pid, uid, denied: 'its pid is not visible from our pid namespace' };
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { pid, uid, denied: judge({ status, uid, userNs: info.nsIdentity(`/proc/${pid}/ns/user`) }, owners) };
  } catch (e) {
    return { pid, uid, denied: `its credentials cannot be read (${(e as Error).message})` };
  }
}

/** The user namespaces whose CAP_NET_ADMIN holders may change us (see the top of this file). */
export const ownersOfOurNetns = (info: PeerInfo): ReadonlySet<string> => info.ownerUserNamespaces('/proc/self/ns/net');

/** The one sentence a refused client prints (after `vxlan-user: `). */
export const deniedMessage = (name: string): string => `permission denied: changing ${name} needs CAP_NET_ADMIN`;

/** Exit status of a refused change (LSB's "user had insufficient privilege"); 1 and 2 keep their meaning. */
export const EXIT_DENIED = 4;
