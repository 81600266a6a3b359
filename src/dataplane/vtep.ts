/**
 * The VTEP dataplane: encapsulation (TAP → UDP) and decapsulation (UDP → TAP), one batch per wakeup.
 *
 * ```
 *  host stack ──► TAP ──readBatch──► [proxy-ARP? │ FDB / flood │ VXLAN hdr in front] ──sendBatch──► underlay
 *  host stack ◄── TAP ◄──write────── [VXLAN check │ VNI │ loop │ checksum hint]  ◄──recvBatch───── underlay
 * ```
 *
 * Buffer ownership: each direction owns one FrameBatch (a fixed Buffer of slots, see batch.ts). A wakeup fills
 * it, works on it in place and hands it to synchronous batched calls (sendmmsg, write) that copy into the
 * kernel before returning; nothing refers to a slot after the wakeup, so the next wakeup reuses it. No
 * allocation, closure or promise per packet: counters are a Float64Array, the FDB hands out typed arrays.
 *
 * Slot layout (offsets within a slot; HEADROOM = 16):
 * ```
 *   0        6             8              16
 *   | unused | vnet hdr (10 bytes, TAP side)  |
 *            |     | VXLAN header (8)   | inner Ethernet frame ...
 * ```
 * A TAP read lands at 6 when the TAP carries a virtio-net header (at 16 otherwise), so the inner frame always
 * starts at 16 and the VXLAN header is written at 8, in place, over the already-parsed virtio-net header.
 * A UDP receive lands at 8 (the VXLAN header), so the inner frame again starts at 16, and the virtio-net header
 * for the TAP write is written at 6, over the already-checked VXLAN header.
 */
import type { TapDevice, UdpBind } from '../platform/types.js';
import { SOCKADDR_SLOT, VNET_HDR_LEN } from '../platform/types.js';
import { C, Counters } from './counters.js';
import { Fdb, type FdbEntry } from './fdb.js';
import { FrameBatch, HEADROOM } from './batch.js';
import {
  ETH_HLEN,
  ETHERTYPE_ARP,
} from '../wire/ethernet.js';
import { macRead } from '../wire/mac.js';
import { VXLAN_HLEN, vxlanCheck, vxlanVni, vxlanWrite, VXLAN_ERR_FLAGS, VXLAN_ERR_RESERVED, VXLAN_ERR_SHORT } from '../wire/vxlan.js';
import { completeTxChecksum, writeRxVnetHeader } from './offload.js';
import { answerArp, ARP_FRAME_LEN } from './proxy-arp.js';

/**
 * Observes packets after the dataplane decided what to do with them. Buffers are only valid during the call
 * (they are the dataplane's own batch slots): copy what you keep. `verdict` is a counter index (see
 * counters.ts COUNTER_NAMES): delivered (tx_packets / tx_flood_frames / arp_proxied / rx_packets) or the drop
 * reason.
 */
export interface PacketObserver {
  /**
   * A frame read from the TAP. The inner frame is at `buf[fo .. fo+flen)`; when it was encapsulated, the VXLAN
   * header is at `fo - 8`. `entry` is the FDB entry used (default destinations when flooded).
   */
  onEncap(buf: Buffer, fo: number, flen: number, verdict: number, entry: FdbEntry | undefined): void;
  /**
   * A datagram from the UDP socket: the VXLAN header at `buf[ho]`, `len` bytes (-1 when truncated); its outer
   * source sockaddr (Linux layout) in `addrs` at `addrOff`. Note: on delivery the bytes before the inner
   * frame (the VXLAN header) may already be overwritten by the virtio-net header.
   */
  onDecap(buf: Buffer, ho: number, len: number, verdict: number, addrs: Buffer, addrOff: number): void;
}

export interface VtepOptions {
  readonly vni: number;
  /** Our TAP's MAC as a 48-bit integer: frames arriving with it as source are loops. */
  readonly ownMac: number;
  /** Largest UDP payload (VXLAN header + inner frame) the underlay carries unfragmented. */
  readonly maxUdpPayload: number;
  /** Largest inner frame we read from the TAP (MTU + Ethernet header + a VLAN tag). */
  readonly maxFrame: number;
  /** UDP destination port for FDB entries without their own (`--dstport`). */
  readonly dstport: number;
  /** Frames/datagrams per batch (at most the addon's MAX_BATCH). */
  readonly batch?: number;
}

