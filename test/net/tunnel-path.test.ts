// --tx-path tap on real namespaces: TCP super-frames leave whole through the underlay-side TAP (UDP-tunnel GSO),
// a kernel vxlan peer receives the stream intact and in order, the outer headers on the wire equal the UDP
// socket path's, and the path falls back (auto) or refuses (tap) with a reason where it cannot work.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addKernelVtep, netTestGate, type Topology } from '../../src/testbed/index.js';
import { capture, tcpTransfer } from './probes.js';
import { N1, N2, seedArgs, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();
const net = new NetSession();

const args = (self: SeedNode, peer: SeedNode, extra: string[] = []): string[] => [...seedArgs(self, peer), ...extra];

async function kernelPeer(t: Topology): Promise<void> {
  await addKernelVtep(t, N2.name, {
    name: 'vxlan-test', vni: 10001, dstport: 4899, mac: N2.mac, addr: `${N2.overlay}/24`, mtu: 1450,
    fdb: [{ mac: N1.mac, dst: N1.underlay }], neigh: [{ ip: N1.overlay, mac: N1.mac }],
  });
}

/** `mb` MiB over TCP from n1 to n2's overlay address, SHA-256 checked. */
const transfer = (t: Topology, mb: number, port: number): Promise<void> => tcpTransfer(t, N1, N2, N2.overlay, mb, port, 60_000);

async function nstat(t: Topology, host: string, names: string[]): Promise<Record<string, number>> {
  const r = await t.exec(host, 'nstat', ['-az', '--json', ...names]);
  const j = JSON.parse(r.stdout) as { kernel: Record<string, number> };
  return j.kernel;
}

/** tcpdump -vv on n2's eth0: the first `count` large VXLAN datagrams from n1, while `action` runs. */
async function captureLarge(t: Topology, action: () => Promise<unknown>, count = 20): Promise<string[]> {
  const out = await capture(t, N2, 'eth0', `udp dst port 4899 and src host ${N1.underlay} and greater 1200`, count, action, true);
  // Two lines per datagram with -v: join them, then drop what differs packet by packet (IP id, lengths).
  return out.split(/\n(?=\d\d:)/).map((l) => l.replace(/\s+/g, ' ').replace(/^\S+ /, '').replace(/id \d+/, 'id N').replace(/length \d+/g, 'length N').replace(/cksum 0x[0-9a-f]+/, 'cksum X').trim()).filter(Boolean);
}

describe.skipIf(gate.skip)('--tx-path tap (UDP-tunnel GSO through an underlay-side TAP)', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterEach(() => net.cleanup());

  it('a kernel vxlan peer receives 64 MiB intact and in order; the super-packets left whole', async () => {
    const t = await net.topology('tnl', [N1, N2]);
    const a = await net.up(t, N1, args(N1, N2, ['--tx-path', 'tap']));
    await kernelPeer(t);
    expect(a.stderr()).toContain('TX path tap (vxlan-test-tx');
    const before = await nstat(t, N2.name, ['TcpExtTCPOFOQueue']);
    const retrans0 = await nstat(t, N1.name, ['TcpRetransSegs']);
    await transfer(t, 64, 5100);
    const after = await nstat(t, N2.name, ['TcpExtTCPOFOQueue']);
    const retrans1 = await nstat(t, N1.name, ['TcpRetransSegs']);
    // One flow, one path, in TAP order: the receiver never queued a segment out of order.
    expect(after.TcpExtTCPOFOQueue! - before.TcpExtTCPOFOQueue!).toBe(0);
    expect(retrans1.TcpRetransSegs! - retrans0.TcpRetransSegs!).toBeLessThan(10);
    const c = await a.counters();
    expect(c.tx_tunnel_writes).toBeGreaterThan(100);
    expect(c.tx_error).toBe(0);
    // No device of ours in the host's view of the node but the two TAPs; both go at exit.
    await a.stop('SIGTERM');
    const links = await t.exec(N1.name, 'ip', ['-o', 'link', 'show']);
    expect(links.stdout).not.toContain('vxlan-test');
  });

  it('outer headers on the wire equal the UDP socket path’s (defaults, and --ttl/--tos/--df set)', async () => {
    const t = await net.topology('tnlhdr', [N1, N2]);
    await kernelPeer(t);
    // Over veth nothing completes a partial checksum, so the wire would show seeds on both paths: with checksum
    // offload off on n1's underlay the kernel segments and checksums in software, and tcpdump can verify them.
    await t.exec(N1.name, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
    const seen: Record<string, string[]> = {};
    let port = 5200;
    for (const extra of [[], ['--ttl', '33', '--tos', '184', '--df', 'set']]) {
      for (const path of ['tap', 'udp']) {
        const a = await net.up(t, N1, args(N1, N2, ['--tx-path', path, ...extra]));
        const p = port++;
        seen[`${path} ${extra.join(' ')}`] = await captureLarge(t, () => transfer(t, 8, p));
        const c = await a.counters();
        if (path === 'tap') expect(c.tx_tunnel_writes).toBeGreaterThan(0);
        else expect(c.tx_tunnel_writes).toBe(0);
        await a.stop('SIGTERM');
      }
      const tap = new Set(seen[`tap ${extra.join(' ')}`]);
      const udp = new Set(seen[`udp ${extra.join(' ')}`]);
      expect(tap.size, `tap: ${[...tap].join('\n')}`).toBe(1);
      expect([...tap], extra.join(' ')).toEqual([...udp]);
      // The line itself: source port 4899 and a verified outer UDP checksum.
      expect([...tap][0]).toMatch(/192\.168\.0\.21\.4899 > 192\.168\.0\.31\.4899: \[udp sum ok\]/);
    }
    expect(seen['tap --ttl 33 --tos 184 --df set']![0]).toMatch(/tos 0xb8, ttl 33, .*flags \[DF\]/);
    expect(seen['tap ']![0]).toMatch(/tos 0x0, ttl 64, .*flags \[none\]/);
  });

  it('falls back (auto) or refuses (tap) where it cannot work, leaving nothing behind; loose rp_filter works', async () => {
    const t = await net.topology('tnlno', [N1, N2]);
    await kernelPeer(t);
    // --ttl 255: forwarding would need TTL 256.
    const a: RunningVtep = await net.up(t, N1, args(N1, N2, ['--ttl', '255']));
    expect(a.stderr()).toMatch(/TX path udp \(tap unavailable: --ttl 255/);
    await a.stop('SIGTERM');
    // Strict reverse-path filtering namespace-wide: tap refuses with one sentence and exit 2; nothing remains.
    await t.exec(N1.name, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=1']);
    const r = await runCli(['up', ...args(N1, N2, ['--tx-path', 'tap'])], { ns: t.nsOf(N1.name) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tx-path tap cannot work here: net\.ipv4\.conf\.all\.rp_filter is 1/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect((await t.exec(N1.name, 'ip', ['-o', 'link', 'show'])).stdout).not.toContain('vxlan-test');
    // A firewall whose forward chain drops (Docker sets such a policy): auto falls back and says why.
    await t.exec(N1.name, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=0']);
    await t.exec(N1.name, 'nft', ['-f', '-'], { input: 'table inet vxut {\n chain forward_drop {\n  type filter hook forward priority 0; policy drop;\n }\n}\n' });
    const fw = await net.up(t, N1, args(N1, N2));
    expect(fw.stderr()).toMatch(/TX path udp \(tap unavailable: an nftables forward chain has policy drop/);
    await fw.stop('SIGTERM');
    await t.exec(N1.name, 'nft', ['delete', 'table', 'inet', 'vxut']);
    // Loose mode (2) passes: our own source address is reachable.
    await t.exec(N1.name, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=2']);
    const b = await net.up(t, N1, args(N1, N2, ['--tx-path', 'tap']));
    await transfer(t, 8, 5300);
    expect((await b.counters()).tx_tunnel_writes).toBeGreaterThan(0);
  });
});
