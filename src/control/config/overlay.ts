/**
 * The whole-overlay form of the version-1 `--config` file: one file lists every node once, and each node
 * derives its own FDB, neighbour table and routes from it.
 *
 * ```yaml
 * version: 1
 * vni: 10001                  # shared keys: the single-node keys that are the same on every node
 * dstport: 4899
 * name: vxlan-test
 * nodes:
 *   - node: multicluster-test-001     # what --node picks
 *     cluster: test-cluster1          # a label (plan, explain and the demo print it)
 *     local: 192.168.0.21             # underlay IP   (= --local)
 *     addr: 179.17.1.21/24            # overlay IP    (= --addr)
 *     mac: c2:6a:9b:e5:39:8d          # VTEP MAC      (= --mac)
 *     pods: [10.234.111.0/24]         # pod subnets behind the node
 * ```
 *
 * One schema, not two: a node's entry holds the per-node keys of the single-node form (`local`, `addr`, `mac`,
 * optionally `dev`), the top level holds the shared ones (`vni`, `dstport`, `name`, `mtu`, ...), and
 * `nodes:` replaces the tables (`fdb`, `neigh`, `route`, `remote`), which are derived by one rule each:
 *
 *   for every other node M:   neigh  M.addr-ip = M.mac            (arp -s; answered by proxy-ARP)
 *                             fdb    M.mac = M.local              (bridge fdb append M.mac dst M.local)
 *                             route  P = M.addr-ip, for each pod subnet P of M   (route add -net P gw ...)
 *
 * This module validates the whole overlay (every node, not only the chosen one: a mistake in any node's row
 * would show up on every other node) and hands file.ts the chosen node's settings as raw single-node values
 * (raw.ts), which then go through the same validation and defaults as any other config (validate.ts). Nothing
 * here changes the host; picking the node by its underlay address reads the namespace's interface addresses.
 *
 * file.ts reads the file and calls in here; the single-node keys a shared key must be one of come from raw.ts,
 * which imports neither (no circle).
 */
import { networkInterfaces } from 'node:os';
import { ConfigError, UsageError } from './errors.js';
import type { RawValue } from './config-types.js';
import {
  cidrsOverlap,
  isRefusal,
  parseCidr,
  parseInterfaceAddr,
  parseIpText,
  parseUnderlayIp,
  parseUnicastMac,
  phrase,
  routeLoop,
  type Cidr,
  type Ip,
  type Refusal,
} from './grammar.js';
import { DEVICE_SCALAR_KEYS, SCALAR_KEYS, type DeviceScalarKey, type RawUp, type ScalarKey } from './raw.js';

/** One node of the overlay, validated and in canonical text forms. */
export interface OverlayNode {
  /** Position in the `nodes:` list (0-based), for messages: `nodes[1]`. */
  readonly index: number;
  /** The node's name, what `--node` picks. */
  readonly node: string;
  readonly cluster?: string;
  /** Underlay IP (`--local`). */
  readonly local: string;
  /** Overlay address with prefix length, host part kept (`--addr`), e.g. `179.17.1.21/24`. */
  readonly addr: string;
  /** Overlay IP without prefix, e.g. `179.17.1.21`: the next hop other nodes route this node's pods via. */
  readonly ip: string;
  /** VTEP MAC, lower-case colon form. */
  readonly mac: string;
  /** Pod subnets behind the node, normalised to their network address. */
  readonly pods: readonly string[];
  /** Underlay interface (`--dev`), when this node names one. */
  readonly dev?: string;
  /**
   * A node of a several-VNI overlay: one entry per VNI it joins, each with its own device (addr, mac, pods).
   * Then addr, ip, mac and pods above are its first entry's.
   */
  readonly vnis?: readonly OverlayVni[];
}

/** One node's device in one VNI of a several-VNI overlay. */
export interface OverlayVni {
  readonly vni: number;
  /** The device's name; default the vnis: default, `vx` + the VNI. */
  readonly name?: string;
  readonly addr: string;
  readonly ip: string;
  readonly mac: string;
  readonly pods: readonly string[];
}

