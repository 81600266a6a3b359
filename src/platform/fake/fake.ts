/**
 * In-memory TapDevice and UdpBind for unprivileged unit tests and micro-benchmarks. They honour the same
 * batch contracts as the Linux implementations; tests inject frames/datagrams and read what was written.
 *
 * inject() and the recorded `written` / `sent` copy every packet into a new Buffer, which is what a test that
 * reads bytes back wants. The allocation check (test/unit/alloc.test.ts) needs a platform that allocates
 * nothing per packet, or it would measure the fake: replay() hands out one stored packet a given number of
 * times, and `record = false` counts what the dataplane writes instead of keeping it.
 */
import { isIPv6 } from 'node:net';
import type { TapDevice, UdpBind } from '../types.js';
import { SOCKADDR_SLOT, VNET_HDR_LEN } from '../types.js';
import { writeSockaddr } from '../sockaddr.js';
import { VXLAN_PORT_IANA } from '../../wire/vxlan.js';

export class FakeTap implements TapDevice {
  readonly name: string;
  readonly vnetHdr: boolean;
  /** Frames waiting to be read by the dataplane (what the host stack "sent" into the TAP). */
  readonly inbox: Buffer[] = [];
  /** Frames the dataplane wrote (with their virtio-net header when vnetHdr), while `record` is true. */
  readonly written: Buffer[] = [];
  /** false: write() keeps nothing, it only counts into writeCount (no allocation per frame). */
  record = true;
  /** Frames written, recorded or not. */
  writeCount = 0;
  private replayFrame: Buffer = Buffer.alloc(0);
  private replayLeft = 0;
  private cb: (() => void) | undefined;

  constructor(name = 'fake0', vnetHdr = true) {
    this.name = name;
    this.vnetHdr = vnetHdr;
  }

  /** Queues a frame as the host would send it; adds a zero virtio-net header when vnetHdr. */
  inject(frame: Buffer): void {
    this.inbox.push(this.vnetHdr ? Buffer.concat([Buffer.alloc(VNET_HDR_LEN), frame]) : Buffer.from(frame));
  }

  /**
   * Queues `count` copies of one frame without allocating per copy: read after the injected frames, copied
   * into the dataplane's slots as they are read. The frame is copied once, here (with a zero virtio-net header
   * when vnetHdr); a new replay() replaces what was left of the previous one.
   */
  replay(frame: Buffer, count: number): void {
    this.replayFrame = this.vnetHdr ? Buffer.concat([Buffer.alloc(VNET_HDR_LEN), frame]) : Buffer.from(frame);
    this.replayLeft = count;
  }

  /** Frames still waiting to be read: injected plus replayed. */
  get pending(): number {
    return this.inbox.length + this.replayLeft;
  }

  /** Runs the dataplane's readable callback once, as a uv_poll wakeup would. */
  wake(): void {
    this.cb?.();
  }

  /** Frames written by the dataplane, virtio-net header stripped. */
  frames(): Buffer[] {
    return this.written.map((b) => (this.vnetHdr ? b.subarray(VNET_HDR_LEN) : b));
  }

  readBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array): number {
    let n = 0;
    while (n < count && this.inbox.length > 0) {
      const f = this.inbox.shift()!;
      const len = Math.min(f.length, maxLen);
      f.copy(buf, offsets[n]!, 0, len);
      lens[n++] = len;
    }
    const f = this.replayFrame;
    const len = Math.min(f.length, maxLen);
    while (n < count && this.replayLeft > 0) {
      f.copy(buf, offsets[n]!, 0, len);
      lens[n++] = len;
      this.replayLeft--;
    }
    return n;
  }

  write(buf: Buffer, off: number, len: number): number {
    this.writeCount++;
    if (this.record) this.written.push(Buffer.from(buf.subarray(off, off + len)));
    return len;
  }

  onReadable(cb: () => void): void {
    this.cb = cb;
  }

  close(): void {
    this.cb = undefined;
  }
}

export interface FakeDatagram {
  readonly data: Buffer;
  readonly ip: string;
  readonly port: number;
  /** Outer TOS / traffic class (ECN in the low 2 bits): given to recvBatch, recorded by sendBatch. */
  readonly tos?: number;
  /** UDP_GRO segment size reported with a received datagram (0 or absent: none). */
  readonly groSize?: number;
  /** Outer TTL / hop limit given per datagram to sendBatch (0 = the socket's). */
  readonly ttl?: number;
}

