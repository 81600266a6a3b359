/**
 * One raw value (raw.ts) → a checked value, and the wording of every refusal of one: the per-field step of
 * validation (syntax and ranges) for flags and file keys alike.
 *
 * Separate from validate.ts, which says which keys a configuration has and what they must satisfy together,
 * because this is the part both the shared keys and each device's keys read through, and the part file.ts
 * words its own refusals with (`show`, `describeType`). Addresses, prefixes and rows are read by grammar.ts,
 * as every other entry point reads them; this module puts the value's origin in front of the grammar's words.
 *
 * Every refusal is one sentence, thrown as ConfigError (ECONFIG), naming the value where it was written:
 * `--vni 16777216 is ...` for a flag, `vni 16777216 in node.yaml is ...` for a file key.
 */
import type { RawValue as Raw } from './config-types.js';
import {
  IFNAME_MAX,
  IFNAMSIZ,
  MTU_MAX_IPV4_UNDERLAY,
  MTU_MAX_IPV6_UNDERLAY,
  MTU_MIN_IPV4,
  PORT_MAX,
  PORT_MIN,
  VNI_MAX,
  VNI_MIN,
  VXLAN_OVERHEAD_IPV4,
} from './defaults.js';
import { ConfigError } from './errors.js';
import {
  FDB_FORM,
  isRefusal,
  parseCidr,
  parseFdbMac,
  parseHostIp,
  parseInterfaceAddr,
  parseIp,
  parseUnderlayIp,
  parseUnicastMac,
  phrase,
  portLimit,
  type Refusal,
  splitFdbDst,
  VNI_LIMIT,
  wholeNumber,
  type Cidr,
  type Ip,
  type Mac,
} from './grammar.js';
import { VXLAN_RESERVED_HI, VXLAN_RESERVED_LO, VXLAN_USED_HI, VXLAN_USED_LO, vxlanReservedFormat, vxlanReservedParse } from '../../wire/vxlan.js';

/**
 * Render a value for a message: bare when unambiguous, quoted otherwise. In a file a type is visible, so
 * `typed` also quotes strings that read like another type (`version: "1"`, `quiet: yes`).
 */