export interface Overlay {
  readonly file: string;
  /** The overlay subnet every node's `addr` lies in, e.g. `179.17.1.0/24`. */
  readonly subnet: string;
  readonly nodes: readonly OverlayNode[];
  /** The top-level keys other than `version` and `nodes`, as written (shared by every node). */
  readonly shared: Readonly<Record<string, unknown>>;
}

const NODE_KEYS_REQUIRED = ['node', 'local', 'addr', 'mac'] as const;
const NODE_KEYS_OPTIONAL = ['cluster', 'pods', 'dev'] as const;
const NODE_FORM = `{node, local, addr, mac, pods?, cluster?, dev?}`;
/** A node of a several-VNI overlay: its devices under vnis:, each {vni, name?, addr, mac, pods?}. */
const NODE_VNIS_FORM = `{node, local, vnis: [{vni, name?, addr, mac, pods?}], cluster?, dev?}`;
const VNI_ENTRY_KEYS = ['vni', 'name', 'addr', 'mac', 'pods'] as const;
/** Per-node keys of the single-node form: in the whole-overlay form they belong to each node's entry. */
const PER_NODE_TOP_KEYS = ['local', 'addr', 'mac'] as const;
/** Tables the whole-overlay form derives from `nodes:`. */
const DERIVED_TOP_KEYS = ['fdb', 'neigh', 'route', 'remote'] as const;
const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `the ${typeof v} ${JSON.stringify(v)}`;

/** `nodes[1] (multicluster-test-002)`: how messages name a node. */
const who = (i: number, name?: string): string => (name === undefined ? `nodes[${i}]` : `nodes[${i}] (${name})`);

/**
 * Validates the whole-overlay form of an already read config mapping (`version` checked by the caller).
 * The top level may hold the single-node scalar keys (raw.ts SCALAR_KEYS) other than the per-node ones.
 * Every refusal is one sentence naming the file, the node (index and name) and the value.
 * @throws ConfigError
 */
