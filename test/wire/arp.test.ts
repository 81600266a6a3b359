import { describe, expect, it } from 'vitest';
import {
  ARP_ERR_HLEN,
  ARP_ERR_HTYPE,
  ARP_ERR_OP,
  ARP_ERR_PLEN,
  ARP_ERR_PTYPE,
  ARP_ERR_SHORT,
  ARP_HLN,
  ARP_HTYPE,
  ARP_LEN,
  ARP_OK,
  ARP_OPER,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_PLN,
  ARP_PTYPE,
  ARP_REASON_NAMES,
  ARP_SHA,
  ARP_SPA,
  ARP_THA,
  ARP_TPA,
  type ArpRepr,
  arpCheck,
  arpEmit,
  arpIsGratuitous,
  arpOp,
  arpParse,
  arpSenderIp,
  arpSenderMac,
  arpTargetIp,
  arpTargetMac,
  arpWrite,
  arpWriteReply,
} from '../../src/wire/arp.js';
import { ethernetDst, ethernetSrc, ethernetWrite } from '../../src/wire/ethernet.js';
import { macParse } from '../../src/wire/mac.js';
import { ARP_REPLY, ARP_REQUEST, L3 } from './fixtures.js';
import { filled } from './helpers.js';

const MAC_1 = macParse('02:42:c0:a8:64:01')!;
const MAC_2 = macParse('02:42:c0:a8:64:02')!;
const IP_1 = 0xc0a86401; // 192.168.100.1
const IP_2 = 0xc0a86402; // 192.168.100.2

describe('arp', () => {
  it('has the RFC 826 Ethernet/IPv4 layout', () => {
    expect([ARP_HTYPE, ARP_PTYPE, ARP_HLN, ARP_PLN, ARP_OPER, ARP_SHA, ARP_SPA, ARP_THA, ARP_TPA, ARP_LEN]).toEqual([
      0, 2, 4, 5, 6, 8, 14, 18, 24, 28,
    ]);
  });

  it('reads a captured request', () => {
    expect(arpCheck(ARP_REQUEST, L3, ARP_REQUEST.length - L3)).toBe(ARP_OK);
    expect(arpOp(ARP_REQUEST, L3)).toBe(ARP_OP_REQUEST);
    expect(arpSenderMac(ARP_REQUEST, L3)).toBe(MAC_1);
    expect(arpSenderIp(ARP_REQUEST, L3)).toBe(IP_1);
    expect(arpTargetMac(ARP_REQUEST, L3)).toBe(0);
    expect(arpTargetIp(ARP_REQUEST, L3)).toBe(IP_2);
    expect(arpIsGratuitous(ARP_REQUEST, L3)).toBe(false);
  });

  it('reads a captured reply', () => {
    expect(arpCheck(ARP_REPLY, L3, ARP_LEN)).toBe(ARP_OK);
    expect(arpOp(ARP_REPLY, L3)).toBe(ARP_OP_REPLY);
    expect(arpSenderMac(ARP_REPLY, L3)).toBe(MAC_2);
    expect(arpSenderIp(ARP_REPLY, L3)).toBe(IP_2);
    expect(arpTargetMac(ARP_REPLY, L3)).toBe(MAC_1);
    expect(arpTargetIp(ARP_REPLY, L3)).toBe(IP_1);
  });

  it('arpWriteReply into a 0xa5 buffer produces the kernel reply body byte for byte', () => {
    const b = filled(ARP_LEN + 4);
    arpWriteReply(b, 2, MAC_2, IP_2, MAC_1, IP_1);
    expect(b.subarray(2, 2 + ARP_LEN)).toEqual(ARP_REPLY.subarray(L3));
    expect(b.subarray(0, 2)).toEqual(Buffer.from([0xa5, 0xa5]));
    expect(b.subarray(2 + ARP_LEN)).toEqual(Buffer.alloc(2, 0xa5));
  });

  it('proxy-ARP in place: a request turned into a reply equals the kernel reply frame', () => {
    const frame = Buffer.from(ARP_REQUEST);
    const askerMac = arpSenderMac(frame, L3);
    const askerIp = arpSenderIp(frame, L3);
    const wanted = arpTargetIp(frame, L3);
    ethernetWrite(frame, 0, ethernetSrc(frame, 0), MAC_2, 0x0806);
    arpWriteReply(frame, L3, MAC_2, wanted, askerMac, askerIp);
    expect(frame).toEqual(ARP_REPLY);
    expect(ethernetDst(frame, 0)).toBe(MAC_1);
  });

  it('round-trips parse -> emit on both captures', () => {
    for (const f of [ARP_REQUEST, ARP_REPLY]) {
      const repr = arpParse(f, L3, f.length - L3)!;
      const b = filled(ARP_LEN);
      arpEmit(repr, b, 0);
      expect(b).toEqual(f.subarray(L3));
    }
    expect(arpParse(ARP_REQUEST, L3, ARP_LEN)).toEqual<ArpRepr>({
      op: ARP_OP_REQUEST,
      senderMac: MAC_1,
      senderIp: IP_1,
      targetMac: 0,
      targetIp: IP_2,
    });
  });

  it('accepts Ethernet padding after the 28 bytes (len is a lower bound)', () => {
    const padded = Buffer.concat([ARP_REQUEST, Buffer.alloc(18)]);
    expect(arpCheck(padded, L3, padded.length - L3)).toBe(ARP_OK);
  });

  it('detects a gratuitous announcement (SPA == TPA)', () => {
    const b = filled(ARP_LEN);
    arpWrite(b, 0, ARP_OP_REQUEST, MAC_1, IP_1, 0, IP_1);
    expect(arpIsGratuitous(b, 0)).toBe(true);
  });

  describe('negative cases, one per reason', () => {
    const mutate = (at: number, bytes: number[]): Buffer => {
      const b = Buffer.from(ARP_REQUEST.subarray(L3));
      b.set(bytes, at);
      return b;
    };
    it.each([
      ['short', ARP_ERR_SHORT, Buffer.from(ARP_REQUEST.subarray(L3, L3 + 27))],
      ['htype', ARP_ERR_HTYPE, mutate(ARP_HTYPE, [0x00, 0x06])], // IEEE 802 networks
      ['ptype', ARP_ERR_PTYPE, mutate(ARP_PTYPE, [0x86, 0xdd])],
      ['hlen', ARP_ERR_HLEN, mutate(ARP_HLN, [8])],
      ['plen', ARP_ERR_PLEN, mutate(ARP_PLN, [16])],
      ['op', ARP_ERR_OP, mutate(ARP_OPER, [0x00, 0x03])], // RARP request
      ['op', ARP_ERR_OP, mutate(ARP_OPER, [0x00, 0x00])],
      ['op', ARP_ERR_OP, mutate(ARP_OPER, [0x01, 0x01])],
    ])('%s', (name, reason, b) => {
      expect(arpCheck(b, 0, b.length)).toBe(reason);
      expect(ARP_REASON_NAMES[reason]).toBe(name);
      expect(arpParse(b, 0, b.length)).toBeUndefined();
    });
  });
});
