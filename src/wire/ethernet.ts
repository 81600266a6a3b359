// Ethernet II frame header (IEEE 802.3 / RFC 894), without preamble and FCS (neither reaches a TAP or a
// VXLAN payload).
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                    Destination MAC Address                    |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    | Destination MAC (cont.)       |      Source MAC Address       |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                    Source MAC Address (cont.)                 |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           EtherType           |   Payload ...
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// With an 802.1Q tag (EtherType 0x8100) four bytes are inserted before the real EtherType:
//
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |        TPID = 0x8100          | PCP |D|        VLAN ID        |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |      Inner EtherType          |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Check contract: ethernetCheck(buf, off, len) === ETH_OK guarantees ETH_HLEN bytes at `off`; the
// accessors below then read without checking. `len` is the frame length the caller received; the caller
// guarantees off + len <= buf.length.

import { get16, put16 } from './bytes.js';
import { macRead, macWrite } from './mac.js';

export const ETH_DST = 0 as const;
export const ETH_SRC = 6 as const;
export const ETH_TYPE = 12 as const;
export const ETH_HLEN = 14 as const;
/** Ethernet payload limit without jumbo frames (the default MTU). */
export const ETH_DATA_LEN = 1500 as const;

/** 802.1Q tag: TPID at ETH_TYPE, then TCI, then the encapsulated EtherType. */
export const VLAN_TCI = 14 as const;
export const VLAN_INNER_TYPE = 16 as const;
export const VLAN_HLEN = 4 as const;
export const VLAN_VID_MASK = 0x0fff as const;

export const ETHERTYPE_IPV4 = 0x0800 as const;
export const ETHERTYPE_ARP = 0x0806 as const;
export const ETHERTYPE_VLAN = 0x8100 as const;
/** IEEE 802.1ad service tag (QinQ outer tag), same layout as 802.1Q. */
export const ETHERTYPE_QINQ = 0x88a8 as const;
export const ETHERTYPE_IPV6 = 0x86dd as const;

export const ETH_OK = 0 as const;
/** Fewer than ETH_HLEN bytes. */
export const ETH_ERR_SHORT = 1 as const;
export const ETH_REASON_NAMES = ['ok', 'short'] as const;

export function ethernetCheck(_buf: Buffer, _off: number, len: number): number {
  if (len < ETH_HLEN) return ETH_ERR_SHORT;
  return ETH_OK;
}

export function ethernetDst(buf: Buffer, off: number): number {
  return macRead(buf, off + ETH_DST);
}

export function ethernetSrc(buf: Buffer, off: number): number {
  return macRead(buf, off + ETH_SRC);
}

export function ethernetType(buf: Buffer, off: number): number {
  return get16(buf, off + ETH_TYPE);
}

export function ethernetSetDst(buf: Buffer, off: number, mac: number): void {
  macWrite(buf, off + ETH_DST, mac);
}

export function ethernetSetSrc(buf: Buffer, off: number, mac: number): void {
  macWrite(buf, off + ETH_SRC, mac);
}

export function ethernetSetType(buf: Buffer, off: number, ethertype: number): void {
  put16(buf, off + ETH_TYPE, ethertype);
}

/** Writes all 14 header bytes. */
export function ethernetWrite(buf: Buffer, off: number, dst: number, src: number, ethertype: number): void {
  macWrite(buf, off + ETH_DST, dst);
  macWrite(buf, off + ETH_SRC, src);
  put16(buf, off + ETH_TYPE, ethertype);
}

/**
 * 802.1Q accessors: valid only when ethernetType() === ETHERTYPE_VLAN and the caller has confirmed
 * len >= ETH_HLEN + VLAN_HLEN (ethernetCheck does not look past the first EtherType).
 */
export function vlanTci(buf: Buffer, off: number): number {
  return get16(buf, off + VLAN_TCI);
}

export function vlanId(buf: Buffer, off: number): number {
  return get16(buf, off + VLAN_TCI) & VLAN_VID_MASK;
}

export function vlanInnerType(buf: Buffer, off: number): number {
  return get16(buf, off + VLAN_INNER_TYPE);
}

/** Parsed header, for the CLI, tests and the packet printer (not the hot path). */
export interface EthernetRepr {
  dst: number;
  src: number;
  ethertype: number;
}

export function ethernetParse(buf: Buffer, off: number, len: number): EthernetRepr | undefined {
  if (ethernetCheck(buf, off, len) !== ETH_OK) return undefined;
  return { dst: ethernetDst(buf, off), src: ethernetSrc(buf, off), ethertype: ethernetType(buf, off) };
}

/** Writes ETH_HLEN bytes at `off`. */
export function ethernetEmit(repr: EthernetRepr, buf: Buffer, off: number): void {
  ethernetWrite(buf, off, repr.dst, repr.src, repr.ethertype);
}