export function parseOverlay(obj: Readonly<Record<string, unknown>>, file: string): Overlay {
  const scalarKeys: readonly string[] = SCALAR_KEYS;
  const bad = (what: string): never => {
    throw new ConfigError(`--config ${file}: ${what}`);
  };
  /** The grammar's value, or `nodes[i] (name) KEY TEXT` refused in the grammar's words. */
  const must = <T>(at: string, key: string, text: string, v: T | Refusal): T => (isRefusal(v) ? bad(`${at} ${key} ${text} ${phrase(v, text, true)}`) : v);
  for (const key of Object.keys(obj)) {
    if (key === 'version' || key === 'nodes') continue;
    if ((PER_NODE_TOP_KEYS as readonly string[]).includes(key)) {
      bad(`'${key}' is a per-node key in the whole-overlay form (nodes:): give each node its own '${key}' under nodes:`);
    }
    if ((DERIVED_TOP_KEYS as readonly string[]).includes(key)) {
      bad(
        `'${key}' is derived from nodes: in the whole-overlay form (every node gets the other nodes' FDB rows, neighbours and pod routes); add extra entries on the command line with --${key}`,
      );
    }
    if (!scalarKeys.includes(key)) {
      bad(`has an unknown key '${key}': the top level of the whole-overlay form has version, nodes and the shared keys ${scalarKeys.join(', ')}`);
    }
  }
  const list = obj.nodes;
  if (!Array.isArray(list) || list.length === 0) {
    bad(`nodes must be a non-empty list of nodes, each ${NODE_FORM}, not ${Array.isArray(list) ? 'an empty list' : describe(list)}`);
  }
  const entries = list as unknown[];

  /** One device of a node (a single-VNI overlay: the node's own addr/mac/pods; vni undefined = the top-level one). */
  interface Member {
    readonly vni: number | undefined;
    readonly name?: string;
    readonly at: string;
    readonly addr: string;
    readonly ip: string;
    readonly mac: string;
    readonly addrCidr: Cidr;
    readonly podCidrs: readonly Cidr[];
  }
  interface Parsed {
    readonly index: number;
    readonly node: string;
    readonly cluster?: string;
    readonly local: string;
    readonly localIp: Ip;
    readonly dev?: string;
    readonly members: readonly Member[];
    readonly several: boolean;
  }
  const several = entries.some((e) => typeof e === 'object' && e !== null && 'vnis' in e);
  if (several) {
    for (const k of ['vni', 'name'])
      if (obj[k] !== undefined && obj[k] !== null) bad(`has a top-level '${k}' beside nodes with vnis: give each node's device its ${k} inside its vnis: entry`);
  }
  const nodes: Parsed[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const form = several ? NODE_VNIS_FORM : NODE_FORM;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) bad(`${who(i)} must be a mapping ${form}, not ${describe(e)}`);
    const o = e as Record<string, unknown>;
    const name = typeof o.node === 'string' ? o.node : undefined;
    const at = who(i, name);
    const allowed: readonly string[] = several ? ['node', 'local', 'vnis', 'cluster', 'dev'] : [...NODE_KEYS_REQUIRED, ...NODE_KEYS_OPTIONAL];
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        const hint = k === 'name' ? ` (a node's name is 'node:'; 'name' is the device name, a top-level key)` : several && ['addr', 'mac', 'pods'].includes(k) ? ` (in a several-VNI overlay, '${k}' belongs to each vnis: entry)` : '';
        bad(`${at} has an unknown key '${k}': a node has ${form}${hint}`);
      }
    }
    for (const k of several ? ['node', 'local', 'vnis'] : NODE_KEYS_REQUIRED) {
      if (o[k] === undefined || o[k] === null) bad(`${at} lacks the key '${k}': a node has ${form}`);
    }
    const text = (k: string, from: Record<string, unknown> = o, where = at): string => {
      const v = from[k];
      if (typeof v !== 'string') bad(`${where} ${k} must be a string, not ${describe(v)}`);
      return v as string;
    };
    const node = text('node');
    if (!NODE_NAME_RE.test(node)) bad(`${at} node ${JSON.stringify(node)} is not a node name: 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit`);

    const localText = text('local');
    const lip = must(at, 'local', localText, parseUnderlayIp(localText));

    /** addr, mac and pods of one device: the node's own, or one of its vnis: entries. */
    const member = (from: Record<string, unknown>, where: string, vni: number | undefined, devName: string | undefined): Member => {
      const addrText = text('addr', from, where);
      const a = must(where, 'addr', addrText, parseInterfaceAddr(addrText));
      if (a.ip.family !== 4) {
        bad(`${where} addr ${addrText} is IPv6: overlay addresses are IPv4 here, because the derived neighbours are answered by proxy-ARP, which is IPv4 only`);
      }
      if (a.prefix < 32 && a.ip.text === a.network.text) bad(`${where} addr ${addrText} is the network address of its subnet: give the node a host address, e.g. ${a.network.text.replace(/\.0$/, '.1')}/${a.prefix}`);
      const macText = text('mac', from, where);
      const mac = must(where, 'mac', macText, parseUnicastMac(macText)).mac;
      const podsRaw = from.pods === undefined || from.pods === null ? [] : Array.isArray(from.pods) ? (from.pods as unknown[]) : [from.pods];
      const podCidrs: Cidr[] = [];
      for (const p of podsRaw) {
        if (typeof p !== 'string') bad(`${where} pods must be a list of CIDR strings, not ${describe(p)}`);
        const c = must(where, 'pods', p as string, parseCidr(p as string, 1, '10.234.111.0/24'));
        if (c.ip.family !== 4) bad(`${where} pods ${String(p)} is IPv6: pod routes go via the node's IPv4 overlay address, so pod subnets are IPv4`);
        podCidrs.push(c);
      }
      return { vni, ...(devName === undefined ? {} : { name: devName }), at: where, addr: `${a.ip.text}/${a.prefix}`, ip: a.ip.text, mac, addrCidr: a, podCidrs };
    };
    const members: Member[] = [];
    if (!several) members.push(member(o, at, undefined, undefined));
    else {
      const list = o.vnis;
      if (!Array.isArray(list) || list.length === 0) bad(`${at} vnis must be a non-empty list of {vni, name?, addr, mac, pods?}, not ${describe(list)}`);
      for (const [k, item] of (list as unknown[]).entries()) {
        const where = `${at} vnis[${k}]`;
        if (typeof item !== 'object' || item === null || Array.isArray(item)) bad(`${where} must be a mapping {vni, name?, addr, mac, pods?}, not ${describe(item)}`);
        const v = item as Record<string, unknown>;
        for (const key of Object.keys(v))
          if (!(VNI_ENTRY_KEYS as readonly string[]).includes(key)) bad(`${where} has an unknown key '${key}': a node's vnis: entry has {vni, name?, addr, mac, pods?}`);
        for (const key of ['vni', 'addr', 'mac']) if (v[key] === undefined || v[key] === null) bad(`${where} lacks the key '${key}': a node's vnis: entry has {vni, name?, addr, mac, pods?}`);
        if (typeof v.vni !== 'number' || !Number.isInteger(v.vni) || v.vni < 0 || v.vni > 0xffffff) bad(`${where} vni ${String(v.vni)} is not a VNI: an integer 0..16777215`);
        const vni = v.vni as number;
        if (members.some((m) => m.vni === vni)) bad(`${where} repeats VNI ${vni}: a node has one device per VNI`);
        members.push(member(v, where, vni, v.name === undefined || v.name === null ? undefined : text('name', v, where)));
      }
    }
    let cluster: string | undefined;
    if (o.cluster !== undefined && o.cluster !== null) cluster = text('cluster');
    let dev: string | undefined;
    if (o.dev !== undefined && o.dev !== null) dev = text('dev');
    nodes.push({ index: i, node, ...(cluster === undefined ? {} : { cluster }), local: lip.text, localIp: lip, ...(dev === undefined ? {} : { dev }), members, several });
  }

  // Across nodes: names and underlay IPs are unique; one underlay family. Within each VNI: overlay IPs and MACs
  // are unique and in one subnet. Pod subnets (of every VNI: a host has one routing table) do not overlap each
  // other, any overlay subnet or an underlay address.
  const first = nodes[0]!;
  for (let j = 0; j < nodes.length; j++) {
    const n = nodes[j]!;
    const at = who(n.index, n.node);
    for (let i = 0; i < j; i++) {
      const m = nodes[i]!;
      const prev = who(m.index, m.node);
      if (m.node === n.node) bad(`${at} has the same name as ${who(m.index)}: node names must be unique, --node picks one`);
      if (m.local === n.local) bad(`${at} local ${n.local} is also the underlay address of ${prev}: each node needs its own`);
    }
    if (n.localIp.family !== first.localIp.family) {
      bad(`${at} local ${n.local} is IPv${n.localIp.family} but ${who(first.index, first.node)} is IPv${first.localIp.family}: one overlay has one underlay family (each VTEP sends from one socket)`);
    }
  }
  const groups = new Map<number | undefined, Member[]>();
  for (const n of nodes) for (const m of n.members) groups.set(m.vni, [...(groups.get(m.vni) ?? []), m]);
  const firstOf = new Map<number | undefined, Member>();
  for (const [vni, group] of groups) {
    const g0 = group[0]!;
    firstOf.set(vni, g0);
    const inVni = vni === undefined ? '' : ` in VNI ${vni}`;
    for (let j = 0; j < group.length; j++) {
      const n = group[j]!;
      for (let i = 0; i < j; i++) {
        const m = group[i]!;
        if (m.ip === n.ip) bad(`${n.at} addr ${n.addr} has the same overlay IP as ${m.at}${inVni}: each node needs its own`);
        if (m.mac === n.mac) bad(`${n.at} mac ${n.mac} is also the MAC of ${m.at}${inVni}: the FDB maps one MAC to one node`);
      }
      if (n.addrCidr.network.text !== g0.addrCidr.network.text || n.addrCidr.prefix !== g0.addrCidr.prefix) {
        bad(
          `${n.at} addr ${n.addr} is not in the overlay subnet ${g0.addrCidr.text} of ${g0.at}${inVni}: every node's overlay address must be in one subnet (with the same prefix length), so that every node is on-link for every other`,
        );
      }
    }
  }
  const allPods = nodes.flatMap((n) => n.members.flatMap((m) => m.podCidrs.map((c) => ({ m, c }))));
  const subnets = [...firstOf.values()].map((m) => m.addrCidr);
  for (let j = 0; j < allPods.length; j++) {
    const { m: n, c } = allPods[j]!;
    for (let i = 0; i < j; i++) {
      const { m, c: d } = allPods[i]!;
      if (cidrsOverlap(c, d)) {
        bad(
          m === n
            ? `${n.at} pods ${c.text} overlaps its own pods ${d.text}: list each pod subnet once`
            : `${n.at} pods ${c.text} overlaps pods ${d.text} of ${m.at}: a pod address must route to exactly one node`,
        );
      }
    }
    for (const sub of subnets) if (cidrsOverlap(c, sub)) bad(`${n.at} pods ${c.text} overlaps the overlay subnet ${sub.text}: pod subnets and the overlay must be apart`);
    // The same rule as a single-node config's routes (validate.ts): a pod subnet is a route on every other node.
    const loop = routeLoop(c, nodes.map((m) => ({ ip: m.localIp, of: who(m.index, m.node) })));
    if (loop !== undefined) bad(`${n.at} pods ${c.text} ${loop}`);
  }

  const shared: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'version' && k !== 'nodes') shared[k] = v;
  const view = (m: Member): OverlayVni => ({ vni: m.vni ?? -1, ...(m.name === undefined ? {} : { name: m.name }), addr: m.addr, ip: m.ip, mac: m.mac, pods: m.podCidrs.map((c) => c.text) });
  return {
    file,
    subnet: first.members[0]!.addrCidr.text,
    nodes: nodes.map((n) => {
      const m0 = view(n.members[0]!);
      return Object.freeze({
        index: n.index,
        node: n.node,
        ...(n.cluster === undefined ? {} : { cluster: n.cluster }),
        local: n.local,
        addr: m0.addr,
        ip: m0.ip,
        mac: m0.mac,
        pods: m0.pods,
        ...(n.dev === undefined ? {} : { dev: n.dev }),
        ...(n.several ? { vnis: Object.freeze(n.members.map(view)) } : {}),
      });
    }),
    shared: Object.freeze(shared),
  };
}

