// Shared by the network tests that look at outer headers: an IPv6 underlay on the testbed's nodes, and a
// tcpdump capture around an action.
import type { Topology } from '../../src/testbed/index.js';
import type { SeedNode } from './seed-nodes.js';

type Node = SeedNode;

/** Adds an IPv6 underlay address (the testbed builds IPv4 underlays) to each node's eth0, without DAD. */
export async function underlay6(t: Topology, nodes: Node[]): Promise<Node[]> {
  const out: Node[] = [];
  for (const n of nodes) {
    const u6 = `2001:db8:1::${n.underlay.split('.')[3]}`;
    await t.exec(n.name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.eth0.disable_ipv6=0']);
    await t.exec(n.name, 'ip', ['-6', 'addr', 'add', `${u6}/64`, 'dev', 'eth0', 'nodad']);
    out.push({ ...n, underlay: u6 });
  }
  return out;
}

/**
 * Runs `action` while tcpdump on `node`'s `iface` waits for `count` packets matching `filter`; returns
 * tcpdump -v's output.
 */
export async function capture(t: Topology, node: Node, iface: string, filter: string, count: number, action: () => Promise<unknown>): Promise<string> {
  const tcpdump = t.spawn(node.name, 'tcpdump', ['-l', '-i', iface, '-c', String(count), '-nn', '-v', filter]);
  let out = '';
  let err = '';
  tcpdump.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  tcpdump.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const done = new Promise<void>((r) => tcpdump.once('exit', () => r()));
  for (let i = 0; i < 200 && !err.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 50));
  await action();
  const timer = setTimeout(() => tcpdump.kill('SIGTERM'), 5000);
  await done;
  clearTimeout(timer);
  return out;
}

