/**
 * `vxlan-user demo`: the whole seed overlay (examples/overlay.yaml, or --config FILE) on one machine, in network
 * namespaces: one per node on an underlay switch, one "pod" behind each node, vxlan-user on every node (or
 * the kernel's vxlan device on the --kernel ones). Then it shows the overlay working — pod-to-pod pings across
 * clusters, an HTTP request from a pod in one cluster to a pod in another — walks one packet hop by hop with
 * the bytes captured on the way, prints a summary and tears everything down (also on Ctrl-C or a failure).
 *
 *   vxlan-user demo [--config FILE] [--kernel NODE[,NODE...]] [--keep] [--prefix NAME]
 *   vxlan-user demo down [--prefix NAME]
 *
 * Everything lives in namespaces named `<prefix>-*` (default `vxdemo`); nothing touches the host's own
 * interfaces, routes or firewall. Needs root, node and iproute2; nothing else.
 */
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UsageError, VxlanUserError } from '../control/config/errors.js';
import { parseUpArgs } from '../control/config/config.js';
import { loadOverlay } from '../control/config/file.js';
import type { Overlay, OverlayNode } from '../control/config/overlay.js';
import { kernelCommands, nodeLabel, underlayFromAddrs } from '../control/tools/plan.js';
import { cleanupStale, listNamespaces } from '../testbed/cleanup.js';
import { isRoot } from '../testbed/privilege.js';
import { buildOverlayTestbed, type OverlayHost, type OverlayTestbed } from './demo-topology.js';
import type { ChildProcess } from 'node:child_process';
import { readPcapng, IFACE_TAP, IFACE_UNDERLAY } from '../dataplane/pcap.js';
import { describeFrame } from '../dataplane/trace.js';
import { annotateInner, annotateOuter, findPacket, type Who } from './demo-walk.js';
import { VXLAN_PORT_IANA } from '../wire/vxlan.js';

export const DEMO_HELP = `Usage: vxlan-user demo [--config FILE] [--kernel NODE[,NODE...]] [--keep] [--prefix NAME]
       vxlan-user demo down [--prefix NAME]

Builds a whole VXLAN overlay on this machine in network namespaces and shows it working: one namespace
per node on an underlay switch, a "pod" namespace behind each node, vxlan-user on every node. Then:
pod-to-pod pings across clusters, an HTTP request from a pod in one cluster to a pod in another, and
one packet walked hop by hop with the bytes captured on the way. Everything is removed at the end,
also on Ctrl-C or a failure. Needs root, node and iproute2.

  --config FILE   the overlay to build (the whole-overlay form, docs/overlay.md).
                  Default: examples/overlay.yaml, the seed topology (6 nodes, 3 clusters).
  --kernel NODES  run these nodes on the kernel's vxlan device instead (configured from
                  'vxlan-user plan --as-kernel'), to show interop. A node is its name or a unique
                  ending of it: --kernel 002,005
  --keep          leave it running and print commands to explore it; remove it with
                  'vxlan-user demo down'
  --prefix NAME   namespace name prefix (default vxdemo): namespaces are NAME-<node>, NAME-<node>-pod, NAME-sw
`;

const PKG_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const DEFAULT_OVERLAY = join(PKG_ROOT, 'examples', 'overlay.yaml');
const PREFIX_RE = /^[A-Za-z][A-Za-z0-9-]{0,15}$/;
const HTTP_PORT = 8080;

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const step = (n: number, total: number, what: string): void => say(`\n[${n}/${total}] ${what}`);

function stateDir(prefix: string): string {
  return join(tmpdir(), `vxlan-user-demo-${prefix}`);
}

/** `002` → multicluster-test-002 when exactly one node name ends with it. */
function resolveNode(ov: Overlay, text: string): OverlayNode {
  const exact = ov.nodes.find((n) => n.node === text);
  if (exact) return exact;
  const hits = ov.nodes.filter((n) => n.node.endsWith(text));
  if (hits.length === 1) return hits[0]!;
  throw new UsageError(
    `--kernel ${text} ${hits.length === 0 ? 'names no node' : `is ambiguous (${hits.map((h) => h.node).join(', ')})`} of ${ov.file}: its nodes are ${ov.nodes.map((n) => n.node).join(', ')}`,
  );
}

