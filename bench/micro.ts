/**
 * Micro benchmarks (the `benchmark` package) of the hot-path pieces over the in-memory fake platform, each beside
 * a naive baseline where one exists, plus heap growth over 10^6 packets through the whole encap and decap path
 * (must stay ~0: no per-packet allocation in steady state).
 *
 * Usage: node --expose-gc dist/bench/micro.js [WORD]   (WORD: run only the suites whose name contains it)
 */
import Benchmark from 'benchmark';
import { cpus } from 'node:os';
import { Vtep } from '../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../src/platform/fake/fake.js';
import type { TapDevice, UdpBind } from '../src/platform/types.js';
import { csumAdd, csumFinish } from '../src/wire/checksum.js';
import { vxlanCheck, vxlanWrite } from '../src/wire/vxlan.js';
import { TcpSegmenter } from '../src/dataplane/tso.js';
import { NativeTcpSegmenter } from '../src/dataplane/tso-native.js';
import { native } from '../src/platform/linux/native.js';
import { SourcePorts } from '../src/dataplane/source-ports.js';
import { flowHash } from '../src/dataplane/flow-hash.js';
import { InnerFrame } from '../src/wire/inner-frame.js';

/** The obvious checksum: one 16-bit word per iteration. */
function naiveChecksum(buf: Buffer, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += (buf[off + i]! << 8) | buf[off + i + 1]!;
  if (len & 1) s += buf[off + len - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** A TAP/UDP pair that replays one frame/datagram forever and discards what is written: measures JS only. */
class ReplayTap implements TapDevice {
  readonly name = 'replay0';
  readonly vnetHdr = true;
  constructor(private readonly frame: Buffer, private readonly perCall: number) {}
  readBatch(buf: Buffer, offsets: Uint32Array, _max: number, count: number, lens: Int32Array): number {
    const n = Math.min(count, this.perCall);
    for (let i = 0; i < n; i++) {
      this.frame.copy(buf, offsets[i]!);
      lens[i] = this.frame.length;
    }
    return n;
  }
  write(_b: Buffer, _o: number, len: number): number {
    return len;
  }
  onReadable(): void {}
  close(): void {}
}

/** Like ReplayTap over several frames in turn (one per inner flow), so consecutive frames belong to other flows. */
class RoundRobinTap extends ReplayTap {
  private next = 0;
  constructor(private readonly frames: readonly Buffer[], perCall: number) {
    super(frames[0]!, perCall);
  }
  override readBatch(buf: Buffer, offsets: Uint32Array, max: number, count: number, lens: Int32Array): number {
    const n = super.readBatch(buf, offsets, max, count, lens);
    for (let i = 0; i < n; i++) {
      const f = this.frames[this.next++ % this.frames.length]!;
      f.copy(buf, offsets[i]!);
      lens[i] = f.length;
    }
    return n;
  }
}

class ReplayUdp extends FakeUdpBind implements UdpBind {
  /** sendBatch calls (one sendmmsg each on Linux). */
  sends = 0;
  constructor(private readonly dgram: Buffer, private readonly perCall: number) {
    super();
  }
  override recvBatch(buf: Buffer, offsets: Uint32Array, _max: number, count: number, lens: Int32Array): number {
    const n = Math.min(count, this.perCall);
    for (let i = 0; i < n; i++) {
      this.dgram.copy(buf, offsets[i]!);
      lens[i] = this.dgram.length;
    }
    return n;
  }
  override sendBatch(_b: Buffer, _o: Uint32Array, _l: Uint32Array, _d: Uint32Array, count: number, r: Int32Array): number {
    this.sends++;
    r[0] = count;
    r[1] = r[2] = r[3] = 0;
    return count;
  }
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const frame = Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), Buffer.alloc(1400, 7)]);
const vnetFrame = Buffer.concat([Buffer.alloc(10), frame]);
const inbound = Buffer.concat([hex('0800000000271100'), hex('c26a9be5398d 7a3afe45a376 0800'), Buffer.alloc(1400, 7)]);

function makeVtep(batch: number): { vtep: Vtep } {
  const tap = new ReplayTap(vnetFrame, batch - 1); // fewer than batch: one readBatch per wakeup
  const udp = new ReplayUdp(inbound, batch - 1);
  const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789 });
  vtep.fdb.append(0x7a3afe45a376, '192.0.2.2');
  return { vtep };
}

