// The addon's TCP segmenter and checksum (native/vxlan_native.cc) against their TypeScript originals
// (src/dataplane/tso.ts, src/wire/checksum.ts): byte for byte on random super-frames, and a fuzz of
// inconsistent lengths that must never throw, never write outside the out range and agree with tso.ts on
// every input. Checksums of the native output are also verified with the slow reference of test/wire.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/platform/linux/native.js';
import { NativeTcpSegmenter } from '../../src/dataplane/tso-native.js';
import { TcpSegmenter } from '../../src/dataplane/tso.js';
import { csumAdd, csumFold } from '../../src/wire/checksum.js';
import { octets, prng, randomBytes, refOnesSum } from '../wire/helpers.js';

const addon = native();
const int = (rnd: () => number, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));

/**
 * A random TCP super-frame at src[fo..]: Ethernet, IPv4 with 0-40 bytes of options or IPv6 with 0-2
 * extension-header-sized gaps (the segmenter copies whatever lies before the TCP header), TCP with 0-40 bytes
 * of options and random flags, sequence and IP ID near their wrap, and `payload` random bytes.
 */
function superFrame(rnd: () => number, v6: boolean, payload: number, fo: number): { src: Buffer; flen: number; l4Start: number } {
  const ipHdr = v6 ? 40 + 8 * int(rnd, 0, 2) : 20 + 4 * int(rnd, 0, 10);
  const thl = 20 + 4 * int(rnd, 0, 10);
  const l4Start = 14 + ipHdr;
  const flen = l4Start + thl + payload;
  const src = Buffer.concat([randomBytes(rnd, fo), randomBytes(rnd, flen), randomBytes(rnd, int(rnd, 0, 9))]);
  const f = src.subarray(fo);
  f.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  if (v6) {
    f[14] = 0x60;
  } else {
    f[14] = 0x40 | (ipHdr >> 2);
    f.writeUInt16BE(rnd() < 0.3 ? int(rnd, 0xffc0, 0xffff) : int(rnd, 0, 0xffff), 18); // IP ID, wrapping
    f[23] = 6;
  }
  const t = l4Start;
  f.writeUInt32BE(rnd() < 0.3 ? int(rnd, 0xfff00000, 0xffffffff) : int(rnd, 0, 0xffffffff), t + 4); // seq, wrapping
  f[t + 12] = (thl >> 2) << 4;
  f[t + 13] = int(rnd, 0, 255); // every flag combination, FIN/PSH/CWR included
  return { src, flen, l4Start };
}

/** Runs both segmenters into 0xa5-filled copies of one out buffer; returns both results. */
function both(src: Buffer, fo: number, flen: number, l4Start: number, mss: number, v6: boolean, outLen: number, outOff: number, vni: number) {
  const js = new TcpSegmenter();
  const nat = new NativeTcpSegmenter(addon.segmentTcp);
  const outJs = Buffer.alloc(outLen, 0xa5);
  const outNat = Buffer.alloc(outLen, 0xa5);
  const nJs = js.segment(src, fo, flen, l4Start, mss, v6, outJs, outOff, vni);
  const nNat = nat.segment(src, fo, flen, l4Start, mss, v6, outNat, outOff, vni);
  return { js, nat, nJs, nNat, outJs, outNat };
}

describe('native csumAdd', () => {
  it('equals csumFold(csumAdd) and the slow reference for every length 0..300 at every offset 0..7', () => {
    const rnd = prng(0x5eed);
    const b = randomBytes(rnd, 320);
    for (let off = 0; off < 8; off++) {
      for (let len = 0; len <= 300; len++) {
        const n = addon.csumAdd(b, off, len);
        expect(n).toBe(csumFold(csumAdd(b, off, len)));
        expect(n).toBe(refOnesSum(octets(b, off, len)));
      }
    }
  });

  it('folds like csumFold at the extremes (all zeros: 0; all ones: 0xffff) and over 64 KiB', () => {
    expect(addon.csumAdd(Buffer.alloc(100), 0, 100)).toBe(0);
    expect(addon.csumAdd(Buffer.alloc(1501, 0xff), 1, 1500)).toBe(0xffff);
    const big = randomBytes(prng(9), 65536 + 3);
    expect(addon.csumAdd(big, 3, 65536)).toBe(csumFold(csumAdd(big, 3, 65536)));
  });

  it('is exact on sums near all ones (words of 0xff.., 0x00.., 0xff..fe, 0x00..01)', () => {
    const rnd = prng(0xffff);
    const words = ['ffffffffffffffff', '0000000000000000', 'fffffffffffffffe', '0000000000000001'].map((h) => Buffer.from(h, 'hex'));
    for (let k = 0; k < 2000; k++) {
      const n = int(rnd, 1, 40);
      const b = Buffer.concat(Array.from({ length: n }, () => words[int(rnd, 0, 3)]!));
      expect(addon.csumAdd(b, 0, b.length)).toBe(refOnesSum(octets(b)));
    }
  });

  it('returns -1 for a range outside the buffer', () => {
    const b = Buffer.alloc(10);
    expect(addon.csumAdd(b, 5, 6)).toBe(-1);
    expect(addon.csumAdd(b, -1, 2)).toBe(-1);
  });
});

