/**
 * `--trace`: one tcpdump-style line per packet, with the direction and what the dataplane decided (the FDB
 * row, the flood, proxy-ARP, delivery) or why it dropped the packet. A PacketObserver (vtep.ts): when the
 * trace is off the Vtep has no observer and pays one field read per packet; when on, a token bucket limits
 * the lines per second, and the check comes before any formatting, so a flood costs a counter increment.
 *
 * ```
 * 07:36:51.123456 tx 192.168.0.21.4899 > 192.168.0.44.4899: VXLAN flags [I] vni 10001 | c2:6a:9b:e5:39:8d > 12:d1:df:44:3d:aa IPv4 10.234.111.10 > 10.235.113.10 ICMP echo request id 7 seq 1 length 64 | fdb 12:d1:df:44:3d:aa -> 192.168.0.44:4899
 * 07:36:51.123700 rx 192.168.0.44.4899 > 192.168.0.21.4899: VXLAN flags [I] vni 10001 | 12:d1:df:44:3d:aa > c2:6a:9b:e5:39:8d IPv4 10.235.113.10 > 10.234.111.10 ICMP echo reply id 7 seq 1 length 64 | delivered to vxlan-test
 * ```
 * The packet printer (`describeFrame`) is also used by the pcap comments and the demo's walk.
 */
import type { PacketObserver } from './vtep.js';
import type { FdbEntry } from './fdb.js';
import { COUNTER_NAMES, DROP_REASONS, type CounterName } from './counters.js';
import { macFormat, macRead } from '../wire/mac.js';
import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN } from '../wire/ethernet.js';
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, arpCheck, arpOp, arpSenderIp, arpSenderMac, arpTargetIp } from '../wire/arp.js';
import { ipv4AddrFormat, ipv4Check, IPV4_ERR_CHECKSUM, ipv4HeaderLen, ipv4IsFragment, ipv4Protocol, ipv4Src, ipv4Dst, ipv4TotalLen, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 } from '../wire/ipv4.js';
import { ipv6AddrFormat, ipv6Check, ipv6NextHeader, ipv6PayloadLen, IPV6_HLEN } from '../wire/ipv6.js';
import { VXLAN_FLAG_I, VXLAN_HLEN, vxlanVni } from '../wire/vxlan.js';

/** Lines per second once the burst is used up, and the burst. */
export const TRACE_RATE_PER_S = 50;
export const TRACE_BURST = 200;

/** Why a drop happened, in words; keyed by counter name (counters.ts), the name itself when missing. */
export const DROP_TEXT: Readonly<Partial<Record<CounterName | string, string>>> = {
  tx_runt: 'shorter than an Ethernet header',
  tx_fdb_miss: 'no FDB entry for the destination MAC and no default destination',
  tx_too_big: 'the datagram would exceed the underlay MTU (VTEPs never fragment, RFC 7348)',
  tx_sock_full: 'the UDP socket buffer was full',
  tx_error: 'the kernel refused the send',
  tx_gso_unsupported: 'a GSO frame although no offload was negotiated',
  tx_gso_bad_size: 'a TAP super-frame whose gso_size is 0 or larger than the frame',
  rx_short: 'shorter than VXLAN header + inner Ethernet header (8 + 14)',
  rx_bad_flags: 'the I flag is clear',
  rx_reserved_bits: 'a reserved bit is set (strict, like the kernel)',
  rx_wrong_vni: 'the VNI is not ours',
  rx_loop: 'the inner source MAC is our own (a loop)',
  rx_bad_src_mac: 'the inner source MAC is multicast or zero',
  rx_truncated: 'larger than the receive buffer',
  rx_unknown_peer: '--peers-only, and the sender is not a known remote',
  rx_fdb_static_conflict: '--learning, and the inner source MAC has a static FDB entry at another VTEP (never moved)',
  rx_ecn_not_ect: 'outer ECN is CE but the inner packet is not ECN-capable (dropped like the kernel)',
  rx_too_big: 'larger than the TAP MTU and not a TCP/UDP super-frame that can be written whole',
  rx_super_bad_len: 'a super-datagram whose lengths do not add up',
  rx_super_bad_tcp_hdr: 'a TCP super-frame whose TCP header length is impossible',
  rx_tap_error: 'the TAP refused the write',
  pool_exhausted: 'no free buffer',
};

const DROPS = new Set<string>(DROP_REASONS);

/** True when the verdict (a counter index) is a drop reason. */
export function isDrop(verdict: number): boolean {
  return DROPS.has(COUNTER_NAMES[verdict] ?? '');
}

