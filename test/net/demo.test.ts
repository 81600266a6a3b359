// `vxlan-user demo` end to end on the seed overlay (6 nodes, 6 pods), with its own namespace prefix: it must
// pass every check, show the walk with real bytes, and leave nothing behind; also when it is interrupted, and
// with --keep followed by `demo down`.
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupStale, listNamespaces, netTestGate } from '../../src/testbed/index.js';
import { assertBuilt, CLI, runCli } from './vtep-process.js';

const gate = netTestGate();
/** A prefix of our own (the demo's rule: a letter first, at most 16): vxut-style cleanup by pid is not needed. */
const PREFIX = `vxutdemo${process.pid % 100000}`;

async function leftovers(): Promise<string[]> {
  return (await listNamespaces()).filter((n) => n.startsWith(`${PREFIX}-`));
}

describe.skipIf(gate.skip)('vxlan-user demo', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterAll(async () => {
    await cleanupStale(`${PREFIX}-`, { all: true });
  });

  it('runs end to end: pings across clusters, HTTP, the walk with captured bytes, then cleans up', async () => {
    const r = await runCli(['demo', '--prefix', PREFIX, '--kernel', '005'], { timeoutMs: 90_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('[1/6] building the network');
    expect(r.stdout).toMatch(/multicluster-test-005 \(test-cluster3\) +kernel vxlan/);
    expect(r.stdout).toMatch(/multicluster-test-001 \(test-cluster1\) +vxlan-user pid \d+ +ready: vxlan-test vni 10001 udp 192\.168\.0\.21:4899/);
    // The walk: the pod route, the overlay route, proxy-ARP, the outer headers and VXLAN header bytes.
    expect(r.stdout).toMatch(/10\.235\.88\.10 via 179\.17\.1\.16 dev vxlan-test/);
    expect(r.stdout).toContain('reply: sender 179.17.1.16 is-at 36:f9:67:c0:70:1c');
    expect(r.stdout).toMatch(/VXLAN +08 00 00 00 00 27 11 00\n +flags 0x08 \(I: the VNI is valid\), reserved 0, VNI 0x002711 = 10001/);
    expect(r.stdout).toMatch(/outer UDP +13 23 13 23 /); // ports 4899
    expect(r.stdout).not.toMatch(/outer Ethernet +00 00 00 00 00 00/); // real underlay MACs
    expect(r.stdout).toContain('30/30 pod pairs answered');
    expect(r.stdout).toMatch(/GET http:\/\/10\.235\.88\.10:8080\/[^\n]*\n +hello from the pod 10\.235\.88\.10 on multicluster-test-003/);
    expect(r.stdout).toContain('removed every namespace, process and device the demo made');
    expect(await leftovers()).toEqual([]);
  });

  it('Ctrl-C while it builds tears everything down', async () => {
    const child = spawn(process.execPath, [CLI, 'demo', '--prefix', PREFIX], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    // Interrupt once the VTEPs are starting (namespaces exist, processes running).
    for (let i = 0; i < 200 && !out.includes('[2/6]'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('[2/6]');
    expect((await leftovers()).length).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(130);
    expect(out).toContain('SIGINT: tearing the demo down');
    expect(await leftovers()).toEqual([]);
  });

  it('--keep leaves it running (pods still reach each other); demo down removes it', async () => {
    const r = await runCli(['demo', '--prefix', PREFIX, '--keep', '--kernel', '005'], { timeoutMs: 90_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('kept running (--keep)');
    // The kernel node gets the plan's dev and MTU (eth0, 1500 − 50), not the kernel's default 1500.
    const kernelLink = JSON.parse(
      execFileSync('ip', ['-n', `${PREFIX}-multicluster-test-005`, '-d', '-j', 'link', 'show', 'dev', 'vxlan-test'], { encoding: 'utf8' }),
    ) as { mtu: number; linkinfo: { info_data: { link?: string } } }[];
    expect(kernelLink[0]!.mtu).toBe(1450);
    expect(kernelLink[0]!.linkinfo.info_data.link).toBe('eth0');
    expect(r.stdout).toContain(`vxlan-user demo down --prefix ${PREFIX}`);
    const again = await runCli(['demo', '--prefix', PREFIX]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('a demo is already there');
    execFileSync('ip', ['netns', 'exec', `${PREFIX}-multicluster-test-001-pod`, 'ping', '-c', '1', '-W', '2', '10.236.106.10'], { stdio: 'ignore' });
    const down = await runCli(['demo', 'down', '--prefix', PREFIX]);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/removed 13 namespaces/);
    expect(await leftovers()).toEqual([]);
  });
});
