/**
 * Encapsulation (TAP → underlay) for one device: drain the TAP in batches, and for each frame finish its
 * checksum, answer it locally (proxy-ARP, NDP proxy), or look its destination up in the FDB and queue one VXLAN
 * datagram per remote; TCP super-frames (TSO) are segmented onto the UDP socket or leave whole through the
 * tunnel path.
 *
 * ```
 *  TAP ──readBatch──► encapOne ─┬─ proxy-ARP / NDP answer ──► TAP
 *                               ├─ FDB hit / flood ──► VXLAN header in place ──► SendQueue ──sendmmsg──► underlay
 *                               └─ super-frame ──► segment into the staging area ──► SendQueue
 *                                              └─► tunnel path (tunnel-tx.ts): whole, through the underlay-side TAP
 * ```
 *
 * Slot layout of the TAP batch (offsets within a slot; TX_FRONT = 128):
 * ```
 *   0        54                        104          118           120        128
 *   | unused | tunnel vnet hdr (24) + outer Eth/IP/UDP (tunnel path only) | vnet hdr (10, TAP side)
 *                                                                  | VXLAN header (8) | inner Ethernet frame ...
 * ```
 * A TAP read lands at 118 (the virtio-net header) so the inner frame starts at 128; the VXLAN header is written
 * at 120, in place, over the already-parsed virtio-net header, and on the tunnel path the outer headers in
 * front of it (tunnel-tx.ts).
 *
 * Every frame read ends in exactly one counter: a delivery (tx_packets, tx_flood_frames, arp_proxied,
 * ndp_proxied) or a drop through drop(); encapOne returns it as the frame's verdict for the observer.
 */
import type { TapDevice, UdpBind } from '../platform/types.js';
import { VNET_HDR_LEN } from '../platform/types.js';
import { C, drop } from './counters.js';
import type { FdbEntry } from './fdb.js';
import { FrameBatch } from './batch.js';
import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { InnerFrame } from '../wire/inner-frame.js';
import { VXLAN_HLEN, vxlanWrite } from '../wire/vxlan.js';
import { completeTxChecksum } from './offload.js';
import { answerArp, ARP_FRAME_LEN } from './proxy-arp.js';
import { answerNs, NA_FRAME_LEN } from './ndp-proxy.js';
import { buildPmtuReply, PMTU_REPLY_MAX } from './icmp-pmtu.js';
import { encapTos } from './ecn.js';
import { flowHash } from './flow-hash.js';
import type { Segmenter } from './tso.js';
import { VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, vnetClear } from '../wire/virtio-net.js';
import type { FlowMssTable } from './flow-mss.js';
import { TUNNEL_TX_HEADROOM, type TunnelTx } from './tunnel-tx.js';
import type { SourcePorts } from './source-ports.js';
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, SendQueue } from './send-queue.js';
import type { DeviceState } from './device.js';

/**
 * Room in front of each frame read from the TAP: the VXLAN header (socket path), or the whole outer
 * Ethernet/IP/UDP/VXLAN stack plus a 24-byte virtio-net header (tunnel path), written in place. 128 keeps
 * frames cache-line aligned.
 */
const TX_FRONT = 128;
/** Upper bound of frames handled per wakeup, so one busy direction cannot starve the other. */
export const MAX_PER_WAKEUP = 1024;
/** Largest frame a TSO TAP hands us: 64 KiB of IP plus the Ethernet header. */
const TSO_MAX_FRAME = 65535 + 14;
/** Staging room one super-frame may need: the frame plus per-segment VXLAN + header copies (≤ 64 segments). */
const TSO_STAGE_PER_FRAME = TSO_MAX_FRAME + 64 * (8 + 14 + 60 + 60);

