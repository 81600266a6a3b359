// IPv6 neighbours at runtime (issue 12): `vxlan-user neigh add|del` and a reload change what the NDP proxy
// answers, on a running instance, seen through real pings over the tunnel.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, type Topology } from '../../src/testbed/index.js';
import { N1, N2, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli } from './vtep-process.js';

const gate = netTestGate();
const net = new NetSession();
const DEV = 'vxlan-test';
const v6 = (n: SeedNode): string => `2001:db8::${n.overlay.split('.')[3]}`;
let work: string;

async function settled(t: Topology, n: SeedNode): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await t.exec(n.name, 'ip', ['-6', 'addr', 'show', 'dev', DEV, 'tentative'])).stdout.trim() === '') return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ping6 = async (t: Topology, from: SeedNode, to: SeedNode): Promise<boolean> =>
  (await t.exec(from.name, 'ping', ['-6', '-c', '1', '-W', '1', v6(to)], { check: false })).stdout.includes('1 received');

describe.skipIf(gate.skip)('IPv6 neighbours at runtime', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-neigh6-'));
  });
  afterEach(() => net.cleanup());
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('neigh add makes the NDP proxy answer, neigh del stops it; a reload brings it back from the file', async () => {
    const t = await net.topology('neigh6', [N1, N2], { ipv6: true });
    const file = join(work, 'n1.yaml');
    const yaml = (neigh: string): string =>
      `version: 1\nvni: 10001\nname: ${DEV}\ndstport: 4899\nlocal: ${N1.underlay}\nmac: ${N1.mac}\naddr: [${N1.overlay}/24, ${v6(N1)}/64]\nfdb: [${N2.mac}=${N2.underlay}]\nneigh: [${neigh}]\n`;
    writeFileSync(file, yaml(''));
    const a = await net.up(t, N1, ['--config', file]);
    await net.up(t, N2, [
      '--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', N2.underlay, '--mac', N2.mac, '--addr', `${N2.overlay}/24`,
      '--addr', `${v6(N2)}/64`, '--fdb', `${N1.mac}=${N1.underlay}`, '--neigh', `${v6(N1)}=${N1.mac}`,
    ]);
    await settled(t, N1);
    await settled(t, N2);
    const ctl = (...args: string[]) => runCli([...args, '--name', DEV], { ns: t.nsOf(N1.name) });
    const flushHost = () => t.exec(N1.name, 'ip', ['-6', 'neigh', 'flush', 'dev', DEV]);

    // No entry: the solicitation is multicast, there is no default destination, nobody answers.
    expect(await ping6(t, N1, N2)).toBe(false);
    const added = await ctl('neigh', 'add', v6(N2), 'lladdr', N2.mac);
    expect(added.code, added.stderr).toBe(0);
    await flushHost();
    expect(await ping6(t, N1, N2)).toBe(true);
    expect((await a.counters()).ndp_proxied).toBeGreaterThanOrEqual(1);
    const shown = await ctl('neigh', 'show');
    expect(shown.stdout).toContain(`${v6(N2)} dev ${DEV} lladdr ${N2.mac} PERMANENT`);

    expect((await ctl('neigh', 'del', v6(N2))).code).toBe(0);
    await flushHost();
    expect(await ping6(t, N1, N2)).toBe(false);

    writeFileSync(file, yaml(`${v6(N2)}=${N2.mac}`));
    const r = await ctl('reload');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/neigh \+1 -0 ~0/);
    await flushHost();
    expect(await ping6(t, N1, N2)).toBe(true);
  });
});
