/**
 * Decapsulation (underlay → TAP) for one device: a datagram the socket (udp-port.ts) has already checked —
 * its VXLAN header is valid and its VNI is this device's — is checked on its inner frame (loop, source MAC),
 * learnt from (--learning), given its ECN, and written to the TAP: glued with its neighbours into a TCP
 * super-frame (coalesce.ts), marked as a GSO super-frame when it is larger than the TAP MTU (rx-super.ts), or
 * as it is.
 *
 * ```
 *  udp-port.ts ──deliver──► [own MAC? │ source MAC │ learn │ ECN │ MSS] ─┬─ coalescer ──flush──► TAP
 *                                                                       └─ vnet header ──write──► TAP
 * ```
 * The datagram lies in the socket's receive batch with HEADROOM (16) bytes in front of the inner frame: the
 * VXLAN header at fo - 8, and the virtio-net header for the TAP write is written at fo - 10, over it.
 *
 * Every datagram handed to deliver() ends in exactly one counter of the device: rx_packets (now, or when the
 * coalescer writes its super-frame), or a drop through drop().
 */
import type { TapDevice } from '../platform/types.js';
import { VNET_HDR_LEN } from '../platform/types.js';
import { C, drop } from './counters.js';
import { SNOOP_LEARNED, SNOOP_MOVED, SNOOP_SAME, SNOOP_STATIC_CONFLICT } from './fdb.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { InnerFrame } from '../wire/inner-frame.js';
import { macHi24, macLo24 } from '../wire/mac.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { writeRxVnetHeader } from './offload.js';
import { ADD_FLUSH_FIRST, ADD_TAKEN, TcpCoalescer } from './coalesce.js';
import { decapEcn, ECN_DROP } from './ecn.js';
import type { FlowMssTable } from './flow-mss.js';
import { markRxSuperFrame, SUPER_MARKED, SUPER_PLAIN } from './rx-super.js';
import type { DeviceState } from './device.js';

export interface DecapOptions {
  readonly tap: TapDevice;
  /** The TAP's MTU: larger inner frames are written as GSO super-frames (rx-super.ts). */
  readonly tapMtu: number;
  /** Glue consecutive inner TCP segments into super-frames before writing them (needs the vnet header). */
  readonly rxCoalesce: boolean;
  /** `--learning`: record inner source MAC → outer source IP (the kernel's vxlan_snoop). */
  readonly learning: boolean;
  readonly flowMss: FlowMssTable;
}

export class Decapsulator {
  readonly dev: DeviceState;
  readonly learning: boolean;
  /**
   * The clock, read once per socket wakeup when learning (not per datagram): set by the socket, kept by the
   * FDB for its snoop (a time passed per datagram as an argument would be boxed whenever V8 does not inline).
   */
  set now(t: number) {
    this.dev.fdb.now = t;
  }
  private readonly v: Float64Array;
  private readonly tap: TapDevice;
  private readonly vnetLen: number;
  private readonly tapMtu: number;
  /** Inner frames longer than this (Ethernet header + TAP MTU) go to markRxSuperFrame on their way in. */
  private readonly superAbove: number;
  private readonly coalescer: TcpCoalescer | undefined;
  private readonly flowMss: FlowMssTable;
  /** The headers of the datagram's inner frame, parsed once in deliver() (reused for every datagram). */
  private readonly inner = new InnerFrame();
  /** The device's own MAC as two 24-bit halves (see deliver). */
  private readonly ownHi: number;
  private readonly ownLo: number;

  constructor(dev: DeviceState, o: DecapOptions) {
    this.dev = dev;
    this.v = dev.counters.v;
    this.tap = o.tap;
    this.vnetLen = o.tap.vnetHdr ? VNET_HDR_LEN : 0;
    this.tapMtu = o.tapMtu;
    this.superAbove = ETH_HLEN + o.tapMtu;
    this.flowMss = o.flowMss;
    this.coalescer = o.rxCoalesce && o.tap.vnetHdr ? new TcpCoalescer(o.tap, o.tapMtu, o.flowMss) : undefined;
    this.learning = o.learning;
    this.ownHi = Math.floor(dev.ownMac / 0x1000000);
    this.ownLo = dev.ownMac % 0x1000000;
  }

