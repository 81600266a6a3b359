/**
 * `--pcap FILE`: a PacketObserver that writes what the VTEP sees as pcapng (the Wireshark/tshark format),
 * on two interfaces:
 *
 *   interface 0  the TAP (the inner side): each inner frame read from or written to the TAP, the proxy-ARP
 *                replies, and frames dropped on the way in;
 *   interface 1  the underlay: each VXLAN datagram sent (one per remote for a flood) or received, dropped
 *                ones included, as a whole Ethernet/IP/UDP frame.
 *
 * A UDP socket never sees the outer Ethernet, IP and UDP headers, so they are synthesised from what is known:
 * the addresses and ports (ours from the bound socket, the peer's from the FDB or the datagram's source
 * address), IPv4 with DF and TTL 64 or IPv6 with hop limit 64, correct lengths and checksums (the UDP
 * checksum over the real payload), the Ethernet addresses from `macOf` (the underlay's own and the ARP
 * cache's) or zero when unknown. Every packet carries a comment with the decision or the drop reason, and
 * the pcapng direction flag (inbound/outbound, seen from vxlan-user).
 *
 * Faithfulness notes: a received frame whose inner TCP/UDP checksum the dataplane turned into a partial one
 * for the TAP (DESIGN.md §7) is written with the checksum completed; a TSO super-frame is written once on the
 * TAP side and, when it is too large for one datagram, without an outer copy (the wire had its segments).
 *
 * Writes are buffered and flushed synchronously (writeSync) every FLUSH_BYTES or FLUSH_MS, and on close():
 * off the packet path except for that append. The file opens with the section and interface blocks.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { FdbEntry } from './fdb.js';
import type { PacketObserver } from './vtep.js';
import { describeFrame, DROP_TEXT, isDrop, sockaddrText, verdictName } from './trace.js';
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { ipv4AddrParse, ipv4WriteHeader, IPV4_FLAG_DF, IPPROTO_UDP, IPPROTO_TCP } from '../wire/ipv4.js';
import { ipv6AddrParse, IPV6_HLEN } from '../wire/ipv6.js';
import { udpWriteHeader, UDP_HLEN } from '../wire/udp.js';
import { VXLAN_HLEN, vxlanWrite } from '../wire/vxlan.js';
import { l4ChecksumFill } from '../wire/checksum.js';
import { macFormat, macWrite } from '../wire/mac.js';

// pcapng block types and options (draft-ietf-opsawg-pcapng).
const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const EPB_FLAGS = 2;
export const LINKTYPE_ETHERNET = 1;
/** epb_flags bits 0-1: direction. */
export const EPB_INBOUND = 1;
export const EPB_OUTBOUND = 2;
export const IFACE_TAP = 0;
export const IFACE_UNDERLAY = 1;

const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 200;
const MAX_IP_TOTAL = 65535;

const pad4 = (n: number): number => (n + 3) & ~3;

function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}
const END = Buffer.alloc(4); // opt_endofopt

function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

/** Section header + the two interface descriptions. */
export function pcapngHeader(tapName: string, underlay: string): Buffer {
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  shb.writeUInt16LE(1, 4); // major
  shb.writeUInt16LE(0, 6); // minor
  shb.writeBigInt64LE(-1n, 8); // section length: unknown
  const idb = (name: string, desc: string): Buffer => {
    const fixed = Buffer.alloc(8);
    fixed.writeUInt16LE(LINKTYPE_ETHERNET, 0);
    fixed.writeUInt32LE(0, 4); // snaplen: no limit
    return block(BT_IDB, Buffer.concat([fixed, option(IF_NAME, Buffer.from(name)), option(IF_DESCRIPTION, Buffer.from(desc)), END]));
  };
  return Buffer.concat([
    block(BT_SHB, Buffer.concat([shb, option(SHB_USERAPPL, Buffer.from('vxlan-user --pcap')), END])),
    idb(tapName, `inner frames on the TAP device ${tapName}`),
    idb(underlay, 'VXLAN datagrams on the underlay; outer Ethernet/IP/UDP headers synthesised by vxlan-user'),
  ]);
}

