// src/wire: pure packet formats. No I/O, no timers, no imports from outside this folder.
//
// The check contract, shared by every module:
//   xxxCheck(buf, off, len) returns 0 (XXX_OK) or a small positive reason (XXX_ERR_*, with names in
//   XXX_REASON_NAMES for counters and logs). `len` is how many bytes belong to this layer at `off`: what
//   was received for the outermost layer, what the enclosing header's length field says for the others;
//   the caller guarantees off + len <= buf.length. After a check passes, the accessors of that module read
//   at `off` without re-checking, and lengths come from header fields, never from buf.length.
//   Functions take (buf, off) and allocate nothing. Buffer indexing honours buf.byteOffset, so pooled
//   Buffers and subarrays are safe (no DataView over buf.buffer anywhere).
//   *Repr objects with *Parse / *Emit are for the CLI, control plane, tests and the packet printer only.

export * from './mac.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './ipv6.js';
export * from './udp.js';
export * from './tcp.js';
export * from './icmp.js';
export * from './vxlan.js';
export * from './inner-frame.js';
export * from './checksum.js';