  /**
   * One checked datagram: the VXLAN header at `buf[ho]`, `len` bytes, from the sockaddr at `addrs[addrOff]`
   * with outer TOS `outerTos`. `udpGsoSize`: the UDP_GRO segment size when the datagram is one whole
   * super-datagram (the inner datagrams' size), else 0. Returns the verdict (C.rx_packets or a drop reason).
   */
  deliver(buf: Buffer, ho: number, len: number, addrs: Buffer, addrOff: number, outerTos: number, udpGsoSize: number): number {
    const v = this.v;
    const dev = this.dev;
    const fo = ho + VXLAN_HLEN;
    let flen = len - VXLAN_HLEN;
    // Source MAC: our own means a loop (or our flood reflected back); multicast or zero is never a valid
    // sender (the kernel refuses to learn those too).
    // Compared as two 24-bit halves: a 48-bit number is boxed (16 bytes) whenever V8 does not inline its reader.
    const srcHi = macHi24(buf, fo + 6);
    const srcLo = macLo24(buf, fo + 6);
    if (srcHi === this.ownHi && srcLo === this.ownLo) return drop(v, C.rx_loop);
    if ((srcHi & 0x10000) !== 0 || (srcHi | srcLo) === 0) return drop(v, C.rx_bad_src_mac);
    if (this.learning) {
      const s = dev.fdb.snoop(buf, fo + 6, addrs, addrOff);
      if (s !== SNOOP_SAME) {
        if (s === SNOOP_STATIC_CONFLICT) return drop(v, C.rx_fdb_static_conflict);
        v[s === SNOOP_LEARNED ? C.fdb_learned : s === SNOOP_MOVED ? C.fdb_moved : C.fdb_learn_skipped]!++;
      }
    }
    // ECN (INET_ECN_decapsulate, after learning as in vxlan_rcv): outer CE marks an ECT inner packet CE, and
    // drops a Not-ECT one.
    // The one parse of the inner frame's headers: everything below reads them through `inner`.
    const inner = this.inner;
    inner.parse(buf, fo, flen);
    if (decapEcn(buf, inner, outerTos) === ECN_DROP) return drop(v, C.rx_ecn_not_ect);
    // SYNs from the far side carry the MSS the remote end can take (the smaller of both sizes the super-frames).
    this.flowMss.noteSyn(buf, inner);
    const co = this.coalescer;
    if (co !== undefined) {
      let r = co.add(buf, inner);
      if (r === ADD_FLUSH_FIRST) {
        this.flush();
        r = co.add(buf, inner);
      }
      if (r === ADD_TAKEN) return C.rx_packets; // counted when the super-frame is written (flush)
      this.flush();
    }
    if (this.vnetLen !== 0) flen = writeRxVnetHeader(buf, inner, fo - VNET_HDR_LEN);
    if (flen > this.superAbove) {
      // Larger than the TAP MTU (a kernel peer's whole super-datagram): one GSO super-frame, or a named drop.
      const r = this.vnetLen === 0 ? C.rx_too_big : markRxSuperFrame(buf, inner, flen, fo - VNET_HDR_LEN, this.tapMtu, this.flowMss, udpGsoSize);
      if (r === SUPER_MARKED) v[C.tap_super_writes]!++;
      else if (r !== SUPER_PLAIN) return drop(v, r);
    }
    if (this.tap.write(buf, fo - this.vnetLen, this.vnetLen + flen) < 0) return drop(v, C.rx_tap_error);
    v[C.rx_packets]!++;
    v[C.rx_bytes]! += flen;
    return C.rx_packets;
  }

  /**
   * Writes what the coalescer holds and accounts for it (delivered, or a TAP error for every segment). The
   * socket calls it at the end of each receive batch: the batch's slots are reused by the next one.
   */
  flush(): void {
    const co = this.coalescer;
    if (co === undefined) return;
    const v = this.v;
    const errBefore = co.writeErrors;
    const bytes = co.heldBytes();
    const segs = co.flush();
    if (segs === 0) return;
    if (co.writeErrors !== errBefore) v[C.rx_tap_error]! += segs;
    else {
      v[C.rx_packets]! += segs;
      v[C.rx_bytes]! += bytes;
      if (co.lastOversize) v[C.tap_super_writes]!++;
      if (segs > 1) {
        v[C.rx_coalesced_frames]!++;
        v[C.rx_coalesced_segments]! += segs;
      }
    }
  }
}
