// The control plane without a network: requests handled against a Vtep over the fake platform, reload from a
// temporary file, route diffs, and the Prometheus registry. Expected strings are written out by hand.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { handle } from '../../src/control/ops/control-server.js';
import { formatFdbRow, formatNeighRow, LineSplitter, type Request, type Response } from '../../src/control/ops/control-protocol.js';
import { parseUpArgs } from '../../src/control/config/config.js';
import type { Instance } from '../../src/control/runtime/instance.js';
import { buildRegistry } from '../../src/control/ops/metrics.js';
import { fixedChanges, planRoutes, type Runtime } from '../../src/control/runtime/reload.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { C } from '../../src/dataplane/counters.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const dir = mkdtempSync(join(tmpdir(), 'vxut-ctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = `version: 1
vni: 10001
name: vxlan-test
dstport: 4899
addr: 179.17.1.21/24
remote: 192.168.0.16
fdb: [7a:3a:fe:45:a3:76=192.168.0.31]
neigh: [179.17.1.31=7a:3a:fe:45:a3:76]
`;

function runtime(yaml = BASE): { rt: Runtime; file: string; vtep: Vtep } {
  const file = join(dir, `node-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const argv = ['--config', file];
  const parsed = parseUpArgs(argv);
  if (parsed.help) throw new Error('help?');
  const config = parsed.config;
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  const vtep = new Vtep(new FakeTap('vxlan-test'), udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4899 });
  for (const r of config.remote) vtep.fdb.append(0, r);
  for (const f of config.fdb) vtep.fdb.append(f.macNum, f.ip, f.port, f.vni);
  vtep.neigh = new Map([[0xb311011f, 0x7a3afe45a376]]);
  const inst = { tapName: 'vxlan-test', vtep, routes: new Map(), startedAt: Date.now(), localAddress: '192.168.0.21', localPort: 4899, ioPath: 'fake', mac: 'c2:6a:9b:e5:39:8d', mtu: 1450, underlayMtu: 1500, config } as unknown as Instance;
  Object.assign(inst, { devices: [inst] }); // a single-VNI instance is its own one device
  const rt: Runtime = {
    inst,
    dev: inst,
    argv,
    log: () => {},
    tables: { vtep, vni: 10001, dstport: 4899, family: 4 },
    config,
    reloads: 0,
    lastReload: undefined,
    metrics: undefined,
  };
  return { rt, file, vtep };
}

const ok = (r: Response): unknown => {
  if (!r.ok) throw new Error(`refused: ${r.error}`);
  return r.data;
};
const show = (rt: Runtime): string[] => (ok(handle(rt, { op: 'fdb-show' })) as Parameters<typeof formatFdbRow>[0][]).map((r) => formatFdbRow(r, 'vxlan-test'));