/** Addresses configured on this network namespace's interfaces (what self-detection compares against). */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}

/**
 * Picks this node: by name (`--node NAME`), or else the one node whose underlay address is on this host.
 * @throws ConfigError
 */
export function selectNode(ov: Overlay, name: string | undefined, addrs: () => readonly string[] = hostAddresses): OverlayNode {
  if (name !== undefined) {
    const n = ov.nodes.find((x) => x.node === name);
    if (n === undefined) {
      throw new ConfigError(`--node ${name} is not in ${ov.file}: its nodes are ${ov.nodes.map((x) => x.node).join(', ')}`);
    }
    return n;
  }
  const mine = new Set(
    addrs().map((a) => {
      const ip = parseIpText(a);
      return typeof ip === 'string' ? a : ip.text;
    }),
  );
  const hits = ov.nodes.filter((n) => mine.has(n.local));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) {
    throw new ConfigError(
      `--config ${ov.file} describes ${ov.nodes.length} nodes and none of their underlay addresses (${ov.nodes.map((n) => n.local).join(', ')}) is on this host: say which node this is with --node NAME`,
    );
  }
  throw new ConfigError(`--config ${ov.file}: several nodes' underlay addresses are on this host (${hits.map((n) => `${n.node} ${n.local}`).join(', ')}): say which node this is with --node NAME`);
}