describe('native segmentTcp equals tso.ts byte for byte', () => {
  it.each([1, 2, 3, 0xc0ffee, 0xabcdef])('seed %i: 60 random IPv4/IPv6 super-frames, odd MSS, odd offsets', (seed) => {
    const rnd = prng(seed);
    for (let k = 0; k < 60; k++) {
      const v6 = rnd() < 0.5;
      const mss = rnd() < 0.2 ? int(rnd, 1, 64) : int(rnd, 500, 9001);
      const payload = rnd() < 0.1 ? 0 : rnd() < 0.5 ? int(rnd, 1, 3 * mss) : int(rnd, 1, 65000);
      const fo = int(rnd, 0, 13);
      const { src, flen, l4Start } = superFrame(rnd, v6, payload, fo);
      const outOff = int(rnd, 0, 13);
      const n = payload === 0 ? 1 : Math.ceil(payload / mss);
      const outLen = outOff + flen + n * (8 + l4Start + 60) + int(rnd, 0, 5);
      const vni = int(rnd, 0, 0x1ffffff); // above 2^24 too: both keep the low 24 bits
      const r = both(src, fo, flen, l4Start, mss, v6, outLen, outOff, vni);
      const ipv4TooLong = !v6 && l4Start - 14 + (flen - l4Start) - payload + Math.min(payload, mss) > 0xffff;
      expect(r.nJs).toBe(ipv4TooLong ? 0 : n);
      expect(r.nNat).toBe(r.nJs);
      expect([r.nat.count, r.nat.stride, r.nat.total]).toEqual([r.js.count, r.js.stride, r.js.total]);
      expect(r.outNat.equals(r.outJs)).toBe(true);
      if (r.nNat === 0) continue;
      // The native output on its own: every segment's checksums verify with the slow reference.
      const hdrLen = flen - payload;
      for (let i = 0; i < n; i++) {
        const at = outOff + i * r.nat.stride + 8;
        const plen = i === n - 1 ? payload - i * mss : mss;
        const l4len = hdrLen - l4Start + plen;
        const o = r.outNat;
        let pseudo: number[];
        if (v6) {
          pseudo = [...octets(o, at + 22, 32), 0, 0, l4len >> 8, l4len & 0xff, 0, 6];
        } else {
          expect(refOnesSum(octets(o, at + 14, l4Start - 14))).toBe(0xffff);
          expect(o.readUInt16BE(at + 18)).toBe((src.readUInt16BE(fo + 18) + i) & 0xffff);
          pseudo = [...octets(o, at + 26, 8), 0, 6, l4len >> 8, l4len & 0xff];
        }
        expect(refOnesSum([...pseudo, ...octets(o, at + l4Start, l4len), ...(l4len & 1 ? [0] : [])])).toBe(0xffff);
        expect(o.readUInt32BE(at + l4Start + 4)).toBe((src.readUInt32BE(fo + l4Start + 4) + i * mss) >>> 0);
      }
    }
  });

  it('FIN and PSH only on the last segment, CWR only on the first', () => {
    const rnd = prng(77);
    const { src, flen, l4Start } = superFrame(rnd, false, 3000, 1);
    src[1 + l4Start + 13] = 0x80 | 0x10 | 0x08 | 0x01; // CWR ACK PSH FIN
    const r = both(src, 1, flen, l4Start, 1000, false, 8000, 3, 10001);
    expect(r.nNat).toBe(3);
    const flags = [0, 1, 2].map((i) => r.outNat[3 + i * r.nat.stride + 8 + l4Start + 13]);
    expect(flags).toEqual([0x90, 0x10, 0x19]);
    expect(r.outNat.equals(r.outJs)).toBe(true);
  });
});

