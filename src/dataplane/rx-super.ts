/**
 * Inner frames larger than the TAP's MTU, on their way into the TAP: written whole, as GSO super-frames.
 *
 * Why (DESIGN.md §8, issue 9): over veth or a Linux bridge a kernel VXLAN peer never segments. Its 64 KB TCP
 * GSO packet reaches our UDP socket as ONE datagram holding one inner TCP super-segment, with no segment size
 * attached. Written to the TAP as a plain frame it is delivered to the node itself, but it cannot be
 * forwarded to a pod: it is bigger than the pod's link and carries no GSO information, so the kernel drops it
 * and bulk TCP from a kernel node to a pod behind us stalls. Flagged as GSO (virtio-net gso_type TCPV4/TCPV6,
 * NEEDS_CSUM, gso_size = the flow's segment size), the host kernel forwards it like one of its own GRO
 * packets and segments it in C only where a link needs it.
 *
 * Inner UDP super-packets (a sender's UDP_SEGMENT train, encapsulated whole by a kernel peer) arrive the same
 * way; with UDP_GRO on, the kernel tells us their segment size (the inner datagrams' payload size). They go
 * to the TAP as GSO UDP_L4 with that size, so every inner datagram keeps its own boundaries. Without it the
 * boundaries are lost, and the frame is dropped (rx_too_big) rather than cut in the wrong places.
 *
 * virtio_net_hdr (little-endian, 10 bytes): flags u8, gso_type u8, hdr_len u16, gso_size u16,
 * csum_start u16, csum_offset u16. writeRxVnetHeader (offload.ts) has already written flags, csum_start and
 * csum_offset, and the pseudo-header sum over the whole L4 length: what GSO segmentation expects.
 */
import { ETH_HLEN, VLAN_HLEN } from '../wire/ethernet.js';
import { FRAG_NONE, type InnerFrame } from '../wire/inner-frame.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC } from '../wire/ipv4.js';
import { IPV6_DST, IPV6_HLEN, IPV6_SRC } from '../wire/ipv6.js';
import { TCP_ERR_SHORT, TCP_FLAG_CWR, TCP_FLAGS, TCP_OK } from '../wire/tcp.js';
import { UDP_CSUM_OFFSET, UDP_HLEN } from '../wire/udp.js';
import { VXLAN_HLEN } from '../wire/vxlan.js';
import { csumFold, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { C } from './counters.js';
import type { FlowMssTable } from './flow-mss.js';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
} from '../wire/virtio-net.js';


/**
 * The payload bytes per segment for a TCP super-frame going into a TAP of MTU `tapMtu`: what fits the TAP's
 * MTU with these headers, lowered to the flow's MSS (minus the options every segment carries) when known.
 */
export function tcpGsoSize(tapMtu: number, ipHdrLen: number, tcpHdrLen: number, flowMss: number): number {
  let seg = tapMtu - ipHdrLen - tcpHdrLen;
  if (flowMss !== 0) seg = Math.min(seg, flowMss - (tcpHdrLen - 20));
  return Math.max(1, seg);
}

/** markRxSuperFrame's answer when it flagged the frame as GSO (a drop reason is a counter index > 0). */
export const SUPER_MARKED = -1;
/** markRxSuperFrame's answer when the frame is not oversize after all (a full-size VLAN-tagged frame). */
export const SUPER_PLAIN = 0;

/**
 * Marks the inner frame `v` (parsed from `buf`), `flen` bytes long after writeRxVnetHeader's trim and larger
 * than the TAP's MTU, as a GSO super-frame in its virtio-net header at `hdrOff`. `udpGsoSize` is the UDP_GRO
 * segment size the socket reported for its datagram (0: none). Returns SUPER_MARKED or SUPER_PLAIN when the
 * frame may be written, or the counter index of the reason to drop it.
 */
