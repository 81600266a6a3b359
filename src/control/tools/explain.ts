/**
 * `vxlan-user explain`: the path one packet to DEST would take through a node's VTEP, computed from the
 * node's resolved configuration alone (the same UpConfig `up` and `plan` derive from an overlay file): no
 * network, no running instance.
 *
 * The steps mirror what happens on the node, in order:
 * ```
 *  DEST IP ──route (longest prefix: a pod route via a peer's overlay IP, or the connected overlay subnet)──►
 *  next hop ──neighbour (the kernel's ARP request, answered on the TAP by proxy-ARP)──► inner destination MAC
 *  MAC ──FDB (or the default destinations, or tx_fdb_miss)──► remote(s): underlay IP, UDP port, VNI
 *  ──► outer IPv4/IPv6 + UDP + VXLAN headers, one datagram per remote
 * ```
 * What it says about the UDP source port is what the dataplane does: without --srcport every datagram leaves
 * from the one socket bound to --dstport (instance.ts binds it; vtep.ts sends through it), so the source port
 * is the --dstport on every packet — not the per-flow hash RFC 7348 recommends and the kernel draws from
 * `srcport MIN MAX`. With --srcport the port is the one of the range the inner flow hashes to, mapped as the
 * kernel's udp_flow_src_port (dataplane/source-ports.ts; a port that cannot be bound falls back to an open one):
 * explain names the range, since the hash depends on the inner ports. Receivers accept any source port.
 *
 * Routes the host has besides the tunnel's (a default route, the pod veths) are not in the config: a
 * destination no tunnel route covers is reported as "not routed into the tunnel", with the kernel counters
 * that see it when the host has no other route either.
 */
import ipaddr from 'ipaddr.js';
import type { FdbSpec, UpConfig } from '../config/config-types.js';
import { UsageError } from '../config/errors.js';
import { cidrOf, inCidr, isRefusal, parseMac, parseIpText, type Cidr, type Ip } from '../config/grammar.js';
import type { Overlay, OverlayNode } from '../config/overlay.js';
import { nodeByValue, nodeLabel } from './plan.js';
import { VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6 } from '../config/defaults.js';

const ZERO_MAC = '00:00:00:00:00:00';
const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';
/** The VXLAN header's flags byte with only the I flag (RFC 7348: "I flag MUST be set to 1 for a valid VNI"). */
const VXLAN_FLAG_I = 0x08;

/** How the packet ends at this node. */
export type ExplainVerdict =
  | 'encap' // sent through the tunnel to one remote (or several, for an FDB row with appended remotes)
  | 'flood' // no FDB row: one copy to each default destination (head-end replication)
  | 'drop' // vxlan-user (or the kernel, for an ARP nobody answers) drops it; `drop` names the counter
  | 'local' // the node itself: never enters the tunnel
  | 'not-tunnel'; // no tunnel route covers it: the host's other routes decide

export interface ExplainRoute {
  /** The prefix that matched, e.g. `10.235.88.0/24`. */
  readonly cidr: string;
  /** The gateway (a peer's overlay IP), or undefined for the connected overlay subnet. */
  readonly via?: string;
  /** The overlay node the route comes from (the gateway's node, for a derived pod route). */
  readonly node?: OverlayNode;
}

export interface ExplainRemote {
  readonly ip: string;
  readonly port: number;
  readonly vni: number;
  readonly node?: OverlayNode;
}