/** One enhanced packet block; `tsUs` is microseconds since the epoch (the default if_tsresol). */
export function pcapngPacket(iface: number, tsUs: number, data: Buffer, flags: number, comment: string | undefined): Buffer {
  const fixed = Buffer.alloc(20);
  fixed.writeUInt32LE(iface, 0);
  const ts = BigInt(Math.floor(tsUs));
  fixed.writeUInt32LE(Number(ts >> 32n), 4);
  fixed.writeUInt32LE(Number(ts & 0xffffffffn), 8);
  fixed.writeUInt32LE(data.length, 12);
  fixed.writeUInt32LE(data.length, 16);
  const padded = Buffer.alloc(pad4(data.length));
  data.copy(padded);
  const fl = Buffer.alloc(4);
  fl.writeUInt32LE(flags, 0);
  const opts = [option(EPB_FLAGS, fl), ...(comment !== undefined ? [option(OPT_COMMENT, Buffer.from(comment))] : []), END];
  return block(BT_EPB, Buffer.concat([fixed, padded, ...opts]));
}

export interface PcapContext {
  readonly vni: number;
  readonly tapName: string;
  /** Our underlay address and port: outer source of what we send, outer destination of what we receive. */
  readonly localIp: string;
  readonly localPort: number;
  /** Name of the underlay interface, for the interface block. */
  readonly underlayName?: string;
  /** Ethernet address of an underlay IP (ours or a peer's), as a 48-bit number; undefined = unknown (zeros). */
  readonly macOf?: (ip: string) => number | undefined;
}

/** Where the blocks go: a file (`PcapWriter.open`) or anything else (tests). */
export type PcapSink = (chunk: Buffer) => void;

/**
 * Builds an outer frame: Ethernet + IPv4/IPv6 + UDP around `payload[off, off+len)` (VXLAN header + inner
 * frame), with the VXLAN header replaced by `vxlanHdr` when given. Returns undefined when it cannot be one
 * IP datagram (a TSO super-frame).
 */
export function synthesiseOuter(
  src: { ip: string; port: number; mac: number },
  dst: { ip: string; port: number; mac: number },
  payload: Buffer,
  off: number,
  len: number,
  id: number,
): Buffer | undefined {
  const v4s = ipv4AddrParse(src.ip);
  const v4d = ipv4AddrParse(dst.ip);
  const v6 = v4s === undefined || v4d === undefined;
  const ipLen = v6 ? IPV6_HLEN : 20;
  const udpLen = UDP_HLEN + len;
  if ((v6 ? udpLen : ipLen + udpLen) > MAX_IP_TOTAL) return undefined;
  const b = Buffer.alloc(ETH_HLEN + ipLen + udpLen);
  macWrite(b, 0, dst.mac);
  macWrite(b, 6, src.mac);
  b.writeUInt16BE(v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, 12);
  const l3 = ETH_HLEN;
  if (!v6) {
    ipv4WriteHeader(b, l3, 0, ipLen + udpLen, id & 0xffff, IPV4_FLAG_DF, 64, IPPROTO_UDP, v4s, v4d);
  } else {
    b.writeUInt32BE(0x60000000, l3);
    b.writeUInt16BE(udpLen, l3 + 4);
    b[l3 + 6] = IPPROTO_UDP;
    b[l3 + 7] = 64;
    if (!ipv6AddrParse(src.ip, b, l3 + 8) || !ipv6AddrParse(dst.ip, b, l3 + 24)) return undefined;
  }
  const l4 = l3 + ipLen;
  udpWriteHeader(b, l4, src.port, dst.port, udpLen, 0);
  payload.copy(b, l4 + UDP_HLEN, off, off + len);
  l4ChecksumFill(b, l3, v6);
  return b;
}

/**
 * A copy of an inner frame as the wire had it: a TCP/UDP checksum the decap path left partial for the TAP
 * (NEEDS_CSUM) is completed. IPv4 UDP without a checksum stays without one.
 */
