/**
 * The `vxlan-user up` configuration front end: argv (and an optional `--config` file) → `UpConfig`.
 *
 * Three steps, like the kernel's vxlan_nl2conf() → vxlan_config_validate() → apply:
 *   1. parse     argv with node:util parseArgs (strict) and the file with `yaml`; collect *raw* values, each
 *                with its origin (flag or file key), and merge them: scalar flags override the file,
 *                repeatable flags add to the file's lists (file entries first).
 *   2. validate  (a) per field: syntax and ranges (MAC, IP, CIDR, VNI, ports, MTU, interface names), the
 *                    addresses, prefixes and rows through grammar.ts, as every other entry point reads them;
 *                (b) cross-field: address families, duplicates, routes and neighbours against `--addr`.
 *   3. resolve   defaults from defaults.ts, into a frozen `UpConfig`. Values that depend on the host
 *                (random MAC, MTU from the underlay) stay undefined and are resolved at apply time.
 *
 * Errors: every refusal is one sentence with the offending value and the limit, thrown as
 *   - UsageError  (EUSAGE) for the shape of the command line: unknown option, missing option value,
 *                 stray positional argument, missing --vni;
 *   - ConfigError (ECONFIG) for bad values, from a flag or a file alike, and for an unreadable or
 *                 malformed --config file.
 * Both exit 2. Nothing here touches the host; so a refusal leaves nothing behind.
 *
 * Duplicates: an entry that repeats another one exactly (same --addr, --remote, --neigh, --route or
 * --fdb row) is dropped silently. That is what `bridge fdb append` does for an existing row, and it makes
 * "flags add to the file's lists" safe when a wrapper repeats what the file already says. An entry that
 * contradicts another one (one neighbour IP with two MACs, one route with two gateways, one address with
 * two prefix lengths) is refused.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LineCounter, parseDocument } from 'yaml';
import type { FdbSpec, IoMode, NeighSpec, RawValue as Raw, RouteSpec, TxPath, UpConfig } from './config-types.js';
import {
  AGEING_MAX,
  AGEING_MIN,
  TOS_MAX,
  TOS_MIN,
  TTL_MAX,
  TTL_MIN,
  CONFIG_SCHEMA_VERSION,
  DEFAULT_DSTPORT,
  DEFAULT_IO,
  DEFAULT_OFFLOAD,
  TX_PATHS,
  OFFLOAD_MODES,
  DEFAULT_NAME,
  DEFAULT_QUIET,
  IFNAME_MAX,
  IFNAMSIZ,
  IO_MODES,
  MTU_MAX_IPV4_UNDERLAY,
  MTU_MAX_IPV6_UNDERLAY,
  MTU_MIN_IPV4,
  MTU_MIN_IPV6,
  PORT_MAX,
  PORT_MIN,
  VNI_MAX,
  VNI_MIN,
  VXLAN_OVERHEAD_IPV4,
  VXLAN_OVERHEAD_IPV6,
} from './defaults.js';
import { ConfigError, UsageError } from './errors.js';
import {
  defaultDestinationOwnPortOrVni,
  FDB_FORM,
  inCidr,
  isRefusal,
  listCidrs,
  NEIGHBOUR_IS_SELF,
  neighbourOffLink,
  parseCidr,
  parseFdbMac,
  parseHostIp,
  parseInterfaceAddr,
  parseIp,
  parseUnderlayIp,
  parseUnicastMac,
  PEER_IS_SELF,
  phrase,
  portLimit,
  Refusal,
  routeLoop,
  splitFdbDst,
  VNI_LIMIT,
  wholeNumber,
  type Cidr,
  type Family,
  type Ip,
  type Mac,
} from './grammar.js';
import { VXLAN_RESERVED_HI, VXLAN_RESERVED_LO, VXLAN_USED_HI, VXLAN_USED_LO, vxlanReservedFormat, vxlanReservedParse } from '../../wire/vxlan.js';
import { nodeWithoutOverlay, overlayRaw, parseOverlay, type Overlay } from './overlay.js';

// The grammar's address parser and type, where other modules found them before grammar.ts existed.
export { parseIpText, type Ip } from './grammar.js';

/** What `parseUpArgs` returns: either a help request (nothing validated) or a complete configuration. */
export type UpArgs =
  | { readonly help: true; readonly config: undefined }
  | { readonly help: false; readonly config: UpConfig };