describe('fdb commands (bridge fdb semantics)', () => {
  it('shows the table like `bridge fdb show dev IFNAME`, default destinations first', () => {
    const { rt } = runtime();
    expect(show(rt)).toEqual([
      '00:00:00:00:00:00 dev vxlan-test dst 192.168.0.16 self permanent',
      '7a:3a:fe:45:a3:76 dev vxlan-test dst 192.168.0.31 self permanent',
    ]);
  });

  it('add refuses an existing MAC with exit 2; append adds a destination; replace leaves exactly one', () => {
    const { rt, vtep } = runtime();
    const before = vtep.fdb.lookup(0x7a3afe45a376);
    const r = handle(rt, { op: 'fdb', action: 'add', mac: '7a:3a:fe:45:a3:76', dst: '192.168.0.32' });
    expect(r).toEqual({ ok: false, exit: 2, error: expect.stringContaining('already exists') as string });
    expect(vtep.fdb.lookup(0x7a3afe45a376)).toBe(before); // untouched: the same published entry
    ok(handle(rt, { op: 'fdb', action: 'append', mac: '7a:3a:fe:45:a3:76', dst: '192.168.0.32', port: 8472, vni: 5 }));
    expect(show(rt)).toContain('7a:3a:fe:45:a3:76 dev vxlan-test dst 192.168.0.32 port 8472 vni 5 self permanent');
    expect(vtep.fdb.lookup(0x7a3afe45a376)!.remotes).toHaveLength(2);
    expect(vtep.fdb.lookup(0x7a3afe45a376)).not.toBe(before); // a new entry was swapped in
    ok(handle(rt, { op: 'fdb', action: 'replace', mac: '7a:3a:fe:45:a3:76', dst: '192.168.0.40' }));
    expect(vtep.fdb.lookup(0x7a3afe45a376)!.remotes.map((x) => x.ip)).toEqual(['192.168.0.40']);
    // The frozen old entry still says what it said: a packet holding it saw a whole table.
    expect(before!.remotes.map((x) => x.ip)).toEqual(['192.168.0.31']);
  });

  it('del removes one destination or the whole entry, and refuses what is not there', () => {
    const { rt, vtep } = runtime();
    ok(handle(rt, { op: 'fdb', action: 'append', mac: '7a:3a:fe:45:a3:76', dst: '192.168.0.32' }));
    ok(handle(rt, { op: 'fdb', action: 'del', mac: '7a:3a:fe:45:a3:76', dst: '192.168.0.31' }));
    expect(vtep.fdb.lookup(0x7a3afe45a376)!.remotes.map((x) => x.ip)).toEqual(['192.168.0.32']);
    expect(handle(rt, { op: 'fdb', action: 'del', mac: '7a:3a:fe:45:a3:76', dst: '192.168.0.31' })).toMatchObject({ ok: false, exit: 2 });
    ok(handle(rt, { op: 'fdb', action: 'del', mac: '7a:3a:fe:45:a3:76' }));
    expect(vtep.fdb.lookup(0x7a3afe45a376)).toBeUndefined();
    expect(handle(rt, { op: 'fdb', action: 'del', mac: '7a:3a:fe:45:a3:76' })).toMatchObject({ ok: false, exit: 2, error: 'no FDB entry for 7a:3a:fe:45:a3:76' });
  });

  it.each<[Request, RegExp]>([
    [{ op: 'fdb', action: 'add', mac: 'zz:3a:fe:45:a3:76', dst: '192.168.0.1' }, /^MAC zz:3a:fe:45:a3:76 is a malformed MAC address: expected six hex octets/],
    [{ op: 'fdb', action: 'add', mac: '01:00:5e:00:00:01', dst: '192.168.0.1' }, /multicast\/broadcast/],
    [{ op: 'fdb', action: 'add', mac: '02:00:00:00:00:01', dst: '192.168.0' }, /^dst 192.168.0 is a malformed underlay IP address/],
    [{ op: 'fdb', action: 'add', mac: '02:00:00:00:00:01', dst: '2001:db8::1' }, /is IPv6, but this instance's underlay socket is IPv4/],
    [{ op: 'fdb', action: 'add', mac: '02:00:00:00:00:01', dst: '192.168.0.1', port: 70000 }, /port 70000 is out of range/],
    [{ op: 'fdb', action: 'add', mac: '02:00:00:00:00:01' }, /needs 'dst IP'/],
    [{ op: 'fdb', action: 'append', mac: '00:00:00:00:00:00', dst: '192.168.0.1', vni: 7 }, /default destination .* its own port or VNI/],
    [{ op: 'fdb', action: 'frob', mac: '02:00:00:00:00:01' } as unknown as Request, /malformed request/],
    [{ op: 'nope' } as unknown as Request, /unknown op/],
  ])('refuses %j with exit 2', (req, msg) => {
    const { rt } = runtime();
    const r = handle(rt, req);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.exit).toBe(2);
      expect(r.error).toMatch(msg);
    }
  });
});

