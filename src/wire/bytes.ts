// Big-endian byte access shared by the wire modules. Internal: not re-exported from index.ts.
//
// Plain indexing on the Buffer (a Uint8Array) honours the view's own byteOffset, so these are safe on
// pooled Buffers and subarrays; no DataView is created. They do no bounds checking: every caller has
// passed the relevant xxxCheck() first (see the check contract in index.ts). The `!` only silences
// noUncheckedIndexedAccess; an out-of-range read would yield NaN, never a throw.

export function get16(buf: Buffer, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

export function get32(buf: Buffer, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function put16(buf: Buffer, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

export function put32(buf: Buffer, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}