/** The headers one datagram would carry on the underlay. */
export interface ExplainOuter {
  readonly family: 4 | 6;
  /** Outer source IP: --local, or undefined when the socket is bound to the wildcard (the host's route picks). */
  readonly src?: string;
  readonly dst: string;
  /** --ttl, or undefined: the route's (net.ipv4.ip_default_ttl, normally 64); inherit: the inner packet's. */
  readonly ttl?: number | 'inherit';
  /** --tos N, 'inherit', or 0; the ECN bits come from the inner packet. */
  readonly tos: number | 'inherit';
  readonly df: 'set' | 'unset' | 'inherit';
  /** The UDP source port: the --dstport socket's, or with `srcRange` the low end of the range. */
  readonly srcPort: number;
  /** `--srcport MIN-MAX`: the source port is the port of this range the inner flow hashes to. */
  readonly srcRange?: { readonly min: number; readonly max: number };
  readonly dstPort: number;
  /** Outer UDP checksum sent (false with --noudpcsum / --udp6zerocsumtx). */
  readonly udpChecksum: boolean;
  readonly vni: number;
  /** The 8 VXLAN header bytes, e.g. `08 00 00 00 00 27 11 00`. */
  readonly vxlanHex: string;
  /** Inner Ethernet destination and source. */
  readonly innerDst: string;
  readonly innerSrc?: string;
}

export interface Explanation {
  readonly dest: string;
  readonly kind: 'ip' | 'mac';
  readonly verdict: ExplainVerdict;
  readonly route?: ExplainRoute;
  /** The next hop the kernel ARPs for, and the neighbour entry that answers (undefined: none). */
  readonly nextHop?: string;
  readonly neigh?: { readonly ip: string; readonly mac: string; readonly node?: OverlayNode };
  /** The inner destination MAC the FDB is asked about. */
  readonly mac?: string;
  /** The FDB row that matched (its remotes), or the default destinations when flooded. */
  readonly fdb?: readonly ExplainRemote[];
  readonly outer?: readonly ExplainOuter[];
  /** Why it is dropped: the counter and a sentence. */
  readonly drop?: { readonly counter: string; readonly why: string };
  /** Every step as a readable line (what `formatExplanation` prints). */
  readonly steps: readonly string[];
  /** One line: where it ends. */
  readonly summary: string;
}

export interface ExplainContext {
  readonly ov?: Overlay;
  readonly self?: OverlayNode;
}

/** Parses DEST. @throws UsageError (one sentence, exit 2) */
export function parseDest(text: string): { kind: 'mac'; mac: string } | { kind: 'ip'; ip: Ip } {
  const m = parseMac(text);
  if (!isRefusal(m)) {
    const mac = m.mac;
    if (mac === ZERO_MAC) {
      throw new UsageError(`DEST ${text} is the all-zeros MAC, the FDB key of the default destinations, not a frame's destination`);
    }
    return { kind: 'mac', mac };
  }
  const ip = parseIpText(text);
  if (typeof ip !== 'string') return { kind: 'ip', ip };
  // The grammar's rules for both, in its words (grammar.ts), since DEST may be either.
  throw new UsageError(`DEST ${JSON.stringify(text)} is neither a MAC address (${m.reason}) nor an IP address (${ip})`);
}

