// Seeded fuzz of the super-frame paths: whole super-datagrams on the way into the TAP (rx-super.ts, the
// coalescer, the UDP GRO split), and TAP super-frames on the way out (socket path segmentation and the tunnel
// path). Properties: nothing throws; every datagram and frame lands in exactly one counter; every frame
// written with a GSO header is self-consistent (headers inside the frame, a segment size, lengths that add up),
// so the kernel is never handed garbage. Seeds are fixed so a failure replays.
import { describe, expect, it } from 'vitest';
import { prng } from '../wire/helpers.js';
import { DROP_REASONS } from '../../src/dataplane/counters.js';
import { TunnelTx } from '../../src/dataplane/tunnel-tx.js';
import { Vtep, type PacketObserver } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { C } from '../../src/dataplane/counters.js';

const OWN = Buffer.from('c26a9be5398d', 'hex');
const PEER = Buffer.from('7a3afe45a376', 'hex');
const RX_DROPS = DROP_REASONS.filter((r) => r.startsWith('rx_'));
const TX_DROPS = DROP_REASONS.filter((r) => r.startsWith('tx_'));

/** An inner IPv4/IPv6 frame whose length fields are right, slightly wrong or wild, around TCP, UDP or ICMP. */
function innerFrame(rnd: () => number, dst: Buffer, src: Buffer): Buffer {
  const v6 = rnd() < 0.3;
  const proto = [6, 6, 6, 17, 17, 1][Math.floor(rnd() * 6)]!;
  const payload = Math.floor(rnd() * (rnd() < 0.5 ? 64000 : 3000));
  const l4h = proto === 6 ? 20 + 4 * Math.floor(rnd() * 11) : 8; // TCP data offset 5..15 words
  const l4 = Buffer.alloc(l4h + payload, Math.floor(rnd() * 256));
  if (proto === 6) {
    l4[12] = (rnd() < 0.1 ? Math.floor(rnd() * 16) : l4h / 4) << 4; // sometimes an impossible data offset
    l4[13] = rnd() < 0.8 ? 0x10 : Math.floor(rnd() * 256);
    l4.writeUInt32BE(Math.floor(rnd() * 2 ** 32), 4);
  }
  const lenField = (right: number): number => (rnd() < 0.8 ? right : Math.floor(rnd() * 65536));
  const ip = Buffer.alloc(v6 ? 40 : 20);
  if (v6) {
    ip[0] = 0x60;
    ip.writeUInt16BE(lenField(l4.length), 4);
    ip[6] = proto;
    ip[7] = 64;
  } else {
    ip[0] = rnd() < 0.95 ? 0x45 : 0x40 | Math.floor(rnd() * 16);
    ip.writeUInt16BE(Math.min(0xffff, lenField(20 + l4.length)), 2);
    ip.writeUInt16BE(rnd() < 0.9 ? 0x4000 : Math.floor(rnd() * 65536), 6);
    ip[8] = 64;
    ip[9] = proto;
  }
  const frame = Buffer.concat([dst, src, Buffer.from(v6 ? [0x86, 0xdd] : [0x08, 0x00]), ip, l4]);
  return frame.subarray(0, Math.min(frame.length, 65535 + 14 - 8));
}

/** Checks a TAP write with a 10-byte virtio-net header the way the kernel's virtio_net_hdr_to_skb would. */
function checkVnet(w: Buffer): void {
  const flags = w[0]!;
  const gso = w[1]! & 0x7f;
  const frameLen = w.length - 10;
  if (flags & 1) expect(w.readUInt16LE(6) + w.readUInt16LE(8) + 2).toBeLessThanOrEqual(frameLen);
  if (gso === 0) return;
  expect([1, 4, 5]).toContain(gso);
  expect(flags & 1).toBe(1); // GSO without NEEDS_CSUM is refused by the kernel
  expect(w.readUInt16LE(4)).toBeGreaterThan(0);
  expect(w.readUInt16LE(2)).toBeLessThan(frameLen);
  const f = w.subarray(10);
  const ipLen = f.readUInt16BE(12) === 0x0800 ? f.readUInt16BE(16) : 40 + f.readUInt16BE(18);
  expect(14 + ipLen).toBe(frameLen);
}

