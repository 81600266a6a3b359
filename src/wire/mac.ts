// IEEE 802 48-bit MAC addresses (EUI-48), held as a plain JS number.
//
//    byte:   0        1        2        3        4        5
//         +--------+--------+--------+--------+--------+--------+
//         |xxxxxxLI|        |        |        |        |        |
//         +--------+--------+--------+--------+--------+--------+
//                 ||
//                 |+-- I/G bit (0x01 of byte 0): 1 = group (multicast, incl. broadcast)
//                 +--- U/L bit (0x02 of byte 0): 1 = locally administered
//
// Why a number: the control plane keys tables by MAC without building a string or a Buffer. 48 bits fit
// exactly in a double (2^53), as hi16 * 2^32 + lo32. The bit tests below use division rather than `>>`,
// because JS shift operators truncate to 32 bits. But a 48-bit number is a double, which V8 boxes into a new
// heap number (16 bytes) as a Map key or wherever it crosses a call it does not inline: the hot path uses the
// two 24-bit halves instead (macHi24 / macLo24), small integers on every build.

import { get16, get32, put16, put32 } from './bytes.js';

export const MAC_LEN = 6 as const;
export const MAC_BROADCAST = 0xffff_ffff_ffff as const;
export const MAC_ZERO = 0 as const;

const TWO_32 = 0x1_0000_0000;
const TWO_40 = 0x100_0000_0000;

/** Reads the 6 bytes at `off` as a 48-bit integer. */
export function macRead(buf: Buffer, off: number): number {
  return get16(buf, off) * TWO_32 + get32(buf, off + 2);
}

/** The high 24 bits (bytes 0-2) of the MAC at `off`: a small integer, never boxed. */
export function macHi24(buf: Buffer, off: number): number {
  return (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
}

/** The low 24 bits (bytes 3-5) of the MAC at `off`: a small integer, never boxed. */
export function macLo24(buf: Buffer, off: number): number {
  return (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
}

/** Writes a 48-bit integer as 6 bytes at `off`. */
export function macWrite(buf: Buffer, off: number, mac: number): void {
  put16(buf, off, Math.floor(mac / TWO_32));
  put32(buf, off + 2, mac >>> 0);
}

/** First octet of the address (the one that carries the I/G and U/L bits). */
function octet0(mac: number): number {
  return Math.floor(mac / TWO_40) & 0xff;
}

/** I/G bit set: multicast or broadcast. */
export function macIsMulticast(mac: number): boolean {
  return (octet0(mac) & 0x01) !== 0;
}

export function macIsBroadcast(mac: number): boolean {
  return mac === MAC_BROADCAST;
}

export function macIsZero(mac: number): boolean {
  return mac === MAC_ZERO;
}

/** U/L bit set. */
export function macIsLocallyAdministered(mac: number): boolean {
  return (octet0(mac) & 0x02) !== 0;
}

/** An address a host may use as its own: not group, not all-zeros. */
export function macIsUnicast(mac: number): boolean {
  return !macIsMulticast(mac) && mac !== MAC_ZERO;
}

/**
 * A locally administered unicast address from 6 random bytes (taken from the start of `randomBytes`),
 * like the kernel's eth_random_addr(): U/L bit set, I/G bit cleared. The caller supplies the randomness
 * (crypto.randomBytes(6)) so this module stays free of I/O and deterministic under test.
 */
export function macRandomLocal(randomBytes: Buffer): number {
  if (randomBytes.length < MAC_LEN) throw new RangeError(`macRandomLocal needs ${MAC_LEN} random bytes, got ${randomBytes.length}`);
  const b0 = (randomBytes[0]! | 0x02) & ~0x01 & 0xff;
  return (b0 * 256 + randomBytes[1]!) * TWO_32 + get32(randomBytes, 2);
}

// iproute2's ll_addr_a2n() reads an Ethernet address as six octets separated by ':', each what sscanf("%x")
// takes, at most 0xff; `ip` and `bridge` print them back with two digits. We accept exactly the sane core of
// that: one or two hex digits per octet, any case, ':' only. Not its quirks: no '0x' or sign inside an octet,
// no trailing text after the sixth octet, no dotted-IPv4 form.
const MAC_RE = /^([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2}):([0-9a-f]{1,2})$/i;

/**
 * Parses `7a:3a:fe:45:a3:76` (also `7a:3a:fe:45:a3:6`, one digit being `06`). Anything else (dashes, the
 * dotted Cisco form, bare hex, three digits, whitespace) is refused with `undefined`: config errors should
 * surface, not be guessed around. This is the one MAC grammar; control/config/grammar.ts words its refusals.
 */
export function macParse(text: string): number | undefined {
  const m = MAC_RE.exec(text);
  if (m === null) return undefined;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

/** Lower-case colon form, as iproute2 prints it. */
export function macFormat(mac: number): string {
  let s = '';
  for (let shift = 5; shift >= 0; shift--) {
    const octet = Math.floor(mac / 2 ** (8 * shift)) & 0xff;
    s += (shift === 5 ? '' : ':') + (octet < 16 ? '0' : '') + octet.toString(16);
  }
  return s;
}
