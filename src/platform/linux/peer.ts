/**
 * Who is at the other end of a control connection, as the kernel sees it: SO_PEERCRED of the accepted
 * socket, and the identity (st_dev:st_ino on nsfs) of user namespaces. Only the control server uses this.
 */
import type { Socket } from 'node:net';
import { statSync } from 'node:fs';
import { native } from './native.js';
import type { PeerInfo } from '../types.js';

export interface PeerCred {
  /** In our pid namespace; 0 when the peer's pid is not visible from it. */
  readonly pid: number;
  /** Effective uid at connect() time, mapped into our user namespace. */
  readonly uid: number;
  readonly gid: number;
}

/**
 * SO_PEERCRED of an accepted Unix socket. Node has no API for it and exposes the accepted socket's file
 * descriptor through the undocumented `sock._handle.fd` (the fd of the libuv pipe handle behind a `net.Socket`
 * on Unix). Because it is undocumented, its absence is handled: this returns undefined and the caller refuses
 * every change, so the check fails closed.
 */
export function socketPeerCred(sock: Socket): PeerCred | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const [pid, uid, gid] = native().peerCred(fd);
  return { pid, uid, gid };
}

/** A namespace's identity: the nsfs inode its /proc/PID/ns/* link points to. */
export const nsKey = (dev: number, ino: number): string => `${dev}:${ino}`;

/** Identity of the namespace at `path` (e.g. /proc/PID/ns/user); throws like fs.statSync. */
export function nsIdentity(path: string): string {
  const st = statSync(path);
  return nsKey(st.dev, st.ino);
}

/**
 * The user namespaces that hold capabilities over the namespace at `path`: its owner, then the owner's
 * ancestors as far as we can see (NS_GET_USERNS, then NS_GET_PARENT; ioctl_ns(2)).
 */
export function ownerUserNamespaces(path: string): ReadonlySet<string> {
  return new Set(native().nsOwnerChain(path).map(([dev, ino]) => nsKey(dev, ino)));
}

/** The three lookups as the PeerInfo the control server is given (platform/types.ts). */
export const LINUX_PEER_INFO: PeerInfo = {
  socketPeerCred: (sock) => socketPeerCred(sock as Socket),
  nsIdentity,
  ownerUserNamespaces,
};
