/**
 * The addon's TCP segmentation loop (native/vxlan_native.cc segmentTcp) behind the Segmenter interface of
 * tso.ts: same inputs, same bytes out (test/unit/tso-native.test.ts), the per-byte work (copies, the Internet
 * checksum) in C++. The addon function is injected so that src/dataplane does not import platform/linux.
 * One call per super-frame; the results come back through an Int32Array this object owns (no allocation).
 */
import type { NativeSegmentTcp } from '../platform/types.js';
import type { Segmenter } from './tso.js';

export type { NativeSegmentTcp };

export class NativeTcpSegmenter implements Segmenter {
  count = 0;
  stride = 0;
  total = 0;
  private readonly res = new Int32Array(3);

  constructor(private readonly segmentTcp: NativeSegmentTcp) {}

  segment(src: Buffer, fo: number, flen: number, l4Start: number, mss: number, isV6: boolean, out: Buffer, outOff: number, vni: number): number {
    const n = this.segmentTcp(src, fo, flen, l4Start, mss, isV6, out, outOff, vni, this.res);
    this.count = n;
    if (n !== 0) {
      this.stride = this.res[1]!;
      this.total = this.res[2]!;
    }
    return n;
  }
}
