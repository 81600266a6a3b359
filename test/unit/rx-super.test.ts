// Whole super-datagrams from a kernel peer (DESIGN.md §8): an inner frame larger than the TAP's MTU goes into
// the TAP as ONE GSO super-frame with a segment size that fits the TAP and the flow's MSS, or is dropped under
// its own counter. Packets are written out by hand here, independently of the code under test.
import { describe, expect, it } from 'vitest';
import { DROP_REASONS } from '../../src/dataplane/counters.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const h16 = (n: number): string => n.toString(16).padStart(4, '0');
const VX = hex('08000000 00271100'); // I flag, VNI 10001
// Inner Ethernet: to our TAP's MAC c2:6a:9b:e5:39:8d from the peer's 7a:3a:fe:45:a3:76.
const eth = (type: string): Buffer => hex(`c26a9be5398d 7a3afe45a376 ${type}`);
const TAP_MTU = 1450;

/** Inner IPv4 (10.0.0.2 → 10.0.0.1, DF) with protocol `proto` around `l4`; `totalLen` overrides the length field. */
function ipv4(proto: number, l4: Buffer, totalLen = 20 + l4.length): Buffer {
  return Buffer.concat([hex(`4500 ${h16(totalLen)} 1234 4000 40${proto.toString(16).padStart(2, '0')} 0000 0a000002 0a000001`), l4]);
}

/** A TCP header 8080 → 50000 with data offset `doff` words (options zero-filled), flags, then `payload` bytes. */
function tcp(payload: number, flags = 0x10, doff = 5, options = ''): Buffer {
  const opts = hex(options.padEnd((Math.max(doff, 5) - 5) * 8, '0'));
  const h = hex(`1f90 c350 00010000 00000001 ${((doff << 4) | 0).toString(16).padStart(2, '0')}${flags.toString(16).padStart(2, '0')} ffff 0000 0000`);
  const data = Buffer.alloc(payload);
  for (let i = 0; i < payload; i++) data[i] = i & 0xff;
  return Buffer.concat([h, opts, data]);
}

const udpSuper = (payload: number): Buffer => {
  const data = Buffer.alloc(payload, 0x5a);
  return Buffer.concat([hex(`d431 1b58 ${h16(8 + payload)} 0000`), data]);
};

function vtepWith(opts: { coalesce?: boolean; tso?: boolean } = {}) {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind();
  const vtep = new Vtep(tap, udp, {
    vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, tapMtu: TAP_MTU, dstport: 4789,
    rxCoalesce: opts.coalesce ?? true, tso: opts.tso ?? false, udpGro: true,
  });
  vtep.start();
  return { tap, udp, vtep };
}

