// VXLAN header (RFC 7348 section 5), carried in UDP, followed by the inner Ethernet frame.
//
//    VXLAN Header:
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |R|R|R|R|I|R|R|R|            Reserved                           |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                VXLAN Network Identifier (VNI) |   Reserved    |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//    Flags (8 bits): where the I flag MUST be set to 1 for a valid VXLAN Network ID (VNI). The other 7
//    bits (designated "R") are reserved fields and MUST be set to zero on transmission and ignored on
//    receipt.
//    Reserved fields (24 bits and 8 bits): MUST be set to zero on transmission and ignored on receipt.
//
// Receive strictness, decided here once: we DROP (and the dataplane counts) any header with a reserved
// bit set, diverging from the RFC's "ignored on receipt" exactly as the Linux kernel does. Its vxlan_rcv()
// says: "If there are any unprocessed flags remaining treat this as a malformed packet. This behavior
// diverges from VXLAN RFC (RFC7348) [...] is more robust and provides a little more security in adding
// extensions to VXLAN." (drop reason SKB_DROP_REASON_VXLAN_INVALID_HDR; bits are "processed" only by an
// extension enabled on the device: GBP, GPE, remote checksum offload). Why we follow it:
//  - Those bits are not unused in practice. VXLAN-GBP (draft-smith-vxlan-group-policy) sets 0x80 in
//    byte 0 and a policy id in bytes 2-3; VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe) sets 0x04 in byte 0 and
//    a Next Protocol in byte 3 that may say "IPv4" or "NSH" rather than Ethernet. Ignoring the bits would
//    make us write such payloads to the TAP as if they were Ethernet frames: garbage, or a policy bypass.
//  - Interop costs nothing: the kernel, flannel, Calico and OVS all send zeros in these fields.
//  - Same behaviour as the kernel means a mixed kernel/vxlan-user overlay drops the same packets, which
//    keeps debugging sane. The drop is counted apart (VXLAN_ERR_RESERVED), never silent.
// We support no extensions, so by default every bit except I and the VNI is reserved to us.
//
// Which bits are reserved is the kernel's `reserved_bits` (IFLA_VXLAN_RESERVED_BITS, Linux 6.14): a 64-bit
// mask over the header read as one big-endian number (byte 0 is the top byte), each set bit one that a
// received header must have clear. The default, 0xf7ffffff000000ff, is everything but the I flag
// (0x08000000_00000000) and the VNI (0x00000000_ffffff00); `--reserved-bits` lets an operator accept
// bits a peer sets (an extension we then ignore, as the RFC says), and like the kernel refuses a mask that
// marks I or VNI bits reserved. The mask travels as two 32-bit halves so the check stays in int32 math.
//
// Check contract: vxlanCheck(buf, off, len, hi, lo) === VXLAN_OK guarantees the 8-byte header and at least an
// inner Ethernet header (len >= 22, len being the UDP payload length), the I flag, and every bit of the
// reserved mask (hi over bytes 0-3, lo over bytes 4-7) clear. vxlanVni may then be read without checking; the
// inner frame is [off + 8, off + len).
// Model: gVisor's pkg/tcpip/header/gue.go.

import { get32, put32 } from './bytes.js';

export const VXLAN_FLAGS = 0 as const;
export const VXLAN_VNI = 4 as const;
export const VXLAN_HLEN = 8 as const;
export const VXLAN_FLAG_I = 0x08 as const;
export const VXLAN_VNI_MAX = 0xffffff as const;
/** IANA-assigned port (RFC 7348 section 5). Calico uses it. */
export const VXLAN_PORT_IANA = 4789 as const;
/** The Linux kernel's default dstport (pre-IANA), also flannel's. */
export const VXLAN_PORT_LINUX = 8472 as const;
/** Shortest valid UDP payload: the VXLAN header plus an inner Ethernet header (8 + ETH_HLEN). */
export const VXLAN_MIN_LEN = 22 as const;
/**
 * Bytes between the underlay MTU and the overlay (TAP) MTU: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner
 * Ethernet (14). A 1500-byte underlay gives an overlay MTU of 1450, as the kernel computes.
 */
