/**
 * Warm-up: run synthetic traffic through a throwaway Vtep on in-memory devices before the real TAP comes up.
 *
 * Why (issue 9): a fresh process runs its first packets in V8's interpreter. Measured on this 2-vCPU machine,
 * up to 5 of the first 200 pings after the device came up took 4–15 ms while the encap/decap functions were
 * interpreted, then compiled; a ping burst right after a restart lost its last reply. The Vtep's methods and
 * the wire functions are shared code, so by the time the real devices carry a packet V8 has already
 * optimised the paths a ping, a TCP stream and a kernel peer's super-datagram take. Nothing here touches
 * the host: the caller passes in-memory devices (platform/fake), and the throwaway Vtep is dropped afterwards.
 */
import type { TapDevice, UdpBind } from '../platform/types.js';
import { Vtep, type VtepOptions } from './vtep.js';

/** An in-memory TAP the warm-up can feed and empty (platform/fake's FakeTap is one). */
export interface ReplayTap extends TapDevice {
  inject(frame: Buffer): void;
  wake(): void;
  readonly written: Buffer[];
}
/** An in-memory UDP bind the warm-up can feed and empty (platform/fake's FakeUdpBind is one). */
export interface ReplayUdp extends UdpBind {
  inject(data: Buffer): void;
  wake(): void;
  readonly sent: unknown[];
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const OWN = 'c26a9be5398d';
const PEER = '7a3afe45a376';
const PEER_MAC = 0x7a3afe45a376;

/** An Ethernet/IPv4 frame `from` → `to` around `l4` (protocol `proto`), 10.0.0.1 ↔ 10.0.0.2. */
function frame(from: string, to: string, proto: number, l4: Buffer, fwd: boolean): Buffer {
  const len = 20 + l4.length;
  const ips = fwd ? '0a000001 0a000002' : '0a000002 0a000001';
  return Buffer.concat([hex(`${to} ${from} 0800`), hex(`4500 ${len.toString(16).padStart(4, '0')} 0000 4000 40${proto.toString(16).padStart(2, '0')} 0000 ${ips}`), l4]);
}

const icmp = (type: number): Buffer => Buffer.concat([hex(`${type.toString(16).padStart(2, '0')}00 0000 1234 0001`), Buffer.alloc(56, 0x42)]);
const tcp = (seq: number, payload: number): Buffer =>
  Buffer.concat([hex(`c350 1f90 ${(seq >>> 0).toString(16).padStart(8, '0')} 00000001 5010 ffff 0000 0000`), Buffer.alloc(payload, 0x61)]);
const VX = (vni: number): Buffer => Buffer.concat([hex('08000000'), Buffer.from([(vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0])]);

/**
 * Runs `rounds` rounds of: a ping out (TAP → UDP), its reply in (UDP → TAP), a TCP segment train in (coalescing),
 * and a kernel peer's 16 KB super-datagram in (GSO super-frame), through a Vtep built with `o`. Returns the
 * milliseconds it took.
 */
export function warmUp(o: VtepOptions, tap: ReplayTap, udp: ReplayUdp, rounds = 1500): number {
  const t0 = performance.now();
  const vtep = new Vtep(tap, udp, { ...o, sourcePorts: undefined, dfTwin: undefined, tunnelTx: undefined, learning: false });
  vtep.fdb.append(PEER_MAC, '192.0.2.2');
  vtep.start();
  const vx = VX(o.vni);
  const ping = frame(OWN, PEER, 1, icmp(8), true);
  const reply = Buffer.concat([vx, frame(PEER, OWN, 1, icmp(0), false)]);
  const superDatagram = Buffer.concat([vx, frame(PEER, OWN, 6, tcp(1, 16000), false)]);
  let seq = 1;
  for (let i = 0; i < rounds; i++) {
    tap.inject(ping);
    tap.wake();
    udp.inject(reply);
    for (let k = 0; k < 4; k++, seq += 1398) udp.inject(Buffer.concat([vx, frame(PEER, OWN, 6, tcp(seq, 1398), false)]));
    if (i % 8 === 0) udp.inject(superDatagram);
    udp.wake();
    // The fakes keep what the dataplane wrote: drop it, the warm-up keeps nothing.
    tap.written.length = 0;
    udp.sent.length = 0;
  }
  // The Vtep borrows the devices; the warm-up opened nothing, so it closes what it was given.
  vtep.stop();
  tap.close();
  udp.close();
  return performance.now() - t0;
}