function completedInner(buf: Buffer, off: number, len: number): Buffer {
  const f = Buffer.from(buf.subarray(off, off + len));
  if (len < ETH_HLEN + 20) return f;
  const type = f.readUInt16BE(12);
  if (type === ETHERTYPE_IPV4) {
    const ihl = (f[ETH_HLEN]! & 0x0f) * 4;
    const total = f.readUInt16BE(ETH_HLEN + 2);
    const proto = f[ETH_HLEN + 9]!;
    if (f[ETH_HLEN]! >> 4 !== 4 || total > len - ETH_HLEN || (f.readUInt16BE(ETH_HLEN + 6) & 0x3fff) !== 0) return f;
    if (proto === IPPROTO_TCP && total - ihl >= 20) l4ChecksumFill(f, ETH_HLEN, false);
    if (proto === IPPROTO_UDP && total - ihl >= 8 && f.readUInt16BE(ETH_HLEN + ihl + 6) !== 0) l4ChecksumFill(f, ETH_HLEN, false);
  } else if (type === ETHERTYPE_IPV6 && len >= ETH_HLEN + 40) {
    const nh = f[ETH_HLEN + 6]!;
    if (f.readUInt16BE(ETH_HLEN + 4) <= len - ETH_HLEN - 40 && (nh === IPPROTO_TCP || nh === IPPROTO_UDP)) l4ChecksumFill(f, ETH_HLEN, true);
  }
  return f;
}

/** The --pcap observer. */
export class PcapWriter implements PacketObserver {
  /** Packets written (blocks after the header). */
  packets = 0;
  private readonly ctx: PcapContext;
  private readonly sink: PcapSink;
  private readonly now: () => number;
  private ipId = 1;

  constructor(ctx: PcapContext, sink: PcapSink, now: () => number = () => (performance.timeOrigin + performance.now()) * 1000) {
    this.ctx = ctx;
    this.sink = sink;
    this.now = now;
    sink(pcapngHeader(ctx.tapName, ctx.underlayName ?? 'underlay'));
  }

  /** Opens FILE (truncating it) and returns a writer with a buffered file sink, plus its close(). */
  static open(file: string, ctx: PcapContext): { writer: PcapWriter; close: () => void } {
    const fd = openSync(file, 'w', 0o600);
    const chunks: Buffer[] = [];
    let size = 0;
    const flush = (): void => {
      if (size === 0) return;
      const all = Buffer.concat(chunks, size);
      chunks.length = 0;
      size = 0;
      writeSync(fd, all);
    };
    const timer = setInterval(flush, FLUSH_MS);
    timer.unref();
    const writer = new PcapWriter(ctx, (c) => {
      chunks.push(c);
      size += c.length;
      if (size >= FLUSH_BYTES) flush();
    });
    flush();
    let closed = false;
    return {
      writer,
      close: () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        flush();
        closeSync(fd);
      },
    };
  }

  private mac(ip: string): number {
    return this.ctx.macOf?.(ip) ?? 0;
  }

  private put(iface: number, data: Buffer, flags: number, comment: string): void {
    this.sink(pcapngPacket(iface, this.now(), data, flags, comment));
    this.packets++;
  }

  onEncap(buf: Buffer, fo: number, flen: number, verdict: number, entry: FdbEntry | undefined): void {
    const name = verdictName(verdict);
    const inner = Buffer.from(buf.subarray(fo, fo + Math.max(0, Math.min(flen, buf.length - fo))));
    if (name === 'arp_proxied' || name === 'ndp_proxied') {
      const what = name === 'arp_proxied' ? 'proxy-ARP reply' : 'NDP proxy advertisement';
      this.put(IFACE_TAP, inner, EPB_OUTBOUND, `${what} written back to the TAP, answered from the neighbour table`);
      return;
    }
    if (isDrop(verdict) || entry === undefined) {
      this.put(IFACE_TAP, inner, EPB_INBOUND, `dropped: ${name}: ${DROP_TEXT[name] ?? name}`);
      return;
    }
    const flood = name === 'tx_flood_frames';
    this.put(
      IFACE_TAP,
      inner,
      EPB_INBOUND,
      flood ? `read from the TAP; flooded to ${entry.remotes.length} default destination(s)` : `read from the TAP; fdb ${describeFdb(entry)}`,
    );
    const hdr = Buffer.alloc(VXLAN_HLEN);
    const src = { ip: this.ctx.localIp, port: this.ctx.localPort, mac: this.mac(this.ctx.localIp) };
    for (const r of entry.remotes) {
      vxlanWrite(hdr, 0, r.vni >= 0 ? r.vni : this.ctx.vni);
      const payload = Buffer.concat([hdr, inner]);
      const outer = synthesiseOuter(src, { ip: r.ip, port: r.port, mac: this.mac(r.ip) }, payload, 0, payload.length, this.ipId++);
      if (outer === undefined) continue; // a TSO super-frame: the wire carried its segments
      this.put(IFACE_UNDERLAY, outer, EPB_OUTBOUND, `encapsulated, to ${r.ip}:${r.port}${flood ? ' (flood copy)' : ''}`);
    }
  }

  onDecap(buf: Buffer, ho: number, len: number, verdict: number, addrs: Buffer, addrOff: number): void {
    const name = verdictName(verdict);
    const from = sockaddrText(addrs, addrOff);
    const src = { ...from, mac: this.mac(from.ip) };
    const dst = { ip: this.ctx.localIp, port: this.ctx.localPort, mac: this.mac(this.ctx.localIp) };
    if (len < 0) return; // truncated: the bytes are not all there
    if (isDrop(verdict)) {
      const outer = synthesiseOuter(src, dst, buf, ho, len, this.ipId++);
      if (outer !== undefined) this.put(IFACE_UNDERLAY, outer, EPB_INBOUND, `dropped: ${name}: ${DROP_TEXT[name] ?? name}`);
      return;
    }
    // Delivered: the VXLAN header was exactly I + our VNI (and may be overwritten by now): write it again.
    const inner = completedInner(buf, ho + VXLAN_HLEN, len - VXLAN_HLEN);
    const payload = Buffer.alloc(VXLAN_HLEN + inner.length);
    vxlanWrite(payload, 0, this.ctx.vni);
    inner.copy(payload, VXLAN_HLEN);
    const outer = synthesiseOuter(src, dst, payload, 0, payload.length, this.ipId++);
    if (outer !== undefined) this.put(IFACE_UNDERLAY, outer, EPB_INBOUND, `received from ${from.ip}:${from.port}`);
    this.put(IFACE_TAP, inner, EPB_OUTBOUND, `decapsulated (VNI ${this.ctx.vni}), written to ${this.ctx.tapName}: ${describeFrame(inner, 0, inner.length)}`);
  }
}

