/**
 * One VXLAN UDP port: the receive loop of its socket, which checks each datagram's VXLAN header and hands it to
 * the device whose VNI it carries — as the kernel's vxlan_rcv finds the device of a shared socket by VNI
 * (vxlan_vs_find_vni), so several devices (a `vnis:` process) share one port.
 *
 * ```
 *  underlay ──recvBatch──► [truncated? │ --peers-only │ UDP GRO train? │ VXLAN check │ VNI → device] ──► decap.ts
 * ```
 * Ownership: the port owns its receive batch (HEADROOM + 64 KiB slots, one set however many devices share
 * it) and the source-address and TOS arrays; the socket is borrowed (the control plane opens and closes it).
 *
 * Counting: a datagram that reaches a device — its VNI is one of ours — counts on that device
 * (rx_datagrams, then one verdict), also when its flags or reserved bits are bad. A datagram that belongs to no
 * device (truncated, shorter than a VXLAN header, an unknown VNI, an unknown peer, a UDP GRO train whose
 * lengths don't add up) counts on the port's own counters, `stray`. A single-VNI process passes its device's
 * counters as `stray`, so every datagram counts on its one device, as it always has.
 */
import type { UdpBind } from '../platform/types.js';
import { SOCKADDR_SLOT } from '../platform/types.js';
import { C, Counters, drop } from './counters.js';
import { FrameBatch, HEADROOM } from './batch.js';
import {
  VXLAN_ERR_FLAGS,
  VXLAN_ERR_RESERVED,
  VXLAN_HLEN,
  VXLAN_RESERVED_HI,
  VXLAN_RESERVED_LO,
  vxlanCheck,
  vxlanVni,
} from '../wire/vxlan.js';
import { claimedDatagramLen } from './rx-super.js';
import { InnerFrame } from '../wire/inner-frame.js';
import type { Decapsulator } from './decap.js';
import type { PacketObserver } from './device.js';
import { MAX_PER_WAKEUP } from './encap.js';

const VXLAN_AT = HEADROOM - VXLAN_HLEN; // 8
/** Largest UDP payload a receive slot takes (a UDP GRO train or a kernel peer's 64 KB super-datagram). */
const RX_SLOT = HEADROOM + 65536;

export interface UdpPortOptions {
  /** Datagrams per receive batch. */
  readonly batchSize: number;
  /** The socket has UDP_GRO on: a received datagram may hold several, split by its gso size. */
  readonly udpGro: boolean;
  /** `--reserved-bits`: header bits a datagram must have clear (wire/vxlan.ts halves); default: all but I and the VNI. */
  readonly reserved?: { readonly hi: number; readonly lo: number };
  /** Where datagrams that belong to no device are counted; default: the port's own. */
  readonly stray?: Counters;
  /** Monotonic clock in seconds, read once per wakeup for learning. */
  readonly clock: () => number;
}

export class UdpPort {
  /** Datagrams that belong to no device, per reason (see the top comment). */
  readonly stray: Counters;
  /** --peers-only: drop datagrams whose outer source is a remote of no device. */
  peersOnly = false;
  /** Sees the datagrams that belong to no device (a device's observer sees its own). */
  observer: PacketObserver | undefined;
  readonly udp: UdpBind;
  /** VNI → device. */
  private readonly byVni = new Map<number, Decapsulator>();
  /** The same devices, for the per-wakeup steps (clock, coalescer flush). Replaced whole on change. */
  private devices: readonly Decapsulator[] = [];
  /** Some device learns: the clock is read once per wakeup for them. Kept with `devices`. */
  private learning = false;
  private readonly batchSize: number;
  private readonly udpGro: boolean;
  private readonly reservedHi: number;
  private readonly reservedLo: number;
  private readonly clock: () => number;
  private readonly batch: FrameBatch;
  private readonly recvOffs: Uint32Array;
  private readonly recvMax: number;
  private readonly lens: Int32Array;
  private readonly addrs: Buffer;
  /** Outer TOS of each received datagram (perPacketTos), 0 otherwise. */
  private readonly tos: Uint8Array;
  private readonly gro = new Uint16Array(1024);
  /**
   * The inner headers of a UDP GRO datagram, read to tell a train from one super-datagram (before the VXLAN
   * check, so apart from the device's own parse in decap.ts).
   */
  private readonly claimView = new InnerFrame();
  private started = false;

  constructor(udp: UdpBind, o: UdpPortOptions) {
    this.udp = udp;
    this.stray = o.stray ?? new Counters();
    this.batchSize = o.batchSize;
    this.udpGro = o.udpGro;
    this.reservedHi = o.reserved?.hi ?? VXLAN_RESERVED_HI;
    this.reservedLo = o.reserved?.lo ?? VXLAN_RESERVED_LO;
    this.clock = o.clock;
    const B = o.batchSize;
    this.batch = new FrameBatch(B, RX_SLOT);
    this.recvOffs = new Uint32Array(B);
    for (let i = 0; i < B; i++) this.recvOffs[i] = this.batch.offset(i) + VXLAN_AT;
    this.recvMax = RX_SLOT - VXLAN_AT;
    this.lens = new Int32Array(B);
    this.addrs = Buffer.alloc(B * SOCKADDR_SLOT);
    this.tos = new Uint8Array(B);
  }