const SEE_HELP = "see 'vxlan-user up --help'";

/**
 * Parse, validate and resolve `vxlan-user up` arguments (argv is what follows `up`).
 * `-h`/`--help` anywhere (before a `--`) wins over everything else, including other errors.
 * @throws UsageError | ConfigError
 */
export function parseUpArgs(argv: readonly string[]): UpArgs {
  const flags = parseArgv(argv);
  if (flags === 'help') return { help: true, config: undefined };
  if (flags.node !== undefined && flags.configFile === undefined) throw nodeWithoutOverlay(flags.node, undefined);
  const file = flags.configFile === undefined ? undefined : loadConfigFile(flags.configFile, flags.node);
  const raw = mergeRaw(file, flags.raw);
  const fields = validateFields(raw);
  const checked = validateCrossField(fields);
  return { help: false, config: resolveDefaults(checked) };
}

// ───────────────────────────────────────────── step 1: parse ─────────────────────────────────────────────

export const SCALAR_KEYS = ['vni', 'name', 'dstport', 'local', 'dev', 'mac', 'mtu', 'io', 'offload', 'quiet', 'peers-only', 'metrics', 'trace', 'pcap', 'learning', 'ageing', 'ttl', 'tos', 'df', 'udpcsum', 'udp6zerocsumtx', 'udp6zerocsumrx', 'srcport', 'tx-path', 'reserved-bits'] as const;
const LIST_KEYS = ['addr', 'remote', 'fdb', 'neigh', 'route'] as const;
type ScalarKey = (typeof SCALAR_KEYS)[number];
type ListKey = (typeof LIST_KEYS)[number];

interface RawUp {
  readonly scalars: Partial<Record<ScalarKey, Raw>>;
  readonly lists: Record<ListKey, readonly Raw[]>;
}

const OPTIONS = {
  vni: { type: 'string' },
  name: { type: 'string' },
  dstport: { type: 'string' },
  local: { type: 'string' },
  dev: { type: 'string' },
  mac: { type: 'string' },
  addr: { type: 'string', multiple: true },
  mtu: { type: 'string' },
  remote: { type: 'string', multiple: true },
  fdb: { type: 'string', multiple: true },
  neigh: { type: 'string', multiple: true },
  route: { type: 'string', multiple: true },
  config: { type: 'string' },
  io: { type: 'string' },
  offload: { type: 'string' },
  'tx-path': { type: 'string' },
  quiet: { type: 'boolean' },
  'peers-only': { type: 'boolean' },
  metrics: { type: 'string' },
  learning: { type: 'boolean' },
  nolearning: { type: 'boolean' },
  ageing: { type: 'string' },
  ttl: { type: 'string' },
  tos: { type: 'string' },
  df: { type: 'string' },
  udpcsum: { type: 'boolean' },
  noudpcsum: { type: 'boolean' },
  udp6zerocsumtx: { type: 'boolean' },
  udp6zerocsumrx: { type: 'boolean' },
  srcport: { type: 'string' },
  'reserved-bits': { type: 'string' },
  node: { type: 'string' },
  trace: { type: 'boolean' },
  pcap: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** Turn node:util's parseArgs errors into one sentence that names the option. */
function usageFromParseArgs(err: unknown): UsageError {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const quoted = /'([^']*)'/.exec(msg)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option '${quoted ?? msg}'; ${SEE_HELP}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument '${quoted ?? msg}': 'vxlan-user up' takes only options; ${SEE_HELP}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const opt = quoted?.split(' ')[0] ?? '';
      if (/argument missing|ambiguous/.test(msg)) {
        return new UsageError(
          `option '${opt}' needs a value (a value starting with '-' must be written '${opt}=VALUE'); ${SEE_HELP}`,
        );
      }
      if (/does not take an argument/.test(msg)) {
        return new UsageError(`option '${opt}' does not take a value; ${SEE_HELP}`);
      }
      return new UsageError(`${msg.split('\n')[0] ?? msg}; ${SEE_HELP}`);
    }
    default:
      return new UsageError(`${msg.split('\n')[0] ?? msg}; ${SEE_HELP}`);
  }
}

