/**
 * etcd membership at scale (issue 11): N leases in a real etcd, the N remote nodes as records only, one
 * vxlan-user node in a namespace. Measures, for each N:
 *   - converge: from spawning `up --etcd-endpoints` to its ready line (lease taken, N leases listed and
 *     programmed: N neighbours, N FDB entries, N routes), and the kernel's route count checked after;
 *   - change:   one lease's VtepMAC rewritten in etcd → the new MAC in the kernel's neighbour table (median of
 *     CHANGES, polled every 5 ms, so the figure includes up to ~5 ms of polling);
 *   - add/del:  one new lease → its route present; that lease deleted → its route gone.
 * One change must cost O(1) work: if the change time grows with N, something reprograms more than its entry.
 *
 * Usage: node dist/bench/etcd-scale.js [--sizes 50,200,500] [--changes 15]   (root; etcd-server, etcd-client)
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildTopology, run, startEtcd, stopProcess, testPrefix } from '../src/testbed/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = `${ROOT}dist/src/cli/main.js`;
const P = '/coreos.com/network';
const ETCD_IP = '192.168.0.2';

const arg = (k: string, d: string): string => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const sizes = arg('--sizes', '50,200,500').split(',').map(Number);
const CHANGES = Number(arg('--changes', '15'));

const subnetOf = (i: number): string => `10.${1 + (i >> 8)}.${i & 255}.0`;
const macOf = (i: number, gen: number): string => `02:${gen.toString(16).padStart(2, '0')}:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const leaseOf = (i: number, gen: number): string => JSON.stringify({ PublicIP: `172.${16 + (i >> 8)}.${i & 255}.1`, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: macOf(i, gen) } });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function one(n: number): Promise<{ n: number; converge: number; changeMedian: number; changeMax: number; add: number; del: number; rssMiB: number; put: number }> {
  const topo = await buildTopology({ prefix: testPrefix(`escale${n}`), nodes: [{ name: 'n1', underlayIp: '192.168.0.21', underlayPrefix: 24 }] });
  await run('ip', ['-n', topo.switchNs, 'addr', 'add', `${ETCD_IP}/24`, 'dev', 'br0']);
  const etcd = await startEtcd({ ns: topo.switchNs, host: ETCD_IP });
  try {
    await etcd.etcdctl(['put', `${P}/config`, '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan"}}']);
    // The N records, written from inside etcd's namespace with the same client library, in batches.
    const fill = `import { Etcd3 } from 'etcd3'; const c = new Etcd3({ hosts: '${etcd.endpoint}' });
      const kv = JSON.parse(process.argv[1]); for (let i = 0; i < kv.length; i += 100) await Promise.all(kv.slice(i, i + 100).map(([k, v]) => c.put(k).value(v)));
      c.close();`;
    const kv = Array.from({ length: n }, (_, i) => [`${P}/subnets/${subnetOf(i)}-24`, leaseOf(i, 1)]);
    const r = spawnSync('ip', ['netns', 'exec', topo.switchNs, process.execPath, '--input-type=module', '-e', fill, JSON.stringify(kv)], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`filling etcd failed: ${r.stderr}`);

    const t0 = performance.now();
    const child = topo.spawn('n1', process.execPath, [CLI, 'up', '--etcd-endpoints', etcd.endpoint, '--public-ip', '192.168.0.21', '--subnet-file', `/tmp/vxut-escale-${process.pid}.env`, '--subnet-lease-ttl', '30', '--quiet']);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    while (!/^ready:/m.test(out)) {
      if (child.exitCode !== null) throw new Error('vxlan-user exited before ready');
      await sleep(5);
    }
    const converge = performance.now() - t0;
    const routes = (await topo.exec('n1', 'ip', ['route', 'show', 'dev', 'flannel.1'])).stdout.split('\n').filter((l) => l.includes('onlink')).length;
    if (routes !== n) throw new Error(`expected ${n} routes at ready, found ${routes}`);

    const waitFor = async (check: () => Promise<boolean>): Promise<number> => {
      const t = performance.now();
      while (!(await check())) {
        if (performance.now() - t > 10_000) throw new Error('a change did not arrive within 10 s');
        await sleep(5);
      }
      return performance.now() - t;
    };
    const neighHas = async (ip: string, mac: string): Promise<boolean> => (await topo.exec('n1', 'ip', ['neigh', 'show', ip, 'dev', 'flannel.1'])).stdout.includes(mac);
    // What etcdctl itself costs (a process spawn and a put), to read the change figures against.
    const puts: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      await etcd.etcdctl(['put', '/bench/noop', String(k)]);
      puts.push(performance.now() - t);
    }
    const changes: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const i = Math.floor((k * n) / CHANGES);
      const t = performance.now();
      await etcd.etcdctl(['put', `${P}/subnets/${subnetOf(i)}-24`, leaseOf(i, 2 + k)]);
      const put = performance.now() - t;
      changes.push(put + (await waitFor(() => neighHas(subnetOf(i), macOf(i, 2 + k)))));
    }
    const extra = n + 1;
    const routeHas = async (s: string): Promise<boolean> => (await topo.exec('n1', 'ip', ['route', 'show', `${s}/24`, 'dev', 'flannel.1'])).stdout.includes('onlink');
    let t = performance.now();
    await etcd.etcdctl(['put', `${P}/subnets/${subnetOf(extra)}-24`, leaseOf(extra, 1)]);
    await waitFor(() => routeHas(subnetOf(extra)));
    const add = performance.now() - t;
    t = performance.now();
    await etcd.etcdctl(['del', `${P}/subnets/${subnetOf(extra)}-24`]);
    await waitFor(async () => !(await routeHas(subnetOf(extra))));
    const del = performance.now() - t;
    const rss = Number(/VmRSS:\s+(\d+)/.exec(spawnSync('cat', [`/proc/${child.pid}/status`], { encoding: 'utf8' }).stdout)?.[1] ?? 0) / 1024;
    await stopProcess(child);
    return { n, converge, changeMedian: median(changes), changeMax: Math.max(...changes), add, del, rssMiB: rss, put: median(puts) };
  } finally {
    await etcd.destroy();
    await topo.teardown();
  }
}

console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}; etcd on the switch namespace, 1 vxlan-user node`);
console.log('N      converge ms   change ms (median / max)   add ms   del ms   etcdctl put alone ms   RSS MiB');
for (const n of sizes) {
  const r = await one(n);
  console.log(`${String(r.n).padEnd(6)} ${r.converge.toFixed(0).padStart(11)}   ${r.changeMedian.toFixed(0).padStart(8)} / ${r.changeMax.toFixed(0).padEnd(14)} ${r.add.toFixed(0).padStart(6)}   ${r.del.toFixed(0).padStart(6)}   ${r.put.toFixed(0).padStart(20)}   ${r.rssMiB.toFixed(0).padStart(7)}`);
}
