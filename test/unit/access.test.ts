// The control socket's access rule without a network: CapEff parsing, the uid and user-namespace checks, which
// ops change, and the line splitter's limits. /proc/PID/status texts are written out by hand.
import { describe, expect, it } from 'vitest';
import { effectiveUid, hasEffectiveCap, isChange, judge } from '../../src/control/ops/access.js';
import { LineSplitter } from '../../src/control/ops/control-protocol.js';

/** A /proc/PID/status excerpt: uid fields real, effective, saved, fs; CapEff in hex. */
const status = (uids: string, capEff: string): string =>
  `Name:\tnode\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t${uids}\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

const OURS = new Set(['4:4026531837']);

describe('access rule', () => {
  it('reads CAP_NET_ADMIN (bit 12) from CapEff', () => {
    expect(hasEffectiveCap(status('0\t0\t0\t0', '000001ffffffffff'), 12)).toBe(true);
    expect(hasEffectiveCap(status('0\t0\t0\t0', '0000000000001000'), 12)).toBe(true); // exactly bit 12
    expect(hasEffectiveCap(status('0\t0\t0\t0', '000001ffffffefff'), 12)).toBe(false); // all but bit 12
    expect(hasEffectiveCap(status('0\t0\t0\t0', '0000000000000000'), 12)).toBe(false);
    expect(hasEffectiveCap('Name:\tnode\n', 12)).toBe(false); // no CapEff line: no capability
  });

  it('reads the effective uid, the second Uid field', () => {
    expect(effectiveUid(status('1000\t0\t0\t0', '0'))).toBe(0);
    expect(effectiveUid(status('0\t65534\t65534\t65534', '0'))).toBe(65534);
    expect(effectiveUid('Name:\tnode\n')).toBeUndefined();
  });

  it('allows only CAP_NET_ADMIN holders of an owning user namespace whose uid matches SO_PEERCRED', () => {
    const root = status('0\t0\t0\t0', '000001ffffffffff');
    expect(judge({ status: root, uid: 0, userNs: '4:4026531837' }, OURS)).toBeUndefined();
    // uid 65534, no capabilities
    expect(judge({ status: status('65534\t65534\t65534\t65534', '0000000000000000'), uid: 65534, userNs: '4:4026531837' }, OURS)).toBe('no CAP_NET_ADMIN in its effective set');
    // root of `unshare -U -r`: uid 0 from outside, full CapEff, but in a child user namespace
    expect(judge({ status: root, uid: 0, userNs: '4:4026532999' }, OURS)).toBe('its user namespace does not own this network namespace');
    // the pid now belongs to someone else than the uid that connected
    expect(judge({ status: root, uid: 65534, userNs: '4:4026531837' }, OURS)).toBe('its uid changed since it connected');
  });

  it('classes fdb, neigh, reload and down as changes, the rest as reads', () => {
    for (const op of ['fdb', 'neigh', 'reload', 'down']) expect(isChange({ op })).toBe(true);
    for (const op of ['fdb-show', 'neigh-show', 'show', 'stats', 'format-disk', undefined, 7]) expect(isChange({ op })).toBe(false);
  });
});

describe('LineSplitter limits', () => {
  it('refuses a line longer than the limit even when its newline is in the same chunk', () => {
    const s = new LineSplitter(16);
    expect(s.push(`${'x'.repeat(17)}\n{"a":1}\n`)).toEqual([]);
    expect(s.overflow).toBe(true);
    expect(s.push('{"b":2}\n')).toEqual([]); // nothing more is read from that connection
  });

  it('hands out the unterminated rest once the peer half-closes', () => {
    const s = new LineSplitter(16);
    expect(s.push('{"a":1}\n{"op":')).toEqual(['{"a":1}']);
    expect(s.push('"x"}')).toEqual([]);
    expect(s.rest()).toEqual(['{"op":"x"}']);
    expect(s.rest()).toEqual([]);
  });
});
