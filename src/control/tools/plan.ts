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
import { DEFAULT_AGEING, VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6 } from '../config/defaults.js';
import { deviceOfAddressIn, linkMtuIn } from '../config/iproute-json.js';
import { vxlanReservedFormat } from '../../wire/vxlan.js';

const ZERO_MAC = '00:00:00:00:00:00';

/** True when the node's underlay is IPv6 (its --local, else its first peer). */
export function underlayIsIPv6(cfg: UpConfig): boolean {
  return (cfg.local ?? cfg.fdb[0]?.ip ?? cfg.remote[0] ?? '').includes(':');
}

/**
 * The underlay as the plan sees it: the device that carries the tunnel and its MTU, when known. The kernel
 * device needs both spelled out: without `dev` it still works, but without `mtu` it stays at 1500 and its
 * outer packets fragment on a 1500-byte underlay (vxlan-user derives its MTU at start instead).
 */
export interface KernelUnderlay {
  /** `dev` for `ip link add`: --dev, or the device that holds --local; undefined = not known here. */
  readonly dev?: string;
  /** That device's MTU; undefined = not known (1500 is assumed). */
  readonly mtu?: number;
}

/** `--local`'s device in `ip -j addr show` output from the node (its MTU too), unless --dev names one. */
export function underlayFromAddrs(cfg: UpConfig, ipAddrJson: string | undefined): KernelUnderlay {
  if (ipAddrJson === undefined) return cfg.dev === undefined ? {} : { dev: cfg.dev };
  const dev = cfg.dev ?? (cfg.local === undefined ? undefined : deviceOfAddressIn(ipAddrJson, cfg.local)?.ifname);
  if (dev === undefined) return {};
  const mtu = linkMtuIn(ipAddrJson, dev);
  return mtu === undefined ? { dev } : { dev, mtu };
}

/** The overlay MTU the kernel device gets: --mtu, else the underlay MTU (1500 when unknown) − 50 / − 70. */
export function kernelMtu(cfg: UpConfig, underlay: KernelUnderlay): number {
  return cfg.mtu ?? (underlay.mtu ?? 1500) - (underlayIsIPv6(cfg) ? VXLAN_OVERHEAD_IPV6 : VXLAN_OVERHEAD_IPV4);
}

/**
 * The `ip link add ... type vxlan` options for every vxlan-user option that has a kernel equivalent.
 * Defaults that differ between the two (learning) or that a reader would otherwise have to look up (ageing,
 * checksums) are written out.
 */
function vxlanOptions(cfg: UpConfig, underlay: KernelUnderlay): string[] {
  const o = ['id', String(cfg.vni), 'dstport', String(cfg.dstport)];
  if (cfg.local !== undefined) o.push('local', cfg.local);
  if (underlay.dev !== undefined) o.push('dev', underlay.dev);
  // The kernel's srcport MAX is exclusive (vxlan_src_port), ours inclusive; 65535 cannot be written as 65536.
  if (cfg.srcport !== undefined) o.push('srcport', String(cfg.srcport.min), String(Math.min(cfg.srcport.max + 1, 65535)));
  if (cfg.ttl !== undefined) o.push('ttl', String(cfg.ttl));
  // iproute2 reads `tos` in hex (rtnl_dsfield_a2n); --tos is decimal.
  if (cfg.tos !== undefined) o.push('tos', cfg.tos === 'inherit' ? 'inherit' : `0x${cfg.tos.toString(16).padStart(2, '0')}`);
  if (cfg.df !== undefined) o.push('df', cfg.df);
  o.push(cfg.learning === true ? 'learning' : 'nolearning', 'ageing', String(cfg.ageing ?? DEFAULT_AGEING));
  if (underlayIsIPv6(cfg)) o.push(cfg.udp6zerocsumtx === true ? 'udp6zerocsumtx' : 'noudp6zerocsumtx', cfg.udp6zerocsumrx === true ? 'udp6zerocsumrx' : 'noudp6zerocsumrx');
  else o.push(cfg.udpcsum === false ? 'noudpcsum' : 'udpcsum');
  // Only when not the default: iproute2 before 6.14 does not know the word (the script would stop there).
  if (cfg.reservedBits !== undefined) o.push('reserved_bits', vxlanReservedFormat(cfg.reservedBits.hi, cfg.reservedBits.lo));
  return o;
}

