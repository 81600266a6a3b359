/**
 * The tunnel-GSO send path (`--tx-path tap`): a TCP super-frame read from the overlay TAP leaves as ONE fully
 * encapsulated VXLAN super-packet written into a second, underlay-side TAP that vxlan-user owns. The host
 * kernel routes it like its own vxlan device's output: one skb through routing, veth and bridges, segmented
 * in C only where a real NIC needs it (Linux >= 6.17, UDP-tunnel GSO for TAP; notes/tunnel-gso.md).
 * It replaces, per 64 KB super-frame, ~46 segments cut and checksummed in JS and a UDP GSO train with one
 * header write and one write(2) (measured ~19 µs against ~136 µs for the same bytes as separate frames).
 *
 * Frame written (IPv4 underlay), the inner super-frame untouched where the TAP read put it:
 * ```
 *  fo-74          fo-50            fo-36             fo-16       fo-8      fo
 *  | vnet hdr (24) | outer Eth (14) | outer IPv4 (20) | UDP (8)   | VXLAN   | inner Eth | inner IP | TCP | ...
 *    GSO TCPV4|6 | UDP_TUNNEL_IPV4, gso_size = the inner MSS, NEEDS_CSUM at the inner TCP checksum (whose
 *    field already holds the pseudo-header sum: that is how a TSO super-frame leaves the host stack),
 *    F_UDP_TUNNEL_CSUM with the outer seed when UDP checksums are on, outer_th_offset 34, inner_nh_offset 64.
 * ```
 * The outer headers equal the UDP socket path's: the same source port (--srcport: the flow's port, source-ports.ts), the
 * destination slot's address and port, TOS/ECN, DF policy and checksum setting. The TTL is written one
 * higher, because forwarding through the host decrements it.
 *
 * Buffer ownership: the caller's TAP read slot, with TUNNEL_TX_HEADROOM bytes free in front of the inner
 * frame; write(2) copies into the kernel before returning, so the slot is free again afterwards.
 */
import type { TapDevice } from '../platform/types.js';
import { csumAdd, csumFinish, csumFold, pseudoHeaderSumV4 } from '../wire/checksum.js';
import { ETH_HLEN, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { ipv4AddrParse, IPPROTO_UDP, IPV4_FLAG_DF } from '../wire/ipv4.js';
import { macWrite } from '../wire/mac.js';
import { TCP_CSUM_OFFSET } from '../wire/tcp.js';
import { UDP_HLEN } from '../wire/udp.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM,
  VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4,
  VIRTIO_NET_HDR_TUNNEL_LEN,
  vnetTunnelWrite,
} from '../wire/virtio-net.js';
import { VXLAN_HLEN, vxlanWrite } from '../wire/vxlan.js';

const OUTER_IP4 = ETH_HLEN + 20 + UDP_HLEN + VXLAN_HLEN; // 50: outer headers in front of the inner frame
/** Bytes the caller keeps free in front of the inner frame. */
export const TUNNEL_TX_HEADROOM = VIRTIO_NET_HDR_TUNNEL_LEN + OUTER_IP4; // 74

export interface TunnelTxOptions {
  /** The underlay-side TAP (header size 24); only written. */
  readonly tap: TapDevice;
  /** Its own MAC (48-bit): the outer destination, so the host takes the packet in and forwards it. */
  readonly tapMac: number;
  /** Our underlay IPv4 address (the outer source). */
  readonly local: string;
  /** The outer TTL the wire should see (the host's forwarding takes one off what we write). At most 254. */
  readonly ttl: number;
  /** Outer UDP checksums (the default, `udpcsum`); false with --noudpcsum. */
  readonly udpCsum: boolean;
}

export class TunnelTx {
  private readonly tap: TapDevice;
  private readonly tapMac: number;
  private readonly srcMac: number;
  private readonly local: number;
  private readonly ttl: number;
  private readonly flags: number;
  /** Per FDB destination slot: IPv4 address, port, and whether the slot is IPv4 (else the socket path). */
  private readonly addr: Uint32Array;
  private readonly port: Uint16Array;
  private readonly ok: Uint8Array;
  private ipId = 0;

