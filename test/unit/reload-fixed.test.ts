// A reload must refuse, by name, every option that cannot change while running — including the outer-header
// options that arrived after the reload code (udp checksums, source ports).
import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { fixedChanges } from '../../src/control/runtime/reload.js';

const cfg = (...extra: string[]) => {
  const r = parseUpArgs(['--vni', '10', '--local', '192.168.0.21', '--remote', '192.168.0.31', ...extra]);
  if (r.help) throw new Error('unexpected help');
  return r.config;
};

describe('reload: fixed fields', () => {
  it.each([
    [['--srcport', '40000-40100'], 'srcport'],
    [['--noudpcsum'], 'udpcsum'],
    [['--ttl', '33'], 'ttl'],
  ])('refuses a change of %s', (extra, field) => {
    const changes = fixedChanges(cfg(), cfg(...extra));
    expect(changes.some((c) => c.startsWith(`${field} `))).toBe(true);
  });

  it('accepts a file that changes only live tables', () => {
    expect(fixedChanges(cfg(), cfg('--fdb', '02:00:00:00:00:01=192.168.0.44'))).toEqual([]);
  });
});
