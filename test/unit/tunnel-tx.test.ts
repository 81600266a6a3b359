// The tunnel-GSO send path: a TCP super-frame read from the overlay TAP leaves as ONE encapsulated super-packet
// written into the underlay-side TAP, with the 24-byte virtio-net header the kernel needs (notes/tunnel-gso.md).
// Expected bytes are written out by hand here, from the note's offsets, not from the code under test.
import { describe, expect, it } from 'vitest';
import { TunnelTx } from '../../src/dataplane/tunnel-tx.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { csumAdd } from '../../src/wire/checksum.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const h16 = (n: number): string => n.toString(16).padStart(4, '0');
const TX_MAC = 0x02aabbccddee;
const PEER_MAC = 0x7a3afe45a376;

/** A TSO super-frame as the host stack hands it to a TAP: vnet header (GSO TCPV4, NEEDS_CSUM) + frame. */
function tsoFrame(payload: number, mss: number, innerTos = 0): Buffer {
  const tcpLen = 20 + payload;
  const frame = Buffer.concat([
    hex('7a3afe45a376 c26a9be5398d 0800'),
    hex(`45${innerTos.toString(16).padStart(2, '0')} ${h16(20 + tcpLen)} 0001 4000 4006 0000 0a000001 0a000002`),
    hex('c350 1f90 00001000 00000001 5010 ffff 1234 0000'), // check field: the pseudo-header seed (left as is)
    Buffer.alloc(payload, 0x61),
  ]);
  const vnet = hex(`01 01 3600 ${mss.toString(16).padStart(4, '0').replace(/(..)(..)/, '$2$1')} 2200 1000`);
  return Buffer.concat([vnet, frame]);
}

function setup(fdbVni?: number) {
  const tap = new FakeTap('vx0', true);
  const under = new FakeTap('vx0-tx', false);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  const tunnel = new TunnelTx({ tap: under, tapMac: TX_MAC, local: '192.168.0.21', ttl: 64, udpCsum: true }, udp.destinationSlots);
  const vtep = new Vtep(tap, udp, {
    vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, tapMtu: 1450, dstport: 4899,
    tso: true, udpGso: true, tunnelTx: tunnel,
  });
  vtep.fdb.append(PEER_MAC, '192.168.0.31', undefined, fdbVni);
  vtep.start();
  return { tap, under, udp, vtep };
}

describe('tunnel send path', () => {
  it('writes one whole super-packet: virtio-net v1 tunnel header, outer Ethernet/IPv4/UDP/VXLAN, inner untouched', () => {
    const { tap, under, udp, vtep } = setup();
    const f = tsoFrame(14000, 1398, 0x02);
    tap.inbox.push(f);
    tap.wake();
    expect(udp.sent).toHaveLength(0);
    expect(under.written).toHaveLength(1);
    const w = under.written[0]!;
    const inner = f.subarray(10);
    expect(w.length).toBe(24 + 50 + inner.length);
    // flags NEEDS_CSUM | UDP_TUNNEL_CSUM, gso_type TCPV4 | UDP_TUNNEL_IPV4, hdr_len 50+54, gso_size 1398,
    // csum_start 50+34, csum_offset 16, num_buffers/hash 0, outer_th_offset 34, inner_nh_offset 64.
    expect(w.subarray(0, 24).toString('hex')).toBe('0921' + '6800' + '7605' + '5400' + '1000' + '00'.repeat(10) + '2200' + '4000');
    const o = w.subarray(24);
    expect(o.subarray(0, 14).toString('hex')).toBe('02aabbccddee' + o.subarray(6, 12).toString('hex') + '0800');
    expect(o[6]! & 1).toBe(0); // a unicast source MAC
    const ip = o.subarray(14, 34);
    expect(ip[0]).toBe(0x45);
    expect(ip[1]).toBe(0x02); // ECT(0) from the inner packet (INET_ECN_encapsulate), TOS 0
    expect(ip.readUInt16BE(2)).toBe(20 + 8 + 8 + inner.length);
    expect(ip.readUInt16BE(6)).toBe(0); // DF clear: the kernel's default `df unset`, as the socket path
    expect(ip[8]).toBe(65); // TTL 64 on the wire after the host's forwarding takes one off
    expect(ip[9]).toBe(17);
    expect(ip.subarray(12, 20).toString('hex')).toBe('c0a80015' + 'c0a8001f');
    let sum = csumAdd(ip, 0, 20, 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff); // the header checksum verifies
    const u = o.subarray(34, 42);
    expect(u.readUInt16BE(0)).toBe(4899); // the socket path's source port (the --dstport socket)
    expect(u.readUInt16BE(2)).toBe(4899);
    expect(u.readUInt16BE(4)).toBe(8 + 8 + inner.length);
    // Seed: folded pseudo-header sum c0a8+0015+c0a8+001f+0011+UDP length, not complemented.
    let seed = 0xc0a8 + 0x0015 + 0xc0a8 + 0x001f + 0x0011 + (16 + inner.length);
    while (seed > 0xffff) seed = (seed & 0xffff) + (seed >>> 16);
    expect(u.readUInt16BE(6)).toBe(seed);
    expect(o.subarray(42, 50).toString('hex')).toBe('08000000' + '00271100');
    expect(o.subarray(50).equals(inner)).toBe(true);
    const c = vtep.counters;
    expect(c.get('tx_tunnel_writes')).toBe(1);
    expect(c.get('tx_tso_segments')).toBe(Math.ceil(14000 / 1398));
    expect(c.get('tx_packets')).toBe(Math.ceil(14000 / 1398));
  });

  it('a remote with its own VNI gets it in the outer VXLAN header', () => {
    const { tap, under } = setup(5000);
    tap.inbox.push(tsoFrame(8000, 1398));
    tap.wake();
    expect(under.written[0]!.subarray(24 + 42, 24 + 50).toString('hex')).toBe('08000000' + '00138800');
  });

  it('segments too big for the underlay are dropped whole (tx_too_big), as on the socket path', () => {
    const { tap, under, vtep } = setup();
    tap.inbox.push(tsoFrame(8000, 1430));
    tap.wake();
    expect(under.written).toHaveLength(0);
    expect(vtep.counters.get('tx_too_big')).toBe(1);
  });
});

describe('socket path: per-remote VNI on TSO super-frames', () => {
  it('every segment to a remote with its own VNI carries that VNI', () => {
    const tap = new FakeTap('vx0', true);
    const udp = new FakeUdpBind('192.168.0.21', 4899);
    const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4899, tso: true, udpGso: true });
    vtep.fdb.append(PEER_MAC, '192.168.0.31', undefined, 5000);
    vtep.fdb.append(PEER_MAC, '192.168.0.41');
    vtep.start();
    tap.inbox.push(tsoFrame(8000, 1398));
    tap.wake();
    const n = Math.ceil(8000 / 1398);
    const stride = 8 + 54 + 1398;
    const vnis = new Map<string, Set<string>>();
    for (const d of udp.sent) {
      for (let at = 0; at < d.data.length; at += stride) {
        const set = vnis.get(d.ip) ?? new Set<string>();
        set.add(d.data.subarray(at + 4, at + 7).toString('hex'));
        vnis.set(d.ip, set);
      }
    }
    expect([...vnis.get('192.168.0.31')!]).toEqual(['001388']); // VNI 5000
    expect([...vnis.get('192.168.0.41')!]).toEqual(['002711']); // the instance VNI 10001
    expect(vtep.counters.get('tx_tso_segments')).toBe(n);
  });
});
