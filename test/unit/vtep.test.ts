// Dataplane behaviour over the in-memory fake platform. Expected bytes are written out by hand here, never
// produced by the code under test.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { C } from '../../src/dataplane/counters.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

const OWN_MAC = 0xc26a9be5398d; // c2:6a:9b:e5:39:8d
const PEER_MAC = 0x7a3afe45a376; // 7a:3a:fe:45:a3:76
const VNI = 10001; // 0x002711

// An ICMP echo request 179.17.1.21 -> 179.17.1.31 inside Ethernet c2:6a:.. -> 7a:3a:..
const ETH_TO_PEER = hex('7a3afe45a376 c26a9be5398d 0800');
const ETH_FROM_PEER = hex('c26a9be5398d 7a3afe45a376 0800');
const ICMP_PKT = hex(
  '4500 001c 0001 0000 4001 0000 b3110115 b311011f' + // IPv4 header (checksum not relevant to the VTEP)
    '0800 f7fe 0001 0000', // ICMP echo request id 1 seq 0
);
const VXLAN_HDR_10001 = hex('08000000 00271100');

function make(opts: { remotes?: string[]; fdb?: [number, string, number?][] } = {}) {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  const vtep = new Vtep(tap, udp, { vni: VNI, ownMac: OWN_MAC, maxUdpPayload: 1500 - 28, maxFrame: 1450 + 18, dstport: 4899 });
  for (const r of opts.remotes ?? []) vtep.fdb.append(0, r);
  for (const [mac, ip, port] of opts.fdb ?? []) vtep.fdb.append(mac, ip, port);
  vtep.start();
  return { tap, udp, vtep };
}

describe('encapsulation (TAP → UDP)', () => {
  it('sends a known unicast MAC to its FDB remote with an 8-byte VXLAN header in front', () => {
    const { tap, udp, vtep } = make({ fdb: [[PEER_MAC, '192.168.0.31']] });
    const frame = Buffer.concat([ETH_TO_PEER, ICMP_PKT]);
    tap.inject(frame);
    tap.wake();
    expect(udp.sent).toHaveLength(1);
    expect(udp.sent[0]!.ip).toBe('192.168.0.31');
    expect(udp.sent[0]!.port).toBe(4899);
    expect(udp.sent[0]!.data.toString('hex')).toBe(Buffer.concat([VXLAN_HDR_10001, frame]).toString('hex'));
    expect(vtep.counters.get('tx_packets')).toBe(1);
    expect(vtep.counters.get('tx_bytes')).toBe(8 + frame.length);
  });

  it('uses the port of the FDB entry when it has one', () => {
    const { tap, udp } = make({ fdb: [[PEER_MAC, '192.168.0.31', 8472]] });
    tap.inject(Buffer.concat([ETH_TO_PEER, ICMP_PKT]));
    tap.wake();
    expect(udp.sent[0]!.port).toBe(8472);
  });

  it('floods a broadcast to every default destination exactly once (head-end replication)', () => {
    const { tap, udp, vtep } = make({ remotes: ['192.168.0.31', '192.168.0.16'] });
    const bcast = Buffer.concat([hex('ffffffffffff c26a9be5398d 0806'), Buffer.alloc(28)]);
    tap.inject(bcast);
    tap.wake();
    expect(udp.sent.map((d) => d.ip).sort()).toEqual(['192.168.0.16', '192.168.0.31']);
    expect(vtep.counters.get('tx_flood_frames')).toBe(1);
    expect(vtep.counters.get('tx_flood_copies')).toBe(2);
  });

  it('floods unknown unicast to the default destinations, and drops it when there are none', () => {
    const a = make({ remotes: ['192.168.0.31'] });
    a.tap.inject(Buffer.concat([ETH_TO_PEER, ICMP_PKT]));
    a.tap.wake();
    expect(a.udp.sent).toHaveLength(1);
    const b = make();
    b.tap.inject(Buffer.concat([ETH_TO_PEER, ICMP_PKT]));
    b.tap.wake();
    expect(b.udp.sent).toHaveLength(0);
    expect(b.vtep.counters.get('tx_fdb_miss')).toBe(1);
  });

  it('drops runts and frames that would not fit the underlay, counting each', () => {
    const { tap, udp, vtep } = make({ fdb: [[PEER_MAC, '192.168.0.31']] });
    tap.inject(hex('7a3afe45a376c26a')); // 8 bytes
    tap.inject(Buffer.concat([ETH_TO_PEER, Buffer.alloc(1460)])); // 8 + 1474 > 1472
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(vtep.counters.get('tx_runt')).toBe(1);
    expect(vtep.counters.get('tx_too_big')).toBe(1);
    expect(vtep.counters.get('tx_frames')).toBe(2);
  });

  it('counts datagrams the socket refused as full', () => {
    const { tap, udp, vtep } = make({ fdb: [[PEER_MAC, '192.168.0.31']] });
    udp.failNextFull = 1;
    tap.inject(Buffer.concat([ETH_TO_PEER, ICMP_PKT]));
    tap.wake();
    expect(vtep.counters.get('tx_sock_full')).toBe(1);
    expect(vtep.counters.get('tx_packets')).toBe(0);
  });

  it('drains more frames than one batch holds in one wakeup', () => {
    const { tap, udp } = make({ fdb: [[PEER_MAC, '192.168.0.31']] });
    for (let i = 0; i < 200; i++) tap.inject(Buffer.concat([ETH_TO_PEER, ICMP_PKT]));
    tap.wake();
    expect(udp.sent).toHaveLength(200);
  });
});

