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
 * Slot layout of the TAP → UDP batch (offsets within a slot; TX_FRONT = 128):
 * ```
 *   0        54                        104          118           120        128
 *   | unused | tunnel vnet hdr (24) + outer Eth/IP/UDP (tunnel path only) | vnet hdr (10, TAP side)
 *                                                                  | VXLAN header (8) | inner Ethernet frame ...
 * ```
 * A TAP read lands at 118 (the virtio-net header) so the inner frame starts at 128; the VXLAN header is written
 * at 120, in place, over the already-parsed virtio-net header, and on the tunnel path the outer headers in
 * front of it (tunnel-tx.ts).
 * UDP → TAP batch (HEADROOM = 16): a UDP receive lands at 8 (the VXLAN header), so the inner frame starts at
 * 16, and the virtio-net header for the TAP write is written at 6, over the already-checked VXLAN header.
 */
import type { TapDevice, UdpBind } from '../platform/types.js';
import { SOCKADDR_SLOT, VNET_HDR_LEN } from '../platform/types.js';
import { C, Counters } from './counters.js';
import { Fdb, SNOOP_LEARNED, SNOOP_MOVED, SNOOP_SAME, SNOOP_STATIC_CONFLICT, type FdbEntry } from './fdb.js';
import { FrameBatch, HEADROOM } from './batch.js';
import {
  ETH_HLEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
} from '../wire/ethernet.js';
import { macRead } from '../wire/mac.js';
import { VXLAN_HLEN, vxlanCheck, vxlanVni, vxlanWrite, VXLAN_ERR_FLAGS, VXLAN_ERR_RESERVED, VXLAN_ERR_SHORT, VXLAN_RESERVED_HI, VXLAN_RESERVED_LO } from '../wire/vxlan.js';
import { completeTxChecksum, writeRxVnetHeader } from './offload.js';
import { answerArp, ARP_FRAME_LEN } from './proxy-arp.js';
import { answerNs, NA_FRAME_LEN, Neigh6Table } from './ndp-proxy.js';
import { buildPmtuReply, PMTU_REPLY_MAX } from './icmp-pmtu.js';
import { ADD_FLUSH_FIRST, ADD_TAKEN, TcpCoalescer } from './coalesce.js';
import { decapEcn, ECN_DROP, encapTos } from './ecn.js';
import { flowHash } from './flow-hash.js';
import { TcpSegmenter, type Segmenter, VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6 } from './tso.js';
import { FlowMssTable } from './flow-mss.js';
import { claimedDatagramLen, markRxSuperFrame, SUPER_MARKED, SUPER_PLAIN } from './rx-super.js';
import { TUNNEL_TX_HEADROOM, type TunnelTx } from './tunnel-tx.js';

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
  /**
   * The TAP's MTU: inner frames larger than this on their way into the TAP are written as GSO super-frames
   * (rx-super.ts). Default: maxFrame minus the Ethernet header and a VLAN tag.
   */
  readonly tapMtu?: number;
  /** UDP destination port for FDB entries without their own (`--dstport`). */
  readonly dstport: number;
  /** Frames/datagrams per batch (at most the addon's MAX_BATCH). */
  readonly batch?: number;
  /** The TAP was given TUNSETOFFLOAD(CSUM|TSO4|TSO6): expect TCP super-frames and partial checksums. */
  readonly tso?: boolean;
  /** The UDP socket accepts UDP_SEGMENT: send segment trains in one call. */
  readonly udpGso?: boolean;
  /** The UDP socket has UDP_GRO on: a received datagram may hold several, split by its gso size. */
  readonly udpGro?: boolean;
  /** Glue consecutive inner TCP segments into super-frames before writing them to the TAP (needs vnet hdr). */
  readonly rxCoalesce?: boolean;
  /** `--learning`: record inner source MAC → outer source IP on decap (the kernel's vxlan_snoop). */
  readonly learning?: boolean;
  /** `--ageing`: seconds after which a learned entry whose MAC was not heard from goes; 0 = never. */
  readonly ageing?: number;
  /** Monotonic clock in seconds (default: performance.now()/1000); injected by tests for ageing. */
  readonly clock?: () => number;
  /**
   * `--tos N` (ECN bits ignored) or TOS_INHERIT (`--tos inherit`: the inner DSCP); default 0. With a UDP bind
   * that has perPacketTos, each datagram's outer TOS is this plus the ECN bits of INET_ECN_encapsulate, and
   * received outer ECN marks are applied to the inner packet (ecn.ts).
   */
  readonly tos?: number;
  /**
   * `--srcport`: send-only sockets bound to ports of the range. Each frame leaves from the one its inner flow
   * hashes to (flow-hash.ts), so flows spread over source ports and one flow keeps one. Empty or undefined:
   * every datagram leaves from `udp` (the --dstport socket). The Vtep closes them.
   */
  readonly srcPool?: readonly UdpBind[];
  /**
   * `--df inherit`: sockets with the outer DF bit set, used for inner IPv4 packets that have DF (Linux has no
   * per-datagram DF control message, so the choice is a choice of socket). dfPool[i] is the twin of
   * srcPool[i] (modulo its length), or dfPool[0] the twin of the main socket without a pool.
   */
  readonly dfPool?: readonly UdpBind[];
  /**
   * `--tx-path tap`: TCP super-frames leave whole through the underlay-side TAP (tunnel-tx.ts) instead of being
   * segmented here; undefined = the UDP socket path for everything. Its destination slots mirror the FDB's.
   */
  readonly tunnelTx?: TunnelTx;
  /** `--df`: the outer DF policy, needed where the Vtep writes outer headers itself (the tunnel path). */
  readonly df?: 'set' | 'unset' | 'inherit';
  /** Cuts TCP super-frames on the socket path: the addon's loop (tso-native.ts); default the JS TcpSegmenter. */
  readonly segmenter?: Segmenter;
  /** `--reserved-bits`: header bits a datagram must have clear (wire/vxlan.ts halves); default: all but I and the VNI. */
  readonly reserved?: { readonly hi: number; readonly lo: number };
}