/** The derived tables of `self`: every other node's neighbour and FDB row, and a route for each of its pod subnets. */
export function deriveTables(ov: Overlay, self: OverlayNode): {
  neigh: { ip: string; mac: string; from: OverlayNode }[];
  fdb: { mac: string; dst: string; from: OverlayNode }[];
  route: { to: string; via: string; from: OverlayNode }[];
} {
  return deriveTablesIn(ov, self, undefined);
}

/**
 * The same for one VNI of a several-VNI overlay (`vni` undefined: a single-VNI overlay): only the nodes that
 * have a device in that VNI, with that device's addr, mac and pods.
 */
function deriveTablesIn(ov: Overlay, self: OverlayNode, vni: number | undefined): ReturnType<typeof deriveTables> {
  const others: { n: OverlayNode; d: { ip: string; mac: string; pods: readonly string[] } }[] = [];
  for (const n of ov.nodes) {
    if (n === self) continue;
    const d = vni === undefined ? n : n.vnis?.find((x) => x.vni === vni);
    if (d !== undefined) others.push({ n, d });
  }
  return {
    neigh: others.map(({ n, d }) => ({ ip: d.ip, mac: d.mac, from: n })),
    fdb: others.map(({ n, d }) => ({ mac: d.mac, dst: n.local, from: n })),
    route: others.flatMap(({ n, d }) => d.pods.map((p) => ({ to: p, via: d.ip, from: n }))),
  };
}