export function show(v: unknown, typed = false): string {
  if (typeof v === 'string') {
    const ambiguous = typed && /^([+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?|0x[0-9a-f]+|0o[0-7]+|true|false|yes|no|on|off|null|~)$/i.test(v);
    return v !== '' && !ambiguous && /^[^\s'"]+$/.test(v) ? v : JSON.stringify(v);
  }
  if (v === undefined) return 'nothing';
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    // A file entry in YAML flow style, as the user wrote it: {mac: 7a:3a:fe:45:a3:76, dst: 192.168.0.31}
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x, true)}`).join(', ')}}`;
  }
  return JSON.stringify(v) ?? String(v);
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${show(v)}`;
}

/** The subject of an error sentence: `--vni 16777216`, or `vni 16777216 in node.yaml`. */
export function subject(raw: Raw): string {
  const { key, file } = raw.origin;
  return file === undefined ? `--${key} ${show(raw.value)}` : `${key} ${show(raw.value, true)} in ${file}`;
}

export function fail(raw: Raw, problem: string): never {
  throw new ConfigError(`${subject(raw)} ${problem}`);
}

/**
 * Refuse `raw` for what the grammar found wrong with `text`, a part of it or the whole value:
 * `--mac 01:... is a multicast MAC address: ...`, `--neigh IP=01:... has a multicast MAC address 01:...: ...`.
 */
function refuse(raw: Raw, text: string, r: Refusal): never {
  fail(raw, phrase(r, text, raw.value === text));
}

/** The grammar's value, or a refusal of `raw`. */
function must<T>(raw: Raw, text: string, v: T | Refusal): T {
  if (isRefusal(v)) refuse(raw, text, v);
  return v;
}

export function str(raw: Raw): string {
  if (typeof raw.value !== 'string') fail(raw, `must be a string, not ${describeType(raw.value)}`);
  return raw.value;
}

/** fail() for an on/off flag: `--noudpcsum ...` rather than `--noudpcsum false ...`. */
export function failFlag(raw: Raw, problem: string): never {
  if (raw.origin.file !== undefined) fail(raw, problem);
  throw new ConfigError(`--${raw.origin.key} ${problem}`);
}

export function bool(raw: Raw): boolean {
  if (typeof raw.value !== 'boolean') fail(raw, 'must be true or false');
  return raw.value;
}

/**
 * A whole number from a flag (decimal digits) or a file (an integer, or a string of decimal digits).
 * `part` names a piece of a compound entry (the port of an --fdb row); by default the whole value is meant.
 */
export function int(raw: Raw, min: number, max: number, limit: string, part?: { name: string; value: unknown }): number {
  const value = part === undefined ? raw.value : part.value;
  const what = part === undefined ? 'is' : `has ${part.name} ${show(value, raw.origin.file !== undefined)},`;
  const n = wholeNumber(value, min, max);
  if (typeof n === 'string') fail(raw, `${what} ${n}: ${limit}`);
  return n;
}

export const PORT_LIMIT = portLimit('UDP');
export const MTU_LIMIT =
  `the MTU is ${MTU_MIN_IPV4}..${MTU_MAX_IPV4_UNDERLAY} with an IPv4 underlay ` +
  `(65535 minus ${VXLAN_OVERHEAD_IPV4} bytes of VXLAN encapsulation; ${MTU_MAX_IPV6_UNDERLAY} with IPv6)`;

/** Linux interface name rules (net/core/dev.c dev_valid_name()), plus no '%' (no name templates). */
export function ifname(raw: Raw): string {
  const name = str(raw);
  if (name === '') fail(raw, 'is empty: an interface name needs at least one character');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > IFNAME_MAX) {
    fail(raw, `is ${bytes} bytes long: a Linux interface name is at most ${IFNAME_MAX} (IFNAMSIZ ${IFNAMSIZ} with the NUL)`);
  }
  if (name === '.' || name === '..') fail(raw, "is not a valid interface name: '.' and '..' are reserved");
  if (/[/:\s]/.test(name)) fail(raw, "is not a valid interface name: it may not contain '/', ':' or whitespace");
  if (name.includes('%')) fail(raw, "is not a valid interface name: '%' (a kernel name template) is not supported");
  return name;
}

/** `--metrics ADDR:PORT` (IPv6 as `[ADDR]:PORT`; `:PORT` = every address): where the Prometheus endpoint listens. */
export function metricsAddr(raw: Raw): { host: string; port: number } {
  const text = str(raw);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):([^:]+)$/.exec(text);
  if (m === null) fail(raw, 'is not ADDR:PORT: write e.g. 127.0.0.1:9470, [::1]:9470 or :9470 (every address)');
  const hostText = m[1] ?? m[2] ?? '';
  const port = int(raw, PORT_MIN, PORT_MAX, portLimit('TCP'), { name: 'port', value: m[3] });
  if (hostText === '') return { host: '0.0.0.0', port };
  const ip = must(raw, hostText, parseIp(hostText));
  if (m[1] === undefined && ip.family === 6) fail(raw, `has an IPv6 address without brackets: write [${ip.text}]:${port}`);
  return { host: ip.text, port };
}

/**
 * `--reserved-bits MASK`, the kernel's `reserved_bits`: the VXLAN header bits a datagram must have clear, as
 * `0x` and up to 16 hex digits (wire/vxlan.ts). Like the kernel (vxlan_nl2conf), a mask that marks the I flag
 * or a VNI bit reserved is refused: those bits are always in use. In a file the mask must be quoted when it
 * does not fit a YAML number exactly.
 */
export function reservedBits(raw: Raw): { hi: number; lo: number } {
  let text: string;
  if (typeof raw.value === 'number') {
    if (!Number.isSafeInteger(raw.value) || raw.value < 0) fail(raw, "is not exact as a YAML number: quote the mask, e.g. reserved-bits: '0xf7ffffff000000ff'");
    text = `0x${raw.value.toString(16)}`;
  } else text = str(raw);
  const m = vxlanReservedParse(text);
  if (m === undefined) fail(raw, `is not a 64-bit hex mask: write 0x and up to 16 hex digits, e.g. the default ${vxlanReservedFormat(VXLAN_RESERVED_HI, VXLAN_RESERVED_LO)}`);
  if ((m.hi & VXLAN_USED_HI) !== 0 || (m.lo & VXLAN_USED_LO) >>> 0 !== 0) {
    fail(raw, `marks the I flag or VNI bits reserved (${vxlanReservedFormat(VXLAN_USED_HI, VXLAN_USED_LO)}), which every datagram uses: clear those bits`);
  }
  return m;
}

// Addresses: the grammar's rules (grammar.ts), worded for a flag or a file key -------------------------------------

export const ZERO_MAC = '00:00:00:00:00:00';

/** A MAC that stands for one station: a device address or a neighbour's lladdr. */
export const unicastMac = (raw: Raw, text: string): Mac => must(raw, text, parseUnicastMac(text));
const hostIp = (raw: Raw, text: string, what = ''): Ip => must(raw, text, parseHostIp(text, what));
/** An underlay address (local, remote, FDB destination). */
export const underlayIp = (raw: Raw, text: string): Ip => must(raw, text, parseUnderlayIp(text));
const cidrOf = (raw: Raw, text: string, minPrefix: number, example: string): Cidr => must(raw, text, parseCidr(text, minPrefix, example));

// Repeatable entries ----------------------------------------------------------------------------------------

/** Split `LEFT=RIGHT` at the first '='. */
function splitPair(raw: Raw, text: string, form: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq < 0) fail(raw, `is malformed: expected ${form}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** Check an object entry's keys: the required ones present, no others. */
function objectEntry(raw: Raw, required: readonly string[], optional: readonly string[], form: string): Record<string, unknown> {
  const v = raw.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail(raw, `is malformed: expected ${form}`);
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) {
      fail(raw, `has an unknown key '${k}': an entry has ${[...required, ...optional.map((x) => `${x} (optional)`)].join(', ')}`);
    }
  }
  for (const k of required) if (o[k] === undefined || o[k] === null) fail(raw, `lacks the key '${k}': expected ${form}`);
  return o;
}