const VXLAN_AT = HEADROOM - VXLAN_HLEN; // 8
const VNET_AT = HEADROOM - VNET_HDR_LEN; // 6
/**
 * Room in front of each frame read from the TAP: the VXLAN header (socket path), or the whole outer
 * Ethernet/IP/UDP/VXLAN stack plus a 24-byte virtio-net header (tunnel path), written in place. 128 keeps
 * frames cache-line aligned.
 */
const TX_FRONT = 128;
/** Upper bound of frames handled per wakeup and direction, so one busy direction cannot starve the other. */
const MAX_PER_WAKEUP = 1024;
/** Largest frame a TSO TAP hands us: 64 KiB of IP plus the Ethernet header. */
const TSO_MAX_FRAME = 65535 + 14;
/** Staging room one super-frame may need: the frame plus per-segment VXLAN + header copies (≤ 64 segments). */
const TSO_STAGE_PER_FRAME = TSO_MAX_FRAME + 64 * (8 + 14 + 60 + 60);
/** One UDP GSO send: at most 64 segments (UDP_MAX_SEGMENTS on older kernels) and < 64 KiB in all. */
const GSO_MAX_SEGMENTS = 64;
const GSO_MAX_BYTES = 65000;


export class Vtep {
  readonly counters = new Counters();
  readonly fdb: Fdb;
  /** Static neighbours for proxy-ARP: IPv4 (uint32) → MAC (48-bit). Replaced whole on change. */
  neigh: Map<number, number> = new Map();
  /** Static IPv6 neighbours for the NDP proxy. Replaced whole on change. */
  neigh6: Neigh6Table = new Neigh6Table();
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
  private readonly reservedHi: number;
  private readonly reservedLo: number;
  private readonly ownMac: number;
  private readonly maxUdpPayload: number;
  /** The inner IP MTU the underlay carries (maxUdpPayload - VXLAN - inner Ethernet): announced in PMTU replies. */
  private readonly innerMtu: number;
  /** Scratch for ICMP "fragmentation needed" / "packet too big" replies; the vnet header part stays zero. */
  private readonly pmtuOut: Buffer;
  private readonly vnetLen: number;
  private readonly batchSize: number;
  /** The UDP bind carries a TOS per datagram both ways: ECN encap/decap on (ecn.ts). */
  private readonly perPacketTos: boolean;
  private readonly tosBase: number;
  /** --srcport sockets (empty: send from `udp`). */
  private readonly pool: readonly UdpBind[];
  /** The socket the frame being encapsulated leaves from. */
  private txSock: UdpBind;
  /** The socket the queued sendmmsg entries leave from (one per native call, like sendBuf). */
  private sendUdp: UdpBind;
  private readonly dfPool: readonly UdpBind[];
  private readonly tunnel: TunnelTx | undefined;
  private readonly dfPolicy: 'set' | 'unset' | 'inherit' | undefined;

