/**
 * What a configuration would set up on a node, without touching the host: as a readable plan, as the
 * equivalent `vxlan-user up` flags, and as the iproute2 commands for the kernel's vxlan device (so one
 * overlay file drives both, for A/B comparisons and mixed clusters).
 *
 * The kernel commands use iproute2 only (`ip`, `bridge`): a fresh machine has no net-tools (`arp`, `route`).
 * `ip neigh replace ... nud permanent` is the kernel's `arp -s`; `ip route replace` is idempotent where
 * `route add` is not.
 */
import type { UpConfig } from '../config/config-types.js';
import type { Overlay, OverlayNode } from '../config/overlay.js';
import { VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6 } from '../config/defaults.js';

const ZERO_MAC = '00:00:00:00:00:00';

/** The kernel's vxlan device for `cfg`, as argv arrays (run without a shell) in apply order. */
export function kernelCommands(cfg: UpConfig): string[][] {
  const dev = cfg.name;
  const cmds: string[][] = [];
  const add = ['ip', 'link', 'add', dev, 'type', 'vxlan', 'id', String(cfg.vni), 'dstport', String(cfg.dstport)];
  if (cfg.local !== undefined) add.push('local', cfg.local);
  if (cfg.dev !== undefined) add.push('dev', cfg.dev);
  add.push('nolearning');
  cmds.push(add);
  if (cfg.mac !== undefined) cmds.push(['ip', 'link', 'set', 'dev', dev, 'address', cfg.mac]);
  if (cfg.mtu !== undefined) cmds.push(['ip', 'link', 'set', 'dev', dev, 'mtu', String(cfg.mtu)]);
  for (const a of cfg.addr) cmds.push(['ip', 'addr', 'add', a, 'dev', dev]);
  cmds.push(['ip', 'link', 'set', 'dev', dev, 'up']);
  for (const n of cfg.neigh) cmds.push(['ip', 'neigh', 'replace', n.ip, 'lladdr', n.mac, 'dev', dev, 'nud', 'permanent']);
  for (const r of cfg.remote) cmds.push(['bridge', 'fdb', 'append', ZERO_MAC, 'dst', r, 'dev', dev]);
  for (const f of cfg.fdb) {
    const c = ['bridge', 'fdb', 'append', f.mac, 'dst', f.ip];
    if (f.port !== undefined && f.port !== cfg.dstport) c.push('port', String(f.port));
    if (f.vni !== undefined && f.vni !== cfg.vni) c.push('vni', String(f.vni));
    cmds.push([...c, 'dev', dev]);
  }
  for (const r of cfg.route) cmds.push(['ip', 'route', 'replace', r.cidr, 'via', r.gateway, 'dev', dev]);
  return cmds;
}

