// Seeded fuzz of the decapsulation path (and of encapsulation) over the in-memory platform. Property: nothing
// throws, and every input is accounted for — each datagram received ends as exactly one of rx_packets or an rx
// drop reason; each frame read ends as delivered or as a tx drop reason. Seeds are fixed so a failure replays.
import { describe, expect, it } from 'vitest';
import { prng } from '../wire/helpers.js';
import { Vtep, type PacketObserver } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { C, DROP_REASONS } from '../../src/dataplane/counters.js';

const OWN_MAC = 0xc26a9be5398d;
const PEER_MAC = 0x7a3afe45a376;
const VNI = 10001;

function make(peersOnly = false) {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  const vtep = new Vtep(tap, udp, { vni: VNI, ownMac: OWN_MAC, maxUdpPayload: 1472, maxFrame: 1450 + 18, dstport: 4899 });
  vtep.fdb.append(0, '192.168.0.16');
  vtep.fdb.append(PEER_MAC, '192.168.0.31');
  vtep.neigh = new Map([[0xb311011f, PEER_MAC]]);
  vtep.peersOnly = peersOnly;
  vtep.start();
  return { tap, udp, vtep };
}

const macBytes = (m: number): Buffer => Buffer.from(m.toString(16).padStart(12, '0'), 'hex');

/** One datagram from a mix of shapes: pure noise, a valid header with noise after it, and crafted mutations. */
function datagram(rnd: () => number): Buffer {
  const kind = Math.floor(rnd() * 9);
  const len = (max: number): number => Math.floor(rnd() * max);
  const noise = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  };
  const hdr = (flags: number, vni: number, r1 = 0, r2 = 0): Buffer => {
    const h = Buffer.alloc(8);
    h[0] = flags;
    h.writeUIntBE(r1, 1, 3);
    h.writeUIntBE(vni, 4, 3);
    h[7] = r2;
    return h;
  };
  const inner = (src: number): Buffer => Buffer.concat([macBytes(OWN_MAC), macBytes(src), Buffer.from([0x08, 0x00]), noise(len(200))]);
  switch (kind) {
    case 0:
      return noise(len(64)); // runts and short noise
    case 1:
      return noise(len(2000)); // noise of any size
    case 2:
      return Buffer.concat([hdr(0x08, VNI), noise(len(1600))]); // valid header, noise inner frame (may be runt)
    case 3:
      return Buffer.concat([hdr(Math.floor(rnd() * 256), Math.floor(rnd() * 0x1000000), len(2) ? 0 : len(0x1000000), len(2) ? 0 : len(256)), inner(PEER_MAC)]);
    case 4:
      return Buffer.concat([hdr(0x08, VNI), inner([OWN_MAC, 0, 0xffffffffffff, 0x010203040506, PEER_MAC][len(5)]!)]); // loop, bad src
    case 5:
      return Buffer.concat([hdr(0x08, VNI), inner(PEER_MAC)]); // valid
    case 6:
      return Buffer.concat([hdr(0x08, VNI), inner(PEER_MAC), Buffer.alloc(60000 + len(8), len(256))]); // jumbo (fits the 64 KiB slot)
    case 7:
      return Buffer.concat([hdr(0x08, Math.floor(rnd() * 0x1000000)), inner(PEER_MAC)]); // another VNI
    default:
      return Buffer.alloc(70000 + len(1000)); // larger than the receive slot: truncated
  }
}

const RX_DROPS = DROP_REASONS.filter((r) => r.startsWith('rx_'));
const TX_DROPS = DROP_REASONS.filter((r) => r.startsWith('tx_'));

describe('seeded decap fuzz (fake platform)', () => {
  it.each([1, 2, 3, 0xdecaf, 0xbadc0de])('seed %i: no throw, rx_datagrams == rx_packets + rx drops, written frames == rx_packets', (seed) => {
    for (const peersOnly of [false, true]) {
      const rnd = prng(seed);
      const { tap, udp, vtep } = make(peersOnly);
      const N = 3000;
      const sources = ['192.168.0.31', '192.168.0.16', '192.168.0.99', '10.0.0.1'];
      for (let i = 0; i < N; i++) {
        udp.inject(datagram(rnd), sources[Math.floor(rnd() * sources.length)]!, 4899);
        // Wake at random batch boundaries, so batches of every fill are exercised.
        if (rnd() < 0.1) expect(() => udp.wake()).not.toThrow();
      }
      expect(() => udp.wake()).not.toThrow();
      while (udp.inbox.length > 0) udp.wake();
      const c = vtep.counters.snapshot();
      expect(c.rx_datagrams).toBe(N);
      const dropped = RX_DROPS.reduce((s, r) => s + c[r], 0);
      expect(c.rx_packets + dropped).toBe(c.rx_datagrams);
      expect(tap.written.length).toBe(c.rx_packets);
      // The fuzz really reaches the interesting verdicts (otherwise the property says little).
      expect(c.rx_packets).toBeGreaterThan(0);
      for (const r of ['rx_short', 'rx_bad_flags', 'rx_reserved_bits', 'rx_wrong_vni', 'rx_loop', 'rx_bad_src_mac', 'rx_truncated'] as const)
        if (!peersOnly) expect(c[r], r).toBeGreaterThan(0);
      if (peersOnly) expect(c.rx_unknown_peer).toBeGreaterThan(0);
      else expect(c.rx_unknown_peer).toBe(0);
    }
  });
});

describe('seeded encap fuzz (fake platform)', () => {
  it.each([7, 8, 0xfeed])('seed %i: no throw, every frame read is delivered, proxied or dropped with a reason', (seed) => {
    const rnd = prng(seed);
    const { tap, vtep } = make();
    const verdicts = new Map<number, number>();
    const obs: PacketObserver = {
      onEncap: (_b, _fo, _fl, verdict) => void verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1),
      onDecap: () => {},
    };
    vtep.observer = obs;
    const N = 2000;
    const dsts = [PEER_MAC, 0xffffffffffff, 0x0a0b0c0d0e0f, 0x01005e000001];
    for (let i = 0; i < N; i++) {
      const n = Math.floor(rnd() * 1600);
      const f = Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
      if (n >= 14 && rnd() < 0.7) {
        macBytes(dsts[Math.floor(rnd() * dsts.length)]!).copy(f, 0);
        if (rnd() < 0.3) f.writeUInt16BE(0x0806, 12); // ARP-looking frames, mostly malformed
      }
      tap.inject(f);
      if (rnd() < 0.1) expect(() => tap.wake()).not.toThrow();
    }
    while (tap.inbox.length > 0) tap.wake();
    const c = vtep.counters.snapshot();
    expect(c.tx_frames).toBe(N);
    const delivered = (verdicts.get(C.tx_packets) ?? 0) + (verdicts.get(C.tx_flood_frames) ?? 0) + (verdicts.get(C.arp_proxied) ?? 0);
    const dropped = TX_DROPS.reduce((s, r) => s + c[r], 0);
    expect(delivered + dropped).toBe(N);
    expect([...verdicts.values()].reduce((a, b) => a + b, 0)).toBe(N);
    expect(c.tx_runt).toBeGreaterThan(0);
    expect(c.tx_too_big).toBeGreaterThan(0);
  });
});
