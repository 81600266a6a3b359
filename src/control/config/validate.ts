/**
 * Raw values (raw.ts) → a frozen `UpConfig`: steps 2 and 3 of the front end (config.ts).
 *
 *   2. validate  (a) per field: syntax and ranges, through values.ts (and grammar.ts behind it);
 *                (b) cross-field: address families, duplicates, routes and neighbours against `--addr`.
 *   3. resolve   defaults from defaults.ts. Values that depend on the host (random MAC, MTU from the
 *                underlay) stay undefined and are resolved at apply time.
 *
 * Separate from the readers (args.ts, file.ts, overlay.ts) because it does not care where a value came from:
 * a flag, a file key and a key derived from a whole-overlay file are checked by the same lines. Each raw
 * value's origin names it in a refusal, so nothing here needs to know which reader made it.
 *
 * Two halves, because one instance has settings of its own and settings of its device:
 *   validateShared()  the keys of the instance (one UDP socket, one I/O path, one metrics endpoint): dstport,
 *                     local, dev, io, offload, tx-path, srcport, checksums, reserved-bits, ...;
 *   validateDevice()  the keys of one device (one VNI and its TAP): vni, name, mac, mtu, learning, ageing, ttl,
 *                     tos, df and the tables addr, remote, fdb, neigh, route; its cross-field checks read the
 *                     shared settings they depend on (the underlay family, the I/O path, dstport).
 * So a configuration with several devices validates the shared keys once and each device by one call.
 * Because the shared keys are checked first, a command line with a bad shared value and a bad device
 * value is refused for the shared one.
 *
 * Duplicates: an entry that repeats another one exactly (same --addr, --remote, --neigh, --route or
 * --fdb row) is dropped silently. That is what `bridge fdb append` does for an existing row, and it makes
 * "flags add to the file's lists" safe when a wrapper repeats what the file already says. An entry that
 * contradicts another one (one neighbour IP with two MACs, one route with two gateways, one address with
 * two prefix lengths) is refused.
 */
import type { FdbSpec, IoMode, NeighSpec, RawValue as Raw, RouteSpec, TxPath, UpConfig } from './config-types.js';
import {
  AGEING_MAX,
  AGEING_MIN,
  DEFAULT_DSTPORT,
  DEFAULT_IO,
  DEFAULT_NAME,
  DEFAULT_OFFLOAD,
  DEFAULT_QUIET,
  IO_MODES,
  MTU_MAX_IPV4_UNDERLAY,
  MTU_MAX_IPV6_UNDERLAY,
  MTU_MIN_IPV4,
  MTU_MIN_IPV6,
  OFFLOAD_MODES,
  PORT_MAX,
  PORT_MIN,
  TOS_MAX,
  TOS_MIN,
  TTL_MAX,
  TTL_MIN,
  TX_PATHS,
  VNI_MAX,
  VNI_MIN,
  VNIS_MAX,
  VNIS_NAME_PREFIX,
  VXLAN_OVERHEAD_IPV6,
} from './defaults.js';
import { ConfigError, UsageError } from './errors.js';
import {
  defaultDestinationOwnPortOrVni,
  inCidr,
  listCidrs,
  NEIGHBOUR_IS_SELF,
  neighbourOffLink,
  PEER_IS_SELF,
  routeLoop,
  VNI_LIMIT,
  type Family,
  type Ip,
  type Mac,
} from './grammar.js';
import { DEVICE_KEYS, LIST_KEYS, type RawDevice, type RawUp, type RawVnisEntry, type SharedKey } from './raw.js';
import {
  addrItem,
  bool,
  fail,
  failFlag,
  fdbItem,
  ifname,
  int,
  metricsAddr,
  MTU_LIMIT,
  neighItem,
  PORT_LIMIT,
  reservedBits,
  routeItem,
  str,
  subject,
  underlayIp,
  unicastMac,
  ZERO_MAC,
  type AddrItem,
  type FdbItem,
  type IpItem,
  type NeighItem,
  type RouteItem,
} from './values.js';
import { VXLAN_RESERVED_HI, VXLAN_RESERVED_LO } from '../../wire/vxlan.js';

