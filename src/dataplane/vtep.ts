/**
 * One VXLAN device: a TAP, its VNI, its tables and counters, and the two directions that move its packets.
 *
 * ```
 *  host stack ──► TAP ──► encap.ts  [proxy-ARP? │ FDB / flood │ VXLAN header in place] ──► send-queue.ts ──► underlay
 *  host stack ◄── TAP ◄── decap.ts  [loop │ learn │ ECN │ coalesce / super-frame]    ◄── udp-port.ts ◄── underlay
 * ```
 * encap.ts drains the TAP and queues datagrams (send-queue.ts); udp-port.ts drains the socket, checks the VXLAN
 * header and hands each datagram to the device of its VNI (decap.ts). A single-VNI process has one Vtep with a
 * port of its own; a `vnis:` process has one port per UDP port and one Vtep per VNI on it.
 *
 * Ownership, in one sentence: the Vtep owns its batches, tables and counters; the TAP, the sockets and the
 * tunnel path are borrowed — whoever opened them closes them (the instance's undo stack, runtime/instance.ts;
 * a test or the warm-up its own fakes), so stop() only stops the Vtep's own timer and leaves its port.
 *
 * No allocation, closure or promise per packet: counters are a Float64Array, the FDB hands out typed arrays,
 * each direction works in place on its own fixed batch (batch.ts).
 */
import type { TapDevice, UdpBind } from '../platform/types.js';
import { C, Counters } from './counters.js';
import { Fdb } from './fdb.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { Neigh6Table } from './ndp-proxy.js';
import { TcpSegmenter, type Segmenter } from './tso.js';
import { FlowMssTable } from './flow-mss.js';
import type { TunnelTx } from './tunnel-tx.js';
import { Encapsulator } from './encap.js';
import type { SourcePorts } from './source-ports.js';
import { Decapsulator } from './decap.js';
import { UdpPort } from './udp-port.js';
import type { DeviceState, PacketObserver } from './device.js';

export type { PacketObserver } from './device.js';

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
   * `--srcport`: each frame leaves from the port of the range its inner flow hashes to (flow-hash.ts, mapped
   * as the kernel's udp_flow_src_port), through a send socket opened for that port on first use
   * (source-ports.ts; with --df inherit, DF-set twins too). Undefined: every datagram leaves from `udp`. Its
   * sockets share `udp`'s destination table (the FDB writes `udp` only) and are borrowed: their opener closes them.
   */
  readonly sourcePorts?: SourcePorts;
  /**
   * `--df inherit` without --srcport: a socket with the outer DF bit set, for inner IPv6 and inner IPv4 with DF
   * (Linux has no per-datagram DF control message, so the choice is a choice of socket). It shares `udp`'s
   * destination table.
   */
  readonly dfTwin?: UdpBind;
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
  /**
   * Join this port (a socket several devices share, one VNI each: a `vnis:` process) instead of receiving on
   * `udp` alone. Undefined: the Vtep makes a port of its own on `udp` and counts every datagram on itself.
   */
  readonly port?: UdpPort;
  /** The part of the socket's destination table this device's FDB uses (shared sockets); default all of it. */
  readonly slots?: { readonly base: number; readonly count: number };
}


export class Vtep implements DeviceState {
  readonly counters = new Counters();
  readonly fdb: Fdb;
  readonly vni: number;
  readonly ownMac: number;
  /** Static neighbours for proxy-ARP: IPv4 (uint32) → MAC (48-bit). Replaced whole on change. */
  neigh: Map<number, number> = new Map();
  /** Static IPv6 neighbours for the NDP proxy. Replaced whole on change. */
  neigh6: Neigh6Table = new Neigh6Table();
  /** The socket this device receives on (its own, or shared with the other devices of the process). */
  readonly port: UdpPort;
  private readonly ownPort: boolean;
  private observed: PacketObserver | undefined;
  private readonly tap: TapDevice;
  private readonly encap: Encapsulator;
  private readonly decap: Decapsulator;
  private readonly learning: boolean;
  private readonly ageing: number;
  private readonly clock: () => number;
  private ager: NodeJS.Timeout | undefined;