export class FakeUdpBind implements UdpBind {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  readonly ioPath = 'fake (in memory)';
  readonly perPacketTos = true;
  readonly destinationSlots = 4096;
  readonly inbox: FakeDatagram[] = [];
  /** Datagrams the dataplane sent, while `record` is true. */
  readonly sent: FakeDatagram[] = [];
  /** false: sendBatch keeps nothing, it only counts into sentCount (no allocation per datagram). */
  record = true;
  /** Datagrams sent (GSO trains as their segments), recorded or not. */
  sentCount = 0;
  private replayData: Buffer = Buffer.alloc(0);
  private readonly replayAddr = Buffer.alloc(SOCKADDR_SLOT);
  private replayTos = 0;
  private replayLeft = 0;
  /** When set, sendBatch reports this many datagrams as dropped because the socket buffer is full. */
  failNextFull = 0;
  /** Pretend to support UDP GSO: trains are split into datagrams here, and counted in gsoSends. */
  gso = false;
  gsoSends = 0;
  private readonly dests: (FakeDatagram | undefined)[];
  private cb: (() => void) | undefined;
  /** close() was called. */
  closed = false;

  /** `shareDestinations`: send through that socket's destination table, as UdpOpenOptions.shareDestinations. */
  constructor(localAddress = '192.0.2.1', localPort: number = VXLAN_PORT_IANA, shareDestinations?: FakeUdpBind) {
    this.localAddress = localAddress;
    this.localPort = localPort;
    this.family = isIPv6(localAddress) ? 6 : 4;
    this.dests = shareDestinations?.dests ?? [];
  }

  /** Queues a datagram; `groSize` is the UDP_GRO segment size the kernel would report with it (0: none). */
  inject(data: Buffer, ip = '192.0.2.2', port: number = VXLAN_PORT_IANA, tos = 0, groSize = 0): void {
    this.inbox.push({ data: Buffer.from(data), ip, port, tos, groSize });
  }

  /**
   * Queues `count` copies of one datagram without allocating per copy (read after the injected ones; the
   * source address is encoded once, here). A new replay() replaces what was left of the previous one.
   */
  replay(data: Buffer, count: number, ip = '192.0.2.2', port = 4789, tos = 0): void {
    this.replayData = Buffer.from(data);
    writeSockaddr(this.replayAddr, 0, ip, port);
    this.replayTos = tos;
    this.replayLeft = count;
  }

  /** Datagrams still waiting to be received: injected plus replayed. */
  get pending(): number {
    return this.inbox.length + this.replayLeft;
  }

  wake(): void {
    this.cb?.();
  }

  setDestination(slot: number, ip: string, port: number): void {
    this.dests[slot] = { data: Buffer.alloc(0), ip, port };
  }

  recvBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array, addrs: Buffer, gro?: Uint16Array, tos?: Uint8Array): number {
    let n = 0;
    while (n < count && this.inbox.length > 0) {
      const d = this.inbox.shift()!;
      if (tos !== undefined) tos[n] = d.tos ?? 0;
      if (gro !== undefined) gro[n] = d.groSize ?? 0;
      if (d.data.length > maxLen) lens[n] = -1;
      else {
        d.data.copy(buf, offsets[n]!);
        lens[n] = d.data.length;
      }
      const a = n * SOCKADDR_SLOT;
      writeSockaddr(addrs, a, d.ip, d.port);
      n++;
    }
    const d = this.replayData;
    while (n < count && this.replayLeft > 0) {
      if (tos !== undefined) tos[n] = this.replayTos;
      if (gro !== undefined) gro[n] = 0;
      if (d.length > maxLen) lens[n] = -1;
      else {
        d.copy(buf, offsets[n]!);
        lens[n] = d.length;
      }
      this.replayAddr.copy(addrs, n * SOCKADDR_SLOT);
      this.replayLeft--;
      n++;
    }
    return n;
  }

  enableOffload(what: 'gso' | 'gro'): boolean {
    return what === 'gso' && this.gso;
  }

  sendBatch(buf: Buffer, offsets: Uint32Array, lens: Uint32Array, dest: Uint32Array, count: number, result: Int32Array, gso?: Uint16Array, tos?: Uint8Array, ttl?: Uint8Array): number {
    let sent = 0;
    const full = Math.min(this.failNextFull, count);
    this.failNextFull -= full;
    for (let i = 0; i < count - full; i++) {
      const d = this.dests[dest[i]!]!;
      const g = gso?.[i] ?? 0;
      const end = offsets[i]! + lens[i]!;
      if (g > 0) this.gsoSends++;
      for (let at = offsets[i]!; at < end; at += g > 0 ? g : lens[i]!) {
        const stop = g > 0 ? Math.min(at + g, end) : end;
        this.sentCount++;
        if (this.record) this.sent.push({ data: Buffer.from(buf.subarray(at, stop)), ip: d.ip, port: d.port, tos: tos?.[i] ?? 0, ...(ttl === undefined ? {} : { ttl: ttl[i]! }) });
      }
      sent++;
    }
    result[0] = sent;
    result[1] = full;
    result[2] = 0;
    result[3] = 0;
    return sent;
  }

  onReadable(cb: () => void): void {
    this.cb = cb;
  }

  close(): void {
    this.cb = undefined;
    this.closed = true;
  }
}