/**
 * Validate and resolve a one-device configuration (the command line, a single-node file, or one node of a
 * whole-overlay file, merged). @throws UsageError | ConfigError
 */
export function validateUp(raw: RawUp): UpConfig {
  if (raw.vnis !== undefined) return validateVnis(raw, raw.vnis);
  const vni = raw.scalars.vni;
  if (vni === undefined) {
    throw new UsageError(
      `--vni is required: give the VXLAN Network Identifier (${VNI_MIN}..${VNI_MAX}) on the command line or as 'vni:' in the --config file`,
    );
  }
  const shared = validateShared(raw);
  const device = validateDevice({ scalars: { ...raw.scalars, vni }, lists: raw.lists }, shared);
  return resolveDefaults(shared, device);
}

/**
 * A file with a `vnis:` list: the shared keys once, then each entry as one device. Refused, naming the entry:
 * a missing vni, two devices with one VNI or one name, more than VNIS_MAX devices, and the command line's
 * device flags (whose device would they be?). The result is the first device's config, with every device's
 * complete config (shared keys copied in) in `vnis`.
 */
function validateVnis(raw: RawUp, entries: readonly RawVnisEntry[]): UpConfig {
  for (const key of Object.keys(raw.scalars) as (keyof RawUp['scalars'])[]) {
    const r = raw.scalars[key]!;
    if ((DEVICE_KEYS as readonly string[]).includes(key)) failFlag(r, `cannot be combined with the vnis: list of ${entries[0]!.file}: give it inside the device's entry`);
  }
  for (const key of LIST_KEYS) {
    const r = raw.lists[key][0];
    if (r !== undefined) failFlag(r, `cannot be combined with the vnis: list of ${entries[0]!.file}: give it inside the device's entry`);
  }
  const file = entries[0]!.file;
  if (entries.length > VNIS_MAX) throw new ConfigError(`--config ${file}: vnis has ${entries.length} devices: one process holds at most ${VNIS_MAX}`);
  const shared = validateShared(raw);
  const s = shared.fields;
  if (s.io === 'dgram') throw new ConfigError(`--config ${file}: a vnis: list needs --io native: the devices share sockets, so each datagram carries its own TOS and TTL, which node:dgram cannot send`);
  if (s.pcap !== undefined) throw new ConfigError(`--config ${file}: pcap with a vnis: list is not supported: the capture file holds one TAP interface (use --trace, or one process per VNI)`);
  const byVni = new Map<number, string>();
  const byName = new Map<string, string>();
  const out: UpConfig[] = [];
  const families = new Set<number>();
  for (const e of entries) {
    const vni = e.scalars.vni;
    if (vni === undefined) throw new ConfigError(`--config ${file}: ${e.where} has no vni: each device needs its VNI (${VNI_MIN}..${VNI_MAX})`);
    const device = validateDevice({ scalars: { ...e.scalars, vni }, lists: e.lists }, shared);
    const f = device.fields;
    const name = f.name ?? `${VNIS_NAME_PREFIX}${f.vni}`;
    const who = `${e.where} (${name})`;
    const vniOwner = byVni.get(f.vni);
    if (vniOwner !== undefined) throw new ConfigError(`--config ${file}: ${who} has VNI ${f.vni}, which ${vniOwner} has already: one UDP port demultiplexes by VNI, so each device needs its own`);
    const nameOwner = byName.get(name);
    if (nameOwner !== undefined) throw new ConfigError(`--config ${file}: ${who} has the name of ${nameOwner}: each device needs its own TAP name`);
    byVni.set(f.vni, who);
    byName.set(name, who);
    out.push(Object.freeze({ ...resolveDefaults(shared, device), name }));
    for (const r of [...device.remote, ...device.fdb]) families.add(r.ip.family);
  }
  // One socket carries them all: one underlay family (without --local, each device's remotes tell it).
  if (families.size > 1) throw new ConfigError(`--config ${file}: the devices of vnis: mix IPv4 and IPv6 remotes: they share one UDP socket, so give them one underlay family`);
  return Object.freeze({ ...out[0]!, vnis: Object.freeze(out) });
}

const opt = <T>(r: Raw | undefined, f: (r: Raw) => T): T | undefined => (r === undefined ? undefined : f(r));