function describeFdb(e: FdbEntry): string {
  return `${macFormat(e.mac)} -> ${e.remotes.map((r) => `${r.ip}:${r.port}`).join(', ')}`;
}

/** One packet of a pcapng file, as readPcapng returns it. */
export interface PcapngPacket {
  readonly iface: number;
  /** Microseconds since the epoch. */
  readonly tsUs: number;
  readonly data: Buffer;
  /** epb_flags (direction in bits 0-1), 0 when absent. */
  readonly flags: number;
  readonly comment: string | undefined;
}

/**
 * Reads the enhanced packet blocks of a little-endian pcapng file (what PcapWriter writes), for the demo's
 * walk and the tests. Other block types are skipped; a truncated last block ends the list.
 */
export function readPcapng(file: Buffer): PcapngPacket[] {
  const out: PcapngPacket[] = [];
  let at = 0;
  while (at + 12 <= file.length) {
    const type = file.readUInt32LE(at);
    const len = file.readUInt32LE(at + 4);
    if (len < 12 || at + len > file.length) break;
    if (type === BT_EPB) {
      const iface = file.readUInt32LE(at + 8);
      const tsUs = file.readUInt32LE(at + 12) * 2 ** 32 + file.readUInt32LE(at + 16);
      const cap = file.readUInt32LE(at + 20);
      const data = Buffer.from(file.subarray(at + 28, at + 28 + cap));
      let flags = 0;
      let comment: string | undefined;
      let o = at + 28 + pad4(cap);
      while (o + 4 <= at + len - 4) {
        const code = file.readUInt16LE(o);
        const olen = file.readUInt16LE(o + 2);
        if (code === OPT_END) break;
        if (code === EPB_FLAGS && olen === 4) flags = file.readUInt32LE(o + 4);
        if (code === OPT_COMMENT) comment = file.toString('utf8', o + 4, o + 4 + olen);
        o += 4 + pad4(olen);
      }
      out.push({ iface, tsUs, data, flags, comment });
    }
    at += len;
  }
  return out;
}