/** The options set in `cfg` that the kernel's vxlan device has no equivalent for, each with what it does. */
export function optionsWithoutKernelEquivalent(cfg: UpConfig): string[] {
  const out: string[] = [];
  if (cfg.peersOnly === true) out.push('--peers-only (the kernel accepts VXLAN from any host; a firewall rule on the UDP port does it)');
  if (cfg.srcport !== undefined && cfg.srcport.max === 65535) out.push('--srcport ...-65535 (the kernel cannot include port 65535: written as MAX 65535, exclusive)');
  if (cfg.offload === 'off') out.push('--offload off');
  if (cfg.io === 'dgram') out.push('--io dgram');
  if (cfg.metrics !== undefined) out.push('--metrics');
  if (cfg.trace === true) out.push('--trace');
  if (cfg.pcap !== undefined) out.push('--pcap');
  return out;
}

/** The kernel's vxlan device for `cfg`, as argv arrays (run without a shell) in apply order. */
export function kernelCommands(cfg: UpConfig, underlay: KernelUnderlay = {}): string[][] {
  const dev = cfg.name;
  const cmds: string[][] = [];
  cmds.push(['ip', 'link', 'add', dev, 'type', 'vxlan', ...vxlanOptions(cfg, underlay)]);
  const set = ['ip', 'link', 'set', 'dev', dev];
  if (cfg.mac !== undefined) set.push('address', cfg.mac);
  cmds.push([...set, 'mtu', String(kernelMtu(cfg, underlay))]);
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

/**
 * `kernelCommands` as a shell script, with a header comment, the undo line, the options the kernel has no
 * equivalent for, and how `dev`/`mtu` were found when they were not.
 */
export function formatKernelScript(cfg: UpConfig, title: string, underlay: KernelUnderlay = {}): string {
  const lines = [`# ${title}`, `# the kernel's vxlan device, iproute2 only; undo with: ip link del ${cfg.name}`];
  const none = optionsWithoutKernelEquivalent(cfg);
  if (none.length > 0) lines.push(`# no kernel equivalent: ${none.join(', ')}`);
  if (underlay.dev === undefined) {
    lines.push(
      `# no dev: ${cfg.local === undefined ? 'no --local or --dev given' : `${cfg.local} is not an address of this host`}, so the kernel picks the device by route`,
    );
  }
  if (cfg.reservedBits !== undefined) lines.push('# reserved_bits needs Linux and iproute2 6.14 or later');
  if (cfg.mtu === undefined && underlay.mtu === undefined) lines.push(`# mtu ${kernelMtu(cfg, underlay)} assumes a 1500-byte underlay (give --mtu or --dev to change it)`);
  for (const c of kernelCommands(cfg, underlay)) lines.push(c.map(shellWord).join(' '));
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
  if (cfg.reservedBits !== undefined) a.push('--reserved-bits', vxlanReservedFormat(cfg.reservedBits.hi, cfg.reservedBits.lo));
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
  const overhead = underlayIsIPv6(cfg) ? VXLAN_OVERHEAD_IPV6 : VXLAN_OVERHEAD_IPV4;
  out.push(`device   ${cfg.name}: a TAP device, MAC ${cfg.mac ?? 'random (locally administered)'}, MTU ${cfg.mtu ?? `underlay MTU - ${overhead} (${1500 - overhead} on a 1500-byte underlay)`}`);
  out.push(`address  ${cfg.addr.length > 0 ? cfg.addr.join(', ') : '(none)'}`);
  out.push(`tunnel   VNI ${cfg.vni}, UDP port ${cfg.dstport}, underlay ${cfg.local ?? 'wildcard'}${cfg.dev !== undefined ? ` on ${cfg.dev}` : ''}`);
  if (cfg.reservedBits !== undefined) out.push(`header   reserved_bits ${vxlanReservedFormat(cfg.reservedBits.hi, cfg.reservedBits.lo)} (bits a datagram must have clear)`);
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