const VXLAN_AT = HEADROOM - VXLAN_HLEN; // 8
const VNET_AT = HEADROOM - VNET_HDR_LEN; // 6
/** Upper bound of frames handled per wakeup and direction, so one busy direction cannot starve the other. */
const MAX_PER_WAKEUP = 1024;

export class Vtep {
  readonly counters = new Counters();
  readonly fdb: Fdb;
  /** Static neighbours for proxy-ARP: IPv4 (uint32) → MAC (48-bit). Replaced whole on change. */
  neigh: Map<number, number> = new Map();
  /** --peers-only: drop datagrams whose outer source is not a known remote. */
  peersOnly = false;
  /**
   * Sees every frame and datagram with its verdict (the trace printer, the pcap writer). Undefined when off:
   * then the cost is one field read per packet.
   */
  observer: PacketObserver | undefined;
  /** The FDB entry the last encapsulated frame used (for the observer), without allocating. */
  private lastEntry: FdbEntry | undefined;

  private readonly tap: TapDevice;
  private readonly udp: UdpBind;
  private readonly vni: number;
  private readonly ownMac: number;
  private readonly maxUdpPayload: number;
  private readonly vnetLen: number;
  private readonly batchSize: number;

  // TAP → UDP
  private readonly txBatch: FrameBatch;
  private readonly txReadOffs: Uint32Array;
  private readonly txLens: Int32Array;
  private readonly txReadMax: number;
  /** Extra slots for per-remote VNI overrides (the header differs per copy). */
  private readonly txCopies: FrameBatch;
  private txCopiesUsed = 0;
  // send queue
  private readonly sendOffs: Uint32Array;
  private readonly sendLens: Uint32Array;
  private readonly sendDest: Uint32Array;
  private sendCount = 0;
  private readonly sendResult = new Int32Array(4);

  // UDP → TAP
  private readonly rxBatch: FrameBatch;
  private readonly rxRecvOffs: Uint32Array;
  private readonly rxLens: Int32Array;
  private readonly rxAddrs: Buffer;
  private readonly rxRecvMax: number;

  constructor(tap: TapDevice, udp: UdpBind, o: VtepOptions) {
    this.tap = tap;
    this.udp = udp;
    this.vni = o.vni;
    this.ownMac = o.ownMac;
    this.maxUdpPayload = o.maxUdpPayload;
    this.vnetLen = tap.vnetHdr ? VNET_HDR_LEN : 0;
    this.batchSize = Math.max(1, Math.min(o.batch ?? 64, 1024));
    this.fdb = new Fdb(udp, o.dstport);

    const B = this.batchSize;
    // A slot holds headroom + the largest frame we accept either way (a datagram may carry up to 64 KiB).
    const slotSize = HEADROOM + Math.max(o.maxFrame, 2048);
    this.txBatch = new FrameBatch(B, slotSize);
    this.txCopies = new FrameBatch(B, slotSize);
    this.txReadOffs = new Uint32Array(B);
    for (let i = 0; i < B; i++) this.txReadOffs[i] = this.txBatch.offset(i) + HEADROOM - this.vnetLen;
    this.txReadMax = this.vnetLen + o.maxFrame;
    this.txLens = new Int32Array(B);
    const Q = Math.min(1024, B * 4);
    this.sendOffs = new Uint32Array(Q);
    this.sendLens = new Uint32Array(Q);
    this.sendDest = new Uint32Array(Q);

    const rxSlot = HEADROOM + 65536;
    this.rxBatch = new FrameBatch(B, rxSlot);
    this.rxRecvOffs = new Uint32Array(B);
    for (let i = 0; i < B; i++) this.rxRecvOffs[i] = this.rxBatch.offset(i) + VXLAN_AT;
    this.rxRecvMax = rxSlot - VXLAN_AT;
    this.rxLens = new Int32Array(B);
    this.rxAddrs = Buffer.alloc(B * SOCKADDR_SLOT);
  }

  /** Starts reacting to readiness on both sides. */
  start(): void {
    this.tap.onReadable(() => this.onTapReadable());
    this.udp.onReadable(() => this.onUdpReadable());
  }

  // ------------------------------------------------------------------------------------------------------
  // TAP → UDP

