/**
 * `--ttl inherit` (the kernel's VXLAN_F_TTL_INHERIT): each datagram's outer TTL / hop limit is the inner
 * packet's (ip_tunnel_get_ttl, past VLAN tags: ecn.ts innerHopLimit), or the route's for a non-IP frame.
 *
 * Linux has a per-datagram control message for it (IP_TTL / IPV6_HOPLIMIT, next to IP_TOS), so this is a
 * UdpBind that wraps the real one: at sendBatch it reads the inner frame of each entry — the VXLAN header is
 * at offsets[i], the frame right after it; a UDP GSO train is one inner flow, so its first frame speaks for
 * it — and passes the values along. The Vtep does not know about it. One Uint8Array, grown only when a batch
 * is larger than any before: no per-packet allocation.
 */
import type { UdpBind } from '../platform/types.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { InnerFrame } from '../wire/inner-frame.js';
import { innerHopLimit } from './ecn.js';

/** A UdpBind that passes an outer TTL per datagram (IP_TTL / IPV6_HOPLIMIT): ttlOf says which. */
export abstract class PerDatagramTtlBind implements UdpBind {

  constructor(protected readonly inner: UdpBind) {
    if (!inner.perPacketTos) throw new Error('a per-datagram TTL needs per-datagram control messages (the native UDP path)');
  }

  get family(): 4 | 6 {
    return this.inner.family;
  }
  get localAddress(): string {
    return this.inner.localAddress;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get ioPath(): string {
    return this.inner.ioPath;
  }
  get perPacketTos(): boolean {
    return this.inner.perPacketTos;
  }
  get destinationSlots(): number {
    return this.inner.destinationSlots;
  }

  recvBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array, addrs: Buffer, gro?: Uint16Array, tos?: Uint8Array): number {
    return this.inner.recvBatch(buf, offsets, maxLen, count, lens, addrs, gro, tos);
  }

  sendBatch(buf: Buffer, offsets: Uint32Array, lens: Uint32Array, dest: Uint32Array, count: number, result: Int32Array, gso?: Uint16Array, tos?: Uint8Array): number {
    const ttl = this.ttlOf(count, buf, offsets, lens, gso);
    return this.inner.sendBatch(buf, offsets, lens, dest, count, result, gso, tos, ttl);
  }

  /** The TTL of entries 0..count-1 (0 = the socket's), in an array the subclass owns. */
  protected abstract ttlOf(count: number, buf: Buffer, offsets: Uint32Array, lens: Uint32Array, gso?: Uint16Array): Uint8Array;

  setDestination(slot: number, ip: string, port: number): void {
    this.inner.setDestination(slot, ip, port);
  }
  enableOffload(what: 'gso' | 'gro'): boolean {
    return this.inner.enableOffload(what);
  }
  onReadable(cb: () => void): void {
    this.inner.onReadable(cb);
  }
  close(): void {
    this.inner.close();
  }
}

/** `--ttl inherit`: each datagram's TTL is its inner packet's hop limit. */
export class TtlInheritBind extends PerDatagramTtlBind {
  private ttl = new Uint8Array(256);
  /**
   * Its own view of each entry's first inner frame: the encapsulation's view has moved on to the next frame by
   * the time a batch is sent, so this is a second parse of the frame, at send time.
   */
  private readonly view = new InnerFrame();

  protected ttlOf(count: number, buf: Buffer, offsets: Uint32Array, lens: Uint32Array, gso?: Uint16Array): Uint8Array {
    if (count > this.ttl.length) this.ttl = new Uint8Array(count);
    const ttl = this.ttl;
    for (let i = 0; i < count; i++) {
      const fo = offsets[i]! + VXLAN_HLEN;
      // A train's entry spans all its datagrams; the first one's frame ends at the segment size.
      const g = gso !== undefined ? gso[i]! : 0;
      const len = (g > 0 ? Math.min(g, lens[i]!) : lens[i]!) - VXLAN_HLEN;
      if (len > 0) {
        this.view.parse(buf, fo, len);
        ttl[i] = innerHopLimit(buf, this.view);
      } else ttl[i] = 0;
    }
    return ttl;
  }
}

/**
 * A fixed outer TTL per datagram, for a device of a `vnis:` process: its sockets are shared with devices that
 * may want another TTL, so the socket-wide IP_TTL cannot say it; the same control message as inherit can.
 */
export class FixedTtlBind extends PerDatagramTtlBind {
  private fixed = new Uint8Array(256);

  constructor(inner: UdpBind, private readonly value: number) {
    super(inner);
  }

  protected ttlOf(count: number): Uint8Array {
    if (count > this.fixed.length) this.fixed = new Uint8Array(count);
    this.fixed.fill(this.value, 0, count);
    return this.fixed;
  }
}
