// TCP segmentation of TAP super-frames (TSO) into UDP GSO trains, over the fake platform. Checksums are
// verified with a slow reference written here, not with the code under test.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

function refSum(b: Buffer, init = 0): number {
  let s = init;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}
const valid = (b: Buffer, init = 0): boolean => refSum(b, init) === 0xffff;

function superFrame(v6: boolean, payload: number, mss: number, flags: number): Buffer {
  const eth = hex(`7a3afe45a376 c26a9be5398d ${v6 ? '86dd' : '0800'}`);
  const data = Buffer.alloc(payload);
  for (let i = 0; i < payload; i++) data[i] = (i * 7) & 0xff;
  const tcp = hex(`1f90 c350 000003e8 00000001 50${flags.toString(16).padStart(2, '0')} ffff 0000 0000`);
  const ip = v6
    ? Buffer.concat([hex('60000000'), Buffer.from([((20 + payload) >> 8) & 0xff, (20 + payload) & 0xff]), hex('0640'), hex('20010db8000000000000000000000001 20010db8000000000000000000000002')])
    : hex(`4500 ${(40 + payload).toString(16).padStart(4, '0')} 1000 4000 4006 0000 0a000001 0a000002`);
  const l4 = 14 + ip.length;
  // virtio_net_hdr: NEEDS_CSUM, gso TCPV4 (1) / TCPV6 (4), hdr_len, gso_size, csum_start, csum_offset (LE)
  const vnet = Buffer.alloc(10);
  vnet[0] = 1;
  vnet[1] = v6 ? 4 : 1;
  vnet.writeUInt16LE(l4 + 20, 2);
  vnet.writeUInt16LE(mss, 4);
  vnet.writeUInt16LE(l4, 6);
  vnet.writeUInt16LE(16, 8);
  return Buffer.concat([vnet, eth, ip, tcp, data]);
}

function run(v6: boolean, payload: number, mss: number, flags: number, gso = true) {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind('192.168.0.21', 4789);
  udp.gso = gso;
  const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789, tso: true, udpGso: gso });
  vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
  vtep.start();
  tap.inbox.push(superFrame(v6, payload, mss, flags));
  tap.wake();
  return { udp, vtep };
}

describe('TSO super-frames → UDP GSO', () => {
  it('cuts an IPv4 super-frame into MSS segments with correct lengths, ids, seqs, flags and checksums', () => {
    const { udp, vtep } = run(false, 250, 100, 0x19 /* FIN PSH ACK */);
    expect(udp.gsoSends).toBe(1);
    expect(udp.sent.map((d) => d.data.length)).toEqual([8 + 54 + 100, 8 + 54 + 100, 8 + 54 + 50]);
    udp.sent.forEach((d, i) => {
      const f = d.data.subarray(8);
      expect(d.data.subarray(0, 8).toString('hex')).toBe('0800000000271100');
      const ip = f.subarray(14, 34);
      expect(ip.readUInt16BE(2)).toBe(20 + 20 + (i < 2 ? 100 : 50));
      expect(ip.readUInt16BE(4)).toBe(0x1000 + i);
      expect(valid(ip)).toBe(true);
      const tcp = f.subarray(34);
      expect(tcp.readUInt32BE(4)).toBe(1000 + 100 * i);
      expect(tcp[13]).toBe(i < 2 ? 0x10 : 0x19); // FIN/PSH only on the last
      const pseudo = refSum(Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 6, 0, tcp.length])]));
      expect(valid(tcp, pseudo)).toBe(true);
      for (let k = 0; k < tcp.length - 20; k++) expect(tcp[20 + k]).toBe(((100 * i + k) * 7) & 0xff);
    });
    expect(vtep.counters.get('tx_tso_frames')).toBe(1);
    expect(vtep.counters.get('tx_tso_segments')).toBe(3);
    expect(vtep.counters.get('tx_packets')).toBe(3);
  });

  it('does the same for IPv6 (payload length, no id, checksum over the v6 pseudo-header)', () => {
    const { udp } = run(true, 130, 64, 0x18);
    expect(udp.sent.map((d) => d.data.length)).toEqual([8 + 74 + 64, 8 + 74 + 64, 8 + 74 + 2]);
    udp.sent.forEach((d, i) => {
      const f = d.data.subarray(8);
      const ip = f.subarray(14, 54);
      const tcp = f.subarray(54);
      expect(ip.readUInt16BE(4)).toBe(tcp.length);
      expect(tcp.readUInt32BE(4)).toBe(1000 + 64 * i);
      const pseudo = refSum(Buffer.concat([ip.subarray(8, 40), Buffer.from([0, 0, 0, tcp.length, 0, 0, 0, 6])]));
      expect(valid(tcp, pseudo)).toBe(true);
    });
  });

  it('sends the segments one by one when the socket has no GSO', () => {
    const { udp } = run(false, 250, 100, 0x10, false);
    expect(udp.gsoSends).toBe(0);
    expect(udp.sent).toHaveLength(3);
  });

  it('drops a super-frame whose segments would not fit the underlay (tx_too_big)', () => {
    const { udp, vtep } = run(false, 4000, 1448, 0x10);
    expect(udp.sent).toHaveLength(0);
    expect(vtep.counters.get('tx_too_big')).toBe(1);
  });
});

describe('UDP GSO trains of ordinary frames', () => {
  const frame = (n: number): Buffer => Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), Buffer.alloc(n, n & 0xff)]);

  it('sends consecutive datagrams to one remote as one GSO message; a shorter one ends the train', () => {
    const tap = new FakeTap('vx0', true);
    const udp = new FakeUdpBind('192.168.0.21', 4789);
    udp.gso = true;
    const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789, udpGso: true });
    vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
    vtep.start();
    for (const n of [1000, 1000, 1000, 600, 1000, 1200]) tap.inject(frame(n));
    tap.wake();
    // [1000,1000,1000,600] as one train; [1000] then [1200] (longer: a new message, sent alone)
    expect(udp.gsoSends).toBe(1);
    expect(udp.sent.map((d) => d.data.length - 8 - 14)).toEqual([1000, 1000, 1000, 600, 1000, 1200]);
    udp.sent.forEach((d) => expect(d.data.subarray(0, 8).toString('hex')).toBe('0800000000271100'));
    expect(vtep.counters.get('tx_packets')).toBe(6);
  });
});
