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
// Why a number: the FDB is a Map keyed by MAC, and a number key hashes without allocating a string or
// a Buffer per lookup. 48 bits fit exactly in a double (2^53), as hi16 * 2^32 + lo32. The bit tests below
// use division rather than `>>`, because JS shift operators truncate to 32 bits.

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

const MAC_RE = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;

/**
 * Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (case-insensitive, exactly two hex digits per octet,
 * one separator style throughout). Anything else (dotted Cisco form, bare hex, single digits, whitespace)
 * is refused with `undefined`: config errors should surface, not be guessed around.
 */
export function macParse(text: string): number | undefined {
  const m = MAC_RE.exec(text);
  if (m === null) return undefined;
  let v = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) v = v * 256 + parseInt(m[i]!, 16);
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