interface Vtep {
  readonly host: OverlayHost;
  readonly kind: 'vxlan-user' | 'kernel';
  readonly child?: ChildProcess;
  readonly log?: string;
  readonly pcap?: string;
}

/** Reads a log file until a line matches, or fails after `ms`. */
async function waitForLine(file: string, re: RegExp, ms: number, child?: ChildProcess): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const m = re.exec(text);
    if (m) return m[0];
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new VxlanUserError('ERUNTIME', `exited before it was ready: ${text.trim().split('\n').slice(-3).join(' / ')}`);
    if (Date.now() > end) throw new VxlanUserError('ERUNTIME', `not ready after ${ms} ms: ${text.trim().split('\n').slice(-3).join(' / ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runDemo(argv: string[]): Promise<number> {
  if (argv[0] === 'down') return demoDown(argv.slice(1));
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        kernel: { type: 'string', multiple: true },
        keep: { type: 'boolean' },
        prefix: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]}; see 'vxlan-user demo --help'`);
  }
  if (values.help) {
    say(DEMO_HELP);
    return 0;
  }
  const prefix = values.prefix ?? 'vxdemo';
  if (!PREFIX_RE.test(prefix)) throw new UsageError(`--prefix ${prefix}: 1-16 letters, digits or '-', starting with a letter`);
  if (!isRoot()) throw new VxlanUserError('EPRIV', 'the demo needs root: it creates network namespaces, veth pairs and TAP devices (try: sudo vxlan-user demo)');
  const file = values.config ?? DEFAULT_OVERLAY;
  const ov = loadOverlay(file);
  const kernel = new Set((values.kernel ?? []).flatMap((k) => k.split(',')).filter((k) => k !== '').map((k) => resolveNode(ov, k).node));
  const existing = (await listNamespaces()).filter((n) => n.startsWith(`${prefix}-`));
  if (existing.length > 0) {
    throw new VxlanUserError('EINUSE', `a demo is already there (${existing.length} namespaces named ${prefix}-*, e.g. ${existing[0]}): remove it with 'vxlan-user demo down${prefix === 'vxdemo' ? '' : ` --prefix ${prefix}`}'`);
  }
  const dir = stateDir(prefix);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  let tb: OverlayTestbed | undefined;
  let keep = false;
  let tearing: Promise<void> | undefined;
  const teardown = (): Promise<void> => {
    tearing ??= (async () => {
      if (tb) await tb.topo.teardown({ termTimeoutMs: 3000 });
      await cleanupStale(`${prefix}-`, { all: true }); // anything a half-built step left
      rmSync(dir, { recursive: true, force: true });
    })();
    return tearing;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    say(`\n${sig}: tearing the demo down ...`);
    void teardown().then(() => {
      say('removed every namespace, process and device the demo made');
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  try {
    const total = 6;
    const clusters = new Set(ov.nodes.map((n) => n.cluster ?? n.node));
    say(`vxlan-user demo: ${ov.nodes.length} nodes in ${clusters.size} clusters from ${file}`);
    say(`overlay ${ov.subnet}, VNI ${String(ov.shared.vni)}, UDP port ${String(ov.shared.dstport ?? VXLAN_PORT_IANA)}; namespaces ${prefix}-*`);

    step(1, total, 'building the network: namespaces, underlay switch, pods');
    tb = await buildOverlayTestbed(ov, prefix, (what) => say(`  + ${what}`));

    step(2, total, 'starting a VTEP on every node');
    const vteps = await startVteps(tb, ov, file, kernel, dir);

    const pods = tb.hosts.filter((h) => h.pod !== undefined);
    const src = pods.find((h) => !kernel.has(h.node.node)) ?? pods[0];
    const dst =
      pods.find((h) => h !== src && h.node.cluster !== src?.node.cluster && !kernel.has(h.node.node)) ??
      pods.find((h) => h !== src && h.node.cluster !== src?.node.cluster) ??
      pods.find((h) => h !== src);
    if (src === undefined || dst === undefined) throw new VxlanUserError('ECONFIG', `${file}: the demo needs at least two nodes with pods`);

    step(3, total, `one packet, hop by hop: ping from ${src.pod!.ip} (pod on ${nodeLabel(src.node)}) to ${dst.pod!.ip} (pod on ${nodeLabel(dst.node)})`);
    await walk(tb, ov, vteps, src, dst);

    step(4, total, `pod-to-pod pings, every pod to every other (${pods.length * (pods.length - 1)} pairs)`);
    const pingOk = await pingMatrix(tb, pods);

    step(5, total, `HTTP from a pod in ${src.node.cluster ?? src.node.node} to a web server in a pod in ${dst.node.cluster ?? dst.node.node}`);
    const httpOk = await httpRequest(tb, src, dst);

    step(6, total, 'summary');
    const counters = await collectCounters(vteps);
    const userNodes = vteps.filter((v) => v.kind === 'vxlan-user').length;
    say(`  nodes      ${ov.nodes.length} (${userNodes} vxlan-user, ${ov.nodes.length - userNodes} kernel vxlan) in ${clusters.size} clusters`);
    say(`  pings      ${pingOk.ok}/${pingOk.total} pod pairs answered`);
    say(`  http       ${httpOk ? 'ok' : 'FAILED'}`);
    if (counters.length > 0) {
      const sum = (k: string): number => counters.reduce((a, c) => a + (c[k] ?? 0), 0);
      say(`  vxlan-user ${sum('tx_packets')} datagrams sent, ${sum('rx_packets')} frames delivered, ${sum('arp_proxied')} ARP requests answered locally`);
      const drops = Object.entries(counters.reduce<Record<string, number>>((a, c) => {
        for (const [k, v] of Object.entries(c)) if (/^(tx|rx)_/.test(k) && v > 0 && !/packets|bytes|frames|datagrams|copies|csum|tso|coalesced|gro/.test(k)) a[k] = (a[k] ?? 0) + v;
        return a;
      }, {}));
      say(`  drops      ${drops.length === 0 ? 'none' : drops.map(([k, v]) => `${k} ${v}`).join(', ')}${drops.some(([k]) => k === 'tx_fdb_miss') ? ' (tx_fdb_miss: frames with no FDB row and no default destination to flood to, e.g. the IPv6 multicast a new interface sends; the kernel recipe drops them too)' : ''}`);
    }
    say(`  time       ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const ok = pingOk.ok === pingOk.total && httpOk;

    if (values.keep) {
      keep = true;
      say(`\nkept running (--keep). Explore it:`);
      const n = src.host;
      say(`  ip netns exec ${prefix}-${src.pod!.name} ping ${dst.pod!.ip}`);
      say(`  ip netns exec ${prefix}-${n} ${process.execPath} ${CLI} stats --name ${String(ov.shared.name ?? 'vxlan0')}`);
      say(`  ip netns exec ${prefix}-${n} ip route; ip netns exec ${prefix}-${n} ip neigh show dev ${String(ov.shared.name ?? 'vxlan0')}`);
      say(`  ip netns exec ${prefix}-${n} tcpdump -ni eth0 -XX udp port ${String(ov.shared.dstport ?? VXLAN_PORT_IANA)}`);
      say(`  vxlan-user explain --config ${file} --node ${src.node.node} ${dst.pod!.ip}`);
      say(`  logs and captures: ${dir}`);
      say(`remove it with: vxlan-user demo down${prefix === 'vxdemo' ? '' : ` --prefix ${prefix}`}`);
      // The VTEPs and the web server run detached, in their namespaces; this process leaves them running.
      process.exit(ok ? 0 : 1);
    }
    say(`\n${ok ? 'the overlay works' : 'some checks FAILED (see above)'}; tearing down ...`);
    return ok ? 0 : 1;
  } catch (e) {
    say(`\nthe demo failed: ${(e as Error).message}`);
    throw e;
  } finally {
    if (!keep) {
      await teardown();
      say('removed every namespace, process and device the demo made');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

async function startVteps(tb: OverlayTestbed, ov: Overlay, file: string, kernel: Set<string>, dir: string): Promise<Vtep[]> {
  const out: Vtep[] = [];
  const w = Math.max(...ov.nodes.map((n) => nodeLabel(n).length));
  await Promise.all(
    tb.hosts.map(async (h) => {
      if (kernel.has(h.node.node)) {
        const r = parseUpArgs(['--config', file, '--node', h.node.node]);
        if (r.help) return;
        // dev and mtu as the plan finds them, but from the node's own namespace (its eth0, 1500 - 50).
        const addrs = (await tb.topo.exec(h.host, 'ip', ['-j', 'addr', 'show'])).stdout;
        for (const c of kernelCommands(r.config, underlayFromAddrs(r.config, addrs))) await tb.topo.exec(h.host, c[0]!, c.slice(1));
        out.push({ host: h, kind: 'kernel' });
        return;
      }
      const log = join(dir, `${h.node.node}.log`);
      const pcap = join(dir, `${h.node.node}.pcapng`);
      const fd = openSync(log, 'w');
      const child = tb.topo.spawn(h.host, process.execPath, [CLI, 'up', '--config', file, '--node', h.node.node, '--pcap', pcap], {
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      try {
        await waitForLine(log, /^ready:.*$/m, 15_000, child);
      } catch (e) {
        throw new VxlanUserError('ERUNTIME', `vxlan-user on ${h.node.node} ${(e as Error).message}`);
      }
      out.push({ host: h, kind: 'vxlan-user', child, log, pcap });
    }),
  );
  out.sort((a, b) => a.host.node.index - b.host.node.index);
  for (const v of out) {
    const what =
      v.kind === 'kernel'
        ? `kernel vxlan (vxlan-user plan --as-kernel)`
        : `vxlan-user pid ${v.child!.pid}  ${(readFileSync(v.log!, 'utf8').match(/^ready:.*$/m)?.[0] ?? '').replace(/ io \w+$/, '')}`;
    say(`  ${nodeLabel(v.host.node).padEnd(w)}  ${what}`);
  }
  return out;
}

/** The label of an address or MAC in the overlay: which node, pod or VTEP it is. */
function whoIs(tb: OverlayTestbed, ov: Overlay): Who {
  return (v) => {
    for (const h of tb.hosts) {
      const n = h.node;
      if (v === n.mac) return `${n.node}'s VTEP MAC`;
      if (v === n.ip) return `${n.node}'s overlay IP`;
      if (v === n.local) return `${n.node}'s underlay IP`;
      if (h.pod && v === h.pod.ip) return `pod on ${n.node}`;
    }
    void ov;
    return undefined;
  };
}

async function walk(tb: OverlayTestbed, ov: Overlay, vteps: Vtep[], src: OverlayHost, dst: OverlayHost): Promise<void> {
  const who = whoIs(tb, ov);
  const dev = String(ov.shared.name ?? 'vxlan0');
  const port = Number(ov.shared.dstport ?? VXLAN_PORT_IANA);
  const first = (s: string): string => s.trim().split('\n')[0] ?? '';
  // Warm the underlay's own ARP (node to node on eth0), so the capture shows real outer MACs; the overlay's
  // caches stay cold, so the walk shows the proxy-ARP answer.
  await tb.topo.exec(src.host, 'ping', ['-c', '1', '-W', '2', dst.node.local], { check: false });
  await tb.topo.exec(dst.host, 'ping', ['-c', '1', '-W', '2', src.node.local], { check: false });
  const ping = await tb.topo.exec(src.pod!.name, 'ping', ['-c', '1', '-W', '3', dst.pod!.ip], { check: false });
  const rtt = /time=([\d.]+ ms)/.exec(ping.stdout)?.[1];
  await new Promise((r) => setTimeout(r, 400)); // let the pcap writers flush (every 200 ms)

  say(`  ping ${dst.pod!.ip} from the pod: ${ping.code === 0 ? `reply in ${rtt}` : 'NO REPLY'}`);
  say(`\n  1. the pod sends to its default gateway, the node:`);
  say(`     ${src.pod!.name}$ ip route get ${dst.pod!.ip}`);
  say(`       ${first((await tb.topo.exec(src.pod!.name, 'ip', ['route', 'get', dst.pod!.ip])).stdout)}`);
  say(`  2. ${src.node.node} routes the pod subnet through the overlay, via ${dst.node.node}'s overlay IP (a route derived from the overlay file):`);
  say(`     ${src.host}$ ip route get ${dst.pod!.ip}`);
  say(`       ${first((await tb.topo.exec(src.host, 'ip', ['route', 'get', dst.pod!.ip])).stdout)}`);
  const srcV = vteps.find((v) => v.host === src);
  const dstV = vteps.find((v) => v.host === dst);
  const capSrc = srcV?.pcap !== undefined && existsSync(srcV.pcap) ? readPcapng(readFileSync(srcV.pcap)) : [];
  const capDst = dstV?.pcap !== undefined && existsSync(dstV.pcap) ? readPcapng(readFileSync(dstV.pcap)) : [];
  say(`  3. the next hop ${dst.node.ip} is on-link on ${dev}, so the node's kernel ARPs for it; vxlan-user answers from its`);
  say(`     neighbour table (proxy-ARP): the question never crosses the underlay.`);
  const arp = capSrc.find((p) => p.iface === IFACE_TAP && /ARP reply/.test(describeFrame(p.data, 0, p.data.length)) && p.data.includes(Buffer.from(dst.node.ip.split('.').map(Number))));
  if (arp) {
    say(`     captured on ${dev} (${src.node.node}), the reply vxlan-user wrote back:`);
    for (const l of annotateInner(arp.data, 0, who, '')) say(`  ${l}`);
  } else {
    say(`     ${src.node.node}$ ip neigh show ${dst.node.ip} dev ${dev}`);
    say(`       ${first((await tb.topo.exec(src.host, 'ip', ['neigh', 'show', dst.node.ip, 'dev', dev])).stdout) || '(no entry)'}`);
  }
  const reqRe = new RegExp(`${dst.pod!.ip.replaceAll('.', '\\.')} ICMP echo request`);
  const out = findPacket(capSrc, IFACE_UNDERLAY, reqRe);
  say(`  4. the frame to ${dst.node.mac} hits the FDB: ${dst.node.mac} -> ${dst.node.local}:${port}; vxlan-user puts an 8-byte VXLAN`);
  say(`     header in front and sends it as one UDP datagram. The datagram vxlan-user sent (outer Ethernet/IP/UDP`);
  say(`     synthesised from its socket's view; the rest is the bytes it sent):`);
  if (out) for (const l of annotateOuter(out.data, who)) say(`  ${l}`);
  else say(`     (not captured: ${src.node.node} runs the kernel's vxlan device)`);
  say(`  5. ${dst.node.node} receives it on UDP ${port}, checks it (at least 8 + 14 bytes, I flag set, reserved bits zero,`);
  say(`     VNI ${String(ov.shared.vni)} is ours) and writes the inner frame to its ${dev}:`);
  const inn = findPacket(capDst, IFACE_TAP, reqRe);
  if (inn) for (const l of annotateInner(inn.data, 0, who)) say(`  ${l}`);
  else say(`     (not captured: ${dst.node.node} runs the kernel's vxlan device)`);
  say(`  6. ${dst.node.node}'s kernel delivers it to the pod (a connected route); the reply takes the same path back:`);
  say(`     ${dst.host}$ ip route get ${dst.pod!.ip}`);
  say(`       ${first((await tb.topo.exec(dst.host, 'ip', ['route', 'get', dst.pod!.ip])).stdout)}`);
  say(`  the captures: ${[srcV?.pcap, dstV?.pcap].filter((x) => x !== undefined).join(', ')}; read one with: tshark -r FILE -d udp.port==${port},vxlan`);
}

async function pingMatrix(tb: OverlayTestbed, pods: OverlayHost[]): Promise<{ ok: number; total: number }> {
  const results = new Map<string, boolean>();
  await Promise.all(
    pods.flatMap((a) =>
      pods
        .filter((b) => b !== a)
        .map(async (b) => {
          const r = await tb.topo.exec(a.pod!.name, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.pod!.ip], { check: false, timeoutMs: 15_000 });
          results.set(`${a.host}>${b.host}`, r.code === 0);
        }),
    ),
  );
  // Column labels: the last part of each node name when those are unique (001, 002, ...), else the index.
  const tails = pods.map((p) => p.node.node.split('-').at(-1)!.slice(-6));
  const short = (h: OverlayHost): string => (new Set(tails).size === tails.length ? tails[pods.indexOf(h)]! : String(h.node.index + 1));
  say(`  from \\ to   ${pods.map((p) => short(p).padStart(7)).join('')}`);
  for (const a of pods) {
    const cells = pods.map((b) => (a === b ? '      -' : results.get(`${a.host}>${b.host}`) ? '     ok' : '   FAIL'));
    say(`  ${short(a).padEnd(10)}${cells.join('')}   ${a.node.cluster ?? ''} ${a.pod!.ip}`);
  }
  const ok = [...results.values()].filter(Boolean).length;
  return { ok, total: results.size };
}

async function httpRequest(tb: OverlayTestbed, src: OverlayHost, dst: OverlayHost): Promise<boolean> {
  const hello = `hello from the pod ${dst.pod!.ip} on ${nodeLabel(dst.node)}`;
  const server = `require('http').createServer((q,s)=>s.end(${JSON.stringify(hello)}+' (you are '+q.socket.remoteAddress+')\\n')).listen(${HTTP_PORT},'0.0.0.0')`;
  tb.topo.spawn(dst.pod!.name, process.execPath, ['-e', server], { stdio: 'ignore' });
  const url = `http://${dst.pod!.ip}:${HTTP_PORT}/`;
  const client = `fetch(${JSON.stringify(url)}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{process.stderr.write(String(e.cause??e));process.exit(1)})`;
  say(`  server: node's http module on ${dst.pod!.ip}:${HTTP_PORT} in the pod on ${dst.node.node}`);
  for (let i = 0; i < 20; i++) {
    const t0 = Date.now();
    const r = await tb.topo.exec(src.pod!.name, process.execPath, ['-e', client], { check: false, timeoutMs: 10_000 });
    if (r.code === 0) {
      say(`  ${src.pod!.ip}$ GET ${url}  (${Date.now() - t0} ms)`);
      say(`    ${r.stdout.trim()}`);
      return true;
    }
    await new Promise((res) => setTimeout(res, 200)); // the server may still be starting
  }
  say(`  GET ${url} FAILED`);
  return false;
}

async function collectCounters(vteps: Vtep[]): Promise<Record<string, number>[]> {
  const out: Record<string, number>[] = [];
  for (const v of vteps) {
    if (v.child === undefined || v.log === undefined) continue;
    v.child.kill('SIGUSR1');
    try {
      const line = await waitForLine(v.log, /\{"event":"counters".*\}/, 2000);
      out.push((JSON.parse(line) as { counters: Record<string, number> }).counters);
    } catch {
      // counters are a bonus in the summary
    }
  }
  return out;
}

async function demoDown(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { prefix: { type: 'string' } }, strict: true, allowPositionals: false });
  const prefix = values.prefix ?? 'vxdemo';
  if (!PREFIX_RE.test(prefix)) throw new UsageError(`--prefix ${prefix}: 1-16 letters, digits or '-', starting with a letter`);
  if (!isRoot()) throw new VxlanUserError('EPRIV', 'removing the demo needs root (network namespaces)');
  const removed = await cleanupStale(`${prefix}-`, { all: true });
  rmSync(stateDir(prefix), { recursive: true, force: true });
  say(removed.length === 0 ? `no demo to remove (no namespaces named ${prefix}-*)` : `removed ${removed.length} namespaces (${prefix}-*) and the processes in them`);
  return 0;
}