function parseArgv(argv: readonly string[]): 'help' | { raw: RawUp; configFile: string | undefined; node: string | undefined } {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    if (wantsHelp(argv)) return 'help';
    throw usageFromParseArgs(err);
  }
  if (values.help === true) return 'help';

  const scalars: Partial<Record<ScalarKey, Raw>> = {};
  for (const key of SCALAR_KEYS) {
    const v = values[key];
    // parseArgs keeps the last of repeated scalar flags: the last one wins, as with `ip`.
    if (v !== undefined) scalars[key] = { value: v, origin: { key } };
  }
  // `nolearning` is the kernel's spelling of learning off; both at once is a contradiction.
  if (values.nolearning === true) {
    if (values.learning === true) throw new UsageError(`--learning and --nolearning contradict each other: give one; ${SEE_HELP}`);
    scalars.learning = { value: false, origin: { key: 'nolearning' } };
  }
  // Likewise `noudpcsum` is the kernel's spelling of udpcsum off.
  if (values.noudpcsum === true) {
    if (values.udpcsum === true) throw new UsageError(`--udpcsum and --noudpcsum contradict each other: give one; ${SEE_HELP}`);
    scalars.udpcsum = { value: false, origin: { key: 'noudpcsum' } };
  }
  const lists = {} as Record<ListKey, Raw[]>;
  for (const key of LIST_KEYS) {
    lists[key] = (values[key] ?? []).map((value) => ({ value, origin: { key } }));
  }
  return { raw: { scalars, lists }, configFile: values.config, node: values.node };
}

const FILE_KEYS: readonly string[] = ['version', ...SCALAR_KEYS, ...LIST_KEYS];

/** Reads a version-1 config file (YAML, or JSON, which YAML 1.2 reads too) into its top-level mapping. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new ConfigError(`cannot read --config ${file}: ${why}${e.code ? ` (${e.code})` : ''}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter, logLevel: 'error' });
  const first = doc.errors[0];
  if (first !== undefined) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const what = first.message.split('\n')[0] ?? first.message;
    throw new ConfigError(`--config ${file} is not valid YAML or JSON: line ${line}, column ${col}: ${what}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new ConfigError(`--config ${file} is empty: expected a mapping that starts with 'version: ${CONFIG_SCHEMA_VERSION}'`);
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`--config ${file} must be a mapping of keys (vni, name, ...), not ${describeType(data)}`);
  }
  const obj = data as Record<string, unknown>;
  if (!('version' in obj) || obj.version === null) {
    throw new ConfigError(`--config ${file} has no 'version' key: write 'version: ${CONFIG_SCHEMA_VERSION}' at the top`);
  }
  if (obj.version !== CONFIG_SCHEMA_VERSION) {
    throw new ConfigError(
      `--config ${file} has version ${show(obj.version, true)}: this vxlan-user reads schema version ${CONFIG_SCHEMA_VERSION} only`,
    );
  }
  return obj;
}

/** Reads a config file that must be in the whole-overlay form (plan, explain, demo). @throws ConfigError */
export function loadOverlay(file: string): Overlay {
  const obj = readConfigFile(file);
  if (!('nodes' in obj)) {
    throw new ConfigError(`--config ${file} describes one node (it has no 'nodes:' list): this needs the whole-overlay form, see docs/overlay.md`);
  }
  return parseOverlay(obj, file, SCALAR_KEYS);
}