/** What the encapsulation is given, resolved once (no option bags on the hot path). */
export interface EncapOptions {
  readonly tap: TapDevice;
  /** The --dstport socket: every datagram leaves from it unless --srcport or --df inherit choose another. */
  readonly udp: UdpBind;
  /** Largest UDP payload (VXLAN header + inner frame) the underlay carries unfragmented. */
  readonly maxUdpPayload: number;
  /** Largest inner frame read from the TAP without TSO (MTU + Ethernet header + a VLAN tag). */
  readonly maxFrame: number;
  readonly batchSize: number;
  /** The TAP hands over TCP super-frames and partial checksums (TUNSETOFFLOAD, with a vnet header). */
  readonly tso: boolean;
  readonly udpGso: boolean;
  /** The outer TOS: `--tos N` or TOS_INHERIT (ecn.ts). */
  readonly tosBase: number;
  /** --srcport: the source port and socket per flow (source-ports.ts), with its DF-set twins under --df inherit. */
  readonly sourcePorts: SourcePorts | undefined;
  /** --df inherit without --srcport: the DF-set twin of `udp`. */
  readonly dfTwin: UdpBind | undefined;
  readonly tunnel: TunnelTx | undefined;
  readonly df: 'set' | 'unset' | 'inherit' | undefined;
  readonly segmenter: Segmenter;
  readonly flowMss: FlowMssTable;
}

export class Encapsulator {
  private readonly dev: DeviceState;
  private readonly v: Float64Array;
  private readonly tap: TapDevice;
  private readonly udp: UdpBind;
  private readonly vnetLen: number;
  private readonly batchSize: number;
  private readonly maxUdpPayload: number;
  /** The inner IP MTU the underlay carries (maxUdpPayload - VXLAN - inner Ethernet): announced in PMTU replies. */
  private readonly innerMtu: number;
  /** Scratch for ICMP "fragmentation needed" / "packet too big" replies; the vnet header part stays zero. */
  private readonly pmtuOut: Buffer;
  private readonly perPacketTos: boolean;
  private readonly tosBase: number;
  private readonly ports: SourcePorts | undefined;
  private readonly dfTwin: UdpBind | undefined;
  /** Frames choose their socket (--srcport, or --df inherit's twin): noteFlow and pickSocket run. */
  private readonly pick: boolean;
  /** --df inherit with DF-set sockets to choose: inner IPv6, or inner IPv4 with DF, leave from one. */
  private readonly dfPick: boolean;
  /** The current frame's flow hash (with --srcport) and whether it leaves DF-set (noteFlow). */
  private flowH = 0;
  private flowDf = false;
  private readonly tunnel: TunnelTx | undefined;
  private readonly dfPolicy: 'set' | 'unset' | 'inherit' | undefined;
  private readonly tso: boolean;
  private readonly udpGso: boolean;
  private readonly segmenter: Segmenter;
  private readonly flowMss: FlowMssTable;
  private readonly batch: FrameBatch;
  private readonly readOffs: Uint32Array;
  private readonly lens: Int32Array;
  private readonly readMax: number;
  private readonly q: SendQueue;
  /** The FDB entry the last encapsulated frame used (for the observer), without allocating. */
  private lastEntry: FdbEntry | undefined;
  /** The headers of the frame being encapsulated, parsed once in encapOne (reused for every frame). */
  private readonly inner = new InnerFrame();

