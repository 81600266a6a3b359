/**
 * The demo's packet walk: one ICMP echo request from a pod in one cluster to a pod in another, hop by hop,
 * with the bytes vxlan-user captured on the way (its --pcap files) laid out header by header and annotated.
 * Only formatting lives here; demo.ts gathers the facts (route lookups, captures) from the running overlay.
 */
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { macFormat, macRead } from '../wire/mac.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, ipv4AddrFormat } from '../wire/ipv4.js';
import type { PcapngPacket } from '../dataplane/pcap.js';
import { describeFrame } from '../dataplane/trace.js';

/** `45 00 00 54 ...`: the bytes of one header, at most `max` of them. */
export function hexBytes(b: Buffer, off: number, len: number, max = 20): string {
  const n = Math.min(len, max, b.length - off);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(b[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(' ') + (len > n ? ' ..' : '');
}

export type Who = (value: string) => string | undefined;
const tag = (who: Who, v: string): string => {
  const w = who(v);
  return w === undefined ? v : `${v} (${w})`;
};

/** One header as two lines: its bytes, then what they say. */
function layer(name: string, b: Buffer, off: number, len: number, says: string): string[] {
  return [`    ${name.padEnd(15)}${hexBytes(b, off, len)}`, `    ${''.padEnd(15)}${says}`];
}

/** Ethernet + IPv4 + (ICMP) of an inner frame starting at `off`. */
export function annotateInner(b: Buffer, off: number, who: Who, prefix = 'inner '): string[] {
  const out: string[] = [];
  const dst = macFormat(macRead(b, off));
  const src = macFormat(macRead(b, off + 6));
  const type = b.readUInt16BE(off + 12);
  out.push(...layer(`${prefix}Ethernet`, b, off, 14, `dst ${tag(who, dst)}, src ${tag(who, src)}, type 0x${type.toString(16).padStart(4, '0')}${type === ETHERTYPE_IPV4 ? ' (IPv4)' : type === ETHERTYPE_ARP ? ' (ARP)' : ''}`));
  const l3 = off + 14;
  if (type === ETHERTYPE_ARP && b.length >= l3 + 28) {
    const op = b.readUInt16BE(l3 + 6);
    out.push(
      ...layer(
        `${prefix}ARP`,
        b,
        l3,
        28,
        `${op === 2 ? 'reply' : 'request'}: sender ${ipv4AddrFormat(b.readUInt32BE(l3 + 14))} is-at ${macFormat(macRead(b, l3 + 8))}, target ${ipv4AddrFormat(b.readUInt32BE(l3 + 24))} ${macFormat(macRead(b, l3 + 18))}`,
      ),
    );
    return out;
  }
  if (type !== ETHERTYPE_IPV4 || b.length < l3 + 20) return out;
  const ihl = (b[l3]! & 0x0f) * 4;
  const total = b.readUInt16BE(l3 + 2);
  const proto = b[l3 + 9]!;
  const df = (b.readUInt16BE(l3 + 6) & 0x4000) !== 0;
  out.push(
    ...layer(
      `${prefix}IPv4`,
      b,
      l3,
      ihl,
      `${tag(who, ipv4AddrFormat(b.readUInt32BE(l3 + 12)))} > ${tag(who, ipv4AddrFormat(b.readUInt32BE(l3 + 16)))}, total length ${total}, TTL ${b[l3 + 8]}${df ? ', DF' : ''}, protocol ${proto}${proto === IPPROTO_ICMP ? ' (ICMP)' : proto === IPPROTO_UDP ? ' (UDP)' : proto === IPPROTO_TCP ? ' (TCP)' : ''}`,
    ),
  );
  const l4 = l3 + ihl;
  if (proto === IPPROTO_ICMP && b.length >= l4 + 8) {
    const t = b[l4]!;
    out.push(...layer(`${prefix}ICMP`, b, l4, 8, `type ${t} (${t === 8 ? 'echo request' : t === 0 ? 'echo reply' : '?'}), id ${b.readUInt16BE(l4 + 4)}, seq ${b.readUInt16BE(l4 + 6)}, then ${total - ihl - 8} bytes of ping payload`));
  } else if (proto === IPPROTO_UDP && b.length >= l4 + 8) {
    out.push(...layer(`${prefix}UDP`, b, l4, 8, `src port ${b.readUInt16BE(l4)}, dst port ${b.readUInt16BE(l4 + 2)}${prefix === 'outer ' ? ' (VXLAN)' : ''}, length ${b.readUInt16BE(l4 + 4)}, checksum 0x${b.readUInt16BE(l4 + 6).toString(16).padStart(4, '0')}`));
  }
  return out;
}

/** A whole outer frame: Ethernet, IPv4, UDP, VXLAN, then the inner frame. */
export function annotateOuter(b: Buffer, who: Who): string[] {
  const out = annotateInner(b, 0, who, 'outer ');
  const l3 = 14;
  if (b.length < l3 + 20 || b[l3 + 9] !== 17) return out;
  const vx = l3 + (b[l3]! & 0x0f) * 4 + 8;
  if (b.length < vx + 8 + 14) return out;
  const vni = b.readUInt32BE(vx + 4) >>> 8;
  out.push(
    ...layer(
      'VXLAN',
      b,
      vx,
      8,
      `flags 0x${b[vx]!.toString(16).padStart(2, '0')} (I: the VNI is valid), reserved 0, VNI 0x${vni.toString(16).padStart(6, '0')} = ${vni}, reserved 0`,
    ),
  );
  out.push(...annotateInner(b, vx + 8, who));
  return out;
}

/** The first packet of `list` on `iface` whose one-line description matches `re`. */
export function findPacket(list: readonly PcapngPacket[], iface: number, re: RegExp): PcapngPacket | undefined {
  return list.find((p) => p.iface === iface && re.test(describeFrame(p.data, iface === 1 ? 14 + 20 + 8 + 8 : 0, p.data.length - (iface === 1 ? 50 : 0))));
}
