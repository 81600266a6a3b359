/**
 * The MSS each TCP flow through this VTEP agreed on, read from the MSS options of its SYN and SYN-ACK.
 *
 * Why: a kernel VXLAN peer over veth or a bridge sends us a whole TCP super-segment (up to ~64 KB) in one
 * datagram, and its gso_size does not travel with it (DESIGN.md §8). To write that frame to the TAP as a GSO
 * super-frame we must choose the segment size ourselves. The TAP's MTU is only an upper bound: a pod behind
 * this node may sit on a narrower link (MTU 1400 behind a 1450 TAP) and will have said so in its SYN. The VTEP
 * sees both SYNs of every flow (one per direction), so the smaller MSS option of the two is what the flow can
 * carry end to end — the same number the sender's own TCP used to cut the super-segment.
 *
 * The table is bounded and direct-mapped (FLOW_MSS_SLOTS entries, no allocation after construction): a flow is
 * found by a direction-independent hash of its addresses and ports, checked against a second hash. A slot
 * taken over by another flow only makes the first fall back to the TAP MTU, which is always safe to try: the
 * kernel answers a too-large segment with ICMP "fragmentation needed" when it forwards it.
 */
import { ETH_HLEN } from '../wire/ethernet.js';
import type { InnerFrame } from '../wire/inner-frame.js';
import { TCP_FLAG_SYN, TCP_FLAGS, TCP_MIN_HLEN, tcpMss } from '../wire/tcp.js';

export const FLOW_MSS_SLOTS = 4096;

export class FlowMssTable {
  private readonly check = new Uint32Array(FLOW_MSS_SLOTS); // 0 = empty
  private readonly mss = new Uint16Array(FLOW_MSS_SLOTS);
  /** Slot and check word of the last frame hashed (flowKey), so no object is returned per frame. */
  private slot = 0;
  private key = 0;

  /**
   * Looks at one inner frame `v` (parsed from `buf`) in either direction: when it is a TCP SYN (or SYN-ACK)
   * with an MSS option, records the smaller of that MSS and the one already known for its flow.
   */
  noteSyn(buf: Buffer, v: InnerFrame): void {
    // Untagged, unfragmented TCP whose fixed TCP header is in the frame, judged by the frame's end rather than
    // the IP length: a SYN's options are read wherever the frame has them.
    const thl = v.tcpHlen;
    if (v.tags !== 0 || thl <= TCP_MIN_HLEN) return;
    const l4 = v.l4;
    if ((buf[l4 + TCP_FLAGS]! & TCP_FLAG_SYN) === 0 || l4 + thl > v.end) return;
    const m = tcpMss(buf, l4);
    if (m <= 0) return;
    this.flowKey(buf, v.fo, l4);
    const s = this.slot;
    if (this.check[s] === this.key && this.mss[s]! <= m) return;
    this.check[s] = this.key;
    this.mss[s] = m;
  }

  /**
   * The MSS recorded for the flow of the TCP frame whose IP header is at `fo + ETH_HLEN` and TCP header at
   * `l4`; 0 when unknown.
   */
  lookup(buf: Buffer, fo: number, l4: number): number {
    this.flowKey(buf, fo, l4);
    return this.check[this.slot] === this.key ? this.mss[this.slot]! : 0;
  }

  /**
   * Sets slot/key from the addresses and ports, the same for both directions of a flow: the two
   * (address, port) ends are combined with commutative operations (sum and xor) before mixing.
   */
  private flowKey(buf: Buffer, fo: number, l4: number): void {
    const l3 = fo + ETH_HLEN;
    let a: number;
    let b: number;
    if (buf[l3]! >> 4 === 4) {
      a = buf.readUInt32BE(l3 + 12);
      b = buf.readUInt32BE(l3 + 16);
    } else {
      // Fold each 128-bit address into 32 bits; collisions only cost a fallback to the TAP MTU.
      a = buf.readUInt32BE(l3 + 8) ^ buf.readUInt32BE(l3 + 12) ^ buf.readUInt32BE(l3 + 16) ^ buf.readUInt32BE(l3 + 20);
      b = buf.readUInt32BE(l3 + 24) ^ buf.readUInt32BE(l3 + 28) ^ buf.readUInt32BE(l3 + 32) ^ buf.readUInt32BE(l3 + 36);
    }
    const pa = buf.readUInt16BE(l4);
    const pb = buf.readUInt16BE(l4 + 2);
    const ea = Math.imul(a ^ (pa << 16), 0x9e3779b1) ^ pa;
    const eb = Math.imul(b ^ (pb << 16), 0x9e3779b1) ^ pb;
    const h1 = mix((ea + eb) | 0);
    const h2 = mix((ea ^ eb) ^ 0x5bd1e995);
    this.slot = h1 & (FLOW_MSS_SLOTS - 1);
    this.key = (h2 | 1) >>> 0;
  }
}

/** murmur3's 32-bit finaliser. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