  constructor(dev: DeviceState, o: EncapOptions) {
    if (TX_FRONT < TUNNEL_TX_HEADROOM) throw new RangeError('TX_FRONT must leave room for the tunnel path headers');
    this.dev = dev;
    this.v = dev.counters.v;
    this.tap = o.tap;
    this.udp = o.udp;
    this.vnetLen = o.tap.vnetHdr ? VNET_HDR_LEN : 0;
    this.batchSize = o.batchSize;
    this.maxUdpPayload = o.maxUdpPayload;
    this.innerMtu = o.maxUdpPayload - VXLAN_HLEN - ETH_HLEN;
    this.pmtuOut = Buffer.alloc(VNET_HDR_LEN + PMTU_REPLY_MAX);
    this.perPacketTos = o.udp.perPacketTos;
    this.tosBase = o.tosBase;
    this.ports = o.sourcePorts;
    this.dfTwin = o.dfTwin;
    this.dfPick = o.dfTwin !== undefined || (o.sourcePorts?.dfTwins ?? false);
    this.pick = o.sourcePorts !== undefined || o.dfTwin !== undefined;
    this.tunnel = o.tunnel;
    this.dfPolicy = o.df;
    this.tso = o.tso && o.tap.vnetHdr;
    this.udpGso = o.udpGso;
    this.segmenter = o.segmenter;
    this.flowMss = o.flowMss;

    const B = o.batchSize;
    // A slot holds headroom + the largest frame the TAP may hand us: a 64 KiB super-frame with TSO.
    const maxFrame = this.tso ? TSO_MAX_FRAME : o.maxFrame;
    this.batch = new FrameBatch(B, TX_FRONT + Math.max(maxFrame, 2048));
    this.readOffs = new Uint32Array(B);
    for (let i = 0; i < B; i++) this.readOffs[i] = this.batch.offset(i) + TX_FRONT - this.vnetLen;
    this.readMax = this.vnetLen + maxFrame;
    this.lens = new Int32Array(B);
    this.q = new SendQueue({ stageBytes: this.tso ? 4 * TSO_STAGE_PER_FRAME : 4 * 2048 * 16, udp: o.udp, udpGso: o.udpGso, counters: this.v });
  }

  /** Drains the TAP; returns the number of frames handled. */
  onTapReadable(): number {
    const v = this.v;
    const buf = this.batch.buf;
    let total = 0;
    for (;;) {
      const n = this.tap.readBatch(buf, this.readOffs, this.readMax, this.batchSize, this.lens);
      const obs = this.dev.observer;
      for (let i = 0; i < n; i++) {
        const fo = this.batch.offset(i) + TX_FRONT;
        const flen = this.lens[i]! - this.vnetLen;
        const verdict = this.encapOne(buf, fo, flen, v);
        if (obs !== undefined) obs.onEncap(buf, fo, flen, verdict, this.lastEntry);
      }
      this.q.flush();
      total += n;
      if (n < this.batchSize || total >= MAX_PER_WAKEUP) break;
    }
    return total;
  }

  /**
   * Notes this frame's flow: its hash (--srcport) and whether it leaves DF-set: always with --df set (a
   * `vnis:` device, whose sockets are shared, gets DF by choosing the twins), else by dfInherit.
   */
  private noteFlow(buf: Buffer, inner: InnerFrame): void {
    if (this.ports !== undefined) this.flowH = flowHash(buf, inner);
    this.flowDf = this.dfPick && (this.dfPolicy === 'set' || dfInherit(inner));
  }

  /**
   * The socket path: the socket the noted flow leaves from — its port's (opened on the flow's first frame) with
   * --srcport, else the DF-set twin or the --dstport socket. One flow always maps to one socket.
   */
  private pickSocket(): void {
    const p = this.ports;
    this.q.via = p !== undefined ? p.socketFor(this.flowH, this.flowDf) : this.flowDf ? this.dfTwin! : this.udp;
  }