export function verdictName(verdict: number): string {
  return COUNTER_NAMES[verdict] ?? `verdict ${verdict}`;
}

const ICMP_TYPES: Record<number, string> = { 0: 'echo reply', 3: 'unreachable', 8: 'echo request', 11: 'time exceeded' };
const ICMP6_TYPES: Record<number, string> = {
  1: 'unreachable',
  2: 'packet too big',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  143: 'multicast listener report v2',
};

function tcpFlags(f: number): string {
  let s = '';
  if (f & 0x02) s += 'S';
  if (f & 0x01) s += 'F';
  if (f & 0x04) s += 'R';
  if (f & 0x08) s += 'P';
  if (f & 0x10) s += '.';
  return s === '' ? 'none' : s;
}

/** The L4 part of an IP packet: `ICMP echo request id 7 seq 1`, `TCP 10.0.0.1.5000 > ...` is done by the caller. */
function l4Text(buf: Buffer, l4: number, l4len: number, proto: number, src: string, dst: string, v6: boolean): string {
  if ((proto === IPPROTO_ICMP && !v6) || (proto === IPPROTO_ICMPV6 && v6)) {
    if (l4len < 4) return `${src} > ${dst} ${v6 ? 'ICMPv6' : 'ICMP'} (truncated)`;
    const t = buf[l4]!;
    const name = (v6 ? ICMP6_TYPES : ICMP_TYPES)[t] ?? `type ${t} code ${buf[l4 + 1]}`;
    const echo = (v6 ? t === 128 || t === 129 : t === 0 || t === 8) && l4len >= 8;
    return `${src} > ${dst} ${v6 ? 'ICMPv6' : 'ICMP'} ${name}${echo ? ` id ${buf.readUInt16BE(l4 + 4)} seq ${buf.readUInt16BE(l4 + 6)}` : ''} length ${l4len}`;
  }
  if (proto === IPPROTO_TCP && l4len >= 20) {
    const hl = (buf[l4 + 12]! >> 4) * 4;
    return `${src}.${buf.readUInt16BE(l4)} > ${dst}.${buf.readUInt16BE(l4 + 2)} TCP [${tcpFlags(buf[l4 + 13]!)}] seq ${buf.readUInt32BE(l4 + 4)} length ${Math.max(0, l4len - hl)}`;
  }
  if (proto === IPPROTO_UDP && l4len >= 8) {
    return `${src}.${buf.readUInt16BE(l4)} > ${dst}.${buf.readUInt16BE(l4 + 2)} UDP length ${l4len - 8}`;
  }
  return `${src} > ${dst} proto ${proto} length ${l4len}`;
}

/**
 * One inner Ethernet frame as text: `SRC > DST IPv4 A > B ICMP echo request id 7 seq 1 length 64`,
 * `SRC > DST ARP who-has 179.17.1.31 tell 179.17.1.21`. Reads only inside buf[off, off+len).
 */
export function describeFrame(buf: Buffer, off: number, len: number): string {
  if (len < ETH_HLEN) return `runt frame, ${len} bytes`;
  let head = `${macFormat(macRead(buf, off + 6))} > ${macFormat(macRead(buf, off))}`;
  let type = buf.readUInt16BE(off + 12);
  let l3 = off + ETH_HLEN;
  if (type === ETHERTYPE_VLAN && len >= ETH_HLEN + 4) {
    head += ` 802.1Q vlan ${buf.readUInt16BE(l3) & 0x0fff}`;
    type = buf.readUInt16BE(l3 + 2);
    l3 += 4;
  }
  const rest = off + len - l3;
  if (type === ETHERTYPE_ARP) {
    if (rest < ARP_LEN || arpCheck(buf, l3, rest) !== 0) return `${head} ARP (not Ethernet/IPv4 or truncated)`;
    const op = arpOp(buf, l3);
    if (op === ARP_OP_REQUEST) return `${head} ARP who-has ${ipv4AddrFormat(arpTargetIp(buf, l3))} tell ${ipv4AddrFormat(arpSenderIp(buf, l3))}`;
    if (op === ARP_OP_REPLY) return `${head} ARP reply ${ipv4AddrFormat(arpSenderIp(buf, l3))} is-at ${macFormat(arpSenderMac(buf, l3))}`;
    return `${head} ARP op ${op}`;
  }
  if (type === ETHERTYPE_IPV4) {
    // A bad header checksum is shown, not hidden: the packet is still readable (tcpdump does the same).
    const bad = ipv4Check(buf, l3, rest);
    if (bad !== 0 && bad !== IPV4_ERR_CHECKSUM) return `${head} IPv4 (malformed, ${rest} bytes)`;
    if (bad === IPV4_ERR_CHECKSUM) head += ' [bad IP checksum]';
    const src = ipv4AddrFormat(ipv4Src(buf, l3));
    const dst = ipv4AddrFormat(ipv4Dst(buf, l3));
    if (ipv4IsFragment(buf, l3)) return `${head} IPv4 ${src} > ${dst} fragment length ${ipv4TotalLen(buf, l3)}`;
    const hl = ipv4HeaderLen(buf, l3);
    return `${head} IPv4 ${l4Text(buf, l3 + hl, ipv4TotalLen(buf, l3) - hl, ipv4Protocol(buf, l3), src, dst, false)}`;
  }
  if (type === ETHERTYPE_IPV6) {
    if (ipv6Check(buf, l3, rest) !== 0) return `${head} IPv6 (malformed, ${rest} bytes)`;
    const src = ipv6AddrFormat(buf, l3 + 8);
    const dst = ipv6AddrFormat(buf, l3 + 24);
    return `${head} IPv6 ${l4Text(buf, l3 + IPV6_HLEN, ipv6PayloadLen(buf, l3), ipv6NextHeader(buf, l3), src, dst, true)}`;
  }
  return `${head} ethertype 0x${type.toString(16).padStart(4, '0')} length ${len}`;
}

