import { describe, expect, it } from 'vitest';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  ETH_DST,
  ETH_ERR_SHORT,
  ETH_HLEN,
  ETH_OK,
  ETH_REASON_NAMES,
  ETH_SRC,
  ETH_TYPE,
  ethernetCheck,
  ethernetDst,
  ethernetEmit,
  ethernetParse,
  ethernetSetDst,
  ethernetSetSrc,
  ethernetSetType,
  ethernetSrc,
  ethernetType,
  ethernetWrite,
  vlanId,
  vlanInnerType,
  vlanTci,
} from '../../src/wire/ethernet.js';
import { MAC_BROADCAST, macParse } from '../../src/wire/mac.js';
import { ARP_REQUEST, ICMP_ECHO_REQUEST, UDP6_HELLO } from './fixtures.js';
import { filled, hex, placed } from './helpers.js';

const A = macParse('02:42:c0:a8:64:01')!;
const B = macParse('02:42:c0:a8:64:02')!;

describe('ethernet', () => {
  it('has the RFC 894 layout', () => {
    expect([ETH_DST, ETH_SRC, ETH_TYPE, ETH_HLEN]).toEqual([0, 6, 12, 14]);
    expect([ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_VLAN]).toEqual([0x0800, 0x0806, 0x86dd, 0x8100]);
  });

  it('reads the fields of captured frames', () => {
    expect(ethernetCheck(ARP_REQUEST, 0, ARP_REQUEST.length)).toBe(ETH_OK);
    expect(ethernetDst(ARP_REQUEST, 0)).toBe(MAC_BROADCAST);
    expect(ethernetSrc(ARP_REQUEST, 0)).toBe(A);
    expect(ethernetType(ARP_REQUEST, 0)).toBe(ETHERTYPE_ARP);
    expect(ethernetDst(ICMP_ECHO_REQUEST, 0)).toBe(B);
    expect(ethernetType(ICMP_ECHO_REQUEST, 0)).toBe(ETHERTYPE_IPV4);
    expect(ethernetType(UDP6_HELLO, 0)).toBe(ETHERTYPE_IPV6);
  });

  it('emits the captured header into a 0xa5-filled buffer', () => {
    const b = filled(ETH_HLEN + 2);
    ethernetWrite(b, 1, B, A, ETHERTYPE_IPV4);
    expect(b).toEqual(Buffer.concat([hex('a5'), ICMP_ECHO_REQUEST.subarray(0, ETH_HLEN), hex('a5')]));
    const c = filled(ETH_HLEN);
    ethernetSetDst(c, 0, MAC_BROADCAST);
    ethernetSetSrc(c, 0, A);
    ethernetSetType(c, 0, ETHERTYPE_ARP);
    expect(c).toEqual(ARP_REQUEST.subarray(0, ETH_HLEN));
  });

  it('round-trips parse -> emit', () => {
    const repr = ethernetParse(ARP_REQUEST, 0, ARP_REQUEST.length)!;
    expect(repr).toEqual({ dst: MAC_BROADCAST, src: A, ethertype: ETHERTYPE_ARP });
    const b = filled(ETH_HLEN);
    ethernetEmit(repr, b, 0);
    expect(b).toEqual(ARP_REQUEST.subarray(0, ETH_HLEN));
  });

  it('honours the offset', () => {
    const b = placed(ARP_REQUEST, 5);
    expect(ethernetCheck(b, 5, ARP_REQUEST.length)).toBe(ETH_OK);
    expect(ethernetSrc(b, 5)).toBe(A);
    expect(ethernetType(b, 5)).toBe(ETHERTYPE_ARP);
  });

  it('negative: short (13 bytes)', () => {
    expect(ethernetCheck(ARP_REQUEST, 0, 13)).toBe(ETH_ERR_SHORT);
    expect(ethernetCheck(ARP_REQUEST, 0, 0)).toBe(ETH_ERR_SHORT);
    expect(ethernetParse(ARP_REQUEST, 0, 13)).toBeUndefined();
    expect(ETH_REASON_NAMES[ETH_ERR_SHORT]).toBe('short');
  });

  it('reads an 802.1Q tag (hand-built: VID 100, PCP 5, inner IPv4)', () => {
    const tagged = hex('ffffffffffff 0242c0a86401 8100 a064 0800');
    expect(ethernetType(tagged, 0)).toBe(ETHERTYPE_VLAN);
    expect(vlanTci(tagged, 0)).toBe(0xa064);
    expect(vlanId(tagged, 0)).toBe(100);
    expect(vlanInnerType(tagged, 0)).toBe(ETHERTYPE_IPV4);
  });
});