  /** Handles one frame; returns its verdict: a counter index (C.tx_packets, C.tx_flood_frames, C.arp_proxied, C.ndp_proxied or a drop reason). */
  private encapOne(buf: Buffer, fo: number, flen: number, v: Float64Array): number {
    v[C.tx_frames]!++;
    this.lastEntry = undefined;
    if (flen < ETH_HLEN) return drop(v, C.tx_runt);
    let gsoType = 0;
    if (this.vnetLen !== 0) {
      // The virtio-net header sits right in front of the frame. With TSO negotiated it may announce a TCP
      // super-frame (segmented below); with TUN_F_CSUM a partial checksum, which we finish here so the wire
      // always carries a valid one.
      const h = fo - VNET_HDR_LEN;
      gsoType = buf[h + 1]! & ~VIRTIO_NET_HDR_GSO_ECN;
      if (gsoType !== 0) {
        if (!this.tso || (gsoType !== VIRTIO_NET_HDR_GSO_TCPV4 && gsoType !== VIRTIO_NET_HDR_GSO_TCPV6)) return drop(v, C.tx_gso_unsupported);
        const gsoSize = buf.readUInt16LE(h + 4);
        if (gsoSize === 0 || gsoSize > flen) return drop(v, C.tx_gso_bad_size);
      } else if ((buf[h]! & 1) !== 0) {
        completeTxChecksum(buf, fo, flen, buf.readUInt16LE(h + 6), buf.readUInt16LE(h + 8));
        v[C.tx_csum_completed]!++;
      }
    }
    const dev = this.dev;
    // The one parse of the frame's headers: everything below reads them through `inner`.
    const inner = this.inner;
    inner.parse(buf, fo, flen);
    // SYNs from our side of a flow carry the MSS our pods can take (super-frames are never SYNs).
    if (gsoType === 0) this.flowMss.noteSyn(buf, inner);
    const untaggedType = inner.tags === 0 ? inner.ethertype : -1;
    if (gsoType === 0 && untaggedType === ETHERTYPE_ARP && dev.neigh.size !== 0) {
      if (answerArp(buf, fo, flen, dev.neigh)) return this.answerLocally(buf, fo, ARP_FRAME_LEN, C.arp_proxied);
    }
    if (gsoType === 0 && dev.neigh6.size !== 0 && untaggedType === ETHERTYPE_IPV6) {
      if (answerNs(buf, fo, flen, dev.neigh6)) return this.answerLocally(buf, fo, NA_FRAME_LEN, C.ndp_proxied);
    }
    // I/G bit of the destination MAC: broadcast and multicast always flood.
    const entry = (buf[fo]! & 1) === 0 ? dev.fdb.lookupAt(buf, fo) : undefined;
    const e = entry ?? dev.fdb.defaults;
    if (e === undefined) return drop(v, C.tx_fdb_miss);
    // The outer TOS (ECN per INET_ECN_encapsulate): one per frame; a super-frame's segments share its header.
    const tos = this.perPacketTos ? encapTos(this.tosBase, buf, inner) : 0;
    if (this.pick) this.noteFlow(buf, inner);
    if (gsoType !== 0) return this.encapSuperFrame(buf, fo, flen, gsoType, e, entry === undefined, v, tos);
    const udpLen = VXLAN_HLEN + flen;
    if (udpLen > this.maxUdpPayload) return this.tooBig(buf, v);
    if (this.pick) this.pickSocket();
    const ho = fo - VXLAN_HLEN;
    const ownVni = dev.vni;
    vxlanWrite(buf, ho, ownVni);
    this.lastEntry = e;
    const k = e.slots.length;
    if (entry === undefined) {
      v[C.tx_flood_frames]!++;
      v[C.tx_flood_copies]! += k;
    }
    const q = this.q;
    for (let j = 0; j < k; j++) {
      const vni = e.vnis[j]!;
      if (vni < 0 || vni === ownVni) {
        if (k === 1 && this.udpGso) q.queueTrain(buf, ho, udpLen, e.slots[j]!, tos);
        else q.queue(buf, ho, udpLen, e.slots[j]!, 0, 1, tos);
      } else {
        // A remote with its own VNI needs its own header: its copy goes to the staging area.
        const at = q.stageAlloc(udpLen);
        buf.copy(q.stage, at, ho, ho + udpLen);
        vxlanWrite(q.stage, at, vni);
        q.queue(q.stage, at, udpLen, e.slots[j]!, 0, 1, tos);
      }
    }
    return entry === undefined ? C.tx_flood_frames : C.tx_packets;
  }