/** Quotes a word for sh only when it needs it (our words are addresses, names and numbers). */
export function shellWord(w: string): string {
  return /^[A-Za-z0-9_.:/=@%+,-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`;
}

/** `kernelCommands` as a shell script, with a header comment and the undo line. */
export function formatKernelScript(cfg: UpConfig, title: string): string {
  const lines = [`# ${title}`, `# the kernel's vxlan device, iproute2 only; undo with: ip link del ${cfg.name}`];
  for (const c of kernelCommands(cfg)) lines.push(c.map(shellWord).join(' '));
  return `${lines.join('\n')}\n`;
}

/** The `vxlan-user up` flags that give exactly `cfg` (no --config). */
export function upFlags(cfg: UpConfig): string[] {
  const a = ['--vni', String(cfg.vni), '--name', cfg.name, '--dstport', String(cfg.dstport)];
  if (cfg.local !== undefined) a.push('--local', cfg.local);
  if (cfg.dev !== undefined) a.push('--dev', cfg.dev);
  if (cfg.mac !== undefined) a.push('--mac', cfg.mac);
  if (cfg.mtu !== undefined) a.push('--mtu', String(cfg.mtu));
  for (const x of cfg.addr) a.push('--addr', x);
  for (const r of cfg.remote) a.push('--remote', r);
  for (const f of cfg.fdb) a.push('--fdb', `${f.mac}=${f.ip.includes(':') ? `[${f.ip}]` : f.ip}${f.port !== undefined ? `:${f.port}` : ''}`);
  for (const n of cfg.neigh) a.push('--neigh', `${n.ip}=${n.mac}`);
  for (const r of cfg.route) a.push('--route', `${r.cidr}=${r.gateway}`);
  return a;
}

/** A node label for a table row: `multicluster-test-002 (test-cluster1)`. */
export function nodeLabel(n: OverlayNode | undefined): string {
  if (n === undefined) return '';
  return n.cluster === undefined ? n.node : `${n.node} (${n.cluster})`;
}

/** Finds the overlay node a value belongs to (its overlay IP, MAC or underlay IP). */
export function nodeByValue(ov: Overlay | undefined, v: string): OverlayNode | undefined {
  return ov?.nodes.find((n) => n.ip === v || n.mac === v || n.local === v);
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** The readable plan: device, tunnel, and the three tables with the node each row comes from. */
export function formatPlan(cfg: UpConfig, ov?: Overlay, self?: OverlayNode): string {
  const out: string[] = [];
  if (self !== undefined && ov !== undefined) {
    out.push(`${nodeLabel(self)}: node ${self.index + 1} of ${ov.nodes.length} in ${ov.file} (overlay ${ov.subnet})`, '');
  }
  const v6 = (cfg.local ?? cfg.fdb[0]?.ip ?? cfg.remote[0] ?? '').includes(':');
  const overhead = v6 ? VXLAN_OVERHEAD_IPV6 : VXLAN_OVERHEAD_IPV4;
  out.push(`device   ${cfg.name}: a TAP device, MAC ${cfg.mac ?? 'random (locally administered)'}, MTU ${cfg.mtu ?? `underlay MTU - ${overhead} (${1500 - overhead} on a 1500-byte underlay)`}`);
  out.push(`address  ${cfg.addr.length > 0 ? cfg.addr.join(', ') : '(none)'}`);
  out.push(`tunnel   VNI ${cfg.vni}, UDP port ${cfg.dstport}, underlay ${cfg.local ?? 'wildcard'}${cfg.dev !== undefined ? ` on ${cfg.dev}` : ''}`);
  out.push('', `neighbours: ${cfg.neigh.length} (ARP for these is answered on the TAP by vxlan-user: proxy-ARP)`);
  out.push(...table(cfg.neigh.map((n) => [n.ip, 'is-at', n.mac, nodeLabel(nodeByValue(ov, n.ip))])));
  out.push('', `fdb: ${cfg.fdb.length} (inner destination MAC -> underlay IP:port)`);
  out.push(
    ...table(
      cfg.fdb.map((f) => [f.mac, '->', `${f.ip}:${f.port ?? cfg.dstport}${f.vni !== undefined ? ` vni ${f.vni}` : ''}`, nodeLabel(nodeByValue(ov, f.ip))]),
    ),
  );
  out.push('', `routes: ${cfg.route.length} (through ${cfg.name})`);
  out.push(...table(cfg.route.map((r) => [r.cidr, 'via', r.gateway, nodeLabel(nodeByValue(ov, r.gateway))])));
  out.push(
    '',
    cfg.remote.length > 0
      ? `default destinations (broadcast, multicast, unknown unicast; one copy each): ${cfg.remote.join(', ')}`
      : 'default destinations: none, so broadcast and unknown unicast frames are dropped (tx_fdb_miss), as with the kernel recipe',
  );
  out.push('', 'the same as flags:', `  vxlan-user up ${upFlags(cfg).map(shellWord).join(' ')}`);
  return `${out.join('\n')}\n`;
}