function conflict(a: Raw, b: Raw, why: string): never {
  throw new ConfigError(`${subject(b)} conflicts with ${subject(a)}: ${why}`);
}

// ─────────────────────────────────────────── the instance's keys ───────────────────────────────────────────

interface SharedFields {
  readonly dstport?: number;
  readonly local?: IpItem;
  readonly dev?: string;
  readonly io?: IoMode;
  readonly offload?: 'on' | 'off';
  readonly txPath?: { readonly raw: Raw; readonly value: TxPath };
  readonly peersOnly?: boolean;
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly trace?: boolean;
  readonly pcap?: string;
  readonly quiet?: boolean;
  readonly udpcsum?: { readonly raw: Raw; readonly value: boolean };
  readonly udp6zerocsumtx?: { readonly raw: Raw; readonly value: boolean };
  readonly udp6zerocsumrx?: { readonly raw: Raw; readonly value: boolean };
  readonly srcport?: { readonly raw: Raw; readonly min: number; readonly max: number };
  readonly reservedBits?: { readonly hi: number; readonly lo: number };
}

/** The instance's keys, checked on their own and against each other; what validateDevice() reads of them. */
export interface Shared {
  readonly fields: SharedFields;
  /** `dstport` resolved: a device's FDB rows without a port of their own use it. */
  readonly dstport: number;
}

/** Step 2a and 2b for the keys of the instance. @throws ConfigError */
export function validateShared(raw: { readonly scalars: Partial<Record<SharedKey, Raw>> }): Shared {
  const f = sharedFields(raw.scalars);
  // node:dgram sets no per-socket checksum options and has no sendmmsg: refuse, don't ignore.
  if (f.io === 'dgram') {
    const csum = [f.udpcsum?.value === false ? f.udpcsum : undefined, f.udp6zerocsumtx?.value === true ? f.udp6zerocsumtx : undefined, f.udp6zerocsumrx?.value === true ? f.udp6zerocsumrx : undefined];
    for (const o of csum) if (o !== undefined) failFlag(o.raw, 'needs --io native: node:dgram cannot change UDP checksum behaviour');
    if (f.srcport !== undefined) fail(f.srcport.raw, 'needs --io native: the source-port pool sends with sendmmsg from several sockets');
    if (f.txPath?.value === 'tap') fail(f.txPath.raw, 'needs --io native: the tunnel send path takes TAP super-frames, which the dgram path never reads');
  }
  if (f.txPath?.value === 'tap' && f.offload === 'off') {
    fail(f.txPath.raw, 'needs --offload on: without TAP TSO there are no super-frames to send whole');
  }
  return { fields: f, dstport: f.dstport ?? DEFAULT_DSTPORT };
}

function sharedFields(s: Partial<Record<SharedKey, Raw>>): SharedFields {
  return {
    dstport: opt(s.dstport, (r) => int(r, PORT_MIN, PORT_MAX, PORT_LIMIT)),
    local: opt(s.local, (r) => ({ raw: r, ip: underlayIp(r, str(r)) })),
    dev: opt(s.dev, ifname),
    io: opt(s.io, (r) => {
      const v = str(r);
      if (!(IO_MODES as readonly string[]).includes(v)) fail(r, `is not an I/O mode: use ${IO_MODES.join(' or ')}`);
      return v as IoMode;
    }),
    offload: opt(s.offload, (r) => {
      const v = str(r);
      if (!(OFFLOAD_MODES as readonly string[]).includes(v)) fail(r, `is not an offload mode: use ${OFFLOAD_MODES.join(' or ')}`);
      return v as 'on' | 'off';
    }),
    txPath: opt(s['tx-path'], (r) => {
      const v = str(r);
      if (!(TX_PATHS as readonly string[]).includes(v)) fail(r, `is not a send path: use ${TX_PATHS.join(', ')}`);
      return { raw: r, value: v as TxPath };
    }),
    peersOnly: opt(s['peers-only'], bool),
    metrics: opt(s.metrics, metricsAddr),
    trace: opt(s.trace, bool),
    pcap: opt(s.pcap, (r) => {
      const v = str(r);
      if (v === '') fail(r, 'is empty: give the pcapng file to write');
      return v;
    }),
    quiet: opt(s.quiet, bool),
    udpcsum: opt(s.udpcsum, (r) => ({ raw: r, value: bool(r) })),
    udp6zerocsumtx: opt(s.udp6zerocsumtx, (r) => ({ raw: r, value: bool(r) })),
    udp6zerocsumrx: opt(s.udp6zerocsumrx, (r) => ({ raw: r, value: bool(r) })),
    // `--srcport MIN-MAX`, both inclusive (the kernel's `srcport MIN MAX` excludes MAX).
    srcport: opt(s.srcport, (r) => {
      const m = /^(\d{1,5})-(\d{1,5})$/.exec(str(r));
      if (m === null) fail(r, 'is not a port range: write MIN-MAX, e.g. 32768-60999');
      const min = int(r, PORT_MIN, PORT_MAX, PORT_LIMIT, { name: 'minimum', value: m[1] });
      const max = int(r, PORT_MIN, PORT_MAX, PORT_LIMIT, { name: 'maximum', value: m[2] });
      if (min > max) fail(r, `has its minimum above its maximum`);
      return { raw: r, min, max };
    }),
    reservedBits: opt(s['reserved-bits'], reservedBits),
  };
}

