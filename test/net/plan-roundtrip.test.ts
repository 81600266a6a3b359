// `plan --as-kernel` builds the same node (issue 12, part 3): every option through the plan, the script through
// `sh -e` inside a node namespace, then the kernel's own view of the result (`ip -d -j link show`,
// `bridge -j fdb show`, `ip -j neigh`, `ip -j route`) compared field by field with what was asked for.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, type Topology } from '../../src/testbed/index.js';
import { N1 } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli } from './vtep-process.js';

const gate = netTestGate();
const net = new NetSession();
const DEV = 'vxlan-test';
let work: string;

interface VxlanInfo {
  id: number;
  local?: string;
  local6?: string;
  link?: string;
  port: number;
  port_range: { low: number; high: number };
  learning: boolean;
  ageing: number;
  ttl?: number;
  tos?: string;
  df?: string;
  udp_csum: boolean;
  udp_zero_csum6_tx: boolean;
  udp_zero_csum6_rx: boolean;
}
interface LinkJson {
  mtu: number;
  address: string;
  linkinfo: { info_kind: string; info_data: VxlanInfo };
}
interface FdbJson {
  mac: string;
  dst?: string;
  port?: number;
  vni?: number;
  state?: string;
}

/** Plans `config` inside the node (so `dev` is found with `ip -j addr` there), applies it with `sh -e`. */
async function planAndApply(t: Topology, config: string): Promise<{ script: string; link: LinkJson; fdb: FdbJson[] }> {
  const file = join(work, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  const plan = await runCli(['plan', '--config', file, '--as-kernel'], { ns: t.nsOf(N1.name) });
  expect(plan.code, plan.stderr).toBe(0);
  await t.exec(N1.name, 'sh', ['-e'], { input: plan.stdout });
  const link = JSON.parse((await t.exec(N1.name, 'ip', ['-d', '-j', 'link', 'show', 'dev', DEV])).stdout) as LinkJson[];
  const fdb = JSON.parse((await t.exec(N1.name, 'bridge', ['-j', 'fdb', 'show', 'dev', DEV])).stdout) as FdbJson[];
  return { script: plan.stdout, link: link[0]!, fdb: fdb.filter((f) => f.dst !== undefined) };
}

describe.skipIf(gate.skip)('plan --as-kernel round trip through the kernel', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-plan-rt-'));
  });
  afterEach(() => net.cleanup());
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('IPv4 underlay: every option with a kernel equivalent arrives in the kernel device', async () => {
    const t = await net.topology('planrt4', [N1]);
    const { script, link, fdb } = await planAndApply(
      t,
      `version: 1
vni: 10001
name: ${DEV}
dstport: 4899
local: ${N1.underlay}
mac: ${N1.mac}
addr: [${N1.overlay}/24]
remote: [192.168.0.99]
fdb:
  - 7a:3a:fe:45:a3:76=192.168.0.31
  - 36:f9:67:c0:70:1c=192.168.0.16:8472
  - {mac: 36:f9:67:c0:70:1d, dst: 192.168.0.17, vni: 10002}
neigh: [179.17.1.31=7a:3a:fe:45:a3:76]
route: [10.234.118.0/24=179.17.1.31]
learning: true
ageing: 120
ttl: 17
tos: 32
df: set
srcport: 40000-40999
udpcsum: false
peers-only: true
`,
    );
    const d = link.linkinfo.info_data;
    expect(link.linkinfo.info_kind).toBe('vxlan');
    expect(d.id).toBe(10001);
    expect(d.port).toBe(4899);
    expect(d.local).toBe(N1.underlay);
    expect(d.link).toBe('eth0'); // found by the plan: the device that holds --local
    expect(link.mtu).toBe(1450); // eth0's 1500 − 50, without --mtu
    expect(link.address).toBe(N1.mac);
    expect(d.learning).toBe(true);
    expect(d.ageing).toBe(120);
    expect(d.ttl).toBe(17);
    expect(d.tos).toBe('0x20'); // tos: 32 is decimal; the kernel prints hex
    expect(d.df).toBe('set');
    expect(d.port_range).toEqual({ low: 40000, high: 41000 }); // MAX inclusive here, exclusive there
    expect(d.udp_csum).toBe(false);
    expect(script).toMatch(/^# no kernel equivalent: --peers-only/m);

    const row = (mac: string): FdbJson | undefined => fdb.find((f) => f.mac === mac);
    expect(row('00:00:00:00:00:00')).toMatchObject({ dst: '192.168.0.99', state: 'permanent' });
    expect(row('7a:3a:fe:45:a3:76')).toMatchObject({ dst: '192.168.0.31', state: 'permanent' });
    expect(row('7a:3a:fe:45:a3:76')?.port).toBeUndefined();
    expect(row('36:f9:67:c0:70:1c')).toMatchObject({ dst: '192.168.0.16', port: 8472 });
    expect(row('36:f9:67:c0:70:1d')).toMatchObject({ dst: '192.168.0.17', vni: 10002 });
    expect(fdb).toHaveLength(4);

    const neigh = JSON.parse((await t.exec(N1.name, 'ip', ['-j', 'neigh', 'show', 'dev', DEV])).stdout) as { dst: string; lladdr: string; state: string[] }[];
    expect(neigh).toEqual([expect.objectContaining({ dst: '179.17.1.31', lladdr: '7a:3a:fe:45:a3:76', state: ['PERMANENT'] })]);
    const routes = JSON.parse((await t.exec(N1.name, 'ip', ['-j', 'route', 'show', 'dev', DEV])).stdout) as { dst: string; gateway?: string }[];
    expect(routes).toContainEqual(expect.objectContaining({ dst: '10.234.118.0/24', gateway: '179.17.1.31' }));
    const addrs = JSON.parse((await t.exec(N1.name, 'ip', ['-j', 'addr', 'show', 'dev', DEV])).stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    expect(addrs[0]!.addr_info).toContainEqual(expect.objectContaining({ local: N1.overlay, prefixlen: 24 }));
  });

  it('IPv6 underlay: MTU − 70, the IPv6 checksum flags, tos and ttl inherit, nolearning, --mtu over a smaller eth0', async () => {
    const t = await net.topology('planrt6', [N1]);
    await t.exec(N1.name, 'ip', ['addr', 'add', 'fd00:12::21/64', 'dev', 'eth0', 'nodad']);
    await t.exec(N1.name, 'ip', ['link', 'set', 'dev', 'eth0', 'mtu', '1400']);
    const base = `version: 1\nvni: 77\nname: ${DEV}\nlocal: fd00:12::21\nremote: [fd00:12::31]\nudp6zerocsumtx: true\nudp6zerocsumrx: true\ntos: inherit\nttl: inherit\n`;
    const { link, fdb } = await planAndApply(t, base);
    const d = link.linkinfo.info_data;
    expect(d.local6).toBe('fd00:12::21');
    expect(d.link).toBe('eth0');
    expect(d.port).toBe(4789);
    expect(link.mtu).toBe(1330); // eth0's 1400 − 70
    expect(d.learning).toBe(false);
    expect(d.ageing).toBe(300);
    expect(d.tos).toBe('0x1'); // how iproute2 6.1 prints `tos inherit`
    expect(d.udp_zero_csum6_tx).toBe(true);
    expect(d.udp_zero_csum6_rx).toBe(true);
    // iproute2 6.1 prints `ttl inherit` only in the text form.
    expect((await t.exec(N1.name, 'ip', ['-d', 'link', 'show', 'dev', DEV])).stdout).toContain(' ttl inherit ');
    expect(fdb).toEqual([expect.objectContaining({ mac: '00:00:00:00:00:00', dst: 'fd00:12::31' })]);

    await t.exec(N1.name, 'ip', ['link', 'del', DEV]);
    const withMtu = await planAndApply(t, `${base}mtu: 1280\n`);
    expect(withMtu.link.mtu).toBe(1280);
  });
});
