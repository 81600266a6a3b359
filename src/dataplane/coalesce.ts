/**
 * Receive-side TCP coalescing (userspace GRO), the mirror of tso.ts.
 *
 * Why: every frame written to the TAP runs the host's whole IP/TCP receive path inside that write() — the
 * profile of a receiving VTEP showed ~45 % of its CPU in TAP writes of MSS-sized segments. Consecutive
 * segments of one TCP flow are glued into one super-frame (up to 64 KiB) and written once, with a virtio-net
 * header that says GSO TCPV4/TCPV6 + NEEDS_CSUM, so the kernel handles it like a GRO'd packet.
 *
 * The merge rules follow the kernel's tcp_gro_receive: same Ethernet header, same addresses, ports, TOS/TTL
 * (hop limit), ACK number, data offset and option bytes; sequence numbers contiguous; only ACK/PSH flags; every
 * segment but the last exactly one MSS (the first segment's payload size). A PSH or a short segment ends the
 * super-frame. Anything else flushes what is held, so the per-flow order on the TAP equals the wire order.
 * One flow is held at a time (the common case: GRO'd datagram trains from one peer carry one flow).
 *
 * A segment may itself be a super-segment: a kernel VXLAN peer over veth hands us its whole 64 KB GSO packet
 * as one datagram (DESIGN.md §8). Whatever is held goes to the TAP as GSO whenever it is larger than the
 * TAP's MTU, with a segment size that fits the TAP and the flow's MSS (rx-super.ts tcpGsoSize), so the host
 * can forward it to a pod; a single ordinary segment stays a plain frame.
 *
 * Ownership: the coalescer owns `buf` (one super-frame); callers copy into it through add() and it is written
 * to the TAP by flush() before any other frame goes to the TAP.
 */