// ──────────────────────────────────────────── one device's keys ────────────────────────────────────────────

interface DeviceFields {
  readonly vni: number;
  readonly name?: string;
  readonly mac?: Mac;
  readonly mtu?: { readonly raw: Raw; readonly value: number };
  readonly learning?: boolean;
  readonly ageing?: number;
  readonly ttl?: { readonly raw: Raw; readonly value: number | 'inherit' };
  readonly tos?: { readonly raw: Raw; readonly value: number | 'inherit' };
  readonly df?: { readonly raw: Raw; readonly value: 'set' | 'unset' | 'inherit' };
  readonly addr: readonly AddrItem[];
  readonly remote: readonly IpItem[];
  readonly fdb: readonly FdbItem[];
  readonly neigh: readonly NeighItem[];
  readonly route: readonly RouteItem[];
}

/** One device, checked: its tables deduplicated, the all-zeros FDB rows moved to `remote`. */
export interface Device {
  readonly fields: DeviceFields;
  readonly addr: readonly AddrItem[];
  readonly remote: readonly IpItem[];
  readonly fdb: readonly FdbItem[];
  readonly neigh: readonly NeighItem[];
  readonly route: readonly RouteItem[];
}

/** Step 2a and 2b for the keys of one device, against the instance's `shared` keys. @throws ConfigError */
export function validateDevice(raw: RawDevice, shared: Shared): Device {
  return checkDevice(deviceFields(raw), shared);
}

function deviceFields(raw: RawDevice): DeviceFields {
  const s = raw.scalars;
  const vni = int(s.vni, VNI_MIN, VNI_MAX, VNI_LIMIT);
  const mtu = opt(s.mtu, (r) => ({ raw: r, value: int(r, MTU_MIN_IPV4, MTU_MAX_IPV4_UNDERLAY, MTU_LIMIT) }));
  return {
    vni,
    name: opt(s.name, ifname),
    mac: opt(s.mac, (r) => unicastMac(r, str(r))),
    mtu,
    learning: opt(s.learning, bool),
    // The kernel's IFLA_VXLAN_AGEING is a u32 of seconds; 0 means "never age".
    ageing: opt(s.ageing, (r) => int(r, AGEING_MIN, AGEING_MAX, `ageing is ${AGEING_MIN}..${AGEING_MAX} seconds (0 = never)`)),
    // Outer header fields. `inherit` copies the inner packet's (an IP_TTL / IPV6_HOPLIMIT control message per
    // datagram); `auto` is the default, written as no --ttl.
    ttl: opt(s.ttl, (r): { raw: Raw; value: number | 'inherit' } => {
      if (r.value === 'inherit') return { raw: r, value: 'inherit' };
      if (r.value === 'auto') fail(r, `is the default: leave --ttl out for the route's hop limit (normally 64), or give ${TTL_MIN}..${TTL_MAX} or inherit`);
      return { raw: r, value: int(r, TTL_MIN, TTL_MAX, `an IP TTL is ${TTL_MIN}..${TTL_MAX} or inherit`) };
    }),
    tos: opt(s.tos, (r): { raw: Raw; value: number | 'inherit' } => {
      if (r.value === 'inherit') return { raw: r, value: 'inherit' };
      return { raw: r, value: int(r, TOS_MIN, TOS_MAX, `a TOS byte is ${TOS_MIN}..${TOS_MAX}`) };
    }),
    df: opt(s.df, (r) => {
      const v = str(r);
      if (v !== 'set' && v !== 'unset' && v !== 'inherit') fail(r, 'is not a DF mode: use set, unset or inherit');
      return { raw: r, value: v as 'set' | 'unset' | 'inherit' };
    }),
    addr: raw.lists.addr.map(addrItem),
    remote: raw.lists.remote.map((r) => ({ raw: r, ip: underlayIp(r, str(r)) })),
    fdb: raw.lists.fdb.map(fdbItem),
    neigh: raw.lists.neigh.map(neighItem),
    route: raw.lists.route.map(routeItem),
  };
}

