// The hot path's lookupAt (MAC bytes in a buffer, two small-integer keys) and the control plane's lookup
// (48-bit number) see the same table through every change: append, set, removeRemote, delete, learning and
// ageing.
import { describe, expect, it } from 'vitest';
import { Fdb } from '../../src/dataplane/fdb.js';
import { FakeUdpBind } from '../../src/platform/fake/fake.js';
import { writeSockaddr } from '../../src/platform/sockaddr.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');

/** Looks `mac` (as text) up through lookupAt at an odd offset, as it sits in a frame. */
function at(fdb: Fdb, mac: string): ReturnType<Fdb['lookupAt']> {
  const b = Buffer.alloc(9, 0xa5);
  hex(mac).copy(b, 3);
  return fdb.lookupAt(b, 3);
}

describe('FDB lookupAt agrees with lookup', () => {
  // Same high halves, same low halves, all-ones, and a high byte with its top bit set (a sign bit when shifted).
  const macs: [string, number][] = [
    ['02:00:00:00:00:01', 0x020000000001],
    ['02:00:00:00:00:02', 0x020000000002],
    ['03:00:00:00:00:01', 0x030000000001],
    ['fe:ff:ff:ff:ff:ff', 0xfeffffffffff],
    ['c2:6a:9b:e5:39:8d', 0xc26a9be5398d],
  ];

  it('through append, set, removeRemote and delete', () => {
    const fdb = new Fdb(new FakeUdpBind(), 4789);
    for (const [, n] of macs) fdb.append(n, '192.0.2.10');
    for (const [m, n] of macs) expect(at(fdb, m)).toBe(fdb.lookup(n));
    expect(at(fdb, '02:00:00:00:00:03')).toBeUndefined();
    fdb.set(0x020000000002, [{ ip: '192.0.2.11' }]);
    expect(at(fdb, '02:00:00:00:00:02')!.remotes[0]!.ip).toBe('192.0.2.11');
    fdb.removeRemote(0x020000000001, '192.0.2.10');
    expect(at(fdb, '02:00:00:00:00:01')).toBeUndefined();
    expect(at(fdb, '02:00:00:00:00:02')).toBe(fdb.lookup(0x020000000002)); // its neighbour in the same half stays
    fdb.delete(0xfeffffffffff);
    fdb.set(0xc26a9be5398d, []);
    expect(at(fdb, 'fe:ff:ff:ff:ff:ff')).toBeUndefined();
    expect(at(fdb, 'c2:6a:9b:e5:39:8d')).toBeUndefined();
    expect(at(fdb, '03:00:00:00:00:01')).toBe(fdb.lookup(0x030000000001));
  });

  it('through learning and ageing', () => {
    const fdb = new Fdb(new FakeUdpBind(), 4789);
    const addrs = Buffer.alloc(28);
    writeSockaddr(addrs, 0, '192.0.2.20', 4789);
    fdb.now = 100;
    fdb.snoop(hex('020000000001'), 0, addrs, 0);
    fdb.now = 200;
    fdb.snoop(hex('020000000002'), 0, addrs, 0);
    expect(at(fdb, '02:00:00:00:00:01')!.static).toBe(false);
    expect(fdb.age(250, 100)).toBe(1); // the one last heard at 100
    expect(at(fdb, '02:00:00:00:00:01')).toBeUndefined();
    expect(at(fdb, '02:00:00:00:00:02')).toBe(fdb.lookup(0x020000000002));
    expect(fdb.age(400, 100)).toBe(1);
    expect(at(fdb, '02:00:00:00:00:02')).toBeUndefined();
  });
});