export const VXLAN_MTU_OVERHEAD_IPV4 = 50 as const;
/** As VXLAN_MTU_OVERHEAD_IPV4 with a 40-byte outer IPv6 header. */
export const VXLAN_MTU_OVERHEAD_IPV6 = 70 as const;

export const VXLAN_OK = 0 as const;
/** UDP payload shorter than VXLAN header + inner Ethernet header (8 + 14). */
export const VXLAN_ERR_SHORT = 1 as const;
/** I flag clear: no valid VNI (RFC 7348 "MUST be set to 1"). */
export const VXLAN_ERR_FLAGS = 2 as const;
/** A reserved bit is set in byte 0, bytes 1-3 or byte 7 (see the strictness note above). */
export const VXLAN_ERR_RESERVED = 3 as const;
export const VXLAN_REASON_NAMES = ['ok', 'short', 'flags', 'reserved'] as const;

/** The default reserved mask, bytes 0-3 (all flag and reserved bits but I) and bytes 4-7 (the last byte). */
export const VXLAN_RESERVED_HI = 0xf7ff_ffff as const;
export const VXLAN_RESERVED_LO = 0x0000_00ff as const;
/** Bits a reserved mask may never hold: the I flag (bytes 0-3) and the VNI (bytes 4-7). */
export const VXLAN_USED_HI = 0x0800_0000 as const;
export const VXLAN_USED_LO = 0xffff_ff00 as const;

export function vxlanCheck(buf: Buffer, off: number, len: number, reservedHi: number = VXLAN_RESERVED_HI, reservedLo: number = VXLAN_RESERVED_LO): number {
  if (len < VXLAN_MIN_LEN) return VXLAN_ERR_SHORT;
  const w0 = get32(buf, off);
  if ((w0 & VXLAN_FLAG_I << 24) === 0) return VXLAN_ERR_FLAGS;
  if ((w0 & reservedHi) !== 0 || (get32(buf, off + VXLAN_VNI) & reservedLo) !== 0) return VXLAN_ERR_RESERVED;
  return VXLAN_OK;
}

/**
 * `0x…` (1 to 16 hex digits, as iproute2's `reserved_bits` takes it) → the two 32-bit halves of the mask;
 * undefined when the text is not that. Whether the mask is acceptable (no I or VNI bits) is the caller's.
 */
export function vxlanReservedParse(text: string): { hi: number; lo: number } | undefined {
  const m = /^0[xX]([0-9a-fA-F]{1,16})$/.exec(text);
  if (m === null) return undefined;
  const digits = m[1]!.padStart(16, '0');
  return { hi: parseInt(digits.slice(0, 8), 16), lo: parseInt(digits.slice(8), 16) };
}

/** The mask as iproute2 prints it: `0x` and 16 hex digits. */
export function vxlanReservedFormat(hi: number, lo: number): string {
  return `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

/** The 24-bit VNI. */
export function vxlanVni(buf: Buffer, off: number): number {
  return get32(buf, off + VXLAN_VNI) >>> 8;
}

/** Writes all 8 bytes: 0x08, 0, 0, 0, VNI (24 bits, big-endian), 0. */
export function vxlanWrite(buf: Buffer, off: number, vni: number): void {
  put32(buf, off, 0x0800_0000);
  put32(buf, off + VXLAN_VNI, ((vni & VXLAN_VNI_MAX) << 8) >>> 0);
}

/** True for an integer in 0..2^24-1. The kernel accepts VNI 0, so do we. */
export function vxlanVniIsValid(vni: number): boolean {
  return Number.isInteger(vni) && vni >= 0 && vni <= VXLAN_VNI_MAX;
}

/** Parsed header: only the VNI survives parsing, everything else is fixed by vxlanCheck. */
export interface VxlanRepr {
  vni: number;
}

/** undefined unless vxlanCheck passes; the reason is vxlanCheck's. */
export function vxlanParse(buf: Buffer, off: number, len: number): VxlanRepr | undefined {
  if (vxlanCheck(buf, off, len) !== VXLAN_OK) return undefined;
  return { vni: vxlanVni(buf, off) };
}

/** Writes VXLAN_HLEN bytes at `off`. */
export function vxlanEmit(repr: VxlanRepr, buf: Buffer, off: number): void {
  vxlanWrite(buf, off, repr.vni);
}