function checkDevice(f: DeviceFields, shared: Shared): Device {
  const s = shared.fields;
  const dstport = shared.dstport;
  // node:dgram sets no per-socket TTL/TOS for unicast sends and has no IP_MTU_DISCOVER: refuse, don't ignore.
  if (s.io === 'dgram') {
    for (const o of [f.ttl, f.tos, f.df]) if (o !== undefined) fail(o.raw, 'needs --io native: node:dgram cannot set the outer TTL, TOS or DF bit');
  }

  // --fdb 00:00:00:00:00:00=IP is the kernel's way to write a default destination, i.e. --remote IP.
  // `remote` is the one place default destinations live, so the entry moves there; it cannot keep a port or
  // VNI of its own (a default destination uses --dstport and --vni).
  const remoteItems: IpItem[] = [...f.remote];
  const fdbRows: FdbItem[] = [];
  for (const e of f.fdb) {
    if (e.mac.mac !== ZERO_MAC) {
      fdbRows.push(e);
      continue;
    }
    const own = defaultDestinationOwnPortOrVni(e.port, e.vni, dstport, f.vni);
    if (own !== undefined) fail(e.raw, own);
    remoteItems.push({ raw: e.raw, ip: e.ip });
  }

  // One instance sends from one UDP socket, so the underlay is one address family.
  const underlay: IpItem[] = [
    ...(s.local ? [s.local] : []),
    ...remoteItems,
    ...fdbRows.map((e) => ({ raw: e.raw, ip: e.ip })),
  ];
  const first = underlay[0];
  for (const u of underlay) {
    if (first !== undefined && u.ip.family !== first.ip.family) {
      conflict(
        first.raw,
        u.raw,
        `the underlay is IPv${first.ip.family} there and IPv${u.ip.family} here, and one instance sends from one socket, so all underlay addresses must be one family`,
      );
    }
  }
  if (s.local) {
    for (const u of underlay.slice(1)) {
      if (u.ip.text === s.local.ip.text) conflict(s.local.raw, u.raw, PEER_IS_SELF);
    }
  }
  const underlayFamily: Family = first?.ip.family ?? 4;
  const underlayOwners = underlay.map((u) => ({ ip: u.ip, of: u.raw.origin.file === undefined ? `--${u.raw.origin.key}` : `${u.raw.origin.key} in ${u.raw.origin.file}` }));
  // The kernel's udpcsum applies to an IPv4 underlay, udp6zerocsumtx/rx to IPv6 (RFC 6935): a flag for the
  // other family would do nothing, so it is refused.
  if (underlayFamily === 6 && s.udpcsum?.value === false) failFlag(s.udpcsum.raw, 'is for an IPv4 underlay: IPv6 sends UDP checksums unless --udp6zerocsumtx');
  for (const o of [s.udp6zerocsumtx, s.udp6zerocsumrx]) {
    if (underlayFamily === 4 && o?.value === true) failFlag(o.raw, 'is for an IPv6 underlay: on IPv4 use --noudpcsum');
  }

  // Remotes: dedupe, keep order.
  const remote: IpItem[] = [];
  for (const r of remoteItems) if (!remote.some((x) => x.ip.text === r.ip.text)) remote.push(r);

  // FDB: an exact repeat (same MAC, IP, effective port and VNI) is dropped, as `bridge fdb append` does;
  // the same MAC with several destinations is a list of remotes, as in the kernel.
  const fdb: FdbItem[] = [];
  const fdbKey = (e: FdbItem): string => `${e.mac.mac}|${e.ip.text}|${e.port ?? dstport}|${e.vni ?? f.vni}`;
  for (const e of fdbRows) if (!fdb.some((x) => fdbKey(x) === fdbKey(e))) fdb.push(e);

  // Addresses: an exact repeat is dropped; the same address with another prefix length is refused.
  const addr: AddrItem[] = [];
  for (const a of f.addr) {
    const same = addr.find((x) => x.cidr.ip.text === a.cidr.ip.text);
    if (same === undefined) addr.push(a);
    else if (same.cidr.prefix !== a.cidr.prefix) conflict(same.raw, a.raw, 'one address, two prefix lengths');
  }
  const ownAddr = (ip: Ip): AddrItem | undefined => addr.find((a) => a.cidr.ip.text === ip.text);
  const subnets = (fam: Family): AddrItem[] => addr.filter((a) => a.cidr.ip.family === fam);
  const listSubnets = (items: AddrItem[]): string => listCidrs(items.map((a) => a.cidr));

  // Neighbours: one IP, one MAC. A neighbour outside every --addr subnet would never be asked for (the
  // kernel ARPs only for on-link addresses), so it is refused; with no --addr of its family we cannot tell
  // (the addresses may be assigned by something else), so it is accepted.
  const neigh: NeighItem[] = [];
  for (const n of f.neigh) {
    const same = neigh.find((x) => x.ip.text === n.ip.text);
    if (same !== undefined) {
      if (same.mac.mac !== n.mac.mac) conflict(same.raw, n.raw, `one neighbour IP cannot have two MACs`);
      continue;
    }
    const own = ownAddr(n.ip);
    if (own) conflict(own.raw, n.raw, NEIGHBOUR_IS_SELF);
    const offLink = neighbourOffLink(n.ip, addr.map((a) => a.cidr));
    if (offLink !== undefined) fail(n.raw, offLink);
    neigh.push(n);
  }

  // Routes: the kernel refuses a gateway that is not on a connected subnet ("Nexthop has invalid gateway"),
  // so a route needs an --addr whose subnet holds the gateway (IPv6 link-local gateways are always on-link).
  const route: RouteItem[] = [];
  for (const r of f.route) {
    const same = route.find((x) => x.to.network.text === r.to.network.text && x.to.prefix === r.to.prefix);
    if (same !== undefined) {
      if (same.via.text !== r.via.text) conflict(same.raw, r.raw, 'one destination, two gateways (multipath routes are not supported)');
      continue;
    }
    const linkLocal6 = r.via.family === 6 && r.via.addr.range() === 'linkLocal';
    const nets = subnets(r.via.family);
    if (!linkLocal6) {
      if (nets.length === 0) {
        fail(r.raw, `needs an IPv${r.via.family} --addr on the device: the gateway must be on a connected subnet`);
      }
      if (!nets.some((a) => inCidr(r.via, a.cidr))) {
        fail(
          r.raw,
          `has a gateway ${r.via.text} outside every --addr subnet (${listSubnets(nets)}): the kernel would refuse it ("Nexthop has invalid gateway")`,
        );
      }
    }
    const own = ownAddr(r.via);
    if (own) conflict(own.raw, r.raw, "the gateway cannot be this node's own address (the kernel says \"Nexthop has invalid gateway\")");
    // The same rule as an overlay's pod subnets (overlay.ts): the tunnel's own datagrams must not be routed into it.
    const loop = routeLoop(r.to, underlayOwners);
    if (loop !== undefined) fail(r.raw, loop);
    route.push(r);
  }

  // MTU: the field check used the IPv4 bounds; an IPv6 underlay has 20 more bytes of headers, and an IPv6
  // address on the device needs the IPv6 minimum link MTU.
  if (f.mtu) {
    if (underlayFamily === 6 && f.mtu.value > MTU_MAX_IPV6_UNDERLAY) {
      fail(
        f.mtu.raw,
        `is too large for an IPv6 underlay: at most ${MTU_MAX_IPV6_UNDERLAY} (65535 minus ${VXLAN_OVERHEAD_IPV6} bytes of VXLAN encapsulation)`,
      );
    }
    const v6 = addr.find((a) => a.cidr.ip.family === 6);
    if (v6 && f.mtu.value < MTU_MIN_IPV6) {
      fail(f.mtu.raw, `is below ${MTU_MIN_IPV6}, the IPv6 minimum link MTU (RFC 8200), and ${subject(v6.raw)} is IPv6`);
    }
  }

  return { fields: f, addr, remote, fdb, neigh, route };
}

