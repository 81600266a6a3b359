/**
 * Checksum hints across the TAP's virtio-net header (IFF_VNET_HDR).
 *
 * Why (DESIGN.md §7): over a veth underlay a kernel VXLAN peer sends inner TCP/UDP segments whose checksum is
 * still CHECKSUM_PARTIAL — only the pseudo-header sum is in the field. Those bytes reach us through the UDP
 * socket unchanged, and a plain TAP write would make the host drop them as corrupt ("ping works, TCP hangs").
 * We cannot tell from the bytes whether a checksum is partial or complete, so for every unfragmented IPv4/IPv6
 * TCP or UDP packet we put the pseudo-header sum in the field ourselves and flag the frame NEEDS_CSUM
 * (csum_start = L4 offset, csum_offset = 16 for TCP, 6 for UDP). The kernel then treats it exactly like a
 * locally generated packet: trusted on local delivery, completed when it leaves on a device without checksum
 * offload. No pass over the payload in userspace. (Trade-off: an inner checksum corrupted in flight is not
 * detected; the outer UDP checksum still covers the datagram.)
 *
 * virtio_net_hdr (little-endian, 10 bytes): flags u8, gso_type u8, hdr_len u16, gso_size u16,
 * csum_start u16, csum_offset u16.
 */
import { ETH_HLEN } from '../wire/ethernet.js';
import { csumAdd, csumFinish, csumFold, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { FRAG_NONE, type InnerFrame } from '../wire/inner-frame.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC } from '../wire/ipv4.js';
import { IPV6_DST, IPV6_SRC } from '../wire/ipv6.js';
import { TCP_CSUM_OFFSET, TCP_MIN_HLEN } from '../wire/tcp.js';
import { UDP_CSUM_OFFSET, UDP_HLEN, udpChecksum } from '../wire/udp.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM, vnetClear } from '../wire/virtio-net.js';

/**
 * Writes the virtio-net header for the inner frame `v` (parsed from `buf`) about to be written to the TAP, at
 * `hdrOff` (10 bytes right before the frame). Returns the frame length to write: IP packets are trimmed to
 * their IP length, dropping Ethernet padding that must not enter a checksum the kernel completes.
 */
export function writeRxVnetHeader(buf: Buffer, v: InnerFrame, hdrOff: number): number {
  vnetClear(buf, hdrOff);
  const flen = v.end - v.fo;
  // Untagged IPv4/IPv6 whose lengths fit the frame (the IPv4 header checksum is the host's to verify).
  if (v.tags !== 0 || v.ipVersion === 0 || v.l3Reason !== 0) return flen;
  const proto = v.proto;
  const l4len = v.l4Len;
  const trimmed = ETH_HLEN + v.ipLen;
  let sum: number;
  if (v.ipVersion === 4) {
    if (v.frag !== FRAG_NONE) return flen; // a fragment: no whole L4 header here
    if (proto === IPPROTO_TCP) {
      if (l4len < TCP_MIN_HLEN) return flen;
    } else if (proto === IPPROTO_UDP) {
      if (l4len < UDP_HLEN) return flen;
      if (udpChecksum(buf, v.l4) === 0) return trimmed; // IPv4 UDP without checksum: keep it so
    } else return trimmed;
    sum = pseudoHeaderSumV4(buf, v.l3 + IPV4_SRC, v.l3 + IPV4_DST, proto, l4len);
  } else {
    if (proto === IPPROTO_TCP) {
      if (l4len < TCP_MIN_HLEN) return flen;
    } else if (proto === IPPROTO_UDP) {
      if (l4len < UDP_HLEN) return flen;
    } else return flen;
    sum = pseudoHeaderSumV6(buf, v.l3 + IPV6_SRC, v.l3 + IPV6_DST, proto, l4len);
  }
  const csumOff = proto === IPPROTO_TCP ? TCP_CSUM_OFFSET : UDP_CSUM_OFFSET;
  buf.writeUInt16BE(csumFold(sum), v.l4 + csumOff);
  buf[hdrOff] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  buf.writeUInt16LE(v.l4 - v.fo, hdrOff + 6);
  buf.writeUInt16LE(csumOff, hdrOff + 8);
  return trimmed;
}

/**
 * Finishes a partial checksum the TAP handed us (NEEDS_CSUM): the field at start+offset holds the
 * pseudo-header sum, so the one's-complement sum from `start` to the end of the frame, complemented, is the
 * checksum. A UDP result of 0 is sent as 0xffff (RFC 768: 0 means "no checksum").
 */
export function completeTxChecksum(buf: Buffer, fo: number, flen: number, start: number, offset: number): void {
  if (start + offset + 2 > flen) return;
  let c = csumFinish(csumAdd(buf, fo + start, flen - start, 0));
  if (c === 0 && offset === UDP_CSUM_OFFSET) c = 0xffff;
  buf.writeUInt16BE(c, fo + start + offset);
}
