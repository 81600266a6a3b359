import { describe, expect, it } from 'vitest';
import {
  MAC_BROADCAST,
  MAC_LEN,
  MAC_ZERO,
  macFormat,
  macIsBroadcast,
  macIsLocallyAdministered,
  macIsMulticast,
  macIsUnicast,
  macIsZero,
  macParse,
  macRandomLocal,
  macHi24,
  macLo24,
  macRead,
  macWrite,
} from '../../src/wire/mac.js';
import { ARP_REQUEST } from './fixtures.js';
import { filled, hex } from './helpers.js';

// 02:42:c0:a8:64:01 = 0x0242 * 2^32 + 0xc0a86401, computed by hand.
const VX0_A = 0x0242 * 2 ** 32 + 0xc0a86401;

describe('mac', () => {
  it('reads the source MAC of a captured frame as a 48-bit number', () => {
    expect(MAC_LEN).toBe(6);
    expect(macRead(ARP_REQUEST, 6)).toBe(VX0_A);
    expect(macRead(ARP_REQUEST, 0)).toBe(MAC_BROADCAST);
    expect(MAC_BROADCAST).toBe(2 ** 48 - 1);
  });

  it('reads the two 24-bit halves the hot path compares (02:42:c0 | a8:64:01), at an odd offset', () => {
    expect(macHi24(ARP_REQUEST, 6)).toBe(0x0242c0);
    expect(macLo24(ARP_REQUEST, 6)).toBe(0xa86401);
    const b = hex('a5 ff ff ff ff ff ff a5');
    expect([macHi24(b, 1), macLo24(b, 1)]).toEqual([0xffffff, 0xffffff]); // no sign: 24 bits, never negative
  });

  it('reads values with the top bit of every byte set exactly (no sign or 32-bit truncation)', () => {
    const b = hex('ff fe fd fc fb fa');
    expect(macRead(b, 0)).toBe(0xfffe * 2 ** 32 + 0xfdfcfbfa);
  });

  it('writes exactly 6 bytes at the offset', () => {
    const b = filled(10);
    macWrite(b, 2, VX0_A);
    expect(b).toEqual(hex('a5a5 0242 c0a8 6401 a5a5'));
    macWrite(b, 2, MAC_BROADCAST);
    expect(b).toEqual(hex('a5a5 ffff ffff ffff a5a5'));
  });

  it('parses the colon form, any case, one or two digits per octet (as iproute2 ll_addr_a2n)', () => {
    expect(macParse('02:42:c0:a8:64:01')).toBe(VX0_A);
    expect(macParse('2:42:c0:a8:64:1')).toBe(VX0_A);
    expect(macParse('02:42:C0:a8:64:01')).toBe(VX0_A);
    expect(macParse('ff:ff:ff:ff:ff:ff')).toBe(MAC_BROADCAST);
    expect(macParse('00:00:00:00:00:00')).toBe(MAC_ZERO);
  });

  it.each([
    ['empty', ''],
    ['five octets', '02:42:c0:a8:64'],
    ['seven octets', '02:42:c0:a8:64:01:02'],
    ['dash form', '02-42-c0-a8-64-01'],
    ['empty octet', '02::c0:a8:64:01'],
    ['0x prefix in an octet', '0x2:42:c0:a8:64:01'],
    ['three-digit octet', '002:42:c0:a8:64:01'],
    ['mixed separators', '02:42-c0:a8:64:01'],
    ['dotted Cisco form', '0242.c0a8.6401'],
    ['bare hex', '0242c0a86401'],
    ['non-hex digit', '02:42:c0:a8:64:0g'],
    ['surrounding space', ' 02:42:c0:a8:64:01'],
    ['trailing newline', '02:42:c0:a8:64:01\n'],
  ])('refuses %s', (_name, text) => {
    expect(macParse(text)).toBeUndefined();
  });

  it('formats lower-case with colons and leading zeros', () => {
    expect(macFormat(VX0_A)).toBe('02:42:c0:a8:64:01');
    expect(macFormat(MAC_ZERO)).toBe('00:00:00:00:00:00');
    expect(macFormat(MAC_BROADCAST)).toBe('ff:ff:ff:ff:ff:ff');
    expect(macFormat(0x0a0b0c0d0e0f)).toBe('0a:0b:0c:0d:0e:0f');
  });

  it('classifies addresses by the I/G and U/L bits of the first octet', () => {
    const ipv4Mcast = macParse('01:00:5e:00:00:fb')!;
    const ipv6Mcast = macParse('33:33:00:00:00:01')!;
    const oui = macParse('00:1b:21:aa:bb:cc')!;
    expect(macIsMulticast(MAC_BROADCAST)).toBe(true);
    expect(macIsMulticast(ipv4Mcast)).toBe(true);
    expect(macIsMulticast(ipv6Mcast)).toBe(true);
    expect(macIsMulticast(VX0_A)).toBe(false);
    expect(macIsMulticast(oui)).toBe(false);
    expect(macIsBroadcast(MAC_BROADCAST)).toBe(true);
    expect(macIsBroadcast(ipv4Mcast)).toBe(false);
    expect(macIsZero(MAC_ZERO)).toBe(true);
    expect(macIsZero(VX0_A)).toBe(false);
    expect(macIsLocallyAdministered(VX0_A)).toBe(true);
    expect(macIsLocallyAdministered(oui)).toBe(false);
    expect(macIsLocallyAdministered(ipv6Mcast)).toBe(true);
    expect(macIsUnicast(VX0_A)).toBe(true);
    expect(macIsUnicast(MAC_ZERO)).toBe(false);
    expect(macIsUnicast(ipv4Mcast)).toBe(false);
  });

  it('makes a locally administered unicast address from random bytes', () => {
    expect(macFormat(macRandomLocal(hex('ffffffffffff')))).toBe('fe:ff:ff:ff:ff:ff');
    expect(macFormat(macRandomLocal(hex('000000000000')))).toBe('02:00:00:00:00:00');
    expect(macFormat(macRandomLocal(hex('5d 11 22 33 44 55 66')))).toBe('5e:11:22:33:44:55');
    for (let b0 = 0; b0 < 256; b0++) {
      const m = macRandomLocal(Buffer.from([b0, 1, 2, 3, 4, 5]));
      expect(macIsLocallyAdministered(m)).toBe(true);
      expect(macIsMulticast(m)).toBe(false);
    }
    expect(() => macRandomLocal(Buffer.alloc(5))).toThrow(RangeError);
  });

  it('round-trips parse/format/read/write', () => {
    for (const text of ['02:42:c0:a8:64:01', 'fe:dc:ba:98:76:54', '00:00:00:00:00:01', '80:00:00:00:00:00']) {
      const m = macParse(text)!;
      expect(macFormat(m)).toBe(text);
      const b = filled(8);
      macWrite(b, 1, m);
      expect(macRead(b, 1)).toBe(m);
      expect(b.subarray(1, 7)).toEqual(hex(text.replace(/:/g, '')));
    }
  });
});