/** `08 00 00 00 00 27 11 00` for VNI 10001. */
export function vxlanHeaderHex(vni: number): string {
  const b = [VXLAN_FLAG_I, 0, 0, 0, (vni >>> 16) & 0xff, (vni >>> 8) & 0xff, vni & 0xff, 0];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** The IPv4 multicast MAC for a group (RFC 1112: 01:00:5e + the low 23 bits). */
function multicastMac(ip: Ip): string {
  if (ip.family === 6) {
    const b = (ip.addr as ipaddr.IPv6).toByteArray();
    return ['33', '33', ...b.slice(12).map((x) => x.toString(16).padStart(2, '0'))].join(':');
  }
  const b = (ip.addr as ipaddr.IPv4).octets;
  return ['01', '00', '5e', (b[1]! & 0x7f).toString(16).padStart(2, '0'), b[2]!.toString(16).padStart(2, '0'), b[3]!.toString(16).padStart(2, '0')].join(':');
}

/**
 * Explains where a packet (DEST an IP) or a frame (DEST a MAC) sent by this node would go.
 * @throws UsageError when DEST is malformed
 */
export function explain(cfg: UpConfig, destText: string, ctx: ExplainContext = {}): Explanation {
  const d = parseDest(destText);
  const dev = cfg.name;
  const self = ctx.self;
  const label = (n: OverlayNode | undefined): string => (n === undefined ? '' : `  [${nodeLabel(n)}]`);
  const steps: string[] = [];
  // `--srcport MIN-MAX`: the port of the range the inner flow's hash maps to (a send socket per port in use).
  const srcRange = cfg.srcport;
  const base = { dest: d.kind === 'mac' ? d.mac : d.ip.text, kind: d.kind } as const;

  if (d.kind === 'mac') return fromMac(d.mac, undefined, undefined, undefined, steps);

  const ip = d.ip;
  // The node itself: its overlay address(es), its underlay address, its own pods.
  const ownAddr = cfg.addr.find((a) => a.slice(0, a.indexOf('/')) === ip.text);
  if (ownAddr !== undefined || (cfg.local !== undefined && cfg.local === ip.text)) {
    const what = ownAddr !== undefined ? `${dev}'s own overlay address (${ownAddr})` : `this node's own underlay address (--local)`;
    steps.push(`local      ${ip.text} is ${what}: the kernel delivers it through the local routing table (ip route show table local); it never reaches ${dev} or vxlan-user`);
    return { ...base, verdict: 'local', steps, summary: `${ip.text} is this node${self === undefined ? '' : ` (${nodeLabel(self)})`}: delivered locally, never encapsulated` };
  }
  const ownPod = self?.pods.find((p) => inCidr(ip, cidrOf(p)));
  if (ownPod !== undefined) {
    steps.push(`local      ${ip.text} is in ${ownPod}, a pod subnet behind this node: the node's own route to its pod veth carries it, not ${dev}`);
    return { ...base, verdict: 'local', steps, summary: `${ip.text} is a pod on this node (${ownPod}): routed to the pod's veth, never encapsulated` };
  }

  // Route: longest prefix among the pod routes and the connected overlay subnets; a tie goes to the
  // connected route (the kernel's proto kernel route is found first at the same prefix in the main table).
  interface Cand {
    readonly p: Cidr;
    readonly via?: string;
  }
  const cands: Cand[] = [
    ...cfg.addr.map((a) => ({ p: cidrOf(a) })),
    ...cfg.route.map((r) => ({ p: cidrOf(r.cidr), via: r.gateway })),
  ];
  let best: Cand | undefined;
  for (const c of cands) {
    if (!inCidr(ip, c.p)) continue;
    if (best === undefined || c.p.prefix > best.p.prefix) best = c;
  }
  if (best === undefined) {
    const why =
      `no route through ${dev} covers ${ip.text} (its routes: ${cands.map((c) => c.p.text).join(', ') || 'none'}): ` +
      `the packet never reaches vxlan-user, so no vxlan-user counter moves; the host's other routes decide (e.g. its default route), ` +
      `and with none the sender gets "Network is unreachable" and the kernel counts IpExtInNoRoutes (a packet forwarded from a pod, answered with ICMP net unreachable) or IpOutNoRoutes (a UDP or TCP packet the node sends itself) in nstat`;
    steps.push(`route      ${why}`);
    return {
      ...base,
      verdict: 'not-tunnel',
      drop: { counter: 'IpOutNoRoutes / IpExtInNoRoutes (kernel, when the host has no other route)', why },
      steps,
      summary: `${ip.text} is not routed into ${dev}: not a vxlan-user packet`,
    };
  }
  const viaNode = best.via === undefined ? undefined : nodeByValue(ctx.ov, best.via);
  const route: ExplainRoute = { cidr: best.p.text, ...(best.via === undefined ? {} : { via: best.via }), ...(viaNode === undefined ? {} : { node: viaNode }) };
  if (best.via !== undefined) {
    steps.push(`route      ${best.p.text} via ${best.via} dev ${dev}${viaNode !== undefined ? `  (pods of ${nodeLabel(viaNode)}, routed via its overlay IP)` : ''}`);
  } else {
    steps.push(`route      ${best.p.text} dev ${dev} scope link  (the connected overlay subnet: ${ip.text} is on-link, the next hop is itself)`);
  }
  const nextHop = best.via ?? ip.text;

  // Broadcast and multicast destinations need no ARP: their MAC is computed.
  const nh = parseIpText(nextHop) as Ip;
  const bcast = best.via === undefined && nh.family === 4 && best.p.prefix < 31 && nh.text === ipaddr.IPv4.broadcastAddressFromCIDR(best.p.text).toString();
  if (bcast || nh.addr.range() === 'multicast') {
    const mac = bcast ? BROADCAST_MAC : multicastMac(nh);
    steps.push(`neighbour  none needed: ${nh.text} is the subnet's ${bcast ? 'broadcast address' : 'multicast group'}, sent to ${mac}`);
    return fromMac(mac, route, nextHop, undefined, steps);
  }

  const n = cfg.neigh.find((x) => x.ip === nextHop);
  if (n === undefined) {
    const defaults = defaultDestinations(cfg);
    // The question goes to everyone: ARP to the broadcast MAC, a neighbour solicitation to the solicited-node
    // multicast group's MAC (RFC 4861: 33:33:ff + the low 24 bits of the target).
    const askMac = nh.family === 4 ? BROADCAST_MAC : multicastMac(parseIpText(`ff02::1:ff${soliciting(nh)}`) as Ip);
    const what =
      nh.family === 6
        ? `the kernel sends a neighbour solicitation for ${nextHop} to ${askMac} on ${dev}; the NDP proxy has no neighbour entry for it`
        : `the kernel broadcasts "who-has ${nextHop}" on ${dev}; proxy-ARP has no neighbour entry for it`;
    if (defaults.length === 0) {
      const why = `${what}, and the request has no default destination to go to: vxlan-user drops it (tx_fdb_miss), the kernel's neighbour entry ends FAILED and the sender is told the host is unreachable`;
      steps.push(`neighbour  ${why}`);
      return { ...base, verdict: 'drop', route, nextHop, mac: askMac, drop: { counter: 'tx_fdb_miss', why }, steps, summary: `dropped: no neighbour entry for ${nextHop} (tx_fdb_miss on the ${nh.family === 4 ? 'ARP request' : 'neighbour solicitation'})` };
    }
    steps.push(`neighbour  ${what}: the request is flooded to the default destinations (tx_flood_frames); the packet goes only if a host there answers`);
    return sent('flood', defaults.map((r) => remoteOf(r)), askMac, steps, { route, nextHop }, (fdb) => `the request for ${nextHop} is flooded to ${fdb.length} default destination(s); no static neighbour answers it`);
  }
  const nNode = nodeByValue(ctx.ov, n.ip);
  steps.push(
    nh.family === 4
      ? `neighbour  ${n.ip} is-at ${n.mac}  (the kernel's ARP request on ${dev} is answered by vxlan-user's proxy-ARP from the neighbour table; it never leaves the node)${label(nNode)}`
      : `neighbour  ${n.ip} is-at ${n.mac}  (the kernel's neighbour solicitation on ${dev} is answered by vxlan-user's NDP proxy from the neighbour table; it never leaves the node)${label(nNode)}`,
  );
  return fromMac(n.mac, route, nextHop, { ip: n.ip, mac: n.mac, ...(nNode === undefined ? {} : { node: nNode }) }, steps);

  // ---- from the inner destination MAC on: the FDB ----
  function fromMac(mac: string, r: ExplainRoute | undefined, hop: string | undefined, neigh: Explanation['neigh'], st: string[]): Explanation {
    const ctxFields = { ...(r === undefined ? {} : { route: r }), ...(hop === undefined ? {} : { nextHop: hop }), ...(neigh === undefined ? {} : { neigh }), mac };
    if (cfg.mac !== undefined && mac === cfg.mac) {
      st.push(`local      ${mac} is ${dev}'s own MAC: frames to it are this node's own and never leave through the tunnel`);
      return { ...base, ...ctxFields, verdict: 'local', steps: st, summary: `${mac} is this node's VTEP: delivered locally, never encapsulated` };
    }
    const group = (parseInt(mac.slice(0, 2), 16) & 1) !== 0;
    const rows = group ? [] : cfg.fdb.filter((f) => f.mac === mac);
    if (rows.length > 0) {
      return sent('encap', rows.map((f) => remoteOf(f)), mac, st, ctxFields, (fdb) =>
        `encapsulated to ${fdb.map((x) => `${x.ip}:${x.port} (VNI ${x.vni})${x.node !== undefined ? ` on ${x.node.node}` : ''}`).join(', ')}`,
      );
    }
    const kind = mac === BROADCAST_MAC ? 'broadcast' : group ? 'multicast' : 'unknown unicast (no FDB row)';
    const defaults = defaultDestinations(cfg);
    if (defaults.length === 0) {
      const why = `${mac} is ${kind} and there are no default destinations (no --remote, no all-zeros FDB row; the kernel recipe has none either): vxlan-user drops it and counts tx_fdb_miss`;
      st.push(`fdb        ${why}`);
      return { ...base, ...ctxFields, verdict: 'drop', drop: { counter: 'tx_fdb_miss', why }, steps: st, summary: `dropped: ${mac} is ${kind} with no default destination (tx_fdb_miss)` };
    }
    st.push(`fdb        ${mac} is ${kind}: flooded, one copy per default destination (head-end replication; tx_flood_frames, tx_flood_copies)`);
    return sent('flood', defaults.map((x) => remoteOf(x)), mac, st, ctxFields, (fdb) => `flooded to ${fdb.length} default destination(s): ${fdb.map((x) => `${x.ip}:${x.port}`).join(', ')}`);
  }

  /** A frame for `innerDst` that leaves as one datagram per remote in `fdb`. */
  function sent(
    verdict: 'encap' | 'flood',
    fdb: readonly ExplainRemote[],
    innerDst: string,
    st: readonly string[],
    fields: Partial<Pick<Explanation, 'route' | 'nextHop' | 'neigh' | 'mac'>>,
    summary: (fdb: readonly ExplainRemote[]) => string,
  ): Explanation {
    return {
      ...base,
      ...fields,
      mac: innerDst,
      verdict,
      fdb,
      outer: fdb.map((x) => outerOf(x, innerDst)),
      steps: [...st, ...remoteLines(verdict === 'encap' ? 'fdb' : 'flood', fdb, innerDst)],
      summary: summary(fdb),
    };
  }

  function remoteOf(f: { ip: string; port?: number; vni?: number }): ExplainRemote {
    const node = nodeByValue(ctx.ov, f.ip);
    return { ip: f.ip, port: f.port ?? cfg.dstport, vni: f.vni ?? cfg.vni, ...(node === undefined ? {} : { node }) };
  }

  function outerOf(r: ExplainRemote, innerDst: string): ExplainOuter {
    const family = r.ip.includes(':') ? 6 : 4;
    return {
      family,
      ...(cfg.local === undefined ? {} : { src: cfg.local }),
      dst: r.ip,
      ...(cfg.ttl === undefined ? {} : { ttl: cfg.ttl }),
      tos: cfg.tos ?? 0,
      df: cfg.df ?? 'unset',
      srcPort: srcRange?.min ?? cfg.dstport,
      ...(srcRange === undefined ? {} : { srcRange }),
      dstPort: r.port,
      udpChecksum: family === 4 ? cfg.udpcsum !== false : cfg.udp6zerocsumtx !== true,
      vni: r.vni,
      vxlanHex: vxlanHeaderHex(r.vni),
      innerDst,
      ...(cfg.mac === undefined ? {} : { innerSrc: cfg.mac }),
    };
  }

  function remoteLines(how: 'fdb' | 'flood', rs: readonly ExplainRemote[], innerDst: string): string[] {
    const out: string[] = [];
    if (how === 'fdb') {
      for (const r of rs) out.push(`fdb        ${innerDst} -> dst ${r.ip} port ${r.port} vni ${r.vni}${label(r.node)}`);
      if (rs.length > 1) out.push(`           ${rs.length} remotes (bridge fdb append): one datagram to each`);
    } else {
      for (const r of rs) out.push(`flood      -> dst ${r.ip} port ${r.port} vni ${r.vni}${label(r.node)}`);
    }
    const overhead = rs.some((r) => r.ip.includes(':')) ? VXLAN_OVERHEAD_IPV6 : VXLAN_OVERHEAD_IPV4;
    for (const r of rs) {
      const o = outerOf(r, innerDst);
      out.push(
        `udp        ${
          o.srcRange === undefined
            ? `source port ${o.srcPort} (every datagram leaves from the one socket bound to --dstport; no per-flow source-port hash without --srcport)`
            : `source port in ${o.srcRange.min}-${o.srcRange.max} (--srcport: the port the inner flow hashes to, as the kernel's udp_flow_src_port with MAX inclusive; one flow keeps one port)`
        }, destination port ${o.dstPort}, checksum ${o.udpChecksum ? 'on' : 'zero'}`,
      );
      out.push(
        `outer      IPv${o.family} ${o.src ?? '(source chosen by the host route to ' + o.dst + ': the socket is bound to the wildcard)'} > ${o.dst}, proto UDP (17), ttl ${o.ttl === 'inherit' ? "inherit (the inner packet's; 64 for non-IP)" : o.ttl ?? '64 (the route default)'}, tos ${o.tos === 'inherit' ? 'inherit' : `0x${o.tos.toString(16)}`} (ECN from the inner packet), DF ${o.df}`,
      );
      out.push(`vxlan      flags 0x08 [I] vni ${o.vni}: ${o.vxlanHex}`);
      out.push(`inner      ${o.innerSrc ?? `${dev}'s MAC`} > ${o.innerDst}: the frame as the kernel wrote it to ${dev}, unchanged`);
    }
    out.push(
      `size       +${overhead} bytes on the underlay (outer ${overhead === VXLAN_OVERHEAD_IPV4 ? 'IPv4 20' : 'IPv6 40'} + UDP 8 + VXLAN 8 + inner Ethernet 14); ${dev} MTU ${cfg.mtu ?? `underlay MTU - ${overhead} (${1500 - overhead} on a 1500-byte underlay)`}`,
    );
    const peer = rs.length === 1 ? rs[0]!.node : undefined;
    if (peer !== undefined) {
      out.push(
        `peer       ${nodeLabel(peer)} checks the I flag and VNI, writes the inner frame to its ${dev}, and its kernel delivers it${base.kind === 'ip' && base.dest !== peer.ip ? ` (forwarding it to its pod subnet${peer.pods.length === 1 ? ` ${peer.pods[0]}` : 's'})` : ''}`,
      );
    }
    return out;
  }
}

/** The low 24 bits of an IPv6 address as the tail of its solicited-node group, e.g. `e5:398d`. */
function soliciting(ip: Ip): string {
  const b = (ip.addr as ipaddr.IPv6).toByteArray();
  const h = (x: number | undefined): string => (x ?? 0).toString(16).padStart(2, '0');
  return `${h(b[13])}:${h(b[14])}${h(b[15])}`;
}

/** The default destinations: --remote and all-zeros FDB rows. */
function defaultDestinations(cfg: UpConfig): { ip: string; port?: number; vni?: number }[] {
  const rows: { ip: string; port?: number; vni?: number }[] = cfg.remote.map((ip) => ({ ip }));
  for (const f of cfg.fdb as readonly FdbSpec[]) {
    if (f.mac === ZERO_MAC) rows.push({ ip: f.ip, ...(f.port === undefined ? {} : { port: f.port }), ...(f.vni === undefined ? {} : { vni: f.vni }) });
  }
  return rows;
}

/** The explanation as printed by `vxlan-user explain`. */
export function formatExplanation(e: Explanation, ctx: ExplainContext = {}): string {
  const head = ctx.self !== undefined ? `${nodeLabel(ctx.self)} -> ${e.dest}` : `-> ${e.dest}`;
  return `${head}: ${e.summary}\n\n${e.steps.map((s) => `  ${s}`).join('\n')}\n`;
}