/** Read a version-1 config file into raw values; the whole-overlay form (nodes:) derives them for one node (overlay.ts). */
function loadConfigFile(file: string, node: string | undefined): RawUp {
  const obj = readConfigFile(file);
  if ('nodes' in obj) return overlayRaw(obj, file, node, SCALAR_KEYS);
  if (node !== undefined) throw nodeWithoutOverlay(node, file);
  for (const key of Object.keys(obj)) {
    if (!FILE_KEYS.includes(key)) {
      throw new ConfigError(`--config ${file} has an unknown key '${key}': the keys of version 1 are ${FILE_KEYS.join(', ')}`);
    }
  }

  const scalars: Partial<Record<ScalarKey, Raw>> = {};
  for (const key of SCALAR_KEYS) {
    const v = obj[key];
    // A key with an empty value (`mac:`) is the same as no key.
    if (v !== undefined && v !== null) scalars[key] = { value: v, origin: { key, file } };
  }
  const lists = {} as Record<ListKey, Raw[]>;
  for (const key of LIST_KEYS) {
    const v = obj[key];
    // A single entry may be written without the list: `addr: 179.17.1.21/24`.
    const items = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
    lists[key] = items.map((value: unknown) => ({ value, origin: { key, file } }));
  }
  return { scalars, lists };
}

/** Scalar flags override the file; repeatable flags add to the file's lists (file entries first). */
function mergeRaw(file: RawUp | undefined, flags: RawUp): RawUp {
  if (file === undefined) return flags;
  const lists = {} as Record<ListKey, readonly Raw[]>;
  for (const key of LIST_KEYS) lists[key] = [...file.lists[key], ...flags.lists[key]];
  return { scalars: { ...file.scalars, ...flags.scalars }, lists };
}

// ─────────────────────────────────────── step 2a: validate each field ───────────────────────────────────────

/**
 * Render a value for a message: bare when unambiguous, quoted otherwise. In a file a type is visible, so
 * `typed` also quotes strings that read like another type (`version: "1"`, `quiet: yes`).
 */
