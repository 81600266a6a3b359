/**
 * Loads the native addon (native/vxlan_native.cc, built by node-gyp during `npm install`/`npm ci`) and gives
 * it a type. Only platform/linux imports this module.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeSegmentTcp, UdpIpOption } from '../types.js';

export interface NativePoller {
  start(events?: number): void;
  stop(): void;
  close(): void;
}

export interface NativeAddon {
  tapOpen(name: string, vnetHdr: boolean, multiQueue: boolean, blocking?: boolean): [number, string];
  tapSetOffload(fd: number, flags: number): number;
  tapSetVnetHdrSize(fd: number, size: number): number;
  close(fd: number): void;
  readBatch(fd: number, buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array): number;
  writeFrame(fd: number, buf: Buffer, off: number, len: number): number;
  udpOpen(addr: string, port: number, ifname: string, rcvbuf: number, sndbuf: number, reuseport?: boolean): [number, number];
  sockaddrWrite(table: Buffer, slot: number, addr: string, port: number): 4 | 6;
  recvBatch(fd: number, buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array, addrs: Buffer, gro?: Uint16Array, tos?: Uint8Array): number;
  udpEnableOffload(fd: number, what: 'gso' | 'gro'): number;
  udpSetIpOption(fd: number, what: UdpIpOption, value: number): number;
  sendBatch(
    fd: number,
    buf: Buffer,
    offsets: Uint32Array,
    lens: Uint32Array,
    table: Buffer,
    idx: Uint32Array,
    count: number,
    result: Int32Array,
    gso?: Uint16Array,
    tos?: Uint8Array,
    ttl?: Uint8Array,
  ): number;
  Poller: new (fd: number, cb: (status: number, events: number) => void) => NativePoller;
  /** The folded (not complemented) Internet checksum sum of buf[off, off+len), or -1 outside the buffer. */
  csumAdd(buf: Buffer, off: number, len: number): number;
  /** TcpSegmenter.segment in C++ (see src/dataplane/tso-native.ts); count/stride/total in res[0..2]. */
  segmentTcp: NativeSegmentTcp;
  /** SO_PEERCRED of a connected Unix stream socket: [pid, uid, gid] as seen from our namespaces (pid 0: not visible). */
  peerCred(fd: number): [number, number, number];
  /** The user namespace owning the namespace at `path`, then its visible ancestors, each as [st_dev, st_ino]. */
  nsOwnerChain(path: string): [number, number][];
  /** One datagram to a Unix socket path (a leading '@' = abstract); returns the bytes sent. */
  unixDgramSend(path: string, message: string): number;
  constants: {
    UV_READABLE: number;
    UV_WRITABLE: number;
    SOCKADDR_SLOT: number;
    MAX_BATCH: number;
    AF_INET: number;
    AF_INET6: number;
    TUN_F_CSUM: number;
    TUN_F_TSO4: number;
    TUN_F_TSO6: number;
    TUN_F_TSO_ECN: number;
    TUN_F_USO4?: number;
    TUN_F_USO6?: number;
  };
}

let cached: NativeAddon | undefined;

/** The addon, loaded once. Throws an Error that says how to build it when it is missing. */
export function native(): NativeAddon {
  if (cached) return cached;
  // Walk up from this file to the package root (works from src/ under vitest and from dist/ when built).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', 'Release', 'vxlan_native.node');
    if (existsSync(candidate)) {
      cached = createRequire(import.meta.url)(candidate) as NativeAddon;
      return cached;
    }
    dir = dirname(dir);
  }
  throw new Error('the native addon build/Release/vxlan_native.node is missing: run `npm install` (it builds with node-gyp)');
}

/**
 * A file descriptor owned by the addon's caller, with uv_poll readiness: the shared half of LinuxTap and
 * NativeUdpBind. close() stops polling before it closes the fd (libuv must not poll a closed fd).
 */
export abstract class PolledFd {
  protected fd: number;
  private poller: NativePoller | undefined;

  protected constructor(fd: number) {
    this.fd = fd;
  }

  /** Calls `cb` once per wakeup while the fd is readable. */
  onReadable(cb: () => void): void {
    const n = native();
    this.poller = new n.Poller(this.fd, (status) => {
      if (status >= 0) cb();
    });
    this.poller.start(n.constants.UV_READABLE);
  }

  close(): void {
    this.poller?.close();
    this.poller = undefined;
    if (this.fd >= 0) native().close(this.fd);
    this.fd = -1;
  }
}