  onTapReadable(): void {
    const v = this.counters.v;
    const buf = this.txBatch.buf;
    let total = 0;
    for (;;) {
      const n = this.tap.readBatch(buf, this.txReadOffs, this.txReadMax, this.batchSize, this.txLens);
      const obs = this.observer;
      for (let i = 0; i < n; i++) {
        const fo = this.txBatch.offset(i) + HEADROOM;
        const flen = this.txLens[i]! - this.vnetLen;
        const verdict = this.encapOne(buf, fo, flen, v);
        if (obs !== undefined) obs.onEncap(buf, fo, flen, verdict, this.lastEntry);
      }
      this.flush();
      total += n;
      if (n < this.batchSize || total >= MAX_PER_WAKEUP) break;
    }
  }

  /** Handles one frame; returns its verdict: a counter index (C.tx_packets, C.tx_flood_frames, C.arp_proxied or a drop reason). */
  private encapOne(buf: Buffer, fo: number, flen: number, v: Float64Array): number {
    v[C.tx_frames]!++;
    this.lastEntry = undefined;
    if (flen < ETH_HLEN) {
      v[C.tx_runt]!++;
      return C.tx_runt;
    }
    if (this.vnetLen !== 0) {
      // The virtio-net header sits right in front of the frame. Without negotiated offloads the kernel sends
      // neither GSO super-frames nor partial checksums, but a frame forwarded from elsewhere may still carry
      // a partial checksum: finish it here so the wire always carries a valid one.
      const h = fo - VNET_HDR_LEN;
      if (buf[h + 1] !== 0) {
        v[C.tx_gso_unsupported]!++;
        return C.tx_gso_unsupported;
      }
      if ((buf[h]! & 1) !== 0) {
        completeTxChecksum(buf, fo, flen, buf.readUInt16LE(h + 6), buf.readUInt16LE(h + 8));
        v[C.tx_csum_completed]!++;
      }
    }
    if (buf.readUInt16BE(fo + 12) === ETHERTYPE_ARP && this.neigh.size !== 0) {
      if (answerArp(buf, fo, flen, this.neigh)) {
        v[C.arp_proxied]!++;
        if (this.vnetLen !== 0) buf.fill(0, fo - VNET_HDR_LEN, fo); // a plain frame: no offload hints
        if (this.tap.write(buf, fo - this.vnetLen, this.vnetLen + ARP_FRAME_LEN) < 0) v[C.rx_tap_error]!++;
        return C.arp_proxied;
      }
    }
    const udpLen = VXLAN_HLEN + flen;
    if (udpLen > this.maxUdpPayload) {
      v[C.tx_too_big]!++;
      return C.tx_too_big;
    }
    const ho = fo - VXLAN_HLEN;
    vxlanWrite(buf, ho, this.vni);
    // I/G bit of the destination MAC: broadcast and multicast always flood.
    const entry = (buf[fo]! & 1) === 0 ? this.fdb.lookup(macRead(buf, fo)) : undefined;
    const e = entry ?? this.fdb.defaults;
    if (e === undefined) {
      v[C.tx_fdb_miss]!++;
      return C.tx_fdb_miss;
    }
    this.lastEntry = e;
    const k = e.slots.length;
    if (entry === undefined) {
      v[C.tx_flood_frames]!++;
      v[C.tx_flood_copies]! += k;
    }
    for (let j = 0; j < k; j++) {
      const vni = e.vnis[j]!;
      if (vni < 0 || vni === this.vni) this.queueSend(ho, udpLen, e.slots[j]!);
      else this.queueCopyWithVni(buf, ho, udpLen, e.slots[j]!, vni);
    }
    return entry === undefined ? C.tx_flood_frames : C.tx_packets;
  }

  private queueSend(off: number, len: number, dest: number): void {
    if (this.sendCount === this.sendOffs.length) this.flush();
    const i = this.sendCount++;
    this.sendOffs[i] = off;
    this.sendLens[i] = len;
    this.sendDest[i] = dest;
  }

  /** A remote with its own VNI needs its own header, so its copy lives in a separate slot. */
  private queueCopyWithVni(buf: Buffer, off: number, len: number, dest: number, vni: number): void {
    if (this.txCopiesUsed === this.txCopies.count) this.flush();
    const at = this.txCopies.offset(this.txCopiesUsed++);
    buf.copy(this.txCopies.buf, at, off, off + len);
    vxlanWrite(this.txCopies.buf, at, vni);
    // Copies live in another Buffer: send what is queued from the main batch first, then the copy alone.
    this.flush();
    this.sendOffs[0] = at;
    this.sendLens[0] = len;
    this.sendDest[0] = dest;
    this.sendCount = 1;
    this.flushFrom(this.txCopies.buf);
  }

