// Receive-side TCP coalescing: consecutive segments of one flow become one GSO super-frame on the TAP.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const VX = hex('0800000000271100');
const ETH = hex('c26a9be5398d 7a3afe45a376 0800');

/** One inner IPv4/TCP segment 10.0.0.2:8080 -> 10.0.0.1:50000 carrying `len` bytes at `seq`. */
function segment(seq: number, len: number, flags = 0x10, srcPort = 0x1f90): Buffer {
  const ip = hex(`4500 ${(40 + len).toString(16).padStart(4, '0')} 0000 4000 4006 0000 0a000002 0a000001`);
  const tcp = hex(`${srcPort.toString(16).padStart(4, '0')} c350 ${seq.toString(16).padStart(8, '0')} 00000001 50${flags.toString(16).padStart(2, '0')} ffff 0000 0000`);
  const data = Buffer.alloc(len);
  for (let i = 0; i < len; i++) data[i] = (seq + i) & 0xff;
  return Buffer.concat([VX, ETH, ip, tcp, data]);
}

function run(datagrams: Buffer[]) {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind();
  const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789, rxCoalesce: true });
  vtep.start();
  for (const d of datagrams) udp.inject(d);
  udp.wake();
  return { tap, vtep };
}

describe('receive coalescing (userspace GRO)', () => {
  it('glues contiguous segments of one flow into one GSO TCPV4 super-frame', () => {
    const { tap, vtep } = run([segment(1000, 100), segment(1100, 100), segment(1200, 40, 0x18)]);
    expect(tap.written).toHaveLength(1);
    const w = tap.written[0]!;
    // virtio_net_hdr: NEEDS_CSUM, GSO TCPV4, hdr_len 54, gso_size 100, csum_start 34, csum_offset 16
    expect(w.subarray(0, 10).toString('hex')).toBe('010136006400220010' + '00');
    const f = w.subarray(10);
    expect(f.readUInt16BE(14 + 2)).toBe(20 + 20 + 240); // IP total length
    expect(f[34 + 13]).toBe(0x18); // PSH from the last segment
    for (let i = 0; i < 240; i++) expect(f[54 + i]).toBe((1000 + i) & 0xff);
    expect(vtep.counters.get('rx_packets')).toBe(3);
    expect(vtep.counters.get('rx_coalesced_frames')).toBe(1);
    expect(vtep.counters.get('rx_coalesced_segments')).toBe(3);
  });

  it('keeps order and flushes on a gap, another flow, or a non-data packet', () => {
    const { tap, vtep } = run([
      segment(1000, 100),
      segment(1100, 100),
      segment(5000, 100), // gap: a new super-frame starts
      segment(5100, 100, 0x10, 0x1f91), // another flow (source port)
      segment(7000, 0), // a pure ACK passes straight through
    ]);
    const lens = tap.frames().map((f) => f.length);
    expect(lens).toEqual([14 + 40 + 200, 14 + 40 + 100, 14 + 40 + 100, 14 + 40]);
    expect(vtep.counters.get('rx_packets')).toBe(5);
    expect(vtep.counters.get('rx_datagrams')).toBe(5);
  });

  it('does not merge after a short segment (it ends the burst)', () => {
    const { tap } = run([segment(1000, 100), segment(1100, 50), segment(1150, 100)]);
    expect(tap.frames().map((f) => f.length)).toEqual([14 + 40 + 150, 14 + 40 + 100]);
  });
});