  /** A proxy-ARP / NDP answer built in place: written back into the TAP as a plain frame. */
  private answerLocally(buf: Buffer, fo: number, len: number, verdict: number): number {
    const v = this.v;
    v[verdict]!++;
    if (this.vnetLen !== 0) vnetClear(buf, fo - VNET_HDR_LEN); // a plain frame: no offload hints
    if (this.tap.write(buf, fo - this.vnetLen, this.vnetLen + len) < 0) v[C.rx_tap_error]!++;
    return verdict;
  }

  /**
   * A TCP super-frame (TSO): segment it into the staging area, each segment behind its VXLAN header, and queue
   * the result as UDP GSO sends (one sendmmsg entry per ≤ 64 segments) — or as single datagrams when the
   * socket has no GSO. A remote with its own VNI (`fdb ... vni N`) gets its copies' VXLAN headers rewritten
   * in the staging area, after what is queued with the previous VNI has been sent.
   */
  private encapSuperFrame(buf: Buffer, fo: number, flen: number, gsoType: number, e: FdbEntry, flood: boolean, v: Float64Array, tos: number): number {
    const h = fo - VNET_HDR_LEN;
    const mss = buf.readUInt16LE(h + 4);
    const l4Start = buf.readUInt16LE(h + 6);
    if (this.tunnel !== undefined && this.tunnel.reaches(e.slots)) return this.encapTunnel(buf, fo, flen, l4Start, mss, e, flood, v, tos);
    if (this.pick) this.pickSocket();
    const seg = this.segmenter;
    const q = this.q;
    if (l4Start + 20 > flen) return drop(v, C.tx_runt);
    // Worst case room: the frame plus, per segment, a VXLAN header and a copy of the headers. A gso_size so
    // small that the segments would not fit the staging area is not one a TCP stack sends: refused, not grown.
    const need = flen + Math.ceil(flen / mss) * (VXLAN_HLEN + l4Start + 60);
    if (need > q.stage.length) return drop(v, C.tx_gso_bad_size);
    const ownVni = this.dev.vni;
    const at = q.stageAlloc(need);
    const n = seg.segment(buf, fo, flen, l4Start, mss, gsoType === VIRTIO_NET_HDR_GSO_TCPV6, q.stage, at, ownVni);
    if (n === 0) return drop(v, C.tx_runt);
    // Each segment would be too big (the kernel's skb_gso_validate_network_len): drop the super-frame whole.
    if (seg.stride > this.maxUdpPayload) return this.tooBig(buf, v);
    const k = this.countSuperFrame(e, flood, n, v);
    const stride = seg.stride;
    const perSend = this.udpGso ? Math.max(1, Math.min(GSO_MAX_SEGMENTS, Math.floor(GSO_MAX_BYTES / stride))) : 1;
    let written = ownVni; // the VNI the segmenter put in every segment's VXLAN header
    for (let j = 0; j < k; j++) {
      const dest = e.slots[j]!;
      const vni = e.vnis[j]! < 0 ? ownVni : e.vnis[j]!;
      if (vni !== written) {
        // Queued entries point at these same bytes: send them before the headers change under them.
        q.send();
        for (let i = 0; i < n; i++) vxlanWrite(q.stage, at + i * stride, vni);
        written = vni;
      }
      for (let i = 0; i < n; i += perSend) {
        const segs = Math.min(perSend, n - i);
        const off = at + i * stride;
        const len = i + segs === n ? seg.total - i * stride : segs * stride;
        q.queue(q.stage, off, len, dest, segs > 1 ? stride : 0, segs, tos);
      }
    }
    return flood ? C.tx_flood_frames : C.tx_packets;
  }

  /** Counts a super-frame of `n` segments sent to every remote of `e`; returns the number of remotes. */
  private countSuperFrame(e: FdbEntry, flood: boolean, n: number, v: Float64Array): number {
    v[C.tx_tso_frames]!++;
    v[C.tx_tso_segments]! += n;
    this.lastEntry = e;
    const k = e.slots.length;
    if (flood) {
      v[C.tx_flood_frames]!++;
      v[C.tx_flood_copies]! += k * n;
    }
    return k;
  }