const only = process.argv[2];

function suite(name: string, cases: Record<string, () => void>): Promise<void> {
  if (only !== undefined && !name.includes(only)) return Promise.resolve();
  return new Promise((resolve) => {
    const s = new Benchmark.Suite(name);
    for (const [k, fn] of Object.entries(cases)) s.add(k, fn);
    s.on('cycle', (e: Benchmark.Event) => {
      const b = e.target as unknown as Benchmark;
      process.stdout.write(`  ${String(b.name).padEnd(44)} ${(1e9 / b.hz!).toFixed(1).padStart(10)} ns/op  ±${b.stats!.rme.toFixed(1)}%\n`);
    });
    s.on('complete', () => resolve());
    process.stdout.write(`${name}\n`);
    s.run({ async: false });
  });
}

async function main(): Promise<void> {
  process.stdout.write(`micro benchmarks: node ${process.version}, ${cpus()[0]?.model} x${cpus().length}\n`);
  for (const size of [64, 512, 1500, 9000]) {
    const b = Buffer.alloc(size + 1, 0x5a);
    await suite(`checksum ${size} B`, {
      [`csumAdd+finish (ours) ${size}`]: () => void csumFinish(csumAdd(b, 1, size, 0)),
      [`naive 16-bit loop ${size}`]: () => void naiveChecksum(b, 1, size),
    });
  }
  // The addon's checksum (native/vxlan_native.cc CsumBE) beside ours, same bytes, odd offset; includes the call.
  const addon = native();
  for (const size of [1500, 65536]) {
    const b = Buffer.alloc(size + 1, 0x5a);
    await suite(`checksum ${size} B: JS vs native`, {
      [`csumAdd+finish (JS) ${size}`]: () => void csumFinish(csumAdd(b, 1, size, 0)),
      [`native csumAdd+finish ${size}`]: () => void (~addon.csumAdd(b, 1, size) & 0xffff),
    });
  }
  const hdr = Buffer.alloc(64);
  await suite('vxlan header', {
    'vxlanWrite': () => vxlanWrite(hdr, 8, 10001),
    'vxlanCheck': () => void vxlanCheck(inbound, 0, inbound.length),
  });
  // TCP segmentation of one 64 KiB super-frame (MSS 1398) into VXLAN-headed segments.
  const seg = new TcpSegmenter();
  const sf = Buffer.alloc(14 + 20 + 32 + 45 * 1398);
  hex('7a3afe45a376 c26a9be5398d 0800').copy(sf, 0);
  hex('4500 0000 1000 4000 4006 0000 0a000001 0a000002').copy(sf, 14);
  sf[34 + 12] = 0x80; // data offset 8 words (timestamps)
  sf[34 + 13] = 0x18;
  const segOut = Buffer.alloc(sf.length + 45 * 100);
  const nseg = new NativeTcpSegmenter(addon.segmentTcp);
  await suite('TCP segmentation (64 KiB super-frame → 45 segments)', {
    'segment (JS tso.ts, incl. checksums)': () => void seg.segment(sf, 0, sf.length, 34, 1398, false, segOut, 0, 10001),
    'segment (native segmentTcp, incl. checksums)': () => void nseg.segment(sf, 0, sf.length, 34, 1398, false, segOut, 0, 10001),
  });
  // FDB lookups: a hit among 1000 entries, and a miss (falls back to the default destinations).
  const fdbVtep = makeVtep(64).vtep;
  for (let i = 0; i < 1000; i++) fdbVtep.fdb.append(0x020000000000 + i, `10.0.${i >> 8}.${i & 0xff}`);
  await suite('FDB lookup (1000 entries)', {
    'hit': () => void fdbVtep.fdb.lookup(0x020000000000 + 517),
    'miss': () => void fdbVtep.fdb.lookup(0x7a3afe45a377),
  });
  const { vtep } = makeVtep(64);
  await suite('dataplane per batch of 63 frames (1414 B)', {
    'encap batch (TAP→UDP, FDB hit)': () => vtep.onTapReadable(),
    'decap batch (UDP→TAP)': () => vtep.onUdpReadable(),
  });

  // --srcport: 64 inner UDP flows in turn (the worst case for the send queue: each frame another socket), without
  // and with a 1000-port pool whose sockets are all open after the first batch.
  const flowFrames = Array.from({ length: 64 }, (_, i) => {
    const f = Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800 4500 0578 0000 4000 4011 0000 0a000001 0a000002'), Buffer.alloc(1380, 7)]);
    f.writeUInt16BE(20000 + i, 34);
    f.writeUInt16BE(9, 36);
    return Buffer.concat([Buffer.alloc(10), f]);
  });
  const flowVtep = (pool: boolean, frames: readonly Buffer[] = flowFrames) => {
    const main = new ReplayUdp(inbound, 63);
    const socks: ReplayUdp[] = [];
    const sourcePorts = pool
      ? new SourcePorts({ min: 40000, max: 40999, fallback: main, open: (port) => (socks.push(Object.assign(new ReplayUdp(inbound, 63), { localPort: port })), socks.at(-1)!) })
      : undefined;
    const v = new Vtep(new RoundRobinTap(frames, 63), main, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789, ...(sourcePorts ? { sourcePorts } : {}) });
    v.fdb.append(0x7a3afe45a376, '192.0.2.2');
    v.onTapReadable(); // opens the pool's sockets (once per port)
    const sends = (): number => main.sends + socks.reduce((n, s) => n + s.sends, 0);
    return { v, sends, socks };
  };
  const plainFlows = flowVtep(false);
  const poolFlows = flowVtep(true);
  const mapping = new SourcePorts({ min: 40000, max: 40999, fallback: new FakeUdpBind(), open: () => 'unused' });
  const parsed = new InnerFrame();
  const ports = new Set(flowFrames.map((f) => (parsed.parse(f, 10, f.length - 10), mapping.portOf(flowHash(f, parsed)))));
  await suite('--srcport: encap per batch of 63 frames, 64 flows in turn', {
    'no --srcport (one socket)': () => plainFlows.v.onTapReadable(),
    [`--srcport 40000-40999 (${ports.size} ports open)`]: () => poolFlows.v.onTapReadable(),
  });
  // 8 flows interleaved: the send queue gives each socket its frames in one sendmmsg (send-queue.ts), so the
  // calls per batch are the sockets in use, not the changes of socket (which would be 63).
  const fewFlows = flowVtep(true, flowFrames.slice(0, 8));
  if (only === undefined || '--srcport'.includes(only) || only.includes('srcport')) {
    const before = fewFlows.sends();
    for (let i = 0; i < 100; i++) fewFlows.v.onTapReadable();
    console.log(`  8 flows in turn over ${fewFlows.socks.length} open ports: ${((fewFlows.sends() - before) / 100).toFixed(1)} sendmmsg calls per batch of 63 frames`);
  }
  if (only === undefined || '--srcport'.includes(only)) {
    const b0 = [plainFlows.sends(), poolFlows.sends()];
    for (let i = 0; i < 100; i++) (plainFlows.v.onTapReadable(), poolFlows.v.onTapReadable());
    process.stdout.write(
      `  sendBatch calls per batch of 63: ${((plainFlows.sends() - b0[0]!) / 100).toFixed(1)} without, ${((poolFlows.sends() - b0[1]!) / 100).toFixed(1)} with --srcport (${poolFlows.socks.length} sockets)\n`,
    );
  }
  if (only !== undefined) return;

  // Heap growth over 10^6 packets each way.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) process.stdout.write('heap growth: run with node --expose-gc for a precise figure\n');
  const w = makeVtep(64).vtep;
  for (let i = 0; i < 2000; i++) (w.onTapReadable(), w.onUdpReadable()); // warm-up
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const rounds = Math.ceil(1e6 / 63);
  for (let i = 0; i < rounds; i++) (w.onTapReadable(), w.onUdpReadable());
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const pkts = rounds * 63 * 2;
  process.stdout.write(
    `heap growth over ${pkts.toLocaleString()} packets: ${((after - before) / 1024).toFixed(1)} KiB (${((after - before) / pkts).toFixed(4)} B/packet)\n`,
  );
  void FakeTap;
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack}\n`);
  process.exit(1);
});
