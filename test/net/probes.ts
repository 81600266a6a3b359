// What network tests do inside a topology's namespaces and look at: ping, a checked TCP transfer, a capture
// (tcpdump or one tshark field) while an action runs, an IPv6 underlay, and waiting for IPv6 DAD. Shared by the test files so
// each states only what it checks.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Topology } from '../../src/testbed/index.js';
import { DEV } from './seed-nodes.js';

interface Named {
  readonly name: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `count` pings (0.2 s apart, 2 s deadline each) from `from` to `to`; throws unless the exit is 0. Returns stdout. */
export async function ping(t: Topology, from: Named, to: string, count = 3, extra: readonly string[] = []): Promise<string> {
  return (await t.exec(from.name, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', ...extra, to])).stdout;
}

/**
 * Sends `mb` MiB of random bytes over TCP (socat) from `from` to `toAddr` (an address of `to`, IPv4 or IPv6)
 * and checks that the SHA-256 at the far end is the same.
 */
export async function tcpTransfer(t: Topology, from: Named, to: Named, toAddr: string, mb: number, port: number, timeoutMs = 120_000): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vxut-tcp-'));
  try {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    writeFileSync(src, randomBytes(mb << 20));
    const v6 = toAddr.includes(':');
    const server = t.spawn(to.name, 'socat', ['-u', `${v6 ? 'TCP6' : 'TCP'}-LISTEN:${port},reuseaddr`, `CREATE:${dst}`]);
    const serverDone = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
    for (let i = 0; i < 50; i++) {
      if ((await t.exec(to.name, 'ss', ['-ltn', `sport = :${port}`])).stdout.includes(`:${port}`)) break;
      await sleep(100);
    }
    const target = v6 ? `TCP6:[${toAddr}]:${port}` : `TCP:${toAddr}:${port}`;
    await t.exec(from.name, 'socat', ['-u', `OPEN:${src}`, `${target},connect-timeout=5`], { timeoutMs });
    expect(await serverDone).toBe(0);
    const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    expect(sha(dst)).toBe(sha(src));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `action` while tcpdump on `node`'s `iface` waits for `count` packets matching `filter` (at most 5 s
 * after the action); returns tcpdump's output (`-v`, or `-vv` with verbose).
 */
export async function capture(t: Topology, node: Named, iface: string, filter: string, count: number, action: () => Promise<unknown>, verbose = false): Promise<string> {
  const tcpdump = t.spawn(node.name, 'tcpdump', ['-l', '-i', iface, '-c', String(count), '-nn', verbose ? '-vv' : '-v', filter]);
  return whileListening(tcpdump, 'listening on', action);
}

/**
 * One tshark field of the VXLAN datagrams from `src` captured on `node`'s eth0 while `action` runs: the first
 * datagram's (`stop` = 'first'), or all seen within 3 s (`stop` = 'time').
 */
export async function tsharkField(t: Topology, node: Named, src: { readonly underlay: string }, field: string, stop: 'first' | 'time', action: () => Promise<unknown>): Promise<string[]> {
  const until = stop === 'first' ? ['-c', '1'] : ['-a', 'duration:3'];
  const tshark = t.spawn(node.name, 'tshark', ['-l', '-i', 'eth0', ...until, '-f', `udp dst port 4899 and src host ${src.underlay}`, '-T', 'fields', '-e', field]);
  return (await whileListening(tshark, 'Capturing on', action)).trim().split('\n');
}

/** The UDP checksum field of the first VXLAN datagram from `src` on `node`'s eth0 while `action` runs. */
export async function udpChecksum(t: Topology, node: Named, src: { readonly underlay: string }, action: () => Promise<unknown>): Promise<string> {
  return (await tsharkField(t, node, src, 'udp.checksum', 'first', action))[0] ?? '';
}

/** Waits until the capture says it listens, runs `action`, then waits for the capture's exit (killed 5 s on). */
async function whileListening(cap: ReturnType<Topology['spawn']>, listening: string, action: () => Promise<unknown>): Promise<string> {
  let out = '';
  let err = '';
  cap.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  cap.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<void>((r) => cap.once('exit', () => r()));
  for (let i = 0; i < 200 && !err.includes(listening); i++) await sleep(50);
  await action();
  const timer = setTimeout(() => cap.kill('SIGTERM'), 5000);
  await done;
  clearTimeout(timer);
  return out;
}

/** Adds an IPv6 underlay address (the testbed builds IPv4 underlays) to each node's eth0, without DAD. */
export async function underlay6<N extends { readonly name: string; readonly underlay: string }>(t: Topology, nodes: readonly N[]): Promise<N[]> {
  const out: N[] = [];
  for (const n of nodes) {
    const u6 = `2001:db8:1::${n.underlay.split('.')[3]}`;
    await t.exec(n.name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.disable_ipv6=0']);
    await t.exec(n.name, 'ip', ['-6', 'addr', 'add', `${u6}/64`, 'dev', 'eth0', 'nodad']);
    out.push({ ...n, underlay: u6 });
  }
  return out;
}

/** Waits until no IPv6 address on `node`'s overlay device is still tentative (DAD done). */
export async function dadDone(t: Topology, node: Named): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await t.exec(node.name, 'ip', ['-6', 'addr', 'show', 'dev', DEV, 'tentative'])).stdout.trim() === '') return;
    await sleep(100);
  }
}
