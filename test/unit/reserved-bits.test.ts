// --reserved-bits (the kernel's reserved_bits, issue 12): the config front end, the plan, and the kernel's
// vxlan_reserved.sh matrix over the fake platform — each header with one mangled reserved bit is dropped by
// default and delivered with a mask that allows exactly that bit. Expected bytes are written out by hand.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { ConfigError } from '../../src/control/config/errors.js';
import { formatPlan, kernelCommands, upFlags } from '../../src/control/tools/plan.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const up = (...a: string[]) => parseUpArgs(['--vni', '10001', '--remote', '192.168.0.31', ...a]).config!;
const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
const dir = mkdtempSync(join(tmpdir(), 'vxut-resbits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--reserved-bits config', () => {
  it('reads the mask as iproute2 does (0x, up to 16 hex digits) and keeps only a non-default one', () => {
    expect(up('--reserved-bits', '0xf7ffffff0000007f').reservedBits).toEqual({ hi: 0xf7ffffff, lo: 0x7f });
    expect(up('--reserved-bits', '0x0').reservedBits).toEqual({ hi: 0, lo: 0 });
    expect(up('--reserved-bits', '0xF7FFFFFF000000FF').reservedBits).toBeUndefined(); // the default
    expect(up().reservedBits).toBeUndefined();
  });
  it('refuses what is not a mask, and a mask holding the I flag or a VNI bit (as the kernel does)', () => {
    for (const [v, why] of [
      ['f7ffffff000000ff', 'is not a 64-bit hex mask: write 0x and up to 16 hex digits, e.g. the default 0xf7ffffff000000ff'],
      ['0x1f7ffffff000000ff', 'is not a 64-bit hex mask'],
      ['0xffffffff000000ff', 'marks the I flag or VNI bits reserved (0x08000000ffffff00)'],
      ['0x100', 'marks the I flag or VNI bits reserved'],
    ] as const) {
      expect(() => up('--reserved-bits', v)).toThrow(ConfigError);
      expect(() => up('--reserved-bits', v)).toThrow(`--reserved-bits ${v} ${why}`);
    }
  });
  it('config key reserved-bits: a quoted mask, or a YAML number only when it is exact', () => {
    const file = (body: string): string => {
      const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(f, `version: 1\nvni: 1\nremote: [10.0.0.2]\n${body}\n`);
      return f;
    };
    expect(parseUpArgs(['--config', file("reserved-bits: '0xf7ffffff0000007f'")]).config!.reservedBits).toEqual({ hi: 0xf7ffffff, lo: 0x7f });
    expect(parseUpArgs(['--config', file('reserved-bits: 0x7f')]).config!.reservedBits).toEqual({ hi: 0, lo: 0x7f });
    // 0xf7ffffff0000007f as a YAML number is a double that has lost its low bits.
    expect(() => parseUpArgs(['--config', file('reserved-bits: 0xf7ffffff0000007f')])).toThrow(/reserved-bits .* is not exact as a YAML number: quote the mask/);
  });
  it('plan prints reserved_bits MASK (as-kernel, readable, flags); nothing when it is the default', () => {
    const c = up('--reserved-bits', '0xf7dfffff000000ff');
    expect(kernelCommands(c)[0]!.join(' ')).toMatch(/ reserved_bits 0xf7dfffff000000ff$/);
    expect(formatPlan(c)).toContain('reserved_bits 0xf7dfffff000000ff');
    expect(upFlags(c).join(' ')).toContain('--reserved-bits 0xf7dfffff000000ff');
    expect(kernelCommands(up())[0]!.join(' ')).not.toContain('reserved_bits');
  });
});

// ─── vxlan_reserved.sh over the fake platform ───

const OWN_MAC = 0xc26a9be5398d;
/** An ICMP echo 192.0.2.3 → 192.0.2.1 in Ethernet 00:11:22:33:44:55 → c2:6a:9b:e5:39:8d. */
const INNER = hex('c26a9be5398d 001122334455 0800 4500 001c 9983 4000 4001 0000 c0000203 c0000201 0800 f7fe 1f6a 0001');
/** Header bits numbered as the selftest does: 0 is the top bit of byte 0; 4 is I, 32..55 the VNI (10001). */
const RESERVED = Array.from({ length: 64 }, (_, i) => i).filter((i) => i !== 4 && !(i >= 32 && i < 56));

function datagram(bit?: number): Buffer {
  const h = hex('08000000 00271100');
  if (bit !== undefined) h[bit >> 3]! |= 0x80 >> (bit & 7);
  return Buffer.concat([h, INNER]);
}

/** The default mask 0xf7ffffff000000ff with header bit `bit` cleared, as iproute2 text. */
function allowing(bit: number): string {
  const m = 0xf7ffffff000000ffn & ~(1n << BigInt(63 - bit));
  return `0x${m.toString(16).padStart(16, '0')}`;
}

/** Feeds one datagram per reserved bit (and one clean one) to a Vtep built from `args`; counts the outcome. */
function run(args: string[]): { delivered: Buffer[]; dropped: number } {
  const cfg = up(...args);
  const tap = new FakeTap('vx0', false);
  const udp = new FakeUdpBind('192.168.0.21', 4789);
  const vtep = new Vtep(tap, udp, {
    vni: cfg.vni,
    ownMac: OWN_MAC,
    maxUdpPayload: 1472,
    maxFrame: 1518,
    dstport: 4789,
    ...(cfg.reservedBits === undefined ? {} : { reserved: cfg.reservedBits }),
  });
  vtep.start();
  for (const bit of RESERVED) udp.inject(datagram(bit), '192.168.0.31');
  udp.wake();
  const dropped = vtep.counters.get('rx_reserved_bits');
  const delivered = tap.frames();
  udp.inject(datagram(), '192.168.0.31');
  udp.wake();
  expect(tap.frames()).toHaveLength(delivered.length + 1); // a clean datagram always passes
  vtep.stop();
  return { delivered, dropped };
}

describe('vxlan_reserved.sh: one mangled reserved bit at a time', () => {
  it('default: all 39 dropped and counted rx_reserved_bits', () => {
    expect(RESERVED).toHaveLength(39);
    expect(run([])).toEqual({ delivered: [], dropped: 39 });
  });
  it('reserved_bits 0xf7ffffff000000ff (the default written out): all 39 dropped', () => {
    expect(run(['--reserved-bits', '0xf7ffffff000000ff']).dropped).toBe(39);
  });
  it.each(RESERVED)('a mask allowing only bit %i: exactly that datagram is delivered, the inner frame unchanged', (bit) => {
    const r = run(['--reserved-bits', allowing(bit)]);
    expect(r.dropped).toBe(38);
    expect(r.delivered).toEqual([INNER]);
  });
});