  /**
   * The tunnel path (tunnel-tx.ts): the super-frame leaves whole, once per remote, through the underlay-side
   * TAP. What the socket path queued before it is sent first, so the wire order stays the TAP order (the TAP
   * write runs the host's forwarding synchronously, inside write(2)).
   */
  private encapTunnel(buf: Buffer, fo: number, flen: number, l4Start: number, mss: number, e: FdbEntry, flood: boolean, v: Float64Array, tos: number): number {
    const tunnel = this.tunnel!;
    const rawGsoType = buf[fo - VNET_HDR_LEN + 1]!; // with the ECN bit, before the outer headers cover it
    if (l4Start + 20 > flen) return drop(v, C.tx_runt);
    const hdrLen = l4Start + ((buf[fo + l4Start + 12]! >> 4) << 2);
    if (hdrLen > flen || hdrLen < l4Start + 20) return drop(v, C.tx_runt);
    // Each segment would be too big for the underlay (as in encapSuperFrame): drop it whole and say so.
    if (VXLAN_HLEN + hdrLen + mss > this.maxUdpPayload) return this.tooBig(buf, v);
    const payload = flen - hdrLen;
    const n = payload === 0 ? 1 : Math.ceil(payload / mss);
    const df = this.dfPolicy === 'set' || (this.dfPolicy === 'inherit' && dfInherit(this.inner));
    const outerTos = this.perPacketTos ? tos : this.tosBase & 0xfc;
    // The flow's source port without a socket (this path writes the UDP header itself): --srcport's mapping,
    // the port its socket has once its small frames opened one; else the socket's the socket path would use.
    const p = this.ports;
    const srcPort = p !== undefined ? p.portFor(this.flowH, this.flowDf) : this.flowDf ? this.dfTwin!.localPort : this.udp.localPort;
    const ownVni = this.dev.vni;
    this.q.send();
    const k = this.countSuperFrame(e, flood, n, v);
    for (let j = 0; j < k; j++) {
      const vni = e.vnis[j]!;
      const r = tunnel.write(buf, fo, flen, l4Start, hdrLen, mss, rawGsoType, e.slots[j]!, vni < 0 ? ownVni : vni, srcPort, outerTos, df);
      if (r >= 0) {
        v[C.tx_tunnel_writes]!++;
        v[C.tx_packets]! += n;
        v[C.tx_bytes]! += n * (VXLAN_HLEN + hdrLen) + payload;
      } else if (r === -11 || r === -105) v[C.tx_sock_full]! += n; // EAGAIN, ENOBUFS
      else v[C.tx_error]! += n;
    }
    return flood ? C.tx_flood_frames : C.tx_packets;
  }

  /**
   * The frame being encapsulated (this.inner) is too big for the underlay: dropped, and its sender told, like
   * the kernel's skb_tunnel_check_pmtu (icmp-pmtu.ts). The reply goes into the TAP as a plain frame (zero
   * virtio-net header).
   */
  private tooBig(buf: Buffer, v: Float64Array): number {
    const out = this.pmtuOut;
    const n = buildPmtuReply(buf, this.inner, this.innerMtu, out, this.vnetLen);
    // A failed write loses only the hint (the frame is counted as tx_too_big): not a drop of its own.
    if (n !== 0 && this.tap.write(out, 0, this.vnetLen + n) >= 0) v[C.pmtu_icmp_sent]!++;
    return drop(v, C.tx_too_big);
  }
}

/**
 * `--df inherit`, as the kernel's vxlan_xmit_one: the outer DF for inner IPv6 (never fragmented in flight) and
 * for inner IPv4 with DF, decided on the EtherType after the MACs (eth_hdr(skb)->h_proto).
 */
function dfInherit(inner: InnerFrame): boolean {
  return inner.tags === 0 && inner.ipVersion !== 0 && inner.df;
}