  // TAP → UDP
  private readonly txBatch: FrameBatch;
  private readonly txReadOffs: Uint32Array;
  private readonly txLens: Int32Array;
  private readonly txReadMax: number;
  /**
   * Staging area for bytes that cannot be sent from the read slots in place: TSO segments and per-remote VNI
   * copies. Bump-allocated during a wakeup, reset by flush() (after the synchronous send).
   */
  private readonly txStage: Buffer;
  private stagePos = 0;
  private readonly tso: boolean;
  private readonly udpGso: boolean;
  private readonly udpGro: boolean;
  /** Receive-side TCP coalescing (userspace GRO); undefined when off. */
  private readonly coalescer: TcpCoalescer | undefined;
  private readonly rxGro = new Uint16Array(1024);
  private readonly segmenter: Segmenter;
  /** Per-flow MSS from SYNs seen both ways: the segment size of super-frames written to the TAP. */
  private readonly flowMss = new FlowMssTable();
  private readonly tapMtu: number;
  /** Inner frames longer than this (Ethernet header + TAP MTU) go to markRxSuperFrame on their way in. */
  private readonly superAbove: number;
  // send queue (one Buffer per native call)
  private sendBuf: Buffer;
  private readonly sendOffs: Uint32Array;
  private readonly sendLens: Uint32Array;
  private readonly sendDest: Uint32Array;
  private readonly sendGso: Uint16Array;
  private readonly sendSegs: Uint16Array;
  private readonly sendTos: Uint8Array;
  private sendCount = 0;
  /** The last queued entry is a GSO train that may take more datagrams (see queueTrain). */
  private trainOpen = false;
  private readonly sendResult = new Int32Array(4);

  // UDP → TAP
  private readonly rxBatch: FrameBatch;
  private readonly rxRecvOffs: Uint32Array;
  private readonly rxLens: Int32Array;
  private readonly rxAddrs: Buffer;
  private readonly rxRecvMax: number;
  /** Outer TOS of each received datagram (perPacketTos), 0 otherwise. */
  private readonly rxTos: Uint8Array;

  // Learning
  private readonly learning: boolean;
  private readonly ageing: number;
  private readonly clock: () => number;
  /** The clock, read once per UDP wakeup when learning (not per datagram). */
  private now = 0;
  private ager: NodeJS.Timeout | undefined;

  constructor(tap: TapDevice, udp: UdpBind, o: VtepOptions) {
    if (TX_FRONT < TUNNEL_TX_HEADROOM) throw new RangeError('TX_FRONT must leave room for the tunnel path headers');
    this.tap = tap;
    this.udp = udp;
    this.vni = o.vni;
    this.reservedHi = o.reserved?.hi ?? VXLAN_RESERVED_HI;
    this.reservedLo = o.reserved?.lo ?? VXLAN_RESERVED_LO;
    this.ownMac = o.ownMac;
    this.maxUdpPayload = o.maxUdpPayload;
    this.innerMtu = o.maxUdpPayload - VXLAN_HLEN - ETH_HLEN;
    this.pmtuOut = Buffer.alloc(VNET_HDR_LEN + PMTU_REPLY_MAX);
    this.vnetLen = tap.vnetHdr ? VNET_HDR_LEN : 0;
    this.batchSize = Math.max(1, Math.min(o.batch ?? 64, 1024));
    this.perPacketTos = udp.perPacketTos;
    this.tosBase = o.tos ?? 0;

    this.pool = o.srcPool ?? [];
    this.dfPool = o.dfPool ?? [];
    this.txSock = udp;
    this.sendUdp = udp;
    this.tunnel = o.tunnelTx;
    this.dfPolicy = o.df;
    const pool = [...this.pool, ...this.dfPool];
    const tunnel = this.tunnel;
    // Destination slots are per socket: with a pool or the tunnel path, the control plane writes each slot into
    // every socket and into the tunnel path's table.
    this.fdb = new Fdb(
      pool.length === 0 && tunnel === undefined
        ? udp
        : {
            destinationSlots: Math.min(udp.destinationSlots, ...pool.map((p) => p.destinationSlots)),
            setDestination(slot: number, ip: string, port: number): void {
              udp.setDestination(slot, ip, port);
              for (const p of pool) p.setDestination(slot, ip, port);
              tunnel?.setDestination(slot, ip, port);
            },
          },
      o.dstport,
    );

    this.tso = (o.tso ?? false) && tap.vnetHdr;
    this.segmenter = o.segmenter ?? new TcpSegmenter();
    this.udpGso = o.udpGso ?? false;
    this.udpGro = o.udpGro ?? false;
    this.tapMtu = o.tapMtu ?? o.maxFrame - ETH_HLEN - 4;
    this.superAbove = ETH_HLEN + this.tapMtu;
    this.coalescer = (o.rxCoalesce ?? false) && tap.vnetHdr ? new TcpCoalescer(tap, this.tapMtu, this.flowMss) : undefined;

    const B = this.batchSize;
    // A slot holds headroom + the largest frame the TAP may hand us: a 64 KiB super-frame with TSO.
    const maxFrame = this.tso ? TSO_MAX_FRAME : o.maxFrame;
    const slotSize = TX_FRONT + Math.max(maxFrame, 2048);
    this.txBatch = new FrameBatch(B, slotSize);
    this.txReadOffs = new Uint32Array(B);
    for (let i = 0; i < B; i++) this.txReadOffs[i] = this.txBatch.offset(i) + TX_FRONT - this.vnetLen;
    this.txReadMax = this.vnetLen + maxFrame;
    this.txLens = new Int32Array(B);
    this.txStage = Buffer.allocUnsafeSlow(this.tso ? 4 * TSO_STAGE_PER_FRAME : 4 * 2048 * 16).fill(0);
    const Q = 1024;
    this.sendBuf = this.txBatch.buf;
    this.sendOffs = new Uint32Array(Q);
    this.sendLens = new Uint32Array(Q);
    this.sendDest = new Uint32Array(Q);
    this.sendGso = new Uint16Array(Q);
    this.sendSegs = new Uint16Array(Q);
    this.sendTos = new Uint8Array(Q);

    const rxSlot = HEADROOM + 65536;
    this.rxBatch = new FrameBatch(B, rxSlot);
    this.rxRecvOffs = new Uint32Array(B);
    for (let i = 0; i < B; i++) this.rxRecvOffs[i] = this.rxBatch.offset(i) + VXLAN_AT;
    this.rxRecvMax = rxSlot - VXLAN_AT;
    this.rxLens = new Int32Array(B);
    this.rxAddrs = Buffer.alloc(B * SOCKADDR_SLOT);
    this.rxTos = new Uint8Array(B);

    this.learning = o.learning ?? false;
    this.ageing = o.ageing ?? 300;
    this.clock = o.clock ?? (() => performance.now() / 1000);
  }

