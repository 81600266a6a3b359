/**
 * `npm run soak [-- --seconds N]`: a long run of vxlan-user under load, for leaks and counter bugs.
 *
 * Three namespaces on one underlay: A and B run vxlan-user (static FDB + neighbours), G sends garbage to A's
 * VXLAN port the whole time (random bytes, half of them with a plausible VXLAN header) while iperf3 pushes TCP
 * from A to B through the overlay. Every interval it samples A's RSS (/proc/PID/status VmRSS) and A's counters
 * (`vxlan-user stats --json` over the control socket). At the end it checks:
 *   - no counter ever went backwards;
 *   - RSS is flat: the last quarter's median is within 20% + 16 MiB of the first quarter's;
 *   - rx accounting holds: rx_datagrams == rx_packets + every rx drop reason;
 *   - traffic still flows: a ping through the overlay passes after the load stops.
 * Default 600 s (10 minutes). Needs root (network namespaces); everything is torn down at the end.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DROP_REASONS } from '../src/dataplane/counters.js';
import { buildTopology, nsExec, stopProcess, testPrefix, type Topology } from '../src/testbed/index.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const DEV = 'vxlan-soak';

interface Node {
  name: string;
  underlay: string;
  overlay: string;
  mac: string;
}
const A: Node = { name: 'a', underlay: '192.168.0.21', overlay: '179.17.1.21', mac: 'c2:6a:9b:e5:39:8d' };
const B: Node = { name: 'b', underlay: '192.168.0.31', overlay: '179.17.1.31', mac: '7a:3a:fe:45:a3:76' };
const G = { name: 'g', underlay: '192.168.0.66' };

function argValue(flag: string, dflt: number): number {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

async function startVtep(t: Topology, self: Node, peer: Node): Promise<number> {
  const args = ['up', '--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', self.underlay, '--mac', self.mac];
  args.push('--addr', `${self.overlay}/24`, '--neigh', `${peer.overlay}=${peer.mac}`, '--fdb', `${peer.mac}=${peer.underlay}`, '--quiet');
  const child = t.spawn(self.name, process.execPath, [CLI, ...args]);
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${self.name}: not ready; ${err}`)), 15_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready:')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (c) => reject(new Error(`${self.name}: exited ${c}; ${err}`)));
  });
  return child.pid!;
}

async function counters(t: Topology): Promise<Record<string, number>> {
  const r = await nsExec(t.nsOf(A.name), process.execPath, [CLI, 'stats', '--json', '--name', DEV]);
  return (JSON.parse(r.stdout) as { counters: Record<string, number> }).counters;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<number> {
  const seconds = argValue('--seconds', 600);
  const interval = Math.max(1, Math.min(10, seconds / 30));
  const t = await buildTopology({
    prefix: testPrefix('soak'),
    nodes: [A, B, G].map((n) => ({ name: n.name, underlayIp: n.underlay, underlayPrefix: 24 })),
  });
  const problems: string[] = [];
  try {
    const pid = await startVtep(t, A, B);
    await startVtep(t, B, A);
    await nsExec(t.nsOf(A.name), 'ping', ['-c', '2', '-W', '2', B.overlay]);
    const server = t.spawn(B.name, 'iperf3', ['-s', '-1']);
    await new Promise((r) => setTimeout(r, 500));
    const iperf = nsExec(t.nsOf(A.name), 'iperf3', ['-c', B.overlay, '-t', String(seconds), '--json'], { timeoutMs: (seconds + 60) * 1000 });
    const garbageJs = `const d=require('dgram').createSocket('udp4');const {randomBytes}=require('crypto');const end=Date.now()+${seconds * 1000};let n=0;
function burst(){for(let i=0;i<50;i++){const b=randomBytes(Math.floor(Math.random()*1500));if(b.length>=8&&Math.random()<0.5){b[0]=8;b[1]=b[2]=b[3]=b[7]=0;}d.send(b,4899,'${A.underlay}');n++;}
if(Date.now()<end)setTimeout(burst,10);else setTimeout(()=>{process.stdout.write(String(n));d.close();},300);}burst();`;
    const garbage = nsExec(t.nsOf(G.name), process.execPath, ['-e', garbageJs], { timeoutMs: (seconds + 60) * 1000 });

    const rss: number[] = [];
    let prev: Record<string, number> | undefined;
    const t0 = Date.now();
    while (Date.now() - t0 < seconds * 1000) {
      await new Promise((r) => setTimeout(r, interval * 1000));
      rss.push(rssKiB(pid));
      const c = await counters(t);
      if (prev) for (const [k, v] of Object.entries(c)) if (v < (prev[k] ?? 0)) problems.push(`counter ${k} went backwards: ${prev[k]} → ${v}`);
      prev = c;
      process.stderr.write(`soak: ${Math.round((Date.now() - t0) / 1000)} s rss ${rss.at(-1)} KiB tx_packets ${c.tx_packets} rx_datagrams ${c.rx_datagrams}\n`);
    }
    const ip = JSON.parse((await iperf).stdout) as { end: { sum_received: { bits_per_second: number } } };
    const sent = Number((await garbage).stdout);
    await stopProcess(server, 2_000);
    await nsExec(t.nsOf(A.name), 'ping', ['-c', '3', '-i', '0.2', '-W', '2', B.overlay]).catch(() => problems.push('ping after the soak failed'));
    const c = await counters(t);
    const rxDrops = DROP_REASONS.filter((r) => r.startsWith('rx_')).reduce((s, r) => s + (c[r] ?? 0), 0);
    if (c.rx_packets! + rxDrops !== c.rx_datagrams) problems.push(`rx accounting: ${c.rx_packets} + ${rxDrops} drops != ${c.rx_datagrams} datagrams`);
    const q = Math.max(1, Math.floor(rss.length / 4));
    const first = median(rss.slice(0, q));
    const last = median(rss.slice(-q));
    if (last > first * 1.2 + 16 * 1024) problems.push(`RSS grew: first-quarter median ${first} KiB, last-quarter median ${last} KiB`);
    const drops = Object.fromEntries(DROP_REASONS.filter((r) => (c[r] ?? 0) > 0).map((r) => [r, c[r]]));
    console.log(
      JSON.stringify(
        {
          seconds,
          node: process.version,
          iperf3_gbit_s: +(ip.end.sum_received.bits_per_second / 1e9).toFixed(2),
          garbage_sent: sent,
          rss_kib: { first_quarter_median: first, last_quarter_median: last, min: Math.min(...rss), max: Math.max(...rss), samples: rss.length },
          tx_packets: c.tx_packets,
          rx_packets: c.rx_packets,
          rx_datagrams: c.rx_datagrams,
          drops,
          problems,
        },
        null,
        1,
      ),
    );
  } finally {
    await t.teardown();
  }
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`soak: ${e.message}\n`);
    process.exit(1);
  },
);