  private flush(): void {
    this.flushFrom(this.txBatch.buf);
    this.txCopiesUsed = 0;
  }

  private flushFrom(buf: Buffer): void {
    const n = this.sendCount;
    if (n === 0) return;
    this.sendCount = 0;
    const r = this.sendResult;
    this.udp.sendBatch(buf, this.sendOffs, this.sendLens, this.sendDest, n, r);
    const v = this.counters.v;
    v[C.tx_packets]! += r[0]!;
    v[C.tx_sock_full]! += r[1]!;
    v[C.tx_error]! += r[2]!;
    if (r[1]! === 0 && r[2]! === 0) {
      for (let i = 0; i < n; i++) v[C.tx_bytes]! += this.sendLens[i]!;
    } else {
      // Only count bytes of what went out: the first r[0] that succeeded is not known exactly when some were
      // refused in the middle; count the average — exactness of tx_bytes on error paths is not worth a loop.
      let bytes = 0;
      for (let i = 0; i < n; i++) bytes += this.sendLens[i]!;
      v[C.tx_bytes]! += Math.round((bytes * r[0]!) / n);
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // UDP → TAP

  onUdpReadable(): void {
    const v = this.counters.v;
    const buf = this.rxBatch.buf;
    let total = 0;
    for (;;) {
      const n = this.udp.recvBatch(buf, this.rxRecvOffs, this.rxRecvMax, this.batchSize, this.rxLens, this.rxAddrs);
      const obs = this.observer;
      for (let i = 0; i < n; i++) {
        const base = this.rxBatch.offset(i);
        const verdict = this.decapOne(buf, base, this.rxLens[i]!, v, i * SOCKADDR_SLOT);
        if (obs !== undefined) obs.onDecap(buf, base + VXLAN_AT, this.rxLens[i]!, verdict, this.rxAddrs, i * SOCKADDR_SLOT);
      }
      total += n;
      if (n < this.batchSize || total >= MAX_PER_WAKEUP) break;
    }
  }

  /** Handles one datagram; returns its verdict: C.rx_packets or a drop reason's counter index. */
  private decapOne(buf: Buffer, base: number, len: number, v: Float64Array, addrOff: number): number {
    v[C.rx_datagrams]!++;
    if (len < 0) {
      v[C.rx_truncated]!++;
      return C.rx_truncated;
    }
    // --peers-only: the source must be a remote we know (an FDB entry or a default destination).
    if (this.peersOnly && !this.fdb.isKnownPeer(this.rxAddrs, addrOff)) {
      v[C.rx_unknown_peer]!++;
      return C.rx_unknown_peer;
    }
    const ho = base + VXLAN_AT;
    const bad = vxlanCheck(buf, ho, len);
    if (bad !== 0) {
      if (bad === VXLAN_ERR_SHORT) v[C.rx_short]!++;
      else if (bad === VXLAN_ERR_FLAGS) v[C.rx_bad_flags]!++;
      else if (bad === VXLAN_ERR_RESERVED) v[C.rx_reserved_bits]!++;
      else v[C.rx_short]!++;
      return bad === VXLAN_ERR_FLAGS ? C.rx_bad_flags : bad === VXLAN_ERR_RESERVED ? C.rx_reserved_bits : C.rx_short;
    }
    if (vxlanVni(buf, ho) !== this.vni) {
      v[C.rx_wrong_vni]!++;
      return C.rx_wrong_vni;
    }
    const fo = base + HEADROOM;
    let flen = len - VXLAN_HLEN;
    // Source MAC: our own means a loop (or our flood reflected back); multicast or zero is never a valid
    // sender (the kernel refuses to learn those too).
    const src = macRead(buf, fo + 6);
    if (src === this.ownMac) {
      v[C.rx_loop]!++;
      return C.rx_loop;
    }
    if ((buf[fo + 6]! & 1) !== 0 || src === 0) {
      v[C.rx_bad_src_mac]!++;
      return C.rx_bad_src_mac;
    }
    if (this.vnetLen !== 0) flen = writeRxVnetHeader(buf, fo, flen, base + VNET_AT);
    const w = this.tap.write(buf, fo - this.vnetLen, this.vnetLen + flen);
    if (w < 0) {
      v[C.rx_tap_error]!++;
      return C.rx_tap_error;
    }
    v[C.rx_packets]!++;
    v[C.rx_bytes]! += flen;
    return C.rx_packets;
  }

  close(): void {
    this.tap.close();
    this.udp.close();
  }
}
