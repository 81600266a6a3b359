// Destination slots of removed remotes are reused, so a long-running instance never runs out of them.
import { describe, expect, it } from 'vitest';
import { Fdb } from '../../src/dataplane/fdb.js';
import { FakeUdpBind } from '../../src/platform/fake/fake.js';

/** A fake socket with only 4 destination slots, recording what each slot points at. */
class SmallUdp extends FakeUdpBind {
  readonly table = new Map<number, string>();
  constructor() {
    super();
    Object.defineProperty(this, 'destinationSlots', { value: 4 });
  }
  override setDestination(slot: number, ip: string, port: number): void {
    super.setDestination(slot, ip, port);
    this.table.set(slot, `${ip}:${port}`);
  }
}

describe('FDB destination slots', () => {
  it('reuses the slots of replaced remotes instead of running out', () => {
    const udp = new SmallUdp();
    const fdb = new Fdb(udp, 4789);
    // 100 replacements of one MAC to ever-new IPs: without reclaiming, the 5th would throw.
    for (let i = 0; i < 100; i++) fdb.set(0x020000000001, [{ ip: `10.0.0.${i + 1}` }]);
    const e = fdb.lookup(0x020000000001)!;
    expect(e.remotes[0]!.ip).toBe('10.0.0.100');
    expect(udp.table.get(e.slots[0]!)).toBe('10.0.0.100:4789');
    expect(fdb.slotsInUse).toBeLessThanOrEqual(4);
  });

  it('never hands one slot to two live remotes, even while building a multi-remote entry', () => {
    const udp = new SmallUdp();
    const fdb = new Fdb(udp, 4789);
    fdb.set(1, [{ ip: '10.0.0.1' }]);
    fdb.set(1, [{ ip: '10.0.0.2' }]); // 10.0.0.1's slot is now unused
    fdb.set(2, [{ ip: '10.0.1.1' }, { ip: '10.0.1.2' }, { ip: '10.0.1.3' }]); // needs a reclaim midway
    const live = [...fdb.lookup(1)!.slots, ...fdb.lookup(2)!.slots];
    expect(new Set(live).size).toBe(4);
    for (const [mac, ips] of [[1, ['10.0.0.2']], [2, ['10.0.1.1', '10.0.1.2', '10.0.1.3']]] as const) {
      const e = fdb.lookup(mac)!;
      ips.forEach((ip, i) => expect(udp.table.get(e.slots[i]!)).toBe(`${ip}:4789`));
    }
    expect(() => fdb.set(3, [{ ip: '10.0.2.1' }])).toThrow(/too many distinct remotes: at most 4/);
  });
});
