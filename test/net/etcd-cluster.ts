// Scaffolding for the etcd-membership net tests: a real etcd on the underlay switch (192.168.0.2), N nodes in
// namespaces running `vxlan-user up --etcd-endpoints ...`, and a pod behind each node on its leased subnet.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTopology, run, startEtcd, testPrefix, type EtcdServer, type Topology } from '../../src/testbed/index.js';
import { startVtep, type RunningVtep } from './vtep-process.js';

export const PREFIX = '/coreos.com/network';
export const NETWORK = '10.244.0.0/16';
export const ETCD_IP = '192.168.0.2';

export interface Member {
  readonly node: string;
  readonly underlay: string;
  readonly subnetFile: string;
  vtep: RunningVtep;
  /** e.g. 10.244.7.0/24, from the ready line. */
  subnet: string;
  /** The pod's address (<subnet>.2), once addPod() has run. */
  podIp?: string;
}

export class EtcdCluster {
  topo!: Topology;
  etcd!: EtcdServer;
  readonly members = new Map<string, Member>();
  private tmp = mkdtempSync(join(tmpdir(), 'vxut-flannel-'));

  async build(tag: string, n: number, config = `{"Network":"${NETWORK}","SubnetLen":24,"Backend":{"Type":"vxlan"}}`): Promise<void> {
    const nodes = Array.from({ length: n }, (_, i) => ({ name: `n${i + 1}`, underlayIp: `192.168.0.${21 + i}`, underlayPrefix: 24 }));
    this.topo = await buildTopology({ prefix: testPrefix(tag), nodes });
    for (const nd of nodes) await this.topo.exec(nd.name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    await run('ip', ['-n', this.topo.switchNs, 'addr', 'add', `${ETCD_IP}/24`, 'dev', 'br0']);
    await run('ip', ['-n', this.topo.switchNs, 'link', 'set', 'lo', 'up']);
    this.etcd = await startEtcd({ ns: this.topo.switchNs, host: ETCD_IP });
    await this.etcd.etcdctl(['put', `${PREFIX}/config`, config]);
  }

  subnetFileOf(node: string): string {
    return join(this.tmp, `${node}.env`);
  }

  /** `up --etcd-endpoints` on `node` with a short TTL; resolves at the ready line. */
  async join(node: string, extra: string[] = [], ttl = 6): Promise<Member> {
    const underlay = this.topo.underlayIpOf(node);
    const subnetFile = this.subnetFileOf(node);
    const vtep = await startVtep(this.topo, node, [
      '--etcd-endpoints', this.etcd.endpoint, '--public-ip', underlay, '--subnet-file', subnetFile,
      '--subnet-lease-ttl', String(ttl), '--etcd-timeout', '10', ...extra,
    ]);
    const subnet = / subnet (\S+)/.exec(vtep.readyLine)?.[1];
    if (subnet === undefined) throw new Error(`no subnet in the ready line: ${vtep.readyLine}`);
    const old = this.members.get(node);
    const m: Member = { node, underlay, subnetFile, vtep, subnet, ...(old?.podIp !== undefined ? { podIp: old.podIp } : {}) };
    this.members.set(node, m);
    return m;
  }

  /** A pod behind `node` on its subnet: eth0 <subnet>.2/<len>, gateway <subnet>.1 (what the CNI bridge has). */
  async addPod(m: Member): Promise<void> {
    const [net, len] = m.subnet.split('/') as [string, string];
    const base = net.split('.').slice(0, 3).join('.');
    await this.topo.addPodNamespace(m.node, `${m.node}pod`, `${base}.2/${len}`, `${base}.1`);
    await this.podMtu(`${m.node}pod`);
    m.podIp = `${base}.2`;
  }

  /** The pod's eth0 gets FLANNEL_MTU, as the flannel CNI plugin sets it from the subnet file. */
  async podMtu(pod: string, mtu = 1450): Promise<void> {
    await this.topo.exec(pod, 'ip', ['link', 'set', 'eth0', 'mtu', String(mtu)]);
  }

  subnetFileText(node: string): string {
    return readFileSync(this.subnetFileOf(node), 'utf8');
  }

  async ping(fromPod: string, to: string, count = 1, waitS = 2): Promise<boolean> {
    const r = await this.topo.exec(fromPod, 'ping', ['-c', String(count), '-W', String(waitS), '-i', '0.2', to], { check: false });
    return r.code === 0;
  }

  /** Every ordered pair of pods among `nodes` pings; returns the pairs that did not. */
  async pingAll(nodes: readonly string[]): Promise<string[]> {
    const failed: string[] = [];
    await Promise.all(
      nodes.flatMap((a) =>
        nodes
          .filter((b) => b !== a)
          .map(async (b) => {
            const to = this.members.get(b)!.podIp!;
            if (!(await this.ping(`${a}pod`, to, 1, 3))) failed.push(`${a}→${b}`);
          }),
      ),
    );
    return failed;
  }

  /** `bytes` (default 1 MiB) of random bytes over TCP from pod `from` to the pod at `toIp` (host `to`); true when the SHA-256 matches. */
  async tcp(from: string, to: string, toIp: string, port = 7000, bytes = 1 << 20): Promise<boolean> {
    const src = join(this.tmp, `src-${from}-${to}`);
    const dst = join(this.tmp, `dst-${from}-${to}`);
    writeFileSync(src, randomBytes(bytes));
    const server = this.topo.spawn(to, 'socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, `CREATE:${dst}`]);
    const done = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    await within(5000, async () => (await this.topo.exec(to, 'ss', ['-ltn', `sport = :${port}`])).stdout.includes(`:${port}`));
    await this.topo.exec(from, 'socat', ['-u', `OPEN:${src}`, `TCP:${toIp}:${port},connect-timeout=5`], { timeoutMs: 60_000 });
    if ((await done) !== 0) return false;
    const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    return sha(dst) === sha(src);
  }

  async kernelTable(node: string, what: 'neigh' | 'route' | 'fdb'): Promise<string> {
    const dev = 'flannel.1';
    const args = what === 'fdb' ? ['fdb', 'show', 'dev', dev] : [what, 'show', 'dev', dev];
    const cmd = what === 'fdb' ? 'bridge' : 'ip';
    return (await this.topo.exec(node, cmd, args, { check: false })).stdout;
  }

  async cli(node: string, args: string[]): Promise<string> {
    const { CLI } = await import('./vtep-process.js');
    return (await this.topo.exec(node, process.execPath, [CLI, ...args], { check: false })).stdout;
  }

  async cleanup(): Promise<void> {
    for (const m of this.members.values()) await m.vtep.stop('SIGKILL').catch(() => {});
    this.members.clear();
    await this.etcd?.destroy();
    await this.topo?.teardown();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it is true or `ms` have passed; resolves with the elapsed ms or -1. */
export async function within(ms: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check()) return Date.now() - t0;
    await sleep(100);
  }
  return (await check()) ? Date.now() - t0 : -1;
}
