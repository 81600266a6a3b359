// --trace: the line format per decision and drop reason, over a real Vtep on the fake platform; the rate limit;
// and the zero-cost-when-off contract (no observer installed).
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { describeFrame, TracePrinter } from '../../src/dataplane/trace.js';
import { octets, refChecksum } from '../wire/helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
/** An IPv4 header with its checksum filled in by the reference implementation of the wire tests. */
function ip4(h: string): Buffer {
  const b = hex(h);
  b.writeUInt16BE(refChecksum(octets(b)), 10);
  return b;
}
const OWN_MAC = 0xc26a9be5398d; // c2:6a:9b:e5:39:8d
const PEER_MAC = 0x12d1df443daa; // 12:d1:df:44:3d:aa

// ICMP echo request 10.234.111.10 -> 10.235.113.10, id 7 seq 1, 8 bytes of ICMP (checksums irrelevant here).
const ICMP = Buffer.concat([ip4('4500 001c 0001 4000 3f01 0000 0aea6f0a 0aeb710a'), hex('0800 0000 0007 0001')]);
const TO_PEER = Buffer.concat([hex('12d1df443daa c26a9be5398d 0800'), ICMP]);
const FROM_PEER = Buffer.concat([hex('c26a9be5398d 12d1df443daa 0800'), ICMP]);
// ARP who-has 179.17.1.44 tell 179.17.1.21, from the TAP (broadcast).
const ARP_REQ = hex('ffffffffffff c26a9be5398d 0806' + '0001 0800 06 04 0001 c26a9be5398d b3110115 000000000000 b311012c');

function setup(opts: { neigh?: boolean; fdb?: boolean; remotes?: string[] } = {}) {
  const tap = new FakeTap('vxlan-test', true);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: OWN_MAC, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4899 });
  if (opts.fdb !== false) vtep.fdb.append(PEER_MAC, '192.168.0.44');
  for (const r of opts.remotes ?? []) vtep.fdb.append(0, r);
  if (opts.neigh) vtep.neigh = new Map([[0xb311012c, PEER_MAC]]);
  vtep.start();
  const lines: string[] = [];
  let t = Date.UTC(2024, 0, 1, 12, 0, 0);
  const printer = new TracePrinter({ vni: 10001, tapName: 'vxlan-test', localIp: '192.168.0.21', localPort: 4899 }, (l) => lines.push(l), {
    now: () => t,
    ratePerS: 10,
    burst: 3,
  });
  vtep.observer = printer;
  return { tap, udp, vtep, lines, printer, advance: (ms: number) => (t += ms) };
}

const strip = (l: string): string => l.replace(/^\d\d:\d\d:\d\d\.\d{6} /, '');