/** The virtio-net header of a TAP write: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
function vnet(w: Buffer) {
  return { flags: w[0], gsoType: w[1], hdrLen: w.readUInt16LE(2), gsoSize: w.readUInt16LE(4), csumStart: w.readUInt16LE(6), csumOffset: w.readUInt16LE(8) };
}

function expectEveryDatagramCounted(vtep: Vtep): void {
  const c = vtep.counters;
  const drops = DROP_REASONS.filter((r) => r.startsWith('rx_')).reduce((s, r) => s + c.get(r), 0);
  expect(c.get('rx_datagrams')).toBe(c.get('rx_packets') + drops + c.get('pool_exhausted'));
}

const SUPER = 64000; // payload bytes of one inner TCP super-segment (IP length 64040 ≤ 65535)

describe.each([true, false])('an inner TCP super-segment in one datagram (coalescing %s)', (coalesce) => {
  it('goes into the TAP whole as GSO TCPV4, segments sized by the TAP MTU', () => {
    const { tap, udp, vtep } = vtepWith({ coalesce });
    udp.inject(Buffer.concat([VX, eth('0800'), ipv4(6, tcp(SUPER))]));
    udp.wake();
    expect(tap.written).toHaveLength(1);
    expect(vnet(tap.written[0]!)).toEqual({ flags: 1, gsoType: 1, hdrLen: 54, gsoSize: TAP_MTU - 40, csumStart: 34, csumOffset: 16 });
    expect(tap.written[0]!.length).toBe(10 + 14 + 40 + SUPER);
    expect(vtep.counters.get('tap_super_writes')).toBe(1);
    expect(vtep.counters.get('rx_packets')).toBe(1);
    expectEveryDatagramCounted(vtep);
  });

  it('uses the smaller MSS of the flow’s SYNs (a pod on a narrower link behind the TAP)', () => {
    const { tap, udp, vtep } = vtepWith({ coalesce });
    // The pod behind us answers the SYN with MSS 1360 (its link is 1400): read from the TAP, sent to the peer.
    vtep.fdb.append(0x7a3afe45a376, '192.0.2.2');
    const synAck = Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), hex(`4500 002c 0000 4000 4006 0000 0a000001 0a000002`),
      hex('c350 1f90 00000001 00010000 6012 ffff 0000 0000 0204 0550')]);
    tap.inject(synAck);
    tap.wake();
    // The peer's SYN had said 1410; the data comes back as one super-segment.
    const syn = Buffer.concat([VX, eth('0800'), ipv4(6, tcp(0, 0x02, 6, '02040582'))]);
    udp.inject(syn);
    udp.inject(Buffer.concat([VX, eth('0800'), ipv4(6, tcp(SUPER))]));
    udp.wake();
    const w = tap.written.at(-1)!;
    expect(vnet(w).gsoType).toBe(1);
    expect(vnet(w).gsoSize).toBe(1360);
    expectEveryDatagramCounted(vtep);
  });

  it('IPv6 inside: GSO TCPV6, 40-byte IP header', () => {
    const { tap, udp } = vtepWith({ coalesce });
    const t = tcp(SUPER);
    const ip6 = Buffer.concat([hex(`60000000 ${h16(t.length)} 0640 fd000000000000000000000000000002 fd000000000000000000000000000001`), t]);
    udp.inject(Buffer.concat([VX, eth('86dd'), ip6]));
    udp.wake();
    expect(vnet(tap.written[0]!)).toEqual({ flags: 1, gsoType: 4, hdrLen: 74, gsoSize: TAP_MTU - 60, csumStart: 54, csumOffset: 16 });
  });
});

describe('super-datagrams that cannot be written whole', () => {
  const cases: [string, Buffer, string][] = [
    ['IP length beyond the datagram', Buffer.concat([VX, eth('0800'), ipv4(6, tcp(3000), 20 + 20 + 9000)]), 'rx_super_bad_len'],
    ['TCP data offset below 5 words', Buffer.concat([VX, eth('0800'), ipv4(6, tcp(3000, 0x10, 4))]), 'rx_super_bad_tcp_hdr'],
    ['an ICMP packet larger than the TAP MTU', Buffer.concat([VX, eth('0800'), ipv4(1, Buffer.alloc(3000, 8))]), 'rx_too_big'],
    ['a UDP super-packet without its segment size', Buffer.concat([VX, eth('0800'), ipv4(17, udpSuper(2800))]), 'rx_too_big'],
    ['an oversize non-IP frame', Buffer.concat([VX, eth('88b5'), Buffer.alloc(3000, 1)]), 'rx_too_big'],
  ];
  it.each(cases)('%s: dropped as %s, nothing written', (_what, dgram, reason) => {
    const { tap, udp, vtep } = vtepWith();
    udp.inject(dgram);
    udp.wake();
    expect(tap.written).toHaveLength(0);
    expect(vtep.counters.get(reason as 'rx_too_big')).toBe(1);
    expectEveryDatagramCounted(vtep);
  });
});

describe('UDP GRO: a train of datagrams, or one super-datagram', () => {
  it('an inner UDP super-packet (GRO size = the inner segment size) goes in whole as GSO UDP_L4, with a checksum seed', () => {
    const { tap, udp, vtep } = vtepWith();
    const d = Buffer.concat([VX, eth('0800'), ipv4(17, udpSuper(16 * 1400))]);
    udp.inject(d, '192.0.2.2', 4789, 0, 1400);
    udp.wake();
    expect(tap.written).toHaveLength(1);
    expect(vnet(tap.written[0]!)).toEqual({ flags: 1, gsoType: 5, hdrLen: 42, gsoSize: 1400, csumStart: 34, csumOffset: 6 });
    // The sender had no checksum (0): GSO needs a partial one, the pseudo-header sum over the whole UDP length:
    // 0a00 + 0002 + 0a00 + 0001 + 0011 + 5788 (8 + 22400) = 0x6b9c.
    expect(tap.written[0]!.readUInt16BE(10 + 34 + 6)).toBe(0x6b9c);
    expect(vtep.counters.get('rx_gro_datagrams')).toBe(0);
    expect(vtep.counters.get('rx_datagrams')).toBe(1);
    expectEveryDatagramCounted(vtep);
  });

  it('an inner IPv4 header with options still gets the IPv4 pseudo-header in its checksum seed', () => {
    const { tap, udp, vtep } = vtepWith();
    const l4 = udpSuper(16 * 1400);
    // IHL 6: four option bytes (NOP NOP NOP EOL) after the 20-byte header.
    const ip = Buffer.concat([hex(`4600 ${h16(24 + l4.length)} 1234 4000 4011 0000 0a000002 0a000001 01010100`), l4]);
    udp.inject(Buffer.concat([VX, eth('0800'), ip]), '192.0.2.2', 4789, 0, 1400);
    udp.wake();
    expect(tap.written).toHaveLength(1);
    expect(vnet(tap.written[0]!)).toEqual({ flags: 1, gsoType: 5, hdrLen: 46, gsoSize: 1400, csumStart: 38, csumOffset: 6 });
    // The same pseudo-header as above (addresses, protocol, UDP length): 0x6b9c.
    expect(tap.written[0]!.readUInt16BE(10 + 38 + 6)).toBe(0x6b9c);
    expectEveryDatagramCounted(vtep);
  });

  it('a real GRO train is still split by its size', () => {
    const { tap, udp, vtep } = vtepWith({ coalesce: false });
    const one = Buffer.concat([VX, eth('0800'), ipv4(17, udpSuper(1400))]); // 8 + 14 + 1428 = 1450 bytes
    udp.inject(Buffer.concat([one, one, one]), '192.0.2.2', 4789, 0, one.length);
    udp.wake();
    expect(tap.written).toHaveLength(3);
    expect(vtep.counters.get('rx_gro_datagrams')).toBe(1);
    expect(vtep.counters.get('rx_datagrams')).toBe(3);
    expect(vtep.counters.get('tap_super_writes')).toBe(0);
    expectEveryDatagramCounted(vtep);
  });

  it('lengths that fit neither a train nor one datagram are one drop, rx_super_bad_len', () => {
    const { tap, udp, vtep } = vtepWith();
    const first = Buffer.concat([VX, eth('0800'), ipv4(17, udpSuper(1400), 2000)]);
    udp.inject(Buffer.concat([first, first, first]), '192.0.2.2', 4789, 0, first.length);
    udp.wake();
    expect(tap.written).toHaveLength(0);
    expect(vtep.counters.get('rx_super_bad_len')).toBe(1);
    expectEveryDatagramCounted(vtep);
  });
});

describe('TAP super-frames with an impossible gso_size', () => {
  it.each([0, 6000])('gso_size %i: dropped as tx_gso_bad_size, nothing sent', (gsoSize) => {
    const { tap, udp, vtep } = vtepWith({ tso: true });
    vtep.fdb.append(0x7a3afe45a376, '192.0.2.2');
    const frame = Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), ipv4(6, tcp(5000))]);
    const h = Buffer.alloc(10);
    h[0] = 1;
    h[1] = 1;
    h.writeUInt16LE(54, 2);
    h.writeUInt16LE(gsoSize, 4);
    h.writeUInt16LE(34, 6);
    h.writeUInt16LE(16, 8);
    tap.inbox.push(Buffer.concat([h, frame]));
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(vtep.counters.get('tx_gso_bad_size')).toBe(1);
  });
});