  /** Adds a device: datagrams with its VNI go to it from the next wakeup on. */
  attach(d: Decapsulator): void {
    const vni = d.dev.vni;
    if (this.byVni.has(vni)) throw new RangeError(`VNI ${vni} already has a device on UDP port ${this.udp.localPort}`);
    this.byVni.set(vni, d);
    this.devicesChanged();
  }

  /** Removes the device of `vni` (its datagrams count as rx_wrong_vni at the port from now on). */
  detach(vni: number): void {
    if (this.byVni.delete(vni)) this.devicesChanged();
  }

  private devicesChanged(): void {
    this.devices = [...this.byVni.values()];
    this.learning = this.devices.some((d) => d.learning);
  }

  get deviceCount(): number {
    return this.byVni.size;
  }

  /** Starts reacting to the socket's readiness (once; later calls do nothing). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.udp.onReadable(() => this.onUdpReadable());
  }

  /** Drains the socket; returns the number of datagrams handled. */
  onUdpReadable(): number {
    const buf = this.batch.buf;
    const gro = this.udpGro ? this.gro : undefined;
    const tos = this.udp.perPacketTos ? this.tos : undefined;
    const devices = this.devices;
    if (this.learning) {
      const now = this.clock();
      for (let d = 0; d < devices.length; d++) devices[d]!.now = now;
    }
    let total = 0;
    for (;;) {
      const n = this.udp.recvBatch(buf, this.recvOffs, this.recvMax, this.batchSize, this.lens, this.addrs, gro, tos);
      for (let i = 0; i < n; i++) {
        const ho = this.batch.offset(i) + VXLAN_AT;
        const len = this.lens[i]!;
        const g = gro !== undefined ? gro[i]! : 0;
        const addrOff = i * SOCKADDR_SLOT;
        // With UDP_GRO, len > g means either a train of datagrams of g bytes glued by the kernel, or ONE
        // super-datagram (a kernel peer's inner UDP GSO packet) whose g is the INNER segment size. The inner
        // IP length of the first datagram tells which; cutting a super-datagram at g would cut it in the
        // wrong places.
        const claimed = g !== 0 && len > g ? claimedDatagramLen(buf, ho, len, this.claimView) : -1;
        if (g === 0 || len <= g || claimed === len) {
          this.receive(buf, ho, len, addrOff, this.tos[i]!, claimed === len ? g : 0);
          continue;
        }
        if (claimed > g) {
          // Neither a train (the first datagram would be g bytes) nor one datagram: the lengths don't add up.
          this.strayDrop(buf, ho, len, addrOff, C.rx_super_bad_len);
          continue;
        }
        // UDP GRO glued several datagrams of g bytes (the last may be shorter). Each is decapsulated in turn;
        // the virtio-net header of segment j+1 overwrites the tail of segment j, already written to the TAP.
        this.stray.v[C.rx_gro_datagrams]!++;
        for (let at = 0; at < len; at += g) this.receive(buf, ho + at, Math.min(g, len - at), addrOff, this.tos[i]!, 0);
      }
      for (let d = 0; d < devices.length; d++) devices[d]!.flush();
      total += n;
      if (n < this.batchSize || total >= MAX_PER_WAKEUP) break;
    }
    return total;
  }

  /** One datagram: checked here, then handed to the device of its VNI. */
  private receive(buf: Buffer, ho: number, len: number, addrOff: number, outerTos: number, udpGsoSize: number): void {
    if (len < 0) return this.strayDrop(buf, ho, len, addrOff, C.rx_truncated);
    // --peers-only: the source must be a remote we know (an FDB entry or a default destination of a device).
    if (this.peersOnly && !this.isKnownPeer(addrOff)) return this.strayDrop(buf, ho, len, addrOff, C.rx_unknown_peer);
    const bad = vxlanCheck(buf, ho, len, this.reservedHi, this.reservedLo);
    // A header too short to hold the VNI belongs to no device; otherwise the VNI says whose it is.
    const d = len >= VXLAN_HLEN ? this.byVni.get(vxlanVni(buf, ho)) : undefined;
    const reason = bad === 0 ? 0 : bad === VXLAN_ERR_FLAGS ? C.rx_bad_flags : bad === VXLAN_ERR_RESERVED ? C.rx_reserved_bits : C.rx_short;
    if (d === undefined) return this.strayDrop(buf, ho, len, addrOff, reason !== 0 ? reason : C.rx_wrong_vni);
    const v = d.dev.counters.v;
    v[C.rx_datagrams]!++;
    const verdict = reason !== 0 ? drop(v, reason) : d.deliver(buf, ho, len, this.addrs, addrOff, outerTos, udpGsoSize);
    const obs = d.dev.observer;
    if (obs !== undefined) obs.onDecap(buf, ho, len, verdict, this.addrs, addrOff);
  }

  /** A datagram that belongs to no device: counted on the port (`stray`) under its reason, and observed. */
  private strayDrop(buf: Buffer, ho: number, len: number, addrOff: number, reason: number): void {
    const v = this.stray.v;
    v[C.rx_datagrams]!++;
    drop(v, reason);
    const obs = this.observer;
    if (obs !== undefined) obs.onDecap(buf, ho, len, reason, this.addrs, addrOff);
  }

  private isKnownPeer(addrOff: number): boolean {
    const devices = this.devices;
    for (let d = 0; d < devices.length; d++) if (devices[d]!.dev.fdb.isKnownPeer(this.addrs, addrOff)) return true;
    return false;
  }
}
