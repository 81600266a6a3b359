/**
 * The fast UDP path: one non-blocking socket, recvmmsg/sendmmsg batches through the native addon, readiness
 * from uv_poll. Destinations live in a table of sockaddrs (one slot per remote VTEP) written by the control
 * plane, so the hot path passes only slot numbers. A socket opened with `shareDestinations` uses its owner's
 * table (the --srcport pool: 1024 sockets x 4096 slots x 28 bytes would otherwise be 112 MiB of copies).
 */
import { isIPv6 } from 'node:net';
import type { TunableUdpBind, UdpIpOption, UdpOpenOptions } from '../types.js';
import { native, PolledFd } from './native.js';

export class NativeUdpBind extends PolledFd implements TunableUdpBind {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  readonly ioPath = 'native recvmmsg/sendmmsg';
  readonly perPacketTos = true;
  readonly destinationSlots: number;
  private readonly table: Buffer;

  /** Throws an Error with `code` = errno name (EADDRINUSE, EADDRNOTAVAIL, ENODEV...). */
  constructor(o: UdpOpenOptions) {
    const n = native();
    const owner = o.shareDestinations;
    if (owner !== undefined && !(owner instanceof NativeUdpBind)) throw new TypeError('shareDestinations: the owner must be a NativeUdpBind');
    const [fd, port] = n.udpOpen(o.address, o.port, o.device, o.rcvbuf ?? 4 << 20, o.sndbuf ?? 4 << 20, o.reusePort === true);
    super(fd);
    this.localPort = port;
    this.localAddress = o.address;
    this.family = isIPv6(o.address) ? 6 : 4;
    this.destinationSlots = owner?.destinationSlots ?? o.destinationSlots ?? 4096;
    this.table = owner?.table ?? Buffer.alloc(this.destinationSlots * n.constants.SOCKADDR_SLOT);
  }

  setDestination(slot: number, ip: string, port: number): void {
    if (slot < 0 || slot >= this.destinationSlots) throw new RangeError(`destination slot ${slot} out of range`);
    native().sockaddrWrite(this.table, slot, ip, port);
  }

  recvBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array, addrs: Buffer, gro?: Uint16Array, tos?: Uint8Array): number {
    return native().recvBatch(this.fd, buf, offsets, maxLen, count, lens, addrs, gro, tos);
  }

  sendBatch(buf: Buffer, offsets: Uint32Array, lens: Uint32Array, dest: Uint32Array, count: number, result: Int32Array, gso?: Uint16Array, tos?: Uint8Array, ttl?: Uint8Array): number {
    return native().sendBatch(this.fd, buf, offsets, lens, this.table, dest, count, result, gso, tos, ttl);
  }

  enableOffload(what: 'gso' | 'gro'): boolean {
    return native().udpEnableOffload(this.fd, what) === 0;
  }

  /**
   * Outer-header settings for every datagram of this socket: TTL / hop limit, TOS / traffic class, DF (1 set,
   * 0 clear); UDP checksums (see UdpIpOption). Returns 0 or -errno.
   */
  setIpOption(what: UdpIpOption, value: number): number {
    return native().udpSetIpOption(this.fd, what, value);
  }
}
