// PMTU signalling (icmp-pmtu.ts through the Vtep): frames too big for the underlay are dropped, counted and
// answered into the TAP like the kernel's iptunnel_pmtud_build_icmp[v6]. Checksums are verified here with a
// slow reference sum, independent of src/wire/checksum.ts.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
const PEER_MAC = 0x7a3afe45a376;

/** RFC 1071, the slow way: true when the one's complement sum of the words is 0xffff. */
function sumOk(b: Buffer, initial = 0): boolean {
  let s = initial;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s === 0xffff;
}

function make() {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  // A 1500-byte underlay: 1472 bytes of UDP payload, so inner IP packets up to 1450.
  const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1518, dstport: 4899 });
  vtep.fdb.append(PEER_MAC, '192.168.0.31');
  vtep.start();
  return { tap, udp, vtep };
}

/** Ethernet c2:6a.. -> 7a:3a.., IPv4 179.17.1.21 -> 179.17.1.31, ICMP echo, `ipLen` bytes of IP in all. */
function v4Frame(ipLen: number, flags = 0x4000, proto = 1, icmpType = 8): Buffer {
  const f = Buffer.alloc(14 + ipLen, 0x5a);
  hex('7a3afe45a376 c26a9be5398d 0800').copy(f, 0);
  hex(`45 00 ${ipLen.toString(16).padStart(4, '0')} 1234 ${flags.toString(16).padStart(4, '0')} 40 ${proto.toString(16).padStart(2, '0')} 0000 b3110115 b311011f`).copy(f, 14);
  f[34] = icmpType;
  f[35] = 0;
  return f;
}

describe('PMTU: IPv4', () => {
  it('answers a DF packet of 1472 bytes (ping -M do -s 1472) with "fragmentation needed", MTU 1450, from the inner destination', () => {
    const { tap, udp, vtep } = make();
    const frame = v4Frame(1500);
    tap.inject(frame);
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(vtep.counters.get('tx_too_big')).toBe(1);
    expect(vtep.counters.get('pmtu_icmp_sent')).toBe(1);
    expect(tap.written).toHaveLength(1);
    expect(tap.written[0]!.subarray(0, 10).equals(Buffer.alloc(10))).toBe(true);
    const r = tap.frames()[0]!;
    expect(r.length).toBe(14 + 576);
    expect(r.subarray(0, 14).toString('hex')).toBe('c26a9be5398d7a3afe45a3760800');
    const ip = r.subarray(14, 34);
    // version/IHL 45, tos 0, length 576, id 0, DF, TTL 64 (the packet's), ICMP, 179.17.1.31 -> 179.17.1.21
    expect(ip.toString('hex')).toMatch(/^45000240000040004001....b311011fb3110115$/);
    expect(sumOk(ip)).toBe(true);
    const icmp = r.subarray(34);
    expect(icmp.subarray(0, 8).toString('hex')).toMatch(/^0304....000005aa$/); // type 3 code 4, MTU 1450
    expect(sumOk(icmp)).toBe(true);
    // The quote: the original IP packet's first 548 bytes.
    expect(icmp.subarray(8).equals(frame.subarray(14, 14 + 548))).toBe(true);
  });

  it('lets a frame of exactly the inner MTU through', () => {
    const { tap, udp, vtep } = make();
    tap.inject(v4Frame(1450));
    tap.wake();
    expect(udp.sent).toHaveLength(1);
    expect(vtep.counters.get('tx_too_big')).toBe(0);
  });

  it.each([
    ['without DF', v4Frame(1500, 0x0000)],
    ['a DF fragment (MF set)', v4Frame(1500, 0x6000)],
    ['an ICMP error itself', v4Frame(1500, 0x4000, 1, 3)],
    ['an ARP-sized non-IP frame', Buffer.concat([hex('7a3afe45a376 c26a9be5398d 88b5'), Buffer.alloc(1500)])],
  ])('drops but does not answer %s', (_what, frame) => {
    const { tap, udp, vtep } = make();
    tap.inject(frame);
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(tap.written).toHaveLength(0);
    expect(vtep.counters.get('tx_too_big')).toBe(1);
    expect(vtep.counters.get('pmtu_icmp_sent')).toBe(0);
  });
});

describe('PMTU: IPv6', () => {
  it('answers with ICMPv6 "packet too big", MTU 1450, quote trimmed to 1232, checksum over the pseudo-header', () => {
    const { tap, vtep } = make();
    const frame = Buffer.alloc(14 + 1500, 0x77);
    hex('7a3afe45a376 c26a9be5398d 86dd').copy(frame, 0);
    // version 6, payload 1460, next header UDP (17), hop limit 63, 2001:db8::1 -> 2001:db8::2
    hex('60000000 05b4 11 3f 20010db8000000000000000000000001 20010db8000000000000000000000002').copy(frame, 14);
    tap.inject(frame);
    tap.wake();
    expect(vtep.counters.get('pmtu_icmp_sent')).toBe(1);
    const r = tap.frames()[0]!;
    expect(r.length).toBe(14 + 1280);
    expect(r.subarray(0, 14).toString('hex')).toBe('c26a9be5398d7a3afe45a37686dd');
    expect(r.subarray(14, 54).toString('hex')).toBe(
      '60000000 04d8 3a 3f 20010db8000000000000000000000002 20010db8000000000000000000000001'.replace(/ /g, ''),
    );
    const icmp = r.subarray(54);
    expect(icmp.subarray(0, 8).toString('hex')).toMatch(/^0200....000005aa$/);
    // Pseudo-header: src, dst, upper-layer length 1240, next header 58.
    let ph = 1240 + 58;
    for (let i = 0; i < 32; i += 2) ph += r.readUInt16BE(22 + i);
    expect(sumOk(icmp, ph)).toBe(true);
    expect(icmp.subarray(8).equals(frame.subarray(14, 14 + 1232))).toBe(true);
  });
});