  constructor(tap: TapDevice, udp: UdpBind, o: VtepOptions) {
    this.tap = tap;
    this.vni = o.vni;
    this.ownMac = o.ownMac;
    const batchSize = Math.max(1, Math.min(o.batch ?? 64, 1024));
    const tunnel = o.tunnelTx;
    // The --srcport and DF-set sockets send through `udp`'s destination table; the tunnel path has its own, so
    // with it the control plane writes each slot twice.
    this.fdb = new Fdb(
      tunnel === undefined
        ? udp
        : {
            destinationSlots: udp.destinationSlots,
            setDestination(slot: number, ip: string, port: number): void {
              udp.setDestination(slot, ip, port);
              tunnel.setDestination(slot, ip, port);
            },
          },
      o.dstport,
      o.slots,
    );
    const tapMtu = o.tapMtu ?? o.maxFrame - ETH_HLEN - 4;
    // One table per device: SYNs seen both ways size the super-frames written to this TAP.
    const flowMss = new FlowMssTable();
    this.learning = o.learning ?? false;
    this.ageing = o.ageing ?? 300;
    this.clock = o.clock ?? (() => performance.now() / 1000);
    this.encap = new Encapsulator(this, {
      tap,
      udp,
      maxUdpPayload: o.maxUdpPayload,
      maxFrame: o.maxFrame,
      batchSize,
      tso: o.tso ?? false,
      udpGso: o.udpGso ?? false,
      tosBase: o.tos ?? 0,
      sourcePorts: o.sourcePorts,
      dfTwin: o.dfTwin,
      tunnel,
      df: o.df,
      segmenter: o.segmenter ?? new TcpSegmenter(),
      flowMss,
    });
    this.decap = new Decapsulator(this, { tap, tapMtu, rxCoalesce: o.rxCoalesce ?? false, learning: this.learning, flowMss });
    this.ownPort = o.port === undefined;
    this.port =
      o.port ??
      new UdpPort(udp, {
        batchSize,
        udpGro: o.udpGro ?? false,
        ...(o.reserved === undefined ? {} : { reserved: o.reserved }),
        stray: this.counters,
        clock: this.clock,
      });
    this.port.attach(this.decap);
  }

  /**
   * Sees every frame and datagram with its verdict (the trace printer, the pcap writer). Undefined when off:
   * then the cost is one field read per packet. With a port of its own, the port's strays too.
   */
  get observer(): PacketObserver | undefined {
    return this.observed;
  }
  set observer(o: PacketObserver | undefined) {
    this.observed = o;
    if (this.ownPort) this.port.observer = o;
  }

  /** --peers-only (a setting of the port: with a shared port, of every device on it). */
  get peersOnly(): boolean {
    return this.port.peersOnly;
  }
  set peersOnly(on: boolean) {
    this.port.peersOnly = on;
  }

  /** Starts reacting to readiness on both sides (and, with learning, the ager). */
  start(): void {
    this.tap.onReadable(() => this.encap.onTapReadable());
    this.port.start();
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

  /** Drains the TAP; returns the number of frames handled. */
  onTapReadable(): number {
    return this.encap.onTapReadable();
  }

  /** Drains the socket (of this device's port: with a shared port, for every device on it). */
  onUdpReadable(): number {
    return this.port.onUdpReadable();
  }

  /**
   * Stops the ager and leaves the port (its VNI's datagrams are strays from now on). Closes nothing: the TAP
   * and the sockets belong to whoever opened them.
   */
  stop(): void {
    if (this.ager !== undefined) clearInterval(this.ager);
    this.ager = undefined;
    this.port.detach(this.vni);
  }
}
