/**
 * FrameBatch: a fixed array of equal slots in one Buffer, each with HEADROOM bytes in front of the frame so
 * outer headers are written in place (wireguard-go's `read(bufs, sizes, offset)` shape).
 *
 * Ownership, in one sentence: a batch belongs to exactly one dataplane direction, which fills it, works on it
 * in place and hands it only to synchronous calls that copy into the kernel before returning, so every slot is
 * free again when the wakeup ends. The batch is bounded by construction: it never grows, and a wakeup with
 * more work than slots simply loops (the devices are level-triggered).
 */
export const HEADROOM = 16;

export class FrameBatch {
  readonly buf: Buffer;
  readonly count: number;
  readonly slotSize: number;

  constructor(count: number, slotSize: number) {
    // Round slots to 64 bytes so each frame starts cache-line aligned (after HEADROOM).
    this.slotSize = (slotSize + 63) & ~63;
    this.count = count;
    // allocUnsafeSlow: a dedicated ArrayBuffer (never Node's shared pool), byteOffset 0.
    this.buf = Buffer.allocUnsafeSlow(this.count * this.slotSize).fill(0);
  }

  /** Byte offset of slot i in `buf`. */
  offset(i: number): number {
    return i * this.slotSize;
  }
}