describe('native segmentTcp fuzz: inconsistent lengths', () => {
  const GUARD = 64;
  it.each([11, 12, 13, 0xfade])('seed %i: never throws, never writes outside out, always agrees with tso.ts', (seed) => {
    const rnd = prng(seed);
    const nat = new NativeTcpSegmenter(addon.segmentTcp);
    const js = new TcpSegmenter();
    let accepted = 0;
    for (let k = 0; k < 3000; k++) {
      // Either random bytes, or a valid super-frame with its lengths then made inconsistent.
      const v6 = rnd() < 0.5;
      const sane = rnd() < 0.7;
      const fo0 = int(rnd, 0, 3);
      const sf = superFrame(rnd, v6, int(rnd, 0, 2000), fo0);
      const src = sane ? sf.src : randomBytes(rnd, int(rnd, 0, 400));
      if (sane && rnd() < 0.3) src[fo0 + sf.l4Start + 12] = int(rnd, 0, 15) << 4; // data offset < 5 or past the end
      const fo = rnd() < 0.1 ? int(rnd, -3, -1) : sane ? fo0 + (rnd() < 0.8 ? 0 : int(rnd, -2, 12)) : int(rnd, 0, Math.max(0, src.length - 1));
      const flen = rnd() < 0.2 ? int(rnd, 0, 60) : sane ? sf.flen + int(rnd, -40, 20) : int(rnd, 0, src.length + 20);
      const l4Start = rnd() < 0.1 ? int(rnd, -20, 60) : sane && rnd() < 0.7 ? sf.l4Start + int(rnd, -4, 4) : int(rnd, 14, flen + 40);
      const mss = [0, -1, 1, 2, int(rnd, 1, 300), int(rnd, 300, 3000), 0x7fffffff, 2 ** 40][int(rnd, 0, 7)]!;
      const outLen = rnd() < 0.5 ? int(rnd, 0, 3000) : int(rnd, 2000, 12000);
      const outOff = rnd() < 0.05 ? -1 : int(rnd, 0, outLen + 10);
      // out is a window into a larger buffer: the guard bytes on both sides must survive.
      const big = Buffer.alloc(GUARD + outLen + GUARD, 0x5a);
      const out = big.subarray(GUARD, GUARD + outLen);
      const outJs = Buffer.alloc(outLen, 0x5a);
      let n = -1;
      expect(() => (n = nat.segment(src, fo, flen, l4Start, mss, v6, out, outOff, 42))).not.toThrow();
      const nJs = js.segment(src, fo, flen, l4Start, mss, v6, outJs, outOff, 42);
      expect(n).toBe(nJs);
      expect(out.equals(outJs)).toBe(true);
      expect(big.subarray(0, GUARD).every((b) => b === 0x5a)).toBe(true);
      expect(big.subarray(GUARD + outLen).every((b) => b === 0x5a)).toBe(true);
      if (n > 0) {
        accepted++;
        expect([nat.count, nat.stride, nat.total]).toEqual([js.count, js.stride, js.total]);
        // Nothing before outOff or after outOff + total was touched.
        expect(out.subarray(0, outOff).every((b) => b === 0x5a)).toBe(true);
        expect(out.subarray(outOff + nat.total).every((b) => b === 0x5a)).toBe(true);
      } else {
        expect(out.every((b) => b === 0x5a)).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(40); // the fuzz reached the segmenting loop, not only the early returns
  });

  it('refuses wrong argument types with a TypeError, not a crash', () => {
    const res = new Int32Array(3);
    const seg = addon.segmentTcp as unknown as (...a: unknown[]) => number;
    expect(() => seg('x', 0, 0, 0, 0, false, Buffer.alloc(1), 0, 0, res)).toThrow(TypeError);
    expect(() => seg(Buffer.alloc(1), 0, 0, 0, 0, false, Buffer.alloc(1), 0, 0, new Int32Array(2))).toThrow(TypeError);
  });
});