describe('proxy-ARP', () => {
  // who-has 179.17.1.31 tell 179.17.1.21, from c2:6a:9b:e5:39:8d
  const request = hex(
    'ffffffffffff c26a9be5398d 0806' +
      '0001 0800 06 04 0001 c26a9be5398d b3110115 000000000000 b311011f',
  );
  // 179.17.1.31 is-at 7a:3a:fe:45:a3:76
  const reply = hex(
    'c26a9be5398d 7a3afe45a376 0806' +
      '0001 0800 06 04 0002 7a3afe45a376 b311011f c26a9be5398d b3110115',
  );

  it('answers a request for a static neighbour on the TAP; nothing leaves the host', () => {
    const { tap, udp, vtep } = make({ remotes: ['192.168.0.31'] });
    vtep.neigh = new Map([[0xb311011f, PEER_MAC]]);
    tap.inject(request);
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(tap.frames().map((f) => f.toString('hex'))).toEqual([reply.toString('hex')]);
    expect(tap.written[0]!.subarray(0, 10).equals(Buffer.alloc(10))).toBe(true);
    expect(vtep.counters.get('arp_proxied')).toBe(1);
  });

  it('floods a request for an address it does not know', () => {
    const { tap, udp, vtep } = make({ remotes: ['192.168.0.31'] });
    vtep.neigh = new Map([[0xb3110110, PEER_MAC]]);
    tap.inject(request);
    tap.wake();
    expect(udp.sent).toHaveLength(1);
    expect(tap.written).toHaveLength(0);
  });
});

