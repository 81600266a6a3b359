// The `vnis:` config key (issue 12): several devices, one per VNI, on one UDP port. What the front end accepts,
// how shared keys reach every device, and the one-sentence refusals that name the entry.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { ConfigError } from '../../src/control/config/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'vxut-vnis-'));
let n = 0;
function file(yaml: string): string {
  const f = join(dir, `vnis-${n++}.yaml`);
  writeFileSync(f, yaml);
  return f;
}
const parse = (yaml: string, extra: string[] = []) => {
  const r = parseUpArgs(['--config', file(yaml), ...extra]);
  if (r.help) throw new Error('help?');
  return r.config;
};
const refusal = (yaml: string, extra: string[] = []): string => {
  try {
    parse(yaml, extra);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

const BASE = `version: 1
local: 192.168.0.21
dstport: 4789
`;

describe('vnis: several devices on one port', () => {
  it('gives every device its own keys and the shared ones', () => {
    const c = parse(`${BASE}vnis:
  - {vni: 10001, name: vx10001, addr: [179.17.1.21/24], fdb: [7a:3a:fe:45:a3:76=192.168.0.31], neigh: [179.17.1.31=7a:3a:fe:45:a3:76], ttl: 5}
  - {vni: 10002, addr: [179.18.1.21/24], remote: [192.168.0.31], learning: true}
`);
    expect(c.vnis).toHaveLength(2);
    const [a, b] = c.vnis!;
    expect(a).toMatchObject({ vni: 10001, name: 'vx10001', dstport: 4789, local: '192.168.0.21', addr: ['179.17.1.21/24'], ttl: 5 });
    expect(a!.fdb.map((f) => f.ip)).toEqual(['192.168.0.31']);
    // An entry without a name is called after its VNI.
    expect(b).toMatchObject({ vni: 10002, name: 'vx10002', dstport: 4789, local: '192.168.0.21', remote: ['192.168.0.31'], learning: true });
    expect(b!.fdb).toEqual([]);
    // The top level is the first device, so single-device readers keep working.
    expect(c.vni).toBe(10001);
    expect(c.name).toBe('vx10001');
  });

  it('per-entry vni on FDB rows keeps working', () => {
    const c = parse(`${BASE}vnis:\n  - {vni: 10001, fdb: [{mac: '7a:3a:fe:45:a3:76', dst: 192.168.0.31, vni: 20}]}\n`);
    expect(c.vnis![0]!.fdb[0]!.vni).toBe(20);
  });

  const bad: [string, string, RegExp][] = [
    ['a missing vni', `${BASE}vnis:\n  - {vni: 10001}\n  - {name: vx2}\n`, /vnis\[1\] has no vni/],
    ['two devices with one VNI', `${BASE}vnis:\n  - {vni: 10001, name: a}\n  - {vni: 10001, name: b}\n`, /vnis\[1\] \(b\) has VNI 10001, which vnis\[0\] \(a\) has already/],
    ['two devices with one name', `${BASE}vnis:\n  - {vni: 10001, name: a}\n  - {vni: 10002, name: a}\n`, /vnis\[1\] \(a\) has the name of vnis\[0\] \(a\)/],
    ['a name over 15 bytes', `${BASE}vnis:\n  - {vni: 10001, name: abcdefghijklmnop}\n`, /vnis\[0\] name abcdefghijklmnop .* is 16 bytes long/],
    ['a top-level vni beside vnis', `${BASE}vni: 5\nvnis:\n  - {vni: 10001}\n`, /top-level 'vni' beside vnis/],
    ['a top-level name beside vnis', `${BASE}name: x\nvnis:\n  - {vni: 10001}\n`, /top-level 'name' beside vnis/],
    ['a shared key inside an entry', `${BASE}vnis:\n  - {vni: 10001, dstport: 8472}\n`, /vnis\[0\] has 'dstport', which all devices share/],
    ['an empty list', `${BASE}vnis: []\n`, /vnis must be a non-empty list/],
    ['a VNI out of range', `${BASE}vnis:\n  - {vni: 16777216}\n`, /vnis\[0\] vni/],
  ];
  it.each(bad)('refuses %s in one sentence naming the entry (exit 2)', (_what, yaml, re) => {
    const m = refusal(yaml);
    expect(m).toMatch(re);
    expect(m.split('\n')).toHaveLength(1);
  });

  it('refuses device flags beside a vnis: list, and --io dgram', () => {
    expect(refusal(`${BASE}vnis:\n  - {vni: 10001}\n`, ['--vni', '7'])).toMatch(/--vni cannot be combined with the vnis: list/);
    expect(refusal(`${BASE}vnis:\n  - {vni: 10001}\n`, ['--fdb', '7a:3a:fe:45:a3:76=192.168.0.31'])).toMatch(/--fdb cannot be combined with the vnis: list/);
    expect(refusal(`${BASE}io: dgram\nvnis:\n  - {vni: 10001}\n`)).toMatch(/needs --io native/);
  });

  it('a top-level per-device key beside vnis is refused, the shared one accepted', () => {
    expect(refusal(`${BASE}ttl: 9\nvnis:\n  - {vni: 10001}\n`)).toMatch(/top-level 'ttl' beside vnis/);
    expect(parse(`${BASE}srcport: 40000-40999\nvnis:\n  - {vni: 10001}\n`).vnis![0]!.srcport).toEqual({ min: 40000, max: 40999 });
  });
});

describe('a whole-overlay file with several VNIs per node', () => {
  const OVERLAY = `version: 1
dstport: 4789
mtu: 1400
nodes:
  - node: a
    local: 192.168.0.21
    vnis:
      - {vni: 1, name: blue, addr: 10.1.0.21/24, mac: '02:00:00:00:01:21', pods: [10.11.21.0/24]}
      - {vni: 2, addr: 10.2.0.21/24, mac: '02:00:00:00:02:21'}
  - node: b
    local: 192.168.0.31
    vnis:
      - {vni: 1, addr: 10.1.0.31/24, mac: '02:00:00:00:01:31', pods: [10.11.31.0/24]}
  - node: c
    local: 192.168.0.16
    vnis:
      - {vni: 2, addr: 10.2.0.16/24, mac: '02:00:00:00:02:16', pods: [10.12.16.0/24]}
`;
  it('derives each device of a node from the nodes in its own VNI only', () => {
    const c = parse(OVERLAY, ['--node', 'a']);
    const [blue, vx2] = c.vnis!;
    expect(blue).toMatchObject({ vni: 1, name: 'blue', local: '192.168.0.21', mtu: 1400, addr: ['10.1.0.21/24'], mac: '02:00:00:00:01:21' });
    expect(blue!.fdb.map((f) => `${f.mac}=${f.ip}`)).toEqual(['02:00:00:00:01:31=192.168.0.31']);
    expect(blue!.neigh.map((n) => n.ip)).toEqual(['10.1.0.31']);
    expect(blue!.route).toEqual([{ cidr: '10.11.31.0/24', gateway: '10.1.0.31' }]);
    expect(vx2).toMatchObject({ vni: 2, name: 'vx2', mtu: 1400, addr: ['10.2.0.21/24'] });
    expect(vx2!.fdb.map((f) => f.ip)).toEqual(['192.168.0.16']);
    expect(vx2!.route).toEqual([{ cidr: '10.12.16.0/24', gateway: '10.2.0.16' }]);
    // A node in one VNI gets one device, still in the vnis: form.
    expect(parse(OVERLAY, ['--node', 'b']).vnis!.map((d) => [d.name, d.fdb.map((f) => f.ip)])).toEqual([['vx1', ['192.168.0.21']]]);
  });

  it.each([
    ['a MAC twice in one VNI', OVERLAY.replace("mac: '02:00:00:00:01:31'", "mac: '02:00:00:00:01:21'"), /nodes\[1\] \(b\) vnis\[0\] mac 02:00:00:00:01:21 is also the MAC of nodes\[0\] \(a\) vnis\[0\] in VNI 1/],
    ['a top-level vni', OVERLAY.replace('dstport: 4789', 'dstport: 4789\nvni: 7'), /top-level 'vni' beside nodes with vnis/],
    ['a node-level addr', OVERLAY.replace('    local: 192.168.0.31\n', '    local: 192.168.0.31\n    addr: 10.1.0.31/24\n'), /in a several-VNI overlay, 'addr' belongs to each vnis: entry/],
    ['one VNI twice on a node', OVERLAY.replace('{vni: 2, addr: 10.2.0.21/24', '{vni: 1, addr: 10.2.0.21/24'), /vnis\[1\] repeats VNI 1/],
  ])('refuses %s', (_what, yaml, re) => {
    expect(refusal(yaml, ['--node', 'a'])).toMatch(re);
  });
});