/**
 * The chosen node's settings as raw single-node values, for validate.ts's validation and defaults: the shared
 * top-level keys, the node's own `local`/`addr`/`mac`/`dev`, and the derived tables. Each value's origin
 * names where it came from, so a later refusal (e.g. a flag that contradicts a derived route) points there.
 * A node of a several-VNI overlay gets a `vnis:` list (raw.ts), one entry per device, as a single-node file
 * with vnis: would give it.
 */
export function overlayRaw(obj: Readonly<Record<string, unknown>>, file: string, node: string | undefined): RawUp {
  const ov = parseOverlay(obj, file);
  const self = selectNode(ov, node);
  const at = who(self.index, self.node);
  const raw = (value: unknown, key: string): RawValue => ({ value, origin: { key, file } });
  const scalars: Partial<Record<ScalarKey, RawValue>> = {};
  for (const k of SCALAR_KEYS) {
    const v = ov.shared[k];
    if (v !== undefined && v !== null) scalars[k] = raw(v, k);
  }
  scalars.local = raw(self.local, `${at} local`);
  if (self.dev !== undefined) scalars.dev = raw(self.dev, `${at} dev`);
  const from = (kind: string, m: OverlayNode): string => `${kind} (derived from ${who(m.index, m.node)})`;
  const tables = (t: ReturnType<typeof deriveTables>, addr: RawValue): RawUp['lists'] => ({
    addr: [addr],
    remote: [],
    fdb: t.fdb.map((f) => raw(`${f.mac}=${f.dst}`, from('fdb', f.from))),
    neigh: t.neigh.map((n) => raw(`${n.ip}=${n.mac}`, from('neigh', n.from))),
    route: t.route.map((r) => raw(`${r.to}=${r.via}`, from('route', r.from))),
  });
  if (self.vnis === undefined) {
    scalars.mac = raw(self.mac, `${at} mac`);
    return { scalars, lists: tables(deriveTablesIn(ov, self, undefined), raw(self.addr, `${at} addr`)) };
  }
  // The top level is shared by every node; its device keys (mtu, learning, ttl, ...) by every device.
  const perDevice: Partial<Record<DeviceScalarKey, RawValue>> = {};
  for (const k of DEVICE_SCALAR_KEYS) {
    const v = scalars[k];
    if (v !== undefined) {
      perDevice[k] = v;
      delete scalars[k];
    }
  }
  const none = { addr: [], remote: [], fdb: [], neigh: [], route: [] };
  return {
    scalars,
    lists: none,
    vnis: self.vnis.map((d, k) => {
      const where = `${at} vnis[${k}]`;
      return {
        where,
        file,
        scalars: { ...perDevice, vni: raw(d.vni, `${where} vni`), mac: raw(d.mac, `${where} mac`), ...(d.name === undefined ? {} : { name: raw(d.name, `${where} name`) }) },
        lists: tables(deriveTablesIn(ov, self, d.vni), raw(d.addr, `${where} addr`)),
      };
    }),
  };
}

/** `--node` without a whole-overlay file. */
export function nodeWithoutOverlay(node: string, file: string | undefined): UsageError {
  return new UsageError(
    file === undefined
      ? `--node ${node} needs --config FILE in the whole-overlay form (a file with a nodes: list); see docs/overlay.md`
      : `--node ${node}: --config ${file} describes one node (no nodes: list), so there is no node to pick`,
  );
}
