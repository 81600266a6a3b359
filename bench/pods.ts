/**
 * Pod-to-pod benchmark: the traffic that matters (issue 9). The mixed overlay of src/testbed/mixed-pods.ts —
 * two kernel vxlan nodes, two vxlan-user nodes, a pod behind each — and iperf3 TCP from pod to pod, forwarded
 * through both nodes, in the four directions:
 *   kernel → kernel (the reference), kernel → vxlan-user, vxlan-user → kernel, vxlan-user → vxlan-user.
 * Each variant (a set of extra `vxlan-user up` arguments, e.g. `--tx-path tap` vs `--tx-path udp`) gets its
 * own topology; variants and directions are interleaved run by run, so a slow phase of the machine hits all
 * alike, and every figure is reported as a ratio to kernel → kernel measured in the same run.
 * Beside the throughput: machine-wide CPU (all CPUs, from /proc/stat) and the vxlan-user processes' CPU.
 *
 * Usage: node dist/bench/pods.js [--runs 3] [--seconds 5] [--variant NAME=ARGS]... (ARGS space-separated)
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { waitReady } from './vtep-ready.js';
import { buildMixedPods, MIXED_NODES, mixedPodIp, mixedPodOf, stopProcess, type MixedNode, type Topology } from '../src/testbed/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = `${ROOT}dist/src/cli/main.js`;

const node = (n: string): MixedNode => MIXED_NODES.find((x) => x.name === n)!;
export const DIRECTIONS = [
  { name: 'kernel→kernel', from: 'k1', to: 'k2' },
  { name: 'kernel→user', from: 'k1', to: 'u1' },
  { name: 'user→kernel', from: 'u1', to: 'k1' },
  { name: 'user→user', from: 'u1', to: 'u2' },
] as const;

interface Variant {
  name: string;
  args: string[];
}

function parseArgs(argv: string[]): { runs: number; seconds: number; variants: Variant[] } {
  const a = { runs: 3, seconds: 5, variants: [] as Variant[] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--runs') a.runs = Number(v);
    else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--variant') {
      const eq = v.indexOf('=');
      a.variants.push({ name: eq < 0 ? v : v.slice(0, eq), args: eq < 0 ? [] : v.slice(eq + 1).split(' ').filter(Boolean) });
    } else throw new Error(`unknown option ${k}`);
  }
  if (a.variants.length === 0) a.variants.push({ name: 'default', args: [] });
  return a;
}

/** Busy and total jiffies of all CPUs (the first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!; // idle + iowait
  const total = f.reduce((s, x) => s + x, 0);
  return { busy: total - idle, total };
}

function procTicks(pids: number[]): number {
  let t = 0;
  for (const p of pids) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {
      return NaN;
    }
  }
  return t;
}

interface Sample {
  gbps: number;
  /** Machine-wide CPU busy, % of one CPU (200 = both of 2 CPUs busy). */
  machine_cpu_pct: number;
  /** Both vxlan-user processes, % of one CPU. */
  vtep_cpu_pct: number;
}