  /** Starts reacting to readiness on both sides (and, with learning, the ager). */
  start(): void {
    this.tap.onReadable(() => this.onTapReadable());
    this.udp.onReadable(() => this.onUdpReadable());
    if (this.learning && this.ageing > 0) {
      // The kernel's vxlan_cleanup runs every 10 s; a short --ageing (tests) is checked 4 times per period.
      const every = Math.min(10_000, Math.max(250, (this.ageing * 1000) / 4));
      this.ager = setInterval(() => this.ageOut(this.clock()), every);
      this.ager.unref();
    }
  }

  /** Removes learned FDB entries older than --ageing at time `now` (seconds, the clock's); returns how many. */
  ageOut(now: number): number {
    const n = this.fdb.age(now, this.ageing);
    this.counters.v[C.fdb_aged]! += n;
    return n;
  }

  // ------------------------------------------------------------------------------------------------------
  // TAP → UDP

  /** Drains the TAP; returns the number of frames handled. */
  onTapReadable(): number {
    const v = this.counters.v;
    const buf = this.txBatch.buf;
    let total = 0;
    for (;;) {
      const n = this.tap.readBatch(buf, this.txReadOffs, this.txReadMax, this.batchSize, this.txLens);
      const obs = this.observer;
      for (let i = 0; i < n; i++) {
        const fo = this.txBatch.offset(i) + TX_FRONT;
        const flen = this.txLens[i]! - this.vnetLen;
        const verdict = this.encapOne(buf, fo, flen, v);
        if (obs !== undefined) obs.onEncap(buf, fo, flen, verdict, this.lastEntry);
      }
      this.flush();
      total += n;
      if (n < this.batchSize || total >= MAX_PER_WAKEUP) break;
    }
    return total;
  }

  /**
   * Chooses the sending socket for this frame: by inner flow hash within --srcport's pool, then the DF-set
   * twin when --df inherit and the inner packet is IPv6 or IPv4 with DF. One flow always maps to one socket.
   */
  private pickSocket(buf: Buffer, fo: number, flen: number): void {
    const i = this.pool.length !== 0 ? flowHash(buf, fo, flen) % this.pool.length : 0;
    // As the kernel's vxlan_xmit_one with df inherit: DF for inner IPv6 (never fragmented in flight) and for inner
    // IPv4 with DF.
    let df = false;
    if (this.dfPool.length !== 0 && flen >= ETH_HLEN + 20) {
      const type = buf.readUInt16BE(fo + 12);
      df = type === ETHERTYPE_IPV6 || (type === ETHERTYPE_IPV4 && (buf[fo + ETH_HLEN + 6]! & 0x40) !== 0);
    }
    this.txSock = df ? this.dfPool[i % this.dfPool.length]! : this.pool.length !== 0 ? this.pool[i]! : this.udp;
  }

