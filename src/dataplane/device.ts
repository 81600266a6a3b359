/**
 * What the encapsulation and the decapsulation of one device share: its identity (VNI, MAC), its tables and
 * its counters. The Vtep (vtep.ts) is the one implementation; encap.ts and decap.ts read it through this
 * interface, so what crosses between them is named here and nowhere else.
 *
 * The tables are replaced whole by the control plane (runtime/tables.ts) between batches, so the hot path
 * reads the field again per frame and never sees a half-updated table.
 */
import type { Counters } from './counters.js';
import type { Fdb, FdbEntry } from './fdb.js';
import type { Neigh6Table } from './ndp-proxy.js';

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

export interface DeviceState {
  /** The device's VNI: what encapsulation writes, and what the socket demultiplexes on. */
  readonly vni: number;
  /** The TAP's MAC as a 48-bit integer: frames arriving with it as source are loops. */
  readonly ownMac: number;
  readonly counters: Counters;
  readonly fdb: Fdb;
  /** Static neighbours for proxy-ARP: IPv4 (uint32) → MAC (48-bit). */
  readonly neigh: Map<number, number>;
  /** Static IPv6 neighbours for the NDP proxy. */
  readonly neigh6: Neigh6Table;
  /** Sees every frame and datagram of this device with its verdict; undefined when off (one field read per packet). */
  readonly observer: PacketObserver | undefined;
}