async function iperfPods(t: Topology, from: MixedNode, to: MixedNode, seconds: number, pids: number[]): Promise<Sample> {
  const server = t.spawn(mixedPodOf(to), 'iperf3', ['-s', '-1', '-B', mixedPodIp(to)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const m0 = machineTicks();
  const p0 = procTicks(pids);
  try {
    const r = await t.exec(mixedPodOf(from), 'iperf3', ['-c', mixedPodIp(to), '-t', String(seconds), '-J'], {
      timeoutMs: (seconds + 20) * 1000,
      check: false,
    });
    const m1 = machineTicks();
    const p1 = procTicks(pids);
    const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
    const total = m1.total - m0.total;
    const ncpu = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length;
    return {
      gbps: (j.end?.sum_received?.bits_per_second ?? 0) / 1e9,
      machine_cpu_pct: total > 0 ? ((m1.busy - m0.busy) / total) * 100 * ncpu : NaN,
      // jiffies over the same interval: total/ncpu jiffies of wall time per CPU.
      vtep_cpu_pct: total > 0 ? ((p1 - p0) / (total / ncpu)) * 100 : NaN,
    };
  } catch (e) {
    process.stderr.write(`  iperf3 ${from.name}→${to.name}: ${(e as Error).message.split('\n')[0]}\n`);
    return { gbps: 0, machine_cpu_pct: NaN, vtep_cpu_pct: NaN };
  } finally {
    await stopProcess(server, 2000);
  }
}

async function runVariant(v: Variant, run: number, seconds: number): Promise<Record<string, Sample>> {
  const children: ChildProcess[] = [];
  const t = await buildMixedPods(`bpods-${run}-${v.name.replace(/[^A-Za-z0-9]/g, '')}`, async (topo, n, args) => {
    const child = topo.spawn(n.name, process.execPath, [CLI, 'up', '--quiet', ...args, ...v.args]);
    await waitReady(child);
    children.push(child);
  });
  try {
    const pids = children.map((c) => c.pid!);
    const out: Record<string, Sample> = {};
    for (const d of DIRECTIONS) out[d.name] = await iperfPods(t, node(d.from), node(d.to), seconds, pids);
    return out;
  } finally {
    await t.teardown();
  }
}


/** Nanoseconds for one 64 KiB Buffer.copy (a memcpy), the unit of the copy-count ceiling. */
function copyCostNs(): number {
  const a = Buffer.alloc(65536, 1);
  const b = Buffer.alloc(65536);
  for (let i = 0; i < 2000; i++) a.copy(b, 0);
  const n = 20000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) a.copy(b, 0);
  return Number(process.hrtime.bigint() - t0) / n;
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((p, q) => p - q);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number): string => (Number.isNaN(x) ? 'n/a' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const copyNs = copyCostNs();
  process.stderr.write(`pods benchmark: ${a.runs} runs of ${a.seconds} s; variants ${a.variants.map((v) => `${v.name} [${v.args.join(' ')}]`).join(', ')}\n`);
  const samples = new Map<string, Record<string, Sample>[]>();
  for (let run = 1; run <= a.runs; run++) {
    for (const v of a.variants) {
      process.stderr.write(`[run ${run}/${a.runs}] ${v.name} ...\n`);
      const r = await runVariant(v, run, a.seconds);
      process.stderr.write(`  ${DIRECTIONS.map((d) => `${d.name} ${fmt(r[d.name]!.gbps)}`).join(', ')} Gbit/s\n`);
      samples.set(v.name, [...(samples.get(v.name) ?? []), r]);
    }
  }
  const lines = ['| variant | direction | Gbit/s median (min–max) | × kernel→kernel | machine CPU % | vxlan-user CPU % |', '| --- | --- | --- | --- | --- | --- |'];
  const summary: Record<string, Record<string, { gbps: number; min: number; max: number; ratio: number; machine_cpu_pct: number; vtep_cpu_pct: number }>> = {};
  for (const v of a.variants) {
    const runs = samples.get(v.name)!;
    summary[v.name] = {};
    // Ratios per run (same topology, same minute), then the median of those ratios.
    for (const d of DIRECTIONS) {
      const g = runs.map((r) => r[d.name]!.gbps);
      const ratio = median(runs.map((r) => r[d.name]!.gbps / r['kernel→kernel']!.gbps));
      const s = {
        gbps: median(g), min: Math.min(...g), max: Math.max(...g), ratio,
        machine_cpu_pct: median(runs.map((r) => r[d.name]!.machine_cpu_pct)),
        vtep_cpu_pct: median(runs.map((r) => r[d.name]!.vtep_cpu_pct)),
      };
      summary[v.name]![d.name] = s;
      lines.push(`| ${v.name} | ${d.name} | ${fmt(s.gbps)} (${fmt(s.min)}–${fmt(s.max)}) | **${fmt(s.ratio)}×** | ${fmt(s.machine_cpu_pct)} | ${fmt(s.vtep_cpu_pct)} |`);
    }
  }
  // Each vxlan-user node copies every byte twice more than the kernel path (TAP read + UDP send, or UDP
  // receive + TAP write). The ceiling if those copies were the only cost, on one CPU: 64 KiB per (2 × copy).
  const ceilingPerNode = (65536 * 8) / (2 * copyNs);
  process.stdout.write(`\n${lines.join('\n')}\n\n(median of ${a.runs} runs; × = ratio to kernel→kernel in the same run)\n`);
  process.stdout.write(`one 64 KiB copy: ${copyNs.toFixed(0)} ns; the two extra copies per vxlan-user node alone would cap one CPU at ${fmt(ceilingPerNode)} Gbit/s\n`);
  mkdirSync(`${ROOT}bench/results`, { recursive: true });
  writeFileSync(`${ROOT}bench/results/pods-latest.json`, JSON.stringify({ date: new Date().toISOString(), runs: a.runs, seconds: a.seconds, copy_64k_ns: copyNs, ceiling_gbps_per_node: ceilingPerNode, variants: a.variants, summary }, null, 2));
}

main().catch((e) => {
  process.stderr.write(`bench pods: ${(e as Error).message}\n`);
  process.exit(1);
});