function show(v: unknown, typed = false): string {
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

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${show(v)}`;
}

/** The subject of an error sentence: `--vni 16777216`, or `vni 16777216 in node.yaml`. */
function subject(raw: Raw): string {
  const { key, file } = raw.origin;
  return file === undefined ? `--${key} ${show(raw.value)}` : `${key} ${show(raw.value, true)} in ${file}`;
}

function fail(raw: Raw, problem: string): never {
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

function str(raw: Raw): string {
  if (typeof raw.value !== 'string') fail(raw, `must be a string, not ${describeType(raw.value)}`);
  return raw.value;
}

/** fail() for an on/off flag: `--noudpcsum ...` rather than `--noudpcsum false ...`. */
function failFlag(raw: Raw, problem: string): never {
  if (raw.origin.file !== undefined) fail(raw, problem);
  throw new ConfigError(`--${raw.origin.key} ${problem}`);
}

function bool(raw: Raw): boolean {
  if (typeof raw.value !== 'boolean') fail(raw, 'must be true or false');
  return raw.value;
}

/**
 * A whole number from a flag (decimal digits) or a file (an integer, or a string of decimal digits).
 * `part` names a piece of a compound entry (the port of an --fdb row); by default the whole value is meant.
 */
function int(raw: Raw, min: number, max: number, limit: string, part?: { name: string; value: unknown }): number {
  const value = part === undefined ? raw.value : part.value;
  const what = part === undefined ? 'is' : `has ${part.name} ${show(value, raw.origin.file !== undefined)},`;
  const n = wholeNumber(value, min, max);
  if (typeof n === 'string') fail(raw, `${what} ${n}: ${limit}`);
  return n;
}

const PORT_LIMIT = portLimit('UDP');
const MTU_LIMIT =
  `the MTU is ${MTU_MIN_IPV4}..${MTU_MAX_IPV4_UNDERLAY} with an IPv4 underlay ` +
  `(65535 minus ${VXLAN_OVERHEAD_IPV4} bytes of VXLAN encapsulation; ${MTU_MAX_IPV6_UNDERLAY} with IPv6)`;

/** Linux interface name rules (net/core/dev.c dev_valid_name()), plus no '%' (no name templates). */
function ifname(raw: Raw): string {
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
function metricsAddr(raw: Raw): { host: string; port: number } {
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
function reservedBits(raw: Raw): { hi: number; lo: number } {
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

const ZERO_MAC = '00:00:00:00:00:00';

/** A MAC that stands for one station: a device address or a neighbour's lladdr. */
const unicastMac = (raw: Raw, text: string): Mac => must(raw, text, parseUnicastMac(text));
const hostIp = (raw: Raw, text: string, what = ''): Ip => must(raw, text, parseHostIp(text, what));
/** An underlay address (local, remote, FDB destination). */
const underlayIp = (raw: Raw, text: string): Ip => must(raw, text, parseUnderlayIp(text));
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

interface AddrItem {
  readonly raw: Raw;
  readonly cidr: Cidr;
  readonly text: string;
}
interface FdbItem {
  readonly raw: Raw;
  readonly mac: Mac;
  readonly ip: Ip;
  readonly port?: number;
  readonly vni?: number;
}
interface NeighItem {
  readonly raw: Raw;
  readonly ip: Ip;
  readonly mac: Mac;
}
interface RouteItem {
  readonly raw: Raw;
  readonly to: Cidr;
  readonly via: Ip;
}
interface IpItem {
  readonly raw: Raw;
  readonly ip: Ip;
}

function addrItem(raw: Raw): AddrItem {
  const cidr = must(raw, str(raw), parseInterfaceAddr(str(raw)));
  return { raw, cidr, text: `${cidr.ip.text}/${cidr.prefix}` };
}

const FDB_OBJ_FORM = '{mac, dst, port?, vni?} or the string form ' + FDB_FORM;

function fdbItem(raw: Raw): FdbItem {
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

function neighItem(raw: Raw): NeighItem {
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

function routeItem(raw: Raw): RouteItem {
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

interface Fields {
  readonly vni: number;
  readonly name?: string;
  readonly dstport?: number;
  readonly local?: IpItem;
  readonly dev?: string;
  readonly mac?: Mac;
  readonly mtu?: { readonly raw: Raw; readonly value: number };
  readonly io?: IoMode;
  readonly offload?: 'on' | 'off';
  readonly txPath?: { readonly raw: Raw; readonly value: TxPath };
  readonly peersOnly?: boolean;
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly trace?: boolean;
  readonly pcap?: string;
  readonly quiet?: boolean;
  readonly learning?: boolean;
  readonly ageing?: number;
  readonly ttl?: { readonly raw: Raw; readonly value: number | 'inherit' };
  readonly tos?: { readonly raw: Raw; readonly value: number | 'inherit' };
  readonly df?: { readonly raw: Raw; readonly value: 'set' | 'unset' | 'inherit' };
  readonly udpcsum?: { readonly raw: Raw; readonly value: boolean };
  readonly udp6zerocsumtx?: { readonly raw: Raw; readonly value: boolean };
  readonly udp6zerocsumrx?: { readonly raw: Raw; readonly value: boolean };
  readonly srcport?: { readonly raw: Raw; readonly min: number; readonly max: number };
  readonly reservedBits?: { readonly hi: number; readonly lo: number };
  readonly addr: readonly AddrItem[];
  readonly remote: readonly IpItem[];
  readonly fdb: readonly FdbItem[];
  readonly neigh: readonly NeighItem[];
  readonly route: readonly RouteItem[];
}

function validateFields(raw: RawUp): Fields {
  const s = raw.scalars;
  if (s.vni === undefined) {
    throw new UsageError(
      `--vni is required: give the VXLAN Network Identifier (${VNI_MIN}..${VNI_MAX}) on the command line or as 'vni:' in the --config file`,
    );
  }
  const vni = int(s.vni, VNI_MIN, VNI_MAX, VNI_LIMIT);
  const opt = <T>(r: Raw | undefined, f: (r: Raw) => T): T | undefined => (r === undefined ? undefined : f(r));

  const mtuValue = opt(s.mtu, (r) => int(r, MTU_MIN_IPV4, MTU_MAX_IPV4_UNDERLAY, MTU_LIMIT));

  return {
    vni,
    name: opt(s.name, ifname),
    dstport: opt(s.dstport, (r) => int(r, PORT_MIN, PORT_MAX, PORT_LIMIT)),
    local: opt(s.local, (r) => ({ raw: r, ip: underlayIp(r, str(r)) })),
    dev: opt(s.dev, ifname),
    mac: opt(s.mac, (r) => unicastMac(r, str(r))),
    mtu: s.mtu === undefined || mtuValue === undefined ? undefined : { raw: s.mtu, value: mtuValue },
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
    peersOnly: opt(s['peers-only'], (r) => {
      if (typeof r.value !== 'boolean') fail(r, 'must be true or false');
      return r.value;
    }),
    metrics: opt(s.metrics, metricsAddr),
    trace: opt(s.trace, (r) => {
      if (typeof r.value !== 'boolean') fail(r, 'must be true or false');
      return r.value;
    }),
    pcap: opt(s.pcap, (r) => {
      const v = str(r);
      if (v === '') fail(r, 'is empty: give the pcapng file to write');
      return v;
    }),
    quiet: opt(s.quiet, (r) => {
      if (typeof r.value !== 'boolean') fail(r, 'must be true or false');
      return r.value;
    }),
    learning: opt(s.learning, (r) => {
      if (typeof r.value !== 'boolean') fail(r, 'must be true or false');
      return r.value;
    }),
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
    addr: raw.lists.addr.map(addrItem),
    remote: raw.lists.remote.map((r) => ({ raw: r, ip: underlayIp(r, str(r)) })),
    fdb: raw.lists.fdb.map(fdbItem),
    neigh: raw.lists.neigh.map(neighItem),
    route: raw.lists.route.map(routeItem),
  };
}

// ─────────────────────────────────────── step 2b: validate across fields ───────────────────────────────────────

interface Checked {
  readonly vni: number;
  readonly dstport: number;
  readonly fields: Fields;
  readonly addr: readonly AddrItem[];
  readonly remote: readonly IpItem[];
  readonly fdb: readonly FdbItem[];
  readonly neigh: readonly NeighItem[];
  readonly route: readonly RouteItem[];
}

function conflict(a: Raw, b: Raw, why: string): never {
  throw new ConfigError(`${subject(b)} conflicts with ${subject(a)}: ${why}`);
}

function validateCrossField(f: Fields): Checked {
  const dstport = f.dstport ?? DEFAULT_DSTPORT;
  // node:dgram sets no per-socket TTL/TOS for unicast sends and has no IP_MTU_DISCOVER: refuse, don't ignore.
  if (f.io === 'dgram') {
    for (const o of [f.ttl, f.tos, f.df]) if (o !== undefined) fail(o.raw, 'needs --io native: node:dgram cannot set the outer TTL, TOS or DF bit');
    const csum = [f.udpcsum?.value === false ? f.udpcsum : undefined, f.udp6zerocsumtx?.value === true ? f.udp6zerocsumtx : undefined, f.udp6zerocsumrx?.value === true ? f.udp6zerocsumrx : undefined];
    for (const o of csum) if (o !== undefined) failFlag(o.raw, 'needs --io native: node:dgram cannot change UDP checksum behaviour');
    if (f.srcport !== undefined) fail(f.srcport.raw, 'needs --io native: the source-port pool sends with sendmmsg from several sockets');
    if (f.txPath?.value === 'tap') fail(f.txPath.raw, 'needs --io native: the tunnel send path takes TAP super-frames, which the dgram path never reads');
  }
  if (f.txPath?.value === 'tap' && f.offload === 'off') {
    fail(f.txPath.raw, 'needs --offload on: without TAP TSO there are no super-frames to send whole');
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
    ...(f.local ? [f.local] : []),
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
  if (f.local) {
    for (const u of underlay.slice(1)) {
      if (u.ip.text === f.local.ip.text) conflict(f.local.raw, u.raw, PEER_IS_SELF);
    }
  }
  const underlayFamily: Family = first?.ip.family ?? 4;
  const underlayOwners = underlay.map((u) => ({ ip: u.ip, of: u.raw.origin.file === undefined ? `--${u.raw.origin.key}` : `${u.raw.origin.key} in ${u.raw.origin.file}` }));
  // The kernel's udpcsum applies to an IPv4 underlay, udp6zerocsumtx/rx to IPv6 (RFC 6935): a flag for the
  // other family would do nothing, so it is refused.
  if (underlayFamily === 6 && f.udpcsum?.value === false) failFlag(f.udpcsum.raw, 'is for an IPv4 underlay: IPv6 sends UDP checksums unless --udp6zerocsumtx');
  for (const o of [f.udp6zerocsumtx, f.udp6zerocsumrx]) {
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

  return { vni: f.vni, dstport, fields: f, addr, remote, fdb, neigh, route };
}

// ─────────────────────────────────────── step 3: resolve defaults ───────────────────────────────────────

function resolveDefaults(c: Checked): UpConfig {
  const f = c.fields;
  const fdb: FdbSpec[] = c.fdb.map((e) =>
    Object.freeze({
      mac: e.mac.mac,
      macNum: e.mac.macNum,
      ip: e.ip.text,
      ...(e.port === undefined ? {} : { port: e.port }),
      ...(e.vni === undefined ? {} : { vni: e.vni }),
    }),
  );
  const neigh: NeighSpec[] = c.neigh.map((n) => Object.freeze({ ip: n.ip.text, mac: n.mac.mac, macNum: n.mac.macNum }));
  const route: RouteSpec[] = c.route.map((r) => Object.freeze({ cidr: `${r.to.network.text}/${r.to.prefix}`, gateway: r.via.text }));
  const config: UpConfig = {
    vni: c.vni,
    name: f.name ?? DEFAULT_NAME,
    dstport: c.dstport,
    ...(f.local === undefined ? {} : { local: f.local.ip.text }),
    ...(f.dev === undefined ? {} : { dev: f.dev }),
    ...(f.mac === undefined ? {} : { mac: f.mac.mac }),
    addr: Object.freeze(c.addr.map((a) => a.text)),
    ...(f.mtu === undefined ? {} : { mtu: f.mtu.value }),
    remote: Object.freeze(c.remote.map((r) => r.ip.text)),
    fdb: Object.freeze(fdb),
    neigh: Object.freeze(neigh),
    route: Object.freeze(route),
    io: f.io ?? DEFAULT_IO,
    offload: f.offload ?? DEFAULT_OFFLOAD,
    ...(f.txPath === undefined ? {} : { txPath: f.txPath.value }),
    quiet: f.quiet ?? DEFAULT_QUIET,
    peersOnly: f.peersOnly ?? false,
    // Present only when set (defaults.ts DEFAULT_LEARNING / DEFAULT_AGEING apply otherwise, in instance.ts).
    ...(f.learning === true ? { learning: true } : {}),
    ...(f.ageing === undefined ? {} : { ageing: f.ageing }),
    ...(f.ttl === undefined ? {} : { ttl: f.ttl.value }),
    ...(f.tos === undefined ? {} : { tos: f.tos.value }),
    ...(f.df === undefined ? {} : { df: f.df.value }),
    // Present only when they differ from the kernel's defaults (udpcsum on, IPv6 zero checksums off).
    ...(f.udpcsum?.value === false ? { udpcsum: false } : {}),
    ...(f.udp6zerocsumtx?.value === true ? { udp6zerocsumtx: true } : {}),
    ...(f.udp6zerocsumrx?.value === true ? { udp6zerocsumrx: true } : {}),
    ...(f.srcport === undefined ? {} : { srcport: Object.freeze({ min: f.srcport.min, max: f.srcport.max }) }),
    // Present only when it differs from the default mask (only I and the VNI may be set).
    ...(f.reservedBits === undefined || (f.reservedBits.hi === VXLAN_RESERVED_HI && f.reservedBits.lo === VXLAN_RESERVED_LO)
      ? {}
      : { reservedBits: Object.freeze({ ...f.reservedBits }) }),
    ...(f.metrics === undefined ? {} : { metrics: Object.freeze({ ...f.metrics }) }),
    ...(f.trace === true ? { trace: true } : {}),
    ...(f.pcap === undefined ? {} : { pcap: f.pcap }),
  };
  return Object.freeze(config);
}