  constructor(o: TunnelTxOptions, slots: number) {
    const local = ipv4AddrParse(o.local);
    if (local === undefined) throw new RangeError(`the tunnel send path needs an IPv4 underlay address, not ${o.local}`);
    if (o.ttl < 1 || o.ttl > 254) throw new RangeError(`the tunnel send path writes the TTL + 1, so the TTL must be 1..254, not ${o.ttl}`);
    this.tap = o.tap;
    this.tapMac = o.tapMac;
    // Any unicast source will do (the host never answers it); one next to the TAP's own MAC. (48-bit values:
    // arithmetic, not bitwise operators, which cut to 32 bits.)
    this.srcMac = o.tapMac % 2 === 0 ? o.tapMac + 2 : o.tapMac + 1;
    this.local = local;
    this.ttl = o.ttl + 1;
    this.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM | (o.udpCsum ? VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM : 0);
    this.addr = new Uint32Array(slots);
    this.port = new Uint16Array(slots);
    this.ok = new Uint8Array(slots);
  }

  /** Mirrors the FDB's destination slots (control plane). IPv6 remotes stay on the socket path. */
  setDestination(slot: number, ip: string, port: number): void {
    const a = ipv4AddrParse(ip);
    this.ok[slot] = a === undefined ? 0 : 1;
    this.addr[slot] = a ?? 0;
    this.port[slot] = port;
  }

  /** True when every slot in `slots` can be reached on this path. */
  reaches(slots: Uint32Array | readonly number[]): boolean {
    for (let j = 0; j < slots.length; j++) if (this.ok[slots[j]!] === 0) return false;
    return true;
  }

  /**
   * Writes the TCP super-frame `buf[fo .. fo+flen)` (inner L4 header at `fo + l4Start`, `mss` payload bytes per
   * segment, inner gso_type TCPV4/TCPV6 with the ECN bit as read) to destination `slot` with VNI `vni`, UDP
   * source port `srcPort`, outer TOS `tos` and the DF bit when `df`. Returns write(2)'s result (bytes or -errno).
   */
  write(buf: Buffer, fo: number, flen: number, l4Start: number, hdrLen: number, mss: number, innerGsoType: number, slot: number, vni: number, srcPort: number, tos: number, df: boolean): number {
    const vx = fo - VXLAN_HLEN;
    const udp = vx - UDP_HLEN;
    const ip = udp - 20;
    const eth = ip - ETH_HLEN;
    const h = eth - VIRTIO_NET_HDR_TUNNEL_LEN;
    const udpLen = UDP_HLEN + VXLAN_HLEN + flen;
    vxlanWrite(buf, vx, vni);
    buf.writeUInt16BE(srcPort, udp);
    buf.writeUInt16BE(this.port[slot]!, udp + 2);
    buf.writeUInt16BE(udpLen, udp + 4);
    buf[ip] = 0x45;
    buf[ip + 1] = tos;
    buf.writeUInt16BE(20 + udpLen, ip + 2);
    buf.writeUInt16BE(this.ipId, ip + 4);
    this.ipId = (this.ipId + 1) & 0xffff;
    buf.writeUInt16BE(df ? IPV4_FLAG_DF : 0, ip + 6);
    buf[ip + 8] = this.ttl;
    buf[ip + 9] = IPPROTO_UDP;
    buf.writeUInt16BE(0, ip + 10);
    buf.writeUInt32BE(this.local, ip + 12);
    buf.writeUInt32BE(this.addr[slot]!, ip + 16);
    buf.writeUInt16BE(csumFinish(csumAdd(buf, ip, 20, 0)), ip + 10);
    // Outer checksum seed: the folded, NOT complemented pseudo-header sum over the whole UDP length, which
    // segmentation adjusts per segment; zero (no checksum) with --noudpcsum.
    const seed = this.flags & VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM ? csumFold(pseudoHeaderSumV4(buf, ip + 12, ip + 16, IPPROTO_UDP, udpLen)) : 0;
    buf.writeUInt16BE(seed, udp + 6);
    macWrite(buf, eth, this.tapMac);
    macWrite(buf, eth + 6, this.srcMac);
    buf.writeUInt16BE(ETHERTYPE_IPV4, eth + 12);
    vnetTunnelWrite(buf, h, this.flags, innerGsoType | VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4, OUTER_IP4 + hdrLen, mss, OUTER_IP4 + l4Start, TCP_CSUM_OFFSET, udp - eth, fo + ETH_HLEN - eth);
    return this.tap.write(buf, h, VIRTIO_NET_HDR_TUNNEL_LEN + OUTER_IP4 + flen);
  }
}