describe('neigh commands (ip neigh semantics)', () => {
  it('add, refuse a second add, replace, del, and show like `ip neigh show dev IFNAME`', () => {
    const { rt, vtep } = runtime();
    const before = vtep.neigh;
    ok(handle(rt, { op: 'neigh', action: 'add', ip: '179.17.1.40', lladdr: '02:00:00:00:00:40' }));
    expect(vtep.neigh).not.toBe(before); // swapped whole, never mutated in place
    expect(before.size).toBe(1);
    expect(handle(rt, { op: 'neigh', action: 'add', ip: '179.17.1.40', lladdr: '02:00:00:00:00:41' })).toMatchObject({ ok: false, exit: 2 });
    ok(handle(rt, { op: 'neigh', action: 'replace', ip: '179.17.1.40', lladdr: '02:00:00:00:00:41' }));
    const rows = ok(handle(rt, { op: 'neigh-show' })) as Parameters<typeof formatNeighRow>[0][];
    expect(rows.map((r) => formatNeighRow(r, 'vxlan-test'))).toEqual([
      '179.17.1.31 dev vxlan-test lladdr 7a:3a:fe:45:a3:76 PERMANENT',
      '179.17.1.40 dev vxlan-test lladdr 02:00:00:00:00:41 PERMANENT',
    ]);
    ok(handle(rt, { op: 'neigh', action: 'del', ip: '179.17.1.40' }));
    expect(handle(rt, { op: 'neigh', action: 'del', ip: '179.17.1.40' })).toMatchObject({ ok: false, exit: 2 });
    expect(handle(rt, { op: 'neigh', action: 'add', ip: '179.17.1.300', lladdr: '02:00:00:00:00:41' })).toMatchObject({ ok: false, exit: 2, error: "neighbour 179.17.1.300 is a malformed IP address: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31" });
  });
  it('IPv6 neighbours (the NDP proxy\'s table): add, refuse a second add, replace, del, show; canonical text', () => {
    const { rt, vtep } = runtime();
    const before = vtep.neigh6;
    ok(handle(rt, { op: 'neigh', action: 'add', ip: '2001:DB8:0:0::31', lladdr: '02:00:00:00:00:31' }));
    expect(vtep.neigh6).not.toBe(before); // swapped whole
    const addr = Buffer.from('20010db8000000000000000000000031', 'hex');
    expect(vtep.neigh6.lookup(addr, 0)).toBe(0x020000000031); // what the NDP proxy answers from
    expect(handle(rt, { op: 'neigh', action: 'add', ip: '2001:db8::31', lladdr: '02:00:00:00:00:32' })).toMatchObject({
      ok: false,
      exit: 2,
      error: "a neighbour entry for 2001:db8::31 already exists (lladdr 02:00:00:00:00:31): use 'neigh replace'",
    });
    ok(handle(rt, { op: 'neigh', action: 'replace', ip: '2001:db8::31', lladdr: '02:00:00:00:00:32' }));
    ok(handle(rt, { op: 'neigh', action: 'replace', ip: 'fe80::31', lladdr: '02:00:00:00:00:33' }));
    expect(vtep.neigh6.lookup(addr, 0)).toBe(0x020000000032);
    const rows = ok(handle(rt, { op: 'neigh-show' })) as Parameters<typeof formatNeighRow>[0][];
    expect(rows.map((r) => formatNeighRow(r, 'vxlan-test'))).toEqual([
      '179.17.1.31 dev vxlan-test lladdr 7a:3a:fe:45:a3:76 PERMANENT',
      '2001:db8::31 dev vxlan-test lladdr 02:00:00:00:00:32 PERMANENT',
      'fe80::31 dev vxlan-test lladdr 02:00:00:00:00:33 PERMANENT',
    ]);
    ok(handle(rt, { op: 'neigh', action: 'del', ip: '2001:db8::31' }));
    expect(vtep.neigh6.lookup(addr, 0)).toBe(-1);
    expect(vtep.neigh6.size).toBe(1);
    expect(handle(rt, { op: 'neigh', action: 'del', ip: '2001:db8::31' })).toMatchObject({ ok: false, exit: 2, error: 'no neighbour entry for 2001:db8::31' });
    expect(handle(rt, { op: 'neigh', action: 'add', ip: 'ff02::1', lladdr: '02:00:00:00:00:41' })).toMatchObject({ ok: false, error: expect.stringContaining('is the multicast address') as string });
    expect(handle(rt, { op: 'neigh', action: 'add', ip: '2001:db8::41', lladdr: '33:33:00:00:00:01' })).toMatchObject({ ok: false, error: expect.stringContaining('is a multicast MAC address') as string });
  });
});