  /** Handles one frame; returns its verdict: a counter index (C.tx_packets, C.tx_flood_frames, C.arp_proxied, C.ndp_proxied or a drop reason). */
  private encapOne(buf: Buffer, fo: number, flen: number, v: Float64Array): number {
    v[C.tx_frames]!++;
    this.lastEntry = undefined;
    if (flen < ETH_HLEN) {
      v[C.tx_runt]!++;
      return C.tx_runt;
    }
    let gsoType = 0;
    if (this.vnetLen !== 0) {
      // The virtio-net header sits right in front of the frame. With TSO negotiated it may announce a TCP
      // super-frame (segmented below); with TUN_F_CSUM a partial checksum, which we finish here so the wire
      // always carries a valid one.
      const h = fo - VNET_HDR_LEN;
      gsoType = buf[h + 1]! & ~VIRTIO_NET_HDR_GSO_ECN;
      if (gsoType !== 0) {
        if (!this.tso || (gsoType !== VIRTIO_NET_HDR_GSO_TCPV4 && gsoType !== VIRTIO_NET_HDR_GSO_TCPV6)) {
          v[C.tx_gso_unsupported]!++;
          return C.tx_gso_unsupported;
        }
        const gsoSize = buf.readUInt16LE(h + 4);
        if (gsoSize === 0 || gsoSize > flen) {
          v[C.tx_gso_bad_size]!++;
          return C.tx_gso_bad_size;
        }
      } else if ((buf[h]! & 1) !== 0) {
        completeTxChecksum(buf, fo, flen, buf.readUInt16LE(h + 6), buf.readUInt16LE(h + 8));
        v[C.tx_csum_completed]!++;
      }
    }
    // SYNs from our side of a flow carry the MSS our pods can take (super-frames are never SYNs).
    if (gsoType === 0) this.flowMss.noteSyn(buf, fo, flen);
    if (gsoType === 0 && buf.readUInt16BE(fo + 12) === ETHERTYPE_ARP && this.neigh.size !== 0) {
      if (answerArp(buf, fo, flen, this.neigh)) {
        v[C.arp_proxied]!++;
        if (this.vnetLen !== 0) buf.fill(0, fo - VNET_HDR_LEN, fo); // a plain frame: no offload hints
        if (this.tap.write(buf, fo - this.vnetLen, this.vnetLen + ARP_FRAME_LEN) < 0) v[C.rx_tap_error]!++;
        return C.arp_proxied;
      }
    }
    if (gsoType === 0 && this.neigh6.size !== 0 && buf.readUInt16BE(fo + 12) === ETHERTYPE_IPV6) {
      if (answerNs(buf, fo, flen, this.neigh6)) {
        v[C.ndp_proxied]!++;
        if (this.vnetLen !== 0) buf.fill(0, fo - VNET_HDR_LEN, fo);
        if (this.tap.write(buf, fo - this.vnetLen, this.vnetLen + NA_FRAME_LEN) < 0) v[C.rx_tap_error]!++;
        return C.ndp_proxied;
      }
    }
    // I/G bit of the destination MAC: broadcast and multicast always flood.
    const entry = (buf[fo]! & 1) === 0 ? this.fdb.lookup(macRead(buf, fo)) : undefined;
    const e = entry ?? this.fdb.defaults;
    if (e === undefined) {
      v[C.tx_fdb_miss]!++;
      return C.tx_fdb_miss;
    }
    // The outer TOS (ECN per INET_ECN_encapsulate): one per frame; a super-frame's segments share its header.
    const tos = this.perPacketTos ? encapTos(this.tosBase, buf, fo, flen) : 0;
    if (this.pool.length !== 0 || this.dfPool.length !== 0) this.pickSocket(buf, fo, flen);
    if (gsoType !== 0) return this.encapSuperFrame(buf, fo, flen, gsoType, e, entry === undefined, v, tos);
    const udpLen = VXLAN_HLEN + flen;
    if (udpLen > this.maxUdpPayload) {
      v[C.tx_too_big]!++;
      this.pmtuReply(buf, fo, flen, v);
      return C.tx_too_big;
    }
    const ho = fo - VXLAN_HLEN;
    vxlanWrite(buf, ho, this.vni);
    this.lastEntry = e;
    const k = e.slots.length;
    if (entry === undefined) {
      v[C.tx_flood_frames]!++;
      v[C.tx_flood_copies]! += k;
    }
    for (let j = 0; j < k; j++) {
      const vni = e.vnis[j]!;
      if (vni < 0 || vni === this.vni) {
        if (k === 1 && this.udpGso) this.queueTrain(buf, ho, udpLen, e.slots[j]!, tos);
        else this.queueSend(buf, ho, udpLen, e.slots[j]!, 0, 1, tos);
      }
      else {
        // A remote with its own VNI needs its own header: its copy goes to the staging area.
        const at = this.stageAlloc(udpLen);
        buf.copy(this.txStage, at, ho, ho + udpLen);
        vxlanWrite(this.txStage, at, vni);
        this.queueSend(this.txStage, at, udpLen, e.slots[j]!, 0, 1, tos);
      }
    }
    return entry === undefined ? C.tx_flood_frames : C.tx_packets;
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
    const seg = this.segmenter;
    if (l4Start + 20 > flen) {
      v[C.tx_runt]!++;
      return C.tx_runt;
    }
    // Worst case room: the frame plus, per segment, a VXLAN header and a copy of the headers. A gso_size so
    // small that the segments would not fit the staging area is not one a TCP stack sends: refused, not grown.
    const need = flen + Math.ceil(flen / mss) * (VXLAN_HLEN + l4Start + 60);
    if (need > this.txStage.length) {
      v[C.tx_gso_bad_size]!++;
      return C.tx_gso_bad_size;
    }
    const at = this.stageAlloc(need);
    const n = seg.segment(buf, fo, flen, l4Start, mss, gsoType === VIRTIO_NET_HDR_GSO_TCPV6, this.txStage, at, this.vni);
    if (n === 0) {
      v[C.tx_runt]!++;
      return C.tx_runt;
    }
    if (seg.stride > this.maxUdpPayload) {
      // Each segment would be too big (the kernel's skb_gso_validate_network_len): drop the super-frame whole.
      v[C.tx_too_big]!++;
      this.pmtuReply(buf, fo, flen, v);
      return C.tx_too_big;
    }
    const k = this.countSuperFrame(e, flood, n, v);
    const stride = seg.stride;
    const perSend = this.udpGso ? Math.max(1, Math.min(GSO_MAX_SEGMENTS, Math.floor(GSO_MAX_BYTES / stride))) : 1;
    let written = this.vni; // the VNI the segmenter put in every segment's VXLAN header
    for (let j = 0; j < k; j++) {
      const dest = e.slots[j]!;
      const vni = e.vnis[j]! < 0 ? this.vni : e.vnis[j]!;
      if (vni !== written) {
        // Queued entries point at these same bytes: send them before the headers change under them.
        this.flushQueue();
        for (let i = 0; i < n; i++) vxlanWrite(this.txStage, at + i * stride, vni);
        written = vni;
      }
      for (let i = 0; i < n; i += perSend) {
        const segs = Math.min(perSend, n - i);
        const off = at + i * stride;
        const len = i + segs === n ? seg.total - i * stride : segs * stride;
        this.queueSend(this.txStage, off, len, dest, segs > 1 ? stride : 0, segs, tos);
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
    if (l4Start + 20 > flen) {
      v[C.tx_runt]!++;
      return C.tx_runt;
    }
    const hdrLen = l4Start + ((buf[fo + l4Start + 12]! >> 4) << 2);
    if (hdrLen > flen || hdrLen < l4Start + 20) {
      v[C.tx_runt]!++;
      return C.tx_runt;
    }
    if (VXLAN_HLEN + hdrLen + mss > this.maxUdpPayload) {
      // Each segment would be too big for the underlay (as in encapSuperFrame): drop it whole and say so.
      v[C.tx_too_big]!++;
      this.pmtuReply(buf, fo, flen, v);
      return C.tx_too_big;
    }
    const payload = flen - hdrLen;
    const n = payload === 0 ? 1 : Math.ceil(payload / mss);
    const type = buf.readUInt16BE(fo + 12);
    const df = this.dfPolicy === 'set' || (this.dfPolicy === 'inherit' && (type === ETHERTYPE_IPV6 || (buf[fo + ETH_HLEN + 6]! & 0x40) !== 0));
    const outerTos = this.perPacketTos ? tos : this.tosBase & 0xfc;
    const srcPort = this.txSock.localPort;
    this.flushQueue();
    const k = this.countSuperFrame(e, flood, n, v);
    for (let j = 0; j < k; j++) {
      const vni = e.vnis[j]!;
      const r = tunnel.write(buf, fo, flen, l4Start, hdrLen, mss, rawGsoType, e.slots[j]!, vni < 0 ? this.vni : vni, srcPort, outerTos, df);
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
   * UDP GSO for ordinary frames (wireguard-go does the same): consecutive datagrams to one remote are copied
   * back to back into the staging area and sent as one UDP_SEGMENT message — one pass through the kernel's
   * UDP/IP stack (and, with UDP GRO at the peer, one receive) for up to 64 datagrams, against one each. A
   * train takes datagrams of its first one's size; a shorter one may end it (GSO allows a short last segment).
   * A train has one outer TOS (one IP_TOS control message): a datagram with another TOS starts a new train.
   * The memcpy (~0.1 µs for 1.4 KB) is far cheaper than the per-datagram kernel work it saves.
   */
  private queueTrain(buf: Buffer, off: number, len: number, dest: number, tos: number): void {
    const t = this.sendCount - 1;
    if (
      this.trainOpen && t >= 0 && this.sendBuf === this.txStage && this.sendUdp === this.txSock && this.sendDest[t] === dest && this.sendTos[t] === tos &&
      len <= this.sendGso[t]! && this.sendSegs[t]! < GSO_MAX_SEGMENTS && this.sendLens[t]! + len <= GSO_MAX_BYTES &&
      this.stagePos === this.sendOffs[t]! + this.sendLens[t]! && this.stagePos + len <= this.txStage.length
    ) {
      buf.copy(this.txStage, this.stagePos, off, off + len);
      this.stagePos += len;
      this.sendLens[t]! += len;
      this.sendSegs[t]!++;
      if (len < this.sendGso[t]!) this.trainOpen = false;
      return;
    }
    if (this.stagePos + len > this.txStage.length) this.flush();
    const at = this.stagePos;
    buf.copy(this.txStage, at, off, off + len);
    this.stagePos += len;
    this.queueSend(this.txStage, at, len, dest, len, 1, tos);
    this.trainOpen = true;
  }

  /**
   * A frame too big for the underlay: tell its sender, like the kernel's skb_tunnel_check_pmtu (icmp-pmtu.ts).
   * The reply goes into the TAP as a plain frame (zero virtio-net header).
   */
  private pmtuReply(buf: Buffer, fo: number, flen: number, v: Float64Array): void {
    const out = this.pmtuOut;
    const n = buildPmtuReply(buf, fo, flen, this.innerMtu, out, this.vnetLen);
    if (n === 0) return;
    // A failed write loses only the hint (the frame is already counted as tx_too_big): not a drop of its own.
    if (this.tap.write(out, 0, this.vnetLen + n) >= 0) v[C.pmtu_icmp_sent]!++;
  }

  /** Reserves `len` bytes of the staging area, flushing queued sends first when it is full. */
  private stageAlloc(len: number): number {
    if (this.stagePos + len > this.txStage.length) this.flush();
    const at = this.stagePos;
    this.stagePos += (len + 63) & ~63;
    return at;
  }

  /**
   * Queues one sendmmsg entry. Entries refer to one Buffer and one socket (--srcport) per native call, so
   * switching Buffers or sockets flushes first — which also keeps the wire order equal to the TAP order.
   */
  private queueSend(buf: Buffer, off: number, len: number, dest: number, gso: number, segs: number, tos: number): void {
    this.trainOpen = false; // only queueTrain reopens: a train must stay the last entry
    if (this.sendCount !== 0 && (buf !== this.sendBuf || this.txSock !== this.sendUdp || this.sendCount === this.sendOffs.length)) this.flushQueue();
    this.sendBuf = buf;
    this.sendUdp = this.txSock;
    const i = this.sendCount++;
    this.sendOffs[i] = off;
    this.sendLens[i] = len;
    this.sendDest[i] = dest;
    this.sendGso[i] = gso;
    this.sendSegs[i] = segs;
    this.sendTos[i] = tos;
  }

  /** Sends everything queued and frees the staging area. */
  private flush(): void {
    this.flushQueue();
    this.stagePos = 0;
  }

  private flushQueue(): void {
    const n = this.sendCount;
    if (n === 0) return;
    this.sendCount = 0;
    this.trainOpen = false;
    // One pass: totals for the counters, and a one-datagram train becomes a plain datagram.
    let bytes = 0;
    let segs = 0;
    for (let i = 0; i < n; i++) {
      bytes += this.sendLens[i]!; // UDP payload bytes handed over (VXLAN headers included)
      const k = this.sendSegs[i]!;
      segs += k;
      if (k === 1) this.sendGso[i] = 0;
    }
    const r = this.sendResult;
    this.sendUdp.sendBatch(this.sendBuf, this.sendOffs, this.sendLens, this.sendDest, n, r, this.udpGso ? this.sendGso : undefined, this.perPacketTos ? this.sendTos : undefined);
    const v = this.counters.v;
    if (r[1]! === 0 && r[2]! === 0) {
      v[C.tx_packets]! += segs;
      v[C.tx_bytes]! += bytes;
    } else {
      // Entries fail whole; scale by the share that went out (exact when all entries are alike, which is the
      // common case: a batch of MTU frames or of GSO bursts).
      v[C.tx_packets]! += Math.round((segs * r[0]!) / n);
      v[C.tx_bytes]! += Math.round((bytes * r[0]!) / n);
      v[C.tx_sock_full]! += Math.round((segs * r[1]!) / n);
      v[C.tx_error]! += Math.round((segs * r[2]!) / n);
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // UDP → TAP

  /** Drains the UDP socket; returns the number of datagrams handled. */
  onUdpReadable(): number {
    const v = this.counters.v;
    const buf = this.rxBatch.buf;
    const gro = this.udpGro ? this.rxGro : undefined;
    if (this.learning) this.now = this.clock();
    let total = 0;
    for (;;) {
      const n = this.udp.recvBatch(buf, this.rxRecvOffs, this.rxRecvMax, this.batchSize, this.rxLens, this.rxAddrs, gro, this.perPacketTos ? this.rxTos : undefined);
      const obs = this.observer;
      for (let i = 0; i < n; i++) {
        const ho = this.rxBatch.offset(i) + VXLAN_AT;
        const len = this.rxLens[i]!;
        const g = gro !== undefined ? gro[i]! : 0;
        // With UDP_GRO, len > g means either a train of datagrams of g bytes glued by the kernel, or ONE
        // super-datagram (a kernel peer's inner UDP GSO packet) whose g is the INNER segment size. The inner
        // IP length of the first datagram tells which; cutting a super-datagram at g would cut it in the
        // wrong places.
        const claimed = g !== 0 && len > g ? claimedDatagramLen(buf, ho, len) : -1;
        if (g === 0 || len <= g || claimed === len) {
          const verdict = this.decapOne(buf, ho, len, v, i * SOCKADDR_SLOT, this.rxTos[i]!, claimed === len ? g : 0);
          if (obs !== undefined) obs.onDecap(buf, ho, len, verdict, this.rxAddrs, i * SOCKADDR_SLOT);
          continue;
        }
        if (claimed > g) {
          // Neither a train (the first datagram would be g bytes) nor one datagram: the lengths don't add up.
          v[C.rx_datagrams]!++;
          v[C.rx_super_bad_len]!++;
          if (obs !== undefined) obs.onDecap(buf, ho, len, C.rx_super_bad_len, this.rxAddrs, i * SOCKADDR_SLOT);
          continue;
        }
        // UDP GRO glued several datagrams of g bytes (the last may be shorter). Each is decapsulated in turn;
        // the virtio-net header of segment j+1 overwrites the tail of segment j, already written to the TAP.
        v[C.rx_gro_datagrams]!++;
        for (let at = 0; at < len; at += g) {
          const sl = Math.min(g, len - at);
          const verdict = this.decapOne(buf, ho + at, sl, v, i * SOCKADDR_SLOT, this.rxTos[i]!, 0);
          if (obs !== undefined) obs.onDecap(buf, ho + at, sl, verdict, this.rxAddrs, i * SOCKADDR_SLOT);
        }
      }
      if (this.coalescer !== undefined) this.flushCoalescer(this.coalescer);
      total += n;
      if (n < this.batchSize || total >= MAX_PER_WAKEUP) break;
    }
    return total;
  }

  /** Writes what the coalescer holds and accounts for it (delivered, or a TAP error for every segment). */
  private flushCoalescer(co: TcpCoalescer): void {
    const v = this.counters.v;
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

  /**
   * Handles one datagram; returns its verdict: C.rx_packets or a drop reason's counter index. `udpGsoSize`:
   * the UDP_GRO segment size when the datagram is one whole super-datagram (the inner datagrams' size), else 0.
   */
  private decapOne(buf: Buffer, ho: number, len: number, v: Float64Array, addrOff: number, outerTos: number, udpGsoSize: number): number {
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
    const bad = vxlanCheck(buf, ho, len, this.reservedHi, this.reservedLo);
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
    const fo = ho + VXLAN_HLEN;
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
    if (this.learning) {
      const s = this.fdb.snoop(src, this.rxAddrs, addrOff, this.now);
      if (s !== SNOOP_SAME) {
        if (s === SNOOP_STATIC_CONFLICT) {
          v[C.rx_fdb_static_conflict]!++;
          return C.rx_fdb_static_conflict;
        }
        v[s === SNOOP_LEARNED ? C.fdb_learned : s === SNOOP_MOVED ? C.fdb_moved : C.fdb_learn_skipped]!++;
      }
    }
    // ECN (INET_ECN_decapsulate, after learning as in vxlan_rcv): outer CE marks an ECT inner packet CE, and
    // drops a Not-ECT one.
    if (decapEcn(buf, fo, flen, outerTos) === ECN_DROP) {
      v[C.rx_ecn_not_ect]!++;
      return C.rx_ecn_not_ect;
    }
    // SYNs from the far side carry the MSS the remote end can take (the smaller of both sizes the super-frames).
    this.flowMss.noteSyn(buf, fo, flen);
    const co = this.coalescer;
    if (co !== undefined) {
      let r = co.add(buf, fo, flen);
      if (r === ADD_FLUSH_FIRST) {
        this.flushCoalescer(co);
        r = co.add(buf, fo, flen);
      }
      if (r === ADD_TAKEN) return C.rx_packets; // counted when the super-frame is written (flushCoalescer)
      this.flushCoalescer(co);
    }
    if (this.vnetLen !== 0) flen = writeRxVnetHeader(buf, fo, flen, fo - VNET_HDR_LEN);
    if (flen > this.superAbove) {
      // Larger than the TAP MTU (a kernel peer's whole super-datagram): one GSO super-frame, or a named drop.
      const r = this.vnetLen === 0 ? C.rx_too_big : markRxSuperFrame(buf, fo, flen, fo - VNET_HDR_LEN, this.tapMtu, this.flowMss, udpGsoSize);
      if (r === SUPER_MARKED) v[C.tap_super_writes]!++;
      else if (r !== SUPER_PLAIN) {
        v[r]!++;
        return r;
      }
    }
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
    if (this.ager !== undefined) clearInterval(this.ager);
    this.ager = undefined;
    this.tap.close();
    this.udp.close();
    for (const p of this.pool) p.close();
  }
}