export function markRxSuperFrame(buf: Buffer, v: InnerFrame, flen: number, hdrOff: number, tapMtu: number, flows: FlowMssTable, udpGsoSize: number): number {
  // Not IP (or tagged: decided on the EtherType after the MACs): only a full-size frame with one VLAN tag is
  // not oversize.
  if (v.tags !== 0 || v.ipVersion === 0) return flen <= ETH_HLEN + VLAN_HLEN + tapMtu ? SUPER_PLAIN : C.rx_too_big;
  if (v.l3Reason !== 0) return C.rx_super_bad_len;
  if (v.frag !== FRAG_NONE && v.ipVersion === 4) return C.rx_too_big; // a fragment cannot be re-segmented
  const ipLen = v.ipLen;
  if (ipLen <= tapMtu) return SUPER_PLAIN;
  const fo = v.fo;
  const l3 = v.l3;
  const l4 = v.l4;
  const l4Len = v.l4Len;
  const proto = v.proto; // IPv6 extension headers: not walked, so not segmentable here
  if (proto === IPPROTO_TCP) {
    if (v.tcpReason === TCP_ERR_SHORT) return C.rx_super_bad_len;
    const thl = v.tcpHlen;
    if (v.tcpReason !== TCP_OK || thl >= l4Len) return C.rx_super_bad_tcp_hdr;
    let gsoType = v.ipVersion === 6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    if ((buf[l4 + TCP_FLAGS]! & TCP_FLAG_CWR) !== 0) gsoType |= VIRTIO_NET_HDR_GSO_ECN;
    buf[hdrOff + 1] = gsoType;
    buf.writeUInt16LE(l4 - fo + thl, hdrOff + 2);
    buf.writeUInt16LE(tcpGsoSize(tapMtu, v.l3Hlen, thl, flows.lookup(buf, fo, l4)), hdrOff + 4);
    return SUPER_MARKED;
  }
  if (proto === IPPROTO_UDP) {
    if (l4Len <= UDP_HLEN) return C.rx_super_bad_len;
    if (udpGsoSize === 0 || udpGsoSize >= l4Len - UDP_HLEN) return C.rx_too_big;
    if ((buf[hdrOff]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) {
      // IPv4 UDP without a checksum: GSO segmentation needs a partial one, so every segment gets a checksum
      // (allowed: zero only means "not computed", RFC 768).
      const sum = v.ipVersion === 4 ? pseudoHeaderSumV4(buf, l3 + IPV4_SRC, l3 + IPV4_DST, IPPROTO_UDP, l4Len) : pseudoHeaderSumV6(buf, l3 + IPV6_SRC, l3 + IPV6_DST, IPPROTO_UDP, l4Len);
      buf.writeUInt16BE(csumFold(sum), l4 + UDP_CSUM_OFFSET);
      buf[hdrOff] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      buf.writeUInt16LE(l4 - fo, hdrOff + 6);
      buf.writeUInt16LE(UDP_CSUM_OFFSET, hdrOff + 8);
    }
    buf[hdrOff + 1] = VIRTIO_NET_HDR_GSO_UDP_L4;
    buf.writeUInt16LE(l4 - fo + UDP_HLEN, hdrOff + 2);
    buf.writeUInt16LE(udpGsoSize, hdrOff + 4);
    return SUPER_MARKED;
  }
  return C.rx_too_big;
}

/**
 * The length the VXLAN datagram at `buf[ho..]`, `len` bytes, claims from its inner IP header (VXLAN + Ethernet
 * + IP total length), or -1 when the inner frame is not IPv4/IPv6 or too short to tell. Used to tell a GRO
 * train of datagrams (each as long as the UDP_GRO size) from one whole super-datagram. Parses the inner frame
 * into `v` (the caller's scratch view).
 */
export function claimedDatagramLen(buf: Buffer, ho: number, len: number, v: InnerFrame): number {
  if (len < VXLAN_HLEN + ETH_HLEN + IPV6_HLEN) return -1;
  v.parse(buf, ho + VXLAN_HLEN, len - VXLAN_HLEN);
  return v.tags === 0 && v.ipVersion !== 0 ? VXLAN_HLEN + ETH_HLEN + v.ipLen : -1;
}
