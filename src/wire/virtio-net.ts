/**
 * virtio-net header: the offload metadata a TAP opened with IFF_VNET_HDR puts in front of every frame
 * (virtio spec 1.2 §5.1.6, Linux include/uapi/linux/virtio_net.h). All fields little-endian.
 *
 * ```
 *  0        1          2          4           6            8             10
 *  +--------+----------+----------+-----------+------------+-------------+
 *  | flags  | gso_type | hdr_len  | gso_size  | csum_start | csum_offset |       struct virtio_net_hdr (10)
 *  +--------+----------+----------+-----------+------------+-------------+
 *  10            12                 16              18          20                22                24
 *  | num_buffers | hash_value       | hash_report   | padding   | outer_th_offset | inner_nh_offset |
 *  +-------------+------------------+---------------+-----------+-----------------+-----------------+
 *                          struct virtio_net_hdr_v1_hash_tunnel (24), Linux >= 6.17, TUNSETVNETHDRSZ 24
 * ```
 * - flags NEEDS_CSUM: the checksum at csum_start + csum_offset holds only the pseudo-header sum; the
 *   receiver (or the kernel, on our writes) completes it. F_UDP_TUNNEL_CSUM: the same for the OUTER UDP
 *   checksum of a UDP-tunnel GSO packet (its seed: the pseudo-header sum over the whole UDP length).
 * - gso_type: what segmentation applies (TCPV4, TCPV6, UDP_L4), | ECN when the TCP stream uses CWR;
 *   | UDP_TUNNEL_IPV4 / _IPV6 when the frame is a whole tunnel packet (outer IP/UDP/VXLAN + inner super-frame).
 * - hdr_len: bytes of headers before the payload; gso_size: payload bytes per segment.
 * - outer_th_offset: where the outer UDP header starts; inner_nh_offset: where the inner IP header starts.
 */

export const VIRTIO_NET_HDR_LEN = 10 as const;
/** struct virtio_net_hdr_v1_hash_tunnel: what a TAP needs for UDP-tunnel GSO (notes/tunnel-gso.md). */
export const VIRTIO_NET_HDR_TUNNEL_LEN = 24 as const;

export const VNET_FLAGS = 0 as const;
export const VNET_GSO_TYPE = 1 as const;
export const VNET_HDR_LEN_FIELD = 2 as const;
export const VNET_GSO_SIZE = 4 as const;
export const VNET_CSUM_START = 6 as const;
export const VNET_CSUM_OFFSET = 8 as const;
export const VNET_OUTER_TH_OFFSET = 20 as const;
export const VNET_INNER_NH_OFFSET = 22 as const;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1 as const;
export const VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM = 8 as const;

export const VIRTIO_NET_HDR_GSO_NONE = 0 as const;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1 as const;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4 as const;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5 as const;
export const VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4 = 0x20 as const;
export const VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV6 = 0x40 as const;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80 as const;

/** TUNSETOFFLOAD bits (include/uapi/linux/if_tun.h; TUN_F_UDP_TUNNEL_* are newer than most system headers). */
export const TUN_F_CSUM = 0x01 as const;
export const TUN_F_TSO4 = 0x02 as const;
export const TUN_F_TSO6 = 0x04 as const;
export const TUN_F_TSO_ECN = 0x08 as const;
export const TUN_F_UDP_TUNNEL_GSO = 0x080 as const;
export const TUN_F_UDP_TUNNEL_GSO_CSUM = 0x100 as const;

export function vnetFlags(buf: Buffer, off: number): number {
  return buf[off + VNET_FLAGS]!;
}

/** gso_type without the ECN bit. */
export function vnetGsoType(buf: Buffer, off: number): number {
  return buf[off + VNET_GSO_TYPE]! & ~VIRTIO_NET_HDR_GSO_ECN;
}

export function vnetGsoSize(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + VNET_GSO_SIZE);
}

export function vnetCsumStart(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + VNET_CSUM_START);
}

export function vnetCsumOffset(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + VNET_CSUM_OFFSET);
}

/**
 * Zeroes the 10-byte struct virtio_net_hdr (no offload: a plain frame). Byte stores, not Buffer.fill: on the
 * per-datagram path fill's argument checks cost more than the ten stores (a CPU profile of the decap loop had
 * fill and its validators at ~20 % of the time).
 */
export function vnetClear(buf: Buffer, off: number): void {
  buf[off] = 0;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = 0;
  buf[off + 5] = 0;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  buf[off + 8] = 0;
  buf[off + 9] = 0;
}

/** Writes the 10-byte struct virtio_net_hdr. */
export function vnetWrite(buf: Buffer, off: number, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): void {
  buf[off + VNET_FLAGS] = flags;
  buf[off + VNET_GSO_TYPE] = gsoType;
  buf.writeUInt16LE(hdrLen, off + VNET_HDR_LEN_FIELD);
  buf.writeUInt16LE(gsoSize, off + VNET_GSO_SIZE);
  buf.writeUInt16LE(csumStart, off + VNET_CSUM_START);
  buf.writeUInt16LE(csumOffset, off + VNET_CSUM_OFFSET);
}

/**
 * Writes the 24-byte struct virtio_net_hdr_v1_hash_tunnel: the 10-byte header, then num_buffers and the hash
 * fields zero, then the two tunnel offsets (from the frame start, i.e. the outer Ethernet header).
 */
export function vnetTunnelWrite(
  buf: Buffer, off: number, flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number,
  outerThOffset: number, innerNhOffset: number,
): void {
  vnetWrite(buf, off, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset);
  buf.fill(0, off + VIRTIO_NET_HDR_LEN, off + VNET_OUTER_TH_OFFSET);
  buf.writeUInt16LE(outerThOffset, off + VNET_OUTER_TH_OFFSET);
  buf.writeUInt16LE(innerNhOffset, off + VNET_INNER_NH_OFFSET);
}