/** `VXLAN flags [I] vni 10001` from the 8 header bytes; other flag bits are shown as a hex byte. */
export function describeVxlan(buf: Buffer, ho: number): string {
  const f = buf[ho]!;
  const reserved = buf.readUIntBE(ho + 1, 3) !== 0 || buf[ho + 7] !== 0;
  const flags = f === VXLAN_FLAG_I ? '[I]' : `0x${f.toString(16).padStart(2, '0')}${f & VXLAN_FLAG_I ? ' [I]' : ' [no I]'}`;
  return `VXLAN flags ${flags} vni ${vxlanVni(buf, ho)}${reserved ? ' reserved bits set' : ''}`;
}

/** `a.b.c.d.PORT` (tcpdump's form) or `[v6].PORT`, from a Linux sockaddr (family in host order). */
export function sockaddrText(addrs: Buffer, off: number): { ip: string; port: number } {
  const family = addrs[off]! | (addrs[off + 1]! << 8);
  const port = addrs.readUInt16BE(off + 2);
  if (family === 2) return { ip: ipv4AddrFormat(addrs.readUInt32BE(off + 4)), port };
  if (family === 10) return { ip: ipv6AddrFormat(addrs, off + 8), port };
  return { ip: '?', port };
}

const endpoint = (ip: string, port: number): string => `${ip}.${port}`;