describe('seeded fuzz: super-datagrams into the TAP', () => {
  it.each([11, 12, 0x5eed])('seed %i: no throw, one counter per datagram, every GSO write self-consistent', (seed) => {
    for (const coalesce of [true, false]) {
      const rnd = prng(seed);
      const tap = new FakeTap('vx0', true);
      const udp = new FakeUdpBind('192.168.0.21', 4899);
      const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, tapMtu: 1450, dstport: 4899, rxCoalesce: coalesce, udpGro: true });
      vtep.start();
      const vx = Buffer.from('0800000000271100', 'hex');
      let expected = 0;
      for (let i = 0; i < 1500; i++) {
        const one = Buffer.concat([vx, innerFrame(rnd, OWN, PEER)]);
        const r = rnd();
        if (r < 0.6) {
          udp.inject(one, '192.168.0.31', 4899, 0, rnd() < 0.5 ? 0 : 1 + Math.floor(rnd() * 3000));
          expected += 1; // at most: a GRO train is counted per segment, so count the datagrams below instead
        } else {
          // A glued train: k copies, with the kernel's UDP_GRO size = one copy (or a wrong one).
          const k = 2 + Math.floor(rnd() * 3);
          const train = Buffer.concat(Array.from({ length: k }, () => one)).subarray(0, 65000);
          udp.inject(train, '192.168.0.31', 4899, 0, rnd() < 0.8 ? one.length : 1 + Math.floor(rnd() * 3000));
        }
        if (rnd() < 0.2) expect(() => udp.wake()).not.toThrow();
      }
      while (udp.inbox.length > 0) expect(() => udp.wake()).not.toThrow();
      const c = vtep.counters.snapshot();
      expect(c.rx_datagrams).toBeGreaterThanOrEqual(expected);
      expect(c.rx_packets + RX_DROPS.reduce((s, n) => s + c[n], 0)).toBe(c.rx_datagrams);
      for (const w of tap.written) checkVnet(w);
      // The fuzz reaches the verdicts it is about.
      for (const n of ['tap_super_writes', 'rx_too_big', 'rx_super_bad_len', 'rx_super_bad_tcp_hdr', 'rx_gro_datagrams'] as const) expect(c[n], n).toBeGreaterThan(0);
    }
  });
});

describe('seeded fuzz: TAP super-frames out (socket path and tunnel path)', () => {
  it.each([21, 22, 0xc0ffee])('seed %i: no throw, every frame accounted for, tunnel writes consistent', (seed) => {
    for (const tunnel of [false, true]) {
      const rnd = prng(seed);
      const tap = new FakeTap('vx0', true);
      const under = new FakeTap('vx0-tx', false);
      const udp = new FakeUdpBind('192.168.0.21', 4899);
      const t = tunnel ? new TunnelTx({ tap: under, tapMac: 0x02aabbccddee, local: '192.168.0.21', ttl: 64, udpCsum: true }, udp.destinationSlots) : undefined;
      const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, tapMtu: 1450, dstport: 4899, tso: true, udpGso: true, ...(t ? { tunnelTx: t } : {}) });
      vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
      const verdicts = new Map<number, number>();
      const obs: PacketObserver = { onEncap: (_b, _f, _l, v) => void verdicts.set(v, (verdicts.get(v) ?? 0) + 1), onDecap: () => {} };
      vtep.observer = obs;
      vtep.start();
      const N = 800;
      for (let i = 0; i < N; i++) {
        const f = innerFrame(rnd, PEER, OWN);
        const h = Buffer.alloc(10);
        const v6 = f.readUInt16BE(12) === 0x86dd;
        h[0] = 1;
        h[1] = rnd() < 0.9 ? (v6 ? 4 : 1) : Math.floor(rnd() * 256);
        h.writeUInt16LE(Math.floor(rnd() * 200), 2);
        h.writeUInt16LE(rnd() < 0.7 ? 1398 : Math.floor(rnd() * 65536), 4);
        h.writeUInt16LE(rnd() < 0.8 ? 14 + (v6 ? 40 : 20) : Math.floor(rnd() * 65536), 6);
        h.writeUInt16LE(16, 8);
        tap.inbox.push(Buffer.concat([h, f]));
        if (rnd() < 0.2) expect(() => tap.wake()).not.toThrow();
      }
      while (tap.inbox.length > 0) expect(() => tap.wake()).not.toThrow();
      const c = vtep.counters.snapshot();
      expect(c.tx_frames).toBe(N);
      const delivered = (verdicts.get(C.tx_packets) ?? 0) + (verdicts.get(C.tx_flood_frames) ?? 0);
      expect(delivered + TX_DROPS.reduce((s, n) => s + c[n], 0)).toBe(N);
      for (const w of under.written) {
        // 24-byte header + outer 50 + the inner frame; offsets inside it.
        expect(w.length).toBeLessThanOrEqual(24 + 50 + 65535 + 14);
        expect(w.readUInt16LE(6) + 16 + 2).toBeLessThanOrEqual(w.length - 24);
        expect(w.readUInt16LE(2)).toBeLessThan(w.length - 24);
        expect(w.readUInt16LE(4)).toBeGreaterThan(0);
        expect(w.readUInt16LE(20)).toBe(34);
        expect(w.readUInt16LE(22)).toBe(64);
      }
      if (tunnel) expect(c.tx_tunnel_writes).toBeGreaterThan(0);
      expect(c.tx_gso_bad_size + c.tx_runt + c.tx_gso_unsupported + c.tx_too_big).toBeGreaterThan(0);
    }
  });
});
