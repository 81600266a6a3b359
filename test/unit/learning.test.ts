// --learning / --ageing over the fake platform: the kernel's vxlan_snoop and vxlan_cleanup behaviour, with
// time passed in (an injected clock and ageOut(now)), so no fake timers. Bytes are written out by hand.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

const OWN_MAC = 0xc26a9be5398d; // c2:6a:9b:e5:39:8d
const PEER_MAC = 0x7a3afe45a376; // 7a:3a:fe:45:a3:76
const ICMP_PKT = hex('4500 001c 0001 0000 4001 0000 b3110115 b311011f 0800 f7fe 0001 0000');
const TO_PEER = Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), ICMP_PKT]);
const FROM_PEER = Buffer.concat([hex('08000000 00271100'), hex('c26a9be5398d 7a3afe45a376 0800'), ICMP_PKT]);

function make(opts: { learning?: boolean; ageing?: number; static?: [number, string][] } = {}) {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  const clock = { t: 1000 };
  const vtep = new Vtep(tap, udp, {
    vni: 10001,
    ownMac: OWN_MAC,
    maxUdpPayload: 1472,
    maxFrame: 1468,
    dstport: 4899,
    learning: opts.learning ?? true,
    ageing: opts.ageing ?? 300,
    clock: () => clock.t,
  });
  vtep.fdb.append(0, '192.168.0.31');
  vtep.fdb.append(0, '192.168.0.16');
  for (const [mac, ip] of opts.static ?? []) vtep.fdb.append(mac, ip);
  vtep.start();
  const send = (): string[] => {
    udp.sent.length = 0;
    tap.inject(TO_PEER);
    tap.wake();
    return udp.sent.map((d) => `${d.ip}:${d.port}`).sort();
  };
  const receive = (ip: string, port = 51234): void => {
    udp.inject(FROM_PEER, ip, port);
    udp.wake();
  };
  return { tap, udp, vtep, clock, send, receive };
}

describe('--learning', () => {
  it('floods an unknown MAC, learns it from a datagram (reply to --dstport, not the source port), then unicasts', () => {
    const { vtep, send, receive, tap } = make();
    expect(send()).toEqual(['192.168.0.16:4899', '192.168.0.31:4899']);
    receive('192.168.0.31', 51234);
    expect(tap.written).toHaveLength(1);
    expect(vtep.counters.get('fdb_learned')).toBe(1);
    const e = vtep.fdb.lookup(PEER_MAC)!;
    expect(e.static).toBe(false);
    expect(e.remotes.map((r) => `${r.ip}:${r.port}`)).toEqual(['192.168.0.31:4899']);
    expect(send()).toEqual(['192.168.0.31:4899']);
    expect(vtep.counters.get('tx_flood_frames')).toBe(1);
    expect(vtep.counters.get('tx_packets')).toBe(3);
  });

  it('does not learn with --nolearning (the default): unknown MACs keep flooding', () => {
    const { vtep, send, receive, tap } = make({ learning: false });
    receive('192.168.0.31');
    expect(tap.written).toHaveLength(1);
    expect(vtep.fdb.lookup(PEER_MAC)).toBeUndefined();
    expect(send()).toHaveLength(2);
    expect(vtep.counters.get('fdb_learned')).toBe(0);
  });

  it('moves a learned entry when the MAC shows up behind another VTEP', () => {
    const { vtep, send, receive } = make();
    receive('192.168.0.31');
    receive('192.168.0.16');
    expect(vtep.counters.get('fdb_learned')).toBe(1);
    expect(vtep.counters.get('fdb_moved')).toBe(1);
    expect(send()).toEqual(['192.168.0.16:4899']);
  });

  it('never moves a static entry: a frame claiming its MAC from another VTEP is dropped and counted', () => {
    const { vtep, send, receive, tap } = make({ static: [[PEER_MAC, '192.168.0.31']] });
    receive('192.168.0.16');
    expect(tap.written).toHaveLength(0);
    expect(vtep.counters.get('rx_fdb_static_conflict')).toBe(1);
    expect(vtep.counters.get('rx_datagrams')).toBe(1);
    receive('192.168.0.31');
    expect(tap.written).toHaveLength(1);
    expect(vtep.fdb.lookup(PEER_MAC)!.static).toBe(true);
    expect(send()).toEqual(['192.168.0.31:4899']);
    expect(vtep.counters.get('fdb_learned')).toBe(0);
  });

  it('ages a learned entry out --ageing seconds after its MAC was last heard from, then floods again', () => {
    const { vtep, send, receive, clock } = make({ ageing: 10 });
    receive('192.168.0.31'); // learned at t=1000
    clock.t = 1005;
    receive('192.168.0.31'); // refreshed at t=1005
    expect(vtep.ageOut(1014.9)).toBe(0);
    expect(send()).toEqual(['192.168.0.31:4899']);
    expect(vtep.ageOut(1015)).toBe(1);
    expect(vtep.counters.get('fdb_aged')).toBe(1);
    expect(vtep.fdb.lookup(PEER_MAC)).toBeUndefined();
    expect(send()).toHaveLength(2);
  });

  it('never ages static entries, and --ageing 0 never ages learned ones', () => {
    const a = make({ static: [[PEER_MAC, '192.168.0.31']] });
    expect(a.vtep.ageOut(1e9)).toBe(0);
    expect(a.vtep.fdb.lookup(PEER_MAC)).toBeDefined();
    const b = make({ ageing: 0 });
    b.receive('192.168.0.31');
    expect(b.vtep.ageOut(1e9)).toBe(0);
    expect(b.vtep.fdb.lookup(PEER_MAC)!.static).toBe(false);
  });

  it('a static entry added over a learned one replaces it and stops it from ageing', () => {
    const { vtep, receive } = make({ ageing: 10 });
    receive('192.168.0.31');
    vtep.fdb.set(PEER_MAC, [{ ip: '192.168.0.16' }]);
    expect(vtep.fdb.learnedCount).toBe(0);
    expect(vtep.ageOut(1e9)).toBe(0);
    expect(vtep.fdb.lookup(PEER_MAC)!.remotes[0]!.ip).toBe('192.168.0.16');
  });
});