describe('--trace lines', () => {
  it('encap by FDB: outer endpoints, VXLAN flags and VNI, the inner frame, the FDB row', () => {
    const { tap, lines } = setup();
    tap.inject(TO_PEER);
    tap.wake();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{6} tx /);
    expect(strip(lines[0]!)).toBe(
      'tx 192.168.0.21.4899 > 192.168.0.44.4899: VXLAN flags [I] vni 10001 | c2:6a:9b:e5:39:8d > 12:d1:df:44:3d:aa IPv4 10.234.111.10 > 10.235.113.10 ICMP echo request id 7 seq 1 length 8 | fdb 12:d1:df:44:3d:aa -> 192.168.0.44:4899',
    );
  });

  it('decap delivered, and decap dropped with the reason and the VNI it carried', () => {
    const { udp, lines } = setup();
    udp.inject(Buffer.concat([hex('08000000 00271100'), FROM_PEER]), '192.168.0.44', 4899);
    udp.inject(Buffer.concat([hex('08000000 00271200'), FROM_PEER]), '192.168.0.44', 4899);
    udp.inject(Buffer.concat([hex('00000000 00271100'), FROM_PEER]), '192.168.0.44', 4899);
    udp.wake();
    expect(lines.map(strip)).toEqual([
      'rx 192.168.0.44.4899 > 192.168.0.21.4899: VXLAN flags [I] vni 10001 | 12:d1:df:44:3d:aa > c2:6a:9b:e5:39:8d IPv4 10.234.111.10 > 10.235.113.10 ICMP echo request id 7 seq 1 length 8 | delivered to vxlan-test',
      'rx 192.168.0.44.4899 > 192.168.0.21.4899: VXLAN flags [I] vni 10002 | 12:d1:df:44:3d:aa > c2:6a:9b:e5:39:8d IPv4 10.234.111.10 > 10.235.113.10 ICMP echo request id 7 seq 1 length 8 | DROP rx_wrong_vni: the VNI is not ours (10002, ours is 10001)',
      'rx 192.168.0.44.4899 > 192.168.0.21.4899: VXLAN flags 0x00 [no I] vni 10001 | 12:d1:df:44:3d:aa > c2:6a:9b:e5:39:8d IPv4 10.234.111.10 > 10.235.113.10 ICMP echo request id 7 seq 1 length 8 | DROP rx_bad_flags: the I flag is clear',
    ]);
  });

  it('proxy-ARP shows the reply it wrote back; an FDB miss shows the drop reason; a flood its copies', () => {
    const a = setup({ neigh: true });
    a.tap.inject(ARP_REQ);
    a.tap.wake();
    expect(strip(a.lines[0]!)).toBe(
      'tap vxlan-test < 12:d1:df:44:3d:aa > c2:6a:9b:e5:39:8d ARP reply 179.17.1.44 is-at 12:d1:df:44:3d:aa | proxy-ARP: answered from the neighbour table, nothing sent',
    );
    const b = setup({ fdb: false });
    b.tap.inject(TO_PEER);
    b.tap.wake();
    expect(strip(b.lines[0]!)).toMatch(/^tx DROP tx_fdb_miss: c2:6a:9b:e5:39:8d > 12:d1:df:44:3d:aa IPv4 .* \| no FDB entry for the destination MAC and no default destination$/);
    const c = setup({ fdb: false, remotes: ['192.168.0.31', '192.168.0.16'] });
    c.tap.inject(ARP_REQ);
    c.tap.wake();
    expect(strip(c.lines[0]!)).toBe(
      'tx 192.168.0.21.4899 > 192.168.0.31.4899,192.168.0.16.4899: VXLAN flags [I] vni 10001 | c2:6a:9b:e5:39:8d > ff:ff:ff:ff:ff:ff ARP who-has 179.17.1.44 tell 179.17.1.21 | flood: 2 copies to the default destinations (broadcast/multicast)',
    );
  });

  it('is rate-limited: a burst, then the rate, and a line that says how many were not shown', () => {
    const { tap, lines, advance, printer } = setup();
    for (let i = 0; i < 10; i++) tap.inject(TO_PEER);
    tap.wake();
    expect(lines).toHaveLength(3); // the burst
    expect(printer.suppressed).toBe(7);
    advance(100); // one token at 10/s
    tap.inject(TO_PEER);
    tap.wake();
    expect(lines).toHaveLength(5);
    expect(strip(lines[3]!)).toBe('trace: 7 packets not shown (rate limit 10/s after a burst of 3)');
    expect(printer.suppressed).toBe(0);
  });

  it('off means no observer at all: the dataplane never calls into the printer', () => {
    const { tap, vtep, lines } = setup();
    vtep.observer = undefined;
    tap.inject(TO_PEER);
    tap.wake();
    expect(lines).toHaveLength(0);
    expect(vtep.counters.get('tx_packets')).toBe(1);
  });

  it('describeFrame: TCP flags and ports, UDP, IPv6 ICMPv6, unknown ethertypes', () => {
    const tcp = Buffer.concat([
      hex('12d1df443daa c26a9be5398d 0800'),
      ip4('4500 0028 0001 4000 4006 0000 0aea6f0a 0aeb710a'),
      hex('c350 1f90 00000064 00000000 5002 ffff 0000 0000'),
    ]);
    expect(describeFrame(tcp, 0, tcp.length)).toBe('c2:6a:9b:e5:39:8d > 12:d1:df:44:3d:aa IPv4 10.234.111.10.50000 > 10.235.113.10.8080 TCP [S] seq 100 length 0');
    const udp = Buffer.concat([hex('12d1df443daa c26a9be5398d 0800'), ip4('4500 0020 0001 4000 4011 0000 0aea6f0a 0aeb710a'), hex('0035 0035 000c 0000 61626364')]);
    expect(describeFrame(udp, 0, udp.length)).toMatch(/IPv4 10\.234\.111\.10\.53 > 10\.235\.113\.10\.53 UDP length 4$/);
    const ns = Buffer.concat([
      hex('3333ff000001 c26a9be5398d 86dd'),
      hex('6000 0000 0008 3aff fe800000000000000000000000000001 ff0200000000000000000001ff000001'),
      hex('8700 0000 00000000'),
    ]);
    expect(describeFrame(ns, 0, ns.length)).toBe('c2:6a:9b:e5:39:8d > 33:33:ff:00:00:01 IPv6 fe80::1 > ff02::1:ff00:1 ICMPv6 neighbor solicitation length 8');
    const badSum = Buffer.from(tcp);
    badSum[14 + 10] = badSum[14 + 10]! ^ 0xff;
    expect(describeFrame(badSum, 0, badSum.length)).toContain('12:d1:df:44:3d:aa [bad IP checksum] IPv4 10.234.111.10.50000 >');
    expect(describeFrame(hex('ffffffffffff c26a9be5398d 88cc 0000'), 0, 16)).toBe('c2:6a:9b:e5:39:8d > ff:ff:ff:ff:ff:ff ethertype 0x88cc length 16');
  });
});