describe('decapsulation (UDP → TAP)', () => {
  const frame = Buffer.concat([ETH_FROM_PEER, ICMP_PKT]);

  it('writes the inner frame of a valid datagram to the TAP', () => {
    const { tap, udp, vtep } = make();
    udp.inject(Buffer.concat([VXLAN_HDR_10001, frame]));
    udp.wake();
    expect(tap.frames().map((f) => f.toString('hex'))).toEqual([frame.toString('hex')]);
    expect(vtep.counters.get('rx_packets')).toBe(1);
    expect(vtep.counters.get('rx_bytes')).toBe(frame.length);
  });

  it.each([
    ['rx_short', Buffer.concat([VXLAN_HDR_10001, frame.subarray(0, 13)])],
    ['rx_bad_flags', Buffer.concat([hex('00000000 00271100'), frame])],
    ['rx_reserved_bits', Buffer.concat([hex('0c000000 00271100'), frame])],
    ['rx_reserved_bits', Buffer.concat([hex('08000000 00271101'), frame])],
    ['rx_reserved_bits', Buffer.concat([hex('08000100 00271100'), frame])],
    ['rx_wrong_vni', Buffer.concat([hex('08000000 00271200'), frame])],
    ['rx_loop', Buffer.concat([VXLAN_HDR_10001, hex('7a3afe45a376 c26a9be5398d 0800'), ICMP_PKT])],
    ['rx_bad_src_mac', Buffer.concat([VXLAN_HDR_10001, hex('c26a9be5398d 010203040506 0800'), ICMP_PKT])],
    ['rx_bad_src_mac', Buffer.concat([VXLAN_HDR_10001, hex('c26a9be5398d 000000000000 0800'), ICMP_PKT])],
  ])('drops and counts %s', (reason, datagram) => {
    const { tap, udp, vtep } = make();
    udp.inject(datagram);
    udp.wake();
    expect(tap.written).toHaveLength(0);
    expect(vtep.counters.get(reason as 'rx_short')).toBe(1);
    expect(vtep.counters.get('rx_datagrams')).toBe(1);
  });

  it('hands inner TCP checksums to the kernel as partial (NEEDS_CSUM), so a kernel peer\'s partial sums work', () => {
    // TCP SYN 10.0.0.1:1000 -> 10.0.0.2:2000, checksum field garbage (as a partial sum would look to us).
    const ip = hex('4500 0028 0000 4000 4006 0000 0a000001 0a000002');
    const tcp = hex('03e8 07d0 00000001 00000000 5002 ffff 1234 0000');
    const inner = Buffer.concat([ETH_FROM_PEER, ip, tcp, Buffer.alloc(6)]); // + 6 bytes Ethernet padding
    const { tap, udp } = make();
    udp.inject(Buffer.concat([VXLAN_HDR_10001, inner]));
    udp.wake();
    const w = tap.written[0]!;
    // virtio_net_hdr: flags NEEDS_CSUM, gso none, hdr_len 0, gso_size 0, csum_start 34, csum_offset 16 (LE)
    expect(w.subarray(0, 10).toString('hex')).toBe('01000000000022001000');
    // Pseudo-header sum, folded, not complemented: 0a00+0001+0a00+0002+0006+0014 = 0x141d
    expect(w.readUInt16BE(10 + 34 + 16)).toBe(0x141d);
    // Trimmed to the IP length: the padding must not enter the checksum the kernel completes.
    expect(w.length).toBe(10 + 14 + 40);
  });

  it('leaves an IPv4 UDP datagram without checksum (0) alone', () => {
    const ip = hex('4500 001c 0000 4000 4011 0000 0a000001 0a000002');
    const udpHdr = hex('03e8 07d0 0008 0000');
    const { tap, udp } = make();
    udp.inject(Buffer.concat([VXLAN_HDR_10001, ETH_FROM_PEER, ip, udpHdr]));
    udp.wake();
    expect(tap.written[0]!.subarray(0, 10).equals(Buffer.alloc(10))).toBe(true);
    expect(tap.written[0]!.readUInt16BE(10 + 34 + 6)).toBe(0);
  });
});

describe('--peers-only and the packet observer', () => {
  const frame = Buffer.concat([ETH_FROM_PEER, ICMP_PKT]);

  it('drops datagrams from an underlay address that is not a known remote', () => {
    const { tap, udp, vtep } = make({ fdb: [[PEER_MAC, '192.168.0.31']] });
    vtep.peersOnly = true;
    udp.inject(Buffer.concat([VXLAN_HDR_10001, frame]), '192.168.0.99');
    udp.inject(Buffer.concat([VXLAN_HDR_10001, frame]), '192.168.0.31');
    udp.wake();
    expect(tap.written).toHaveLength(1);
    expect(vtep.counters.get('rx_unknown_peer')).toBe(1);
    expect(vtep.counters.get('rx_packets')).toBe(1);
  });

  it('reports each packet with its verdict (counter index) to an observer', () => {
    const { tap, udp, vtep } = make({ fdb: [[PEER_MAC, '192.168.0.31']] });
    const seen: string[] = [];
    vtep.observer = {
      onEncap: (_b, _fo, flen, verdict, entry) => seen.push(`encap ${flen} ${verdict} ${entry?.remotes[0]?.ip}`),
      onDecap: (_b, _ho, len, verdict) => seen.push(`decap ${len} ${verdict}`),
    };
    tap.inject(Buffer.concat([ETH_TO_PEER, ICMP_PKT]));
    tap.wake();
    udp.inject(Buffer.concat([hex('08000000 00271200'), frame]));
    udp.wake();
    expect(seen).toEqual([
      `encap ${14 + 28} ${C.tx_packets} 192.168.0.31`,
      `decap ${8 + 14 + 28} ${C.rx_wrong_vni}`,
    ]);
  });
});
