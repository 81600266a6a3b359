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
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { csumAdd, csumFinish, csumFold, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../wire/ipv4.js';

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
const TCP_CSUM = 16;
const UDP_CSUM = 6;

/**
 * Writes the virtio-net header for an inner frame about to be written to the TAP, at `hdrOff` (10 bytes right
 * before the frame). Returns the frame length to write: IP packets are trimmed to their IP length, dropping
 * Ethernet padding that must not enter a checksum the kernel completes.
 */
export function writeRxVnetHeader(buf: Buffer, fo: number, flen: number, hdrOff: number): number {
  buf.fill(0, hdrOff, hdrOff + 10);
  if (flen < ETH_HLEN + 20) return flen;
  const type = buf.readUInt16BE(fo + 12);
  const l3 = fo + ETH_HLEN;
  let l4: number;
  let proto: number;
  let l4len: number;
  let sum: number;
  if (type === ETHERTYPE_IPV4) {
    const vihl = buf[l3]!;
    const ihl = (vihl & 0x0f) << 2;
    if (vihl >> 4 !== 4 || ihl < 20) return flen;
    const total = buf.readUInt16BE(l3 + 2);
    if (total < ihl || total > flen - ETH_HLEN) return flen;
    if ((buf.readUInt16BE(l3 + 6) & 0x3fff) !== 0) return flen; // a fragment: no whole L4 header here
    proto = buf[l3 + 9]!;
    l4 = l3 + ihl;
    l4len = total - ihl;
    if (proto === IPPROTO_TCP) {
      if (l4len < 20) return flen;
    } else if (proto === IPPROTO_UDP) {
      if (l4len < 8) return flen;
      if (buf.readUInt16BE(l4 + UDP_CSUM) === 0) return ETH_HLEN + total; // IPv4 UDP without checksum: keep it so
    } else return ETH_HLEN + total;
    sum = pseudoHeaderSumV4(buf, l3 + 12, l3 + 16, proto, l4len);
    flen = ETH_HLEN + total;
  } else if (type === ETHERTYPE_IPV6) {
    if (flen < ETH_HLEN + 40 || buf[l3]! >> 4 !== 6) return flen;
    const plen = buf.readUInt16BE(l3 + 4);
    if (plen > flen - ETH_HLEN - 40) return flen;
    proto = buf[l3 + 6]!;
    l4 = l3 + 40;
    l4len = plen;
    if (proto === IPPROTO_TCP) {
      if (l4len < 20) return flen;
    } else if (proto === IPPROTO_UDP) {
      if (l4len < 8) return flen;
    } else return flen;
    sum = pseudoHeaderSumV6(buf, l3 + 8, l3 + 24, proto, l4len);
    flen = ETH_HLEN + 40 + plen;
  } else return flen;
  const csumOff = proto === IPPROTO_TCP ? TCP_CSUM : UDP_CSUM;
  buf.writeUInt16BE(csumFold(sum), l4 + csumOff);
  buf[hdrOff] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  buf.writeUInt16LE(l4 - fo, hdrOff + 6);
  buf.writeUInt16LE(csumOff, hdrOff + 8);
  return flen;
}

/**
 * Finishes a partial checksum the TAP handed us (NEEDS_CSUM): the field at start+offset holds the
 * pseudo-header sum, so the one's-complement sum from `start` to the end of the frame, complemented, is the
 * checksum. A UDP result of 0 is sent as 0xffff (RFC 768: 0 means "no checksum").
 */
export function completeTxChecksum(buf: Buffer, fo: number, flen: number, start: number, offset: number): void {
  if (start + offset + 2 > flen) return;
  let c = csumFinish(csumAdd(buf, fo + start, flen - start, 0));
  if (c === 0 && offset === UDP_CSUM) c = 0xffff;
  buf.writeUInt16BE(c, fo + start + offset);
}
