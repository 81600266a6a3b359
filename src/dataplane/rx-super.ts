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
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';
import { csumFold, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { C } from './counters.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM } from './offload.js';
import type { FlowMssTable } from './flow-mss.js';
import {
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
} from './tso.js';

const VLAN_HLEN = 4;
const TCP_CWR = 0x80;

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
 * Marks the inner frame `buf[fo .. fo+flen)`, larger than the TAP's MTU, as a GSO super-frame in its
 * virtio-net header at `hdrOff`. `udpGsoSize` is the UDP_GRO segment size the socket reported for its
 * datagram (0: none). Returns SUPER_MARKED or SUPER_PLAIN when the frame may be written, or the counter index
 * of the reason to drop it.
 */
export function markRxSuperFrame(buf: Buffer, fo: number, flen: number, hdrOff: number, tapMtu: number, flows: FlowMssTable, udpGsoSize: number): number {
  const type = buf.readUInt16BE(fo + 12);
  const l3 = fo + ETH_HLEN;
  let ipHdr: number;
  let ipLen: number;
  let proto: number;
  if (type === ETHERTYPE_IPV4 && flen >= ETH_HLEN + 20 && buf[l3]! >> 4 === 4) {
    ipHdr = (buf[l3]! & 0x0f) << 2;
    ipLen = buf.readUInt16BE(l3 + 2);
    if (ipHdr < 20 || ipLen < ipHdr || ipLen > flen - ETH_HLEN) return C.rx_super_bad_len;
    if ((buf.readUInt16BE(l3 + 6) & 0x3fff) !== 0) return C.rx_too_big; // a fragment cannot be re-segmented
    proto = buf[l3 + 9]!;
  } else if (type === ETHERTYPE_IPV6 && flen >= ETH_HLEN + 40 && buf[l3]! >> 4 === 6) {
    ipHdr = 40;
    ipLen = 40 + buf.readUInt16BE(l3 + 4);
    if (ipLen > flen - ETH_HLEN) return C.rx_super_bad_len;
    proto = buf[l3 + 6]!; // extension headers: not walked, so not segmentable here
  } else {
    // Not IP: only a full-size frame with one VLAN tag is not oversize.
    return flen <= ETH_HLEN + VLAN_HLEN + tapMtu ? SUPER_PLAIN : C.rx_too_big;
  }
  if (ipLen <= tapMtu) return SUPER_PLAIN;
  const l4 = l3 + ipHdr;
  const l4Len = ipLen - ipHdr;
  if (proto === IPPROTO_TCP) {
    if (l4Len < 20) return C.rx_super_bad_len;
    const thl = (buf[l4 + 12]! >> 4) << 2;
    if (thl < 20 || thl >= l4Len) return C.rx_super_bad_tcp_hdr;
    const v6 = ipHdr === 40 && type === ETHERTYPE_IPV6;
    let gsoType = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    if ((buf[l4 + 13]! & TCP_CWR) !== 0) gsoType |= VIRTIO_NET_HDR_GSO_ECN;
    buf[hdrOff + 1] = gsoType;
    buf.writeUInt16LE(l4 - fo + thl, hdrOff + 2);
    buf.writeUInt16LE(tcpGsoSize(tapMtu, ipHdr, thl, flows.lookup(buf, fo, l4)), hdrOff + 4);
    return SUPER_MARKED;
  }
  if (proto === IPPROTO_UDP) {
    if (l4Len <= 8) return C.rx_super_bad_len;
    if (udpGsoSize === 0 || udpGsoSize >= l4Len - 8) return C.rx_too_big;
    if ((buf[hdrOff]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) {
      // IPv4 UDP without a checksum: GSO segmentation needs a partial one, so every segment gets a checksum
      // (allowed: zero only means "not computed", RFC 768).
      const sum = ipHdr === 20 ? pseudoHeaderSumV4(buf, l3 + 12, l3 + 16, IPPROTO_UDP, l4Len) : pseudoHeaderSumV6(buf, l3 + 8, l3 + 24, IPPROTO_UDP, l4Len);
      buf.writeUInt16BE(csumFold(sum), l4 + 6);
      buf[hdrOff] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
      buf.writeUInt16LE(l4 - fo, hdrOff + 6);
      buf.writeUInt16LE(6, hdrOff + 8);
    }
    buf[hdrOff + 1] = VIRTIO_NET_HDR_GSO_UDP_L4;
    buf.writeUInt16LE(l4 - fo + 8, hdrOff + 2);
    buf.writeUInt16LE(udpGsoSize, hdrOff + 4);
    return SUPER_MARKED;
  }
  return C.rx_too_big;
}

/**
 * The length the VXLAN datagram at `buf[ho..]` claims from its inner IP header (VXLAN + Ethernet + IP total
 * length), or -1 when the inner frame is not IPv4/IPv6 or too short to tell. Used to tell a GRO train of
 * datagrams (each as long as the UDP_GRO size) from one whole super-datagram.
 */
export function claimedDatagramLen(buf: Buffer, ho: number, len: number): number {
  const fo = ho + 8;
  if (len < 8 + ETH_HLEN + 40) return -1;
  const type = buf.readUInt16BE(fo + 12);
  const l3 = fo + ETH_HLEN;
  if (type === ETHERTYPE_IPV4 && buf[l3]! >> 4 === 4) return 8 + ETH_HLEN + buf.readUInt16BE(l3 + 2);
  if (type === ETHERTYPE_IPV6 && buf[l3]! >> 4 === 6) return 8 + ETH_HLEN + 40 + buf.readUInt16BE(l3 + 4);
  return -1;
}