import type { TapDevice } from '../platform/types.js';
import type { FlowMssTable } from './flow-mss.js';
import { tcpGsoSize } from './rx-super.js';
import { csumAdd, csumFinish, csumFold, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { ETH_HLEN } from '../wire/ethernet.js';
import { FRAG_NONE, INNER_OK, type InnerFrame } from '../wire/inner-frame.js';
import { IPPROTO_TCP, IPV4_MIN_HLEN } from '../wire/ipv4.js';
import { TCP_FLAG_ACK, TCP_FLAG_PSH } from '../wire/tcp.js';

const VNET = 10;
const MAX_IP_LEN = 65535;
const MAX_SEGS = 64;

export const ADD_NOT_TCP_DATA = 0;
export const ADD_TAKEN = 1;
export const ADD_FLUSH_FIRST = 2;

export class TcpCoalescer {
  private readonly tap: TapDevice;
  private readonly tapMtu: number;
  private readonly flows: FlowMssTable;
  /** [virtio-net header (10)][Ethernet][IP][TCP][payload ...] */
  readonly buf = Buffer.allocUnsafeSlow(VNET + ETH_HLEN + MAX_IP_LEN + 64).fill(0);
  private active = false;
  private closed = false;
  private v6 = false;
  private l4 = 0; // offset of the TCP header in buf
  private hdrEnd = 0; // offset of the payload in buf
  private end = 0; // end of data in buf
  private mss = 0;
  private nextSeq = 0;
  private segs = 0;
  /** Segments lost because the TAP refused a super-frame write. */
  writeErrors = 0;
  /** The last flush() wrote a frame larger than the TAP MTU (as GSO). */
  lastOversize = false;

  constructor(tap: TapDevice, tapMtu: number, flows: FlowMssTable) {
    this.tap = tap;
    this.tapMtu = tapMtu;
    this.flows = flows;
  }

  /**
   * Offers the inner frame `v` (parsed from `src`). Returns ADD_TAKEN when the coalescer took it (held or
   * merged); ADD_FLUSH_FIRST when it is a mergeable segment that does not continue what is held — the caller
   * flushes (and accounts for) what is held, then offers it again; ADD_NOT_TCP_DATA when it is not a
   * mergeable TCP data segment — the caller flushes and writes it itself.
   */
  add(src: Buffer, v: InnerFrame): number {
    // Untagged, unfragmented TCP with consistent IP and TCP lengths (INNER_OK), and IPv4 without options.
    if (v.reason !== INNER_OK || v.tags !== 0 || v.proto !== IPPROTO_TCP || v.frag !== FRAG_NONE) return ADD_NOT_TCP_DATA;
    if (v.ipVersion === 4 && v.l3Hlen !== IPV4_MIN_HLEN) return ADD_NOT_TCP_DATA;
    const fo = v.fo;
    const ipHdr = v.l3Hlen;
    const ipLen = v.ipLen;
    const v6 = v.ipVersion === 6;
    const l4 = v.l4;
    const thl = v.tcpHlen;
    const payload = v.l4Len - thl;
    if (payload <= 0) return ADD_NOT_TCP_DATA; // pure ACKs pass straight through
    const flags = src[l4 + 13]!;
    if ((flags & ~(TCP_FLAG_ACK | TCP_FLAG_PSH)) !== 0 || (flags & TCP_FLAG_ACK) === 0) return ADD_NOT_TCP_DATA;
    const seq = src.readUInt32BE(l4 + 4);

    if (this.active) {
      if (!this.closed && this.segs < MAX_SEGS && seq === this.nextSeq && payload <= this.mss &&
          this.end - VNET - ETH_HLEN + payload <= MAX_IP_LEN && v6 === this.v6 && this.sameFlow(src, fo, l4, thl)) {
        src.copy(this.buf, this.end, l4 + thl, l4 + thl + payload);
        this.end += payload;
        this.nextSeq = (seq + payload) >>> 0;
        this.segs++;
        if (payload < this.mss || (flags & TCP_FLAG_PSH) !== 0) {
          this.closed = true;
          this.buf[this.l4 + 13] = this.buf[this.l4 + 13]! | (flags & TCP_FLAG_PSH);
        }
        return ADD_TAKEN;
      }
      return ADD_FLUSH_FIRST;
    }
    // Start a new super-frame with this segment.
    src.copy(this.buf, VNET, fo, fo + ETH_HLEN + ipLen);
    this.active = true;
    this.v6 = v6;
    this.l4 = VNET + ETH_HLEN + ipHdr;
    this.hdrEnd = this.l4 + thl;
    this.end = VNET + ETH_HLEN + ipLen;
    this.mss = payload;
    this.nextSeq = (seq + payload) >>> 0;
    this.segs = 1;
    this.closed = (flags & TCP_FLAG_PSH) !== 0;
    return ADD_TAKEN;
  }

  /** Compares what tcp_gro_receive compares: Ethernet header, IP addresses/TOS/TTL, ports, ACK, options. */
  private sameFlow(src: Buffer, fo: number, l4: number, thl: number): boolean {
    const b = this.buf;
    if (this.hdrEnd - this.l4 !== thl) return false;
    if (src.compare(b, VNET, VNET + ETH_HLEN, fo, fo + ETH_HLEN) !== 0) return false;
    const l3 = fo + ETH_HLEN;
    const c3 = VNET + ETH_HLEN;
    if (this.v6) {
      if (src.compare(b, c3 + 8, c3 + 40, l3 + 8, l3 + 40) !== 0) return false; // addresses
      if (src[l3 + 7] !== b[c3 + 7] || (src.readUInt32BE(l3) & 0x0ff00000) !== (b.readUInt32BE(c3) & 0x0ff00000)) return false;
    } else {
      if (src.compare(b, c3 + 12, c3 + 20, l3 + 12, l3 + 20) !== 0) return false;
      if (src[l3 + 1] !== b[c3 + 1] || src[l3 + 8] !== b[c3 + 8]) return false; // TOS, TTL
    }
    // Ports, then ACK number, then options (after the 20-byte fixed header).
    if (src.readUInt32BE(l4) !== b.readUInt32BE(this.l4)) return false;
    if (src.readUInt32BE(l4 + 8) !== b.readUInt32BE(this.l4 + 8)) return false;
    return thl === 20 || src.compare(b, this.l4 + 20, this.hdrEnd, l4 + 20, l4 + thl) === 0;
  }

  /** Inner-frame bytes held right now (what flush() would deliver), without the virtio-net header. */
  heldBytes(): number {
    return this.active ? this.end - VNET : 0;
  }

  /** Writes what is held (if anything) to the TAP. Returns the number of segments it carried. */
  flush(): number {
    if (!this.active) return 0;
    this.active = false;
    const b = this.buf;
    const c3 = VNET + ETH_HLEN;
    const ipLen = this.end - c3;
    const l4len = this.end - this.l4;
    let sum: number;
    if (this.v6) {
      b.writeUInt16BE(ipLen - 40, c3 + 4);
      sum = pseudoHeaderSumV6(b, c3 + 8, c3 + 24, 6, l4len);
    } else {
      b.writeUInt16BE(ipLen, c3 + 2);
      b[c3 + 10] = 0;
      b[c3 + 11] = 0;
      b.writeUInt16BE(csumFinish(csumAdd(b, c3, 20, 0)), c3 + 10);
      sum = pseudoHeaderSumV4(b, c3 + 12, c3 + 16, 6, l4len);
    }
    // Partial checksum: the kernel trusts it on local delivery and completes it when it forwards.
    b.writeUInt16BE(csumFold(sum), this.l4 + 16);
    b.fill(0, 0, VNET);
    b[0] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
    const ipHdr = this.l4 - c3;
    const gsoSize = Math.min(this.mss, tcpGsoSize(this.tapMtu, ipHdr, this.hdrEnd - this.l4, this.flows.lookup(b, VNET, this.l4)));
    this.lastOversize = ipLen > this.tapMtu;
    if (this.segs > 1 || this.end - this.hdrEnd > gsoSize) {
      b[1] = this.v6 ? 4 : 1; // GSO TCPV6 / TCPV4
      b.writeUInt16LE(this.hdrEnd - VNET, 2); // hdr_len
      b.writeUInt16LE(gsoSize, 4); // gso_size
    }
    b.writeUInt16LE(this.l4 - VNET, 6); // csum_start
    b.writeUInt16LE(16, 8); // csum_offset (TCP)
    const segs = this.segs;
    if (this.tap.write(b, 0, this.end) < 0) this.writeErrors += segs;
    return segs;
  }
}
