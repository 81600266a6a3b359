// Test helpers for src/wire. Nothing here calls the code under test: expected bytes and checksums come
// from kernel captures (fixtures.ts) or from the slow reference code below.

/** Bytes from hex text; whitespace and tcpdump-style grouping are ignored. */
export function hex(text: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(clean)) throw new Error(`bad hex fixture: ${text}`);
  return Buffer.from(clean, 'hex');
}

/** A buffer pre-filled with 0xa5, so any byte an emitter forgets to write shows up in a comparison. */
export function filled(len: number): Buffer {
  return Buffer.alloc(len, 0xa5);
}

/** `fixture` copied into a larger 0xa5-filled buffer at `off`, with `tail` spare bytes after it. */
export function placed(fixture: Buffer, off: number, tail = 7): Buffer {
  const b = filled(off + fixture.length + tail);
  fixture.copy(b, off);
  return b;
}

/** Seeded PRNG (mulberry32): the same "random" buffers on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/**
 * The slow, obviously-correct RFC 1071 sum: walk the octets in pairs, pad an odd last octet with zero,
 * add each 16-bit word with an end-around carry right away. Works on a plain array, so it cannot be
 * confused by offsets or by the Buffer's byteOffset.
 */
export function refOnesSum(octets: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < octets.length; i += 2) {
    const word = octets[i]! * 256 + (i + 1 < octets.length ? octets[i + 1]! : 0);
    s += word;
    if (s > 0xffff) s = s - 0x10000 + 1;
  }
  return s;
}

export function refChecksum(octets: readonly number[]): number {
  return 0xffff - refOnesSum(octets);
}

export function octets(buf: Buffer, off = 0, len = buf.length - off): number[] {
  return Array.from(buf.subarray(off, off + len));
}

/** The 12-byte IPv4 pseudo-header, built octet by octet from RFC 9293 section 3.1. */
export function refPseudoV4(src: readonly number[], dst: readonly number[], proto: number, l4len: number): number[] {
  return [...src, ...dst, 0, proto, l4len >> 8, l4len & 0xff];
}

/** The 40-byte IPv6 pseudo-header of RFC 8200 section 8.1. */
export function refPseudoV6(src: readonly number[], dst: readonly number[], nh: number, l4len: number): number[] {
  return [...src, ...dst, (l4len >>> 24) & 0xff, (l4len >>> 16) & 0xff, (l4len >>> 8) & 0xff, l4len & 0xff, 0, 0, 0, nh];
}