// ─────────────────────────────────────── step 3: resolve defaults ───────────────────────────────────────

function resolveDefaults(shared: Shared, d: Device): UpConfig {
  const s = shared.fields;
  const f = d.fields;
  const fdb: FdbSpec[] = d.fdb.map((e) =>
    Object.freeze({
      mac: e.mac.mac,
      macNum: e.mac.macNum,
      ip: e.ip.text,
      ...(e.port === undefined ? {} : { port: e.port }),
      ...(e.vni === undefined ? {} : { vni: e.vni }),
    }),
  );
  const neigh: NeighSpec[] = d.neigh.map((n) => Object.freeze({ ip: n.ip.text, mac: n.mac.mac, macNum: n.mac.macNum }));
  const route: RouteSpec[] = d.route.map((r) => Object.freeze({ cidr: `${r.to.network.text}/${r.to.prefix}`, gateway: r.via.text }));
  const config: UpConfig = {
    vni: f.vni,
    name: f.name ?? DEFAULT_NAME,
    dstport: shared.dstport,
    ...(s.local === undefined ? {} : { local: s.local.ip.text }),
    ...(s.dev === undefined ? {} : { dev: s.dev }),
    ...(f.mac === undefined ? {} : { mac: f.mac.mac }),
    addr: Object.freeze(d.addr.map((a) => a.text)),
    ...(f.mtu === undefined ? {} : { mtu: f.mtu.value }),
    remote: Object.freeze(d.remote.map((r) => r.ip.text)),
    fdb: Object.freeze(fdb),
    neigh: Object.freeze(neigh),
    route: Object.freeze(route),
    io: s.io ?? DEFAULT_IO,
    offload: s.offload ?? DEFAULT_OFFLOAD,
    ...(s.txPath === undefined ? {} : { txPath: s.txPath.value }),
    quiet: s.quiet ?? DEFAULT_QUIET,
    peersOnly: s.peersOnly ?? false,
    // Present only when set (defaults.ts DEFAULT_LEARNING / DEFAULT_AGEING apply otherwise, in instance.ts).
    ...(f.learning === true ? { learning: true } : {}),
    ...(f.ageing === undefined ? {} : { ageing: f.ageing }),
    ...(f.ttl === undefined ? {} : { ttl: f.ttl.value }),
    ...(f.tos === undefined ? {} : { tos: f.tos.value }),
    ...(f.df === undefined ? {} : { df: f.df.value }),
    // Present only when they differ from the kernel's defaults (udpcsum on, IPv6 zero checksums off).
    ...(s.udpcsum?.value === false ? { udpcsum: false } : {}),
    ...(s.udp6zerocsumtx?.value === true ? { udp6zerocsumtx: true } : {}),
    ...(s.udp6zerocsumrx?.value === true ? { udp6zerocsumrx: true } : {}),
    ...(s.srcport === undefined ? {} : { srcport: Object.freeze({ min: s.srcport.min, max: s.srcport.max }) }),
    // Present only when it differs from the default mask (only I and the VNI may be set).
    ...(s.reservedBits === undefined || (s.reservedBits.hi === VXLAN_RESERVED_HI && s.reservedBits.lo === VXLAN_RESERVED_LO)
      ? {}
      : { reservedBits: Object.freeze({ ...s.reservedBits }) }),
    ...(s.metrics === undefined ? {} : { metrics: Object.freeze({ ...s.metrics }) }),
    ...(s.trace === true ? { trace: true } : {}),
    ...(s.pcap === undefined ? {} : { pcap: s.pcap }),
  };
  return Object.freeze(config);
}
