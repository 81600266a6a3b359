/**
 * TCP segmentation in userspace (what a NIC does for TSO), for TAP super-frames.
 *
 * With IFF_VNET_HDR + TUNSETOFFLOAD(TSO4|TSO6) the host stack hands the TAP TCP "super-frames" of up to 64 KiB
 * (virtio-net gso_type TCPV4/TCPV6, gso_size = MSS, checksum partial). We cut each one into MSS-sized inner
 * frames, each preceded by its VXLAN header, laid out back to back with a constant stride so that one UDP GSO
 * send (UDP_SEGMENT = stride) puts them all on the wire. Per segment we fix what differs (RFC 9293 / RFC 791):
 *   IPv4: total length, identification (+1 per segment, as Linux's TSO does), header checksum
 *   IPv6: payload length
 *   TCP:  sequence number (+MSS per segment); FIN and PSH only on the last, CWR only on the first; checksum
 * Inner checksums are always complete on the wire: a kernel peer verifies them in software.
 */
import { csumAdd, csumFinish, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { TCP_FLAG_CWR, TCP_FLAG_FIN, TCP_FLAG_PSH } from '../wire/tcp.js';
import { VXLAN_HLEN, vxlanWrite } from '../wire/vxlan.js';

/**
 * What the Vtep needs from a segmenter: TcpSegmenter below, or the addon's loop (tso-native.ts) with the same
 * contract byte for byte. segment() returns the count and leaves count/stride/total readable until the next call.
 */
export interface Segmenter {
  readonly count: number;
  readonly stride: number;
  readonly total: number;
  segment(src: Buffer, fo: number, flen: number, l4Start: number, mss: number, isV6: boolean, out: Buffer, outOff: number, vni: number): number;
}

/** Result of the last segmentTcp call (fields reused, never reallocated). */
export class TcpSegmenter implements Segmenter {
  /** Segments written; 0 when the frame was malformed (caller drops it). */
  count = 0;
  /** Bytes from one segment's VXLAN header to the next one's: the UDP GSO segment size. */
  stride = 0;
  /** Total bytes written (count - 1 full strides plus the last, shorter segment). */
  total = 0;

  /**
   * Cuts the super-frame `src[fo .. fo+flen)` (Ethernet + IPv4/IPv6 + TCP + payload; the TCP header starts at
   * `fo + l4Start`) into segments of `mss` payload bytes written at `out[outOff..]`, each behind an 8-byte
   * VXLAN header for `vni`. Returns count, or 0 with nothing written when the lengths don't add up (the frame
   * outside `src`, an IP header shorter than its minimum, a TCP header past the end, a segment too long for
   * its IP length field) or `out` has no room for `flen + count * (VXLAN_HLEN + headers)`.
   */
  segment(src: Buffer, fo: number, flen: number, l4Start: number, mss: number, isV6: boolean, out: Buffer, outOff: number, vni: number): number {
    this.count = 0;
    const l3 = fo + ETH_HLEN;
    const l4 = fo + l4Start;
    const ipHdrLen = l4Start - ETH_HLEN;
    if (fo < 0 || flen < 0 || outOff < 0 || mss <= 0 || fo + flen > src.length) return 0;
    if (ipHdrLen < (isV6 ? 40 : 20) || l4Start + 20 > flen) return 0;
    const thl = (src[l4 + 12]! >> 4) << 2;
    const hdrLen = l4Start + thl;
    if (thl < 20 || hdrLen > flen) return 0;
    const payload = flen - hdrLen;
    const n = payload === 0 ? 1 : Math.ceil(payload / mss);
    if ((isV6 ? 0 : ipHdrLen) + thl + Math.min(payload, mss) > 0xffff) return 0;
    const stride = VXLAN_HLEN + hdrLen + mss;
    if (stride > 0x7fffffff || outOff + n * (VXLAN_HLEN + hdrLen) + payload > out.length) return 0;
    const seq0 = src.readUInt32BE(l4 + 4);
    const flags0 = src[l4 + 13]!;
    const id0 = isV6 ? 0 : src.readUInt16BE(l3 + 4);
    let at = outOff;
    for (let i = 0; i < n; i++) {
      const plen = i === n - 1 ? payload - i * mss : mss;
      vxlanWrite(out, at, vni);
      const f = at + VXLAN_HLEN;
      src.copy(out, f, fo, fo + hdrLen);
      src.copy(out, f + hdrLen, fo + hdrLen + i * mss, fo + hdrLen + i * mss + plen);
      const o3 = f + ETH_HLEN;
      const o4 = f + l4Start;
      const l4len = thl + plen;
      let sum: number;
      if (isV6) {
        out.writeUInt16BE(l4len, o3 + 4);
        sum = pseudoHeaderSumV6(out, o3 + 8, o3 + 24, 6, l4len);
      } else {
        out.writeUInt16BE(ipHdrLen + l4len, o3 + 2);
        out.writeUInt16BE((id0 + i) & 0xffff, o3 + 4);
        out[o3 + 10] = 0;
        out[o3 + 11] = 0;
        out.writeUInt16BE(csumFinish(csumAdd(out, o3, ipHdrLen, 0)), o3 + 10);
        sum = pseudoHeaderSumV4(out, o3 + 12, o3 + 16, 6, l4len);
      }
      out.writeUInt32BE((seq0 + i * mss) >>> 0, o4 + 4);
      let flags = flags0;
      if (i !== n - 1) flags &= ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
      if (i !== 0) flags &= ~TCP_FLAG_CWR;
      out[o4 + 13] = flags;
      out[o4 + 16] = 0;
      out[o4 + 17] = 0;
      out.writeUInt16BE(csumFinish(csumAdd(out, o4, l4len, sum)), o4 + 16);
      at += VXLAN_HLEN + hdrLen + plen;
    }
    this.count = n;
    this.stride = stride;
    this.total = at - outOff;
    return n;
  }
}