/** HH:MM:SS.uuuuuu local time, like tcpdump. */
export function clockText(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const us = Math.floor((ms % 1000) * 1000);
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(us, 6)}`;
}

export interface TraceContext {
  /** The instance VNI (a delivered datagram carried exactly this, with only the I flag). */
  readonly vni: number;
  readonly tapName: string;
  /** Our underlay address and port (the outer source of what we send, destination of what we receive). */
  readonly localIp: string;
  readonly localPort: number;
  /** A `vnis:` process's socket printer (datagrams that belong to no device): every VNI the process has. */
  readonly ourVnis?: () => readonly number[];
}

export interface TraceOptions {
  readonly ratePerS?: number;
  readonly burst?: number;
  /** Milliseconds since the epoch, with a fraction (tests pass a fake clock). */
  readonly now?: () => number;
}

/** The --trace observer: formats a line per packet and hands it to `write` (stderr in `vxlan-user up`). */
export class TracePrinter implements PacketObserver {
  /** Lines not printed because of the rate limit, since the last printed line. */
  suppressed = 0;
  private tokens: number;
  private last: number;
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly ctx: TraceContext;
  private readonly write: (line: string) => void;

  constructor(ctx: TraceContext, write: (line: string) => void, o: TraceOptions = {}) {
    this.ctx = ctx;
    this.write = write;
    this.rate = o.ratePerS ?? TRACE_RATE_PER_S;
    this.burst = o.burst ?? TRACE_BURST;
    this.now = o.now ?? (() => performance.timeOrigin + performance.now());
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Takes a token; false (and one more suppressed) when the bucket is empty. */
  private admit(t: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) {
      this.suppressed++;
      return false;
    }
    this.tokens -= 1;
    return true;
  }

  private emit(t: number, line: string): void {
    if (this.suppressed > 0) {
      this.write(`${clockText(t)} trace: ${this.suppressed} packets not shown (rate limit ${this.rate}/s after a burst of ${this.burst})`);
      this.suppressed = 0;
    }
    this.write(`${clockText(t)} ${line}`);
  }

  onEncap(buf: Buffer, fo: number, flen: number, verdict: number, entry: FdbEntry | undefined): void {
    const t = this.now();
    if (!this.admit(t)) return;
    const name = verdictName(verdict);
    const inner = describeFrame(buf, fo, Math.min(flen, buf.length - fo));
    const me = endpoint(this.ctx.localIp, this.ctx.localPort);
    if (name === 'arp_proxied' || name === 'ndp_proxied') {
      // The request was rewritten into the reply in place: this is what went back into the TAP.
      const how = name === 'arp_proxied' ? 'proxy-ARP' : 'NDP proxy';
      this.emit(t, `tap ${this.ctx.tapName} < ${inner} | ${how}: answered from the neighbour table, nothing sent`);
      return;
    }
    if (isDrop(verdict) || entry === undefined) {
      this.emit(t, `tx DROP ${name}: ${inner} | ${DROP_TEXT[name] ?? name}`);
      return;
    }
    const to = entry.remotes.map((r) => endpoint(r.ip, r.port)).join(',');
    const vni = entry.remotes[0] !== undefined && entry.remotes[0].vni >= 0 ? entry.remotes[0].vni : this.ctx.vni;
    const big = flen > 9000 ? ` (TSO super-frame of ${flen} bytes, segmented on the wire)` : '';
    const why =
      name === 'tx_flood_frames'
        ? `flood: ${entry.remotes.length} ${entry.remotes.length === 1 ? 'copy' : 'copies'} to the default destinations (${(buf[fo]! & 1) !== 0 ? 'broadcast/multicast' : 'no FDB entry'})`
        : `fdb ${macFormat(entry.mac)} -> ${entry.remotes.map((r) => `${r.ip}:${r.port}`).join(', ')}`;
    this.emit(t, `tx ${me} > ${to}: VXLAN flags [I] vni ${vni} | ${inner}${big} | ${why}`);
  }

  onDecap(buf: Buffer, ho: number, len: number, verdict: number, addrs: Buffer, addrOff: number): void {
    const t = this.now();
    if (!this.admit(t)) return;
    const name = verdictName(verdict);
    const from = sockaddrText(addrs, addrOff);
    const head = `${endpoint(from.ip, from.port)} > ${endpoint(this.ctx.localIp, this.ctx.localPort)}`;
    if (len < 0) {
      this.emit(t, `rx ${head}: DROP ${name} | ${DROP_TEXT[name] ?? name}`);
      return;
    }
    if (!isDrop(verdict)) {
      // Delivered: the header said exactly I + our VNI (it may already be overwritten by the vnet header).
      this.emit(t, `rx ${head}: VXLAN flags [I] vni ${this.ctx.vni} | ${describeFrame(buf, ho + VXLAN_HLEN, len - VXLAN_HLEN)} | delivered to ${this.ctx.tapName}`);
      return;
    }
    const vx = len >= VXLAN_HLEN ? describeVxlan(buf, ho) : `${len} bytes`;
    const inner = len >= VXLAN_HLEN + ETH_HLEN ? ` | ${describeFrame(buf, ho + VXLAN_HLEN, len - VXLAN_HLEN)}` : '';
    const ours = this.ctx.ourVnis?.();
    const oursText = ours === undefined ? `ours is ${this.ctx.vni}` : `ours are ${ours.join(', ')}`;
    const extra = name === 'rx_wrong_vni' ? ` (${vxlanVni(buf, ho)}, ${oursText})` : '';
    this.emit(t, `rx ${head}: ${vx}${inner} | DROP ${name}: ${DROP_TEXT[name] ?? name}${extra}`);
  }
}

/** One observer that hands every packet to each of `list` (--trace and --pcap together). */
export function combineObservers(list: readonly PacketObserver[]): PacketObserver | undefined {
  if (list.length <= 1) return list[0];
  return {
    onEncap(buf, fo, flen, verdict, entry) {
      for (const o of list) o.onEncap(buf, fo, flen, verdict, entry);
    },
    onDecap(buf, ho, len, verdict, addrs, addrOff) {
      for (const o of list) o.onDecap(buf, ho, len, verdict, addrs, addrOff);
    },
  };
}