describe('reload', () => {
  it('IPv6 neighbours follow the file too: added, changed and removed, IPv4 ones beside them', () => {
    const v6 = BASE.replace('addr: 179.17.1.21/24', 'addr: [179.17.1.21/24, fd00::21/64]').replace('neigh: [179.17.1.31=7a:3a:fe:45:a3:76]', 'neigh: [179.17.1.31=7a:3a:fe:45:a3:76, fd00::31=7a:3a:fe:45:a3:76]');
    const { rt, file, vtep } = runtime(v6);
    ok(handle(rt, { op: 'neigh', action: 'add', ip: 'fd00::31', lladdr: '7a:3a:fe:45:a3:76' })); // as at start
    ok(handle(rt, { op: 'neigh', action: 'add', ip: 'fd00::99', lladdr: '02:00:00:00:00:99' })); // runtime only
    writeFileSync(file, v6.replace('fd00::31=7a:3a:fe:45:a3:76]', 'fd00::31=02:00:00:00:00:31, fd00::32=02:00:00:00:00:32]'));
    expect(ok(handle(rt, { op: 'reload' }))).toBe(`reloaded ${file}: fdb +0 -0 ~0, neigh +1 -1 ~1, routes +0 -0 ~0`);
    expect(vtep.neigh6.entries()).toEqual([
      ['fd00::31', 0x020000000031],
      ['fd00::32', 0x020000000032],
    ]);
    expect([...vtep.neigh]).toEqual([[0xb311011f, 0x7a3afe45a376]]);
  });
  it('replaces FDB and neighbours from the file; runtime additions not in the file go', () => {
    const { rt, file, vtep } = runtime();
    ok(handle(rt, { op: 'fdb', action: 'add', mac: '02:00:00:00:00:99', dst: '192.168.0.99' }));
    writeFileSync(file, BASE.replace('7a:3a:fe:45:a3:76=192.168.0.31', '7a:3a:fe:45:a3:76=192.168.0.41').replace('neigh: [179.17.1.31=7a:3a:fe:45:a3:76]', 'neigh: []'));
    const summary = ok(handle(rt, { op: 'reload' }));
    expect(summary).toBe(`reloaded ${file}: fdb +0 -1 ~1, neigh +0 -1 ~0, routes +0 -0 ~0`);
    expect(show(rt)).toEqual([
      '00:00:00:00:00:00 dev vxlan-test dst 192.168.0.16 self permanent',
      '7a:3a:fe:45:a3:76 dev vxlan-test dst 192.168.0.41 self permanent',
    ]);
    expect(vtep.neigh.size).toBe(0);
    expect(rt.reloads).toBe(1);
  });

  it('an unchanged entry keeps its published object (no needless swap)', () => {
    const { rt, vtep } = runtime();
    const e = vtep.fdb.lookup(0x7a3afe45a376);
    ok(handle(rt, { op: 'reload' }));
    expect(vtep.fdb.lookup(0x7a3afe45a376)).toBe(e);
  });

  it('refuses an invalid file with its error and keeps the running state', () => {
    const { rt, file, vtep } = runtime();
    const e = vtep.fdb.lookup(0x7a3afe45a376);
    writeFileSync(file, BASE.replace('7a:3a:fe:45:a3:76=192.168.0.31', '7a:3a:fe:45:a3=192.168.0.31'));
    const r = handle(rt, { op: 'reload' });
    expect(r).toMatchObject({ ok: false, exit: 2 });
    if (!r.ok) expect(r.error).toMatch(new RegExp(`^reload of ${file} refused, running state kept: fdb .*MAC`));
    expect(vtep.fdb.lookup(0x7a3afe45a376)).toBe(e);
    expect(rt.reloads).toBe(0);
  });

  it('refuses a change of VNI, port or local address by name', () => {
    const { rt, file } = runtime();
    writeFileSync(file, BASE.replace('vni: 10001', 'vni: 10002').replace('dstport: 4899', 'dstport: 4789'));
    const r = handle(rt, { op: 'reload' });
    expect(r).toMatchObject({ ok: false, exit: 2 });
    if (!r.ok) expect(r.error).toContain('vni 10001 → 10002; dstport 4899 → 4789 cannot change while running');
  });

  it('fixedChanges names local, mac and addr changes', () => {
    const a = parseUpArgs(['--vni', '1', '--local', '192.168.0.1', '--addr', '10.0.0.1/24']).config!;
    const b = parseUpArgs(['--vni', '1', '--local', '192.168.0.2', '--addr', '10.0.0.2/24', '--mac', '02:00:00:00:00:01']).config!;
    expect(fixedChanges(a, b)).toEqual(['local 192.168.0.1 → 192.168.0.2', 'mac (unset) → 02:00:00:00:00:01', 'addr [10.0.0.1/24] → [10.0.0.2/24]']);
  });

  it('planRoutes leaves unchanged routes out of the plan', () => {
    const cur = new Map([
      ['10.1.0.0/24', '179.17.1.31'],
      ['10.2.0.0/24', '179.17.1.31'],
      ['10.3.0.0/24', '179.17.1.31'],
    ]);
    const plan = planRoutes(cur, [
      { cidr: '10.1.0.0/24', gateway: '179.17.1.31' },
      { cidr: '10.2.0.0/24', gateway: '179.17.1.16' },
      { cidr: '10.4.0.0/24', gateway: '179.17.1.16' },
    ]);
    expect(plan).toEqual({
      add: [{ cidr: '10.4.0.0/24', gateway: '179.17.1.16' }],
      change: [{ cidr: '10.2.0.0/24', from: '179.17.1.31', to: '179.17.1.16' }],
      del: [{ cidr: '10.3.0.0/24', gateway: '179.17.1.31' }],
    });
  });
});