export interface AddrItem {
  readonly raw: Raw;
  readonly cidr: Cidr;
  readonly text: string;
}
export interface FdbItem {
  readonly raw: Raw;
  readonly mac: Mac;
  readonly ip: Ip;
  readonly port?: number;
  readonly vni?: number;
}
export interface NeighItem {
  readonly raw: Raw;
  readonly ip: Ip;
  readonly mac: Mac;
}
export interface RouteItem {
  readonly raw: Raw;
  readonly to: Cidr;
  readonly via: Ip;
}
export interface IpItem {
  readonly raw: Raw;
  readonly ip: Ip;
}

export function addrItem(raw: Raw): AddrItem {
  const cidr = must(raw, str(raw), parseInterfaceAddr(str(raw)));
  return { raw, cidr, text: `${cidr.ip.text}/${cidr.prefix}` };
}

const FDB_OBJ_FORM = '{mac, dst, port?, vni?} or the string form ' + FDB_FORM;

export function fdbItem(raw: Raw): FdbItem {
  let macText: string;
  let dstText: string;
  let portVal: unknown;
  let vniVal: unknown;
  if (typeof raw.value === 'string') {
    const [m, d] = splitPair(raw, raw.value, FDB_FORM);
    const { host, port } = must(raw, d, splitFdbDst(d));
    macText = m;
    dstText = host;
    portVal = port;
  } else {
    const o = objectEntry(raw, ['mac', 'dst'], ['port', 'vni'], FDB_OBJ_FORM);
    if (typeof o.mac !== 'string' || typeof o.dst !== 'string') fail(raw, `is malformed: 'mac' and 'dst' must be strings`);
    macText = o.mac;
    dstText = o.dst;
    portVal = o.port ?? undefined;
    vniVal = o.vni ?? undefined;
  }
  const mac = must(raw, macText, parseFdbMac(macText));
  const ip = underlayIp(raw, dstText);
  const port = portVal === undefined ? undefined : int(raw, PORT_MIN, PORT_MAX, PORT_LIMIT, { name: 'port', value: portVal });
  const vni = vniVal === undefined ? undefined : int(raw, VNI_MIN, VNI_MAX, VNI_LIMIT, { name: 'vni', value: vniVal });
  return { raw, mac, ip, ...(port === undefined ? {} : { port }), ...(vni === undefined ? {} : { vni }) };
}

const NEIGH_FORM = 'IP=MAC (e.g. 179.17.1.31=7a:3a:fe:45:a3:76) or {ip, lladdr}';

export function neighItem(raw: Raw): NeighItem {
  let ipText: string;
  let macText: string;
  if (typeof raw.value === 'string') {
    [ipText, macText] = splitPair(raw, raw.value, NEIGH_FORM);
  } else {
    const o = objectEntry(raw, ['ip', 'lladdr'], [], NEIGH_FORM);
    if (typeof o.ip !== 'string' || typeof o.lladdr !== 'string') fail(raw, `is malformed: 'ip' and 'lladdr' must be strings`);
    ipText = o.ip;
    macText = o.lladdr;
  }
  const ip = hostIp(raw, ipText);
  // IPv4 neighbours are answered by proxy-ARP, IPv6 ones by the NDP proxy (neighbour solicitations).
  const mac = unicastMac(raw, macText);
  return { raw, ip, mac };
}

const ROUTE_FORM = 'CIDR=GATEWAY (e.g. 10.234.118.0/24=179.17.1.31) or {to, via}';

export function routeItem(raw: Raw): RouteItem {
  let toText: string;
  let viaText: string;
  if (typeof raw.value === 'string') {
    [toText, viaText] = splitPair(raw, raw.value, ROUTE_FORM);
  } else {
    const o = objectEntry(raw, ['to', 'via'], [], ROUTE_FORM);
    if (typeof o.to !== 'string' || typeof o.via !== 'string') fail(raw, `is malformed: 'to' and 'via' must be strings`);
    toText = o.to;
    viaText = o.via;
  }
  const to = cidrOf(raw, toText, 0, '10.234.118.0/24');
  const via = hostIp(raw, viaText, 'gateway ');
  if (via.family !== to.ip.family) {
    fail(raw, `mixes families: an IPv${to.ip.family} destination needs an IPv${to.ip.family} gateway, not ${via.text}`);
  }
  return { raw, to, via };
}