describe('protocol framing', () => {
  it('splits lines across chunks and flags an oversized line', () => {
    const s = new LineSplitter(16);
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\n')).toEqual(['{"b":2}']);
    s.push('x'.repeat(17));
    expect(s.overflow).toBe(true);
  });
});

describe('metrics registry', () => {
  it('mirrors the dataplane counters and table sizes in Prometheus text format', async () => {
    const { rt, vtep } = runtime();
    const c = vtep.counters;
    c.v[C.rx_packets] = 42;
    c.v[C.rx_wrong_vni] = 3;
    c.v[C.tx_flood_copies] = 8;
    const text = await buildRegistry(rt).metrics();
    expect(text).toContain('vxlan_user_packets_total{direction="rx",device="vxlan-test"} 42');
    expect(text).toContain('vxlan_user_drops_total{reason="rx_wrong_vni",device="vxlan-test"} 3');
    expect(text).toContain('vxlan_user_flood_copies_total{device="vxlan-test"} 8');
    expect(text).toContain('vxlan_user_fdb_entries{device="vxlan-test"} 2');
    expect(text).toContain('# TYPE vxlan_user_drops_total counter');
    // A counter value moves with the dataplane between scrapes.
    c.v[C.rx_packets] = 50;
    expect(await buildRegistry(rt).metrics()).toContain('vxlan_user_packets_total{direction="rx",device="vxlan-test"} 50');
  });
});
