/**
 * The text grammar: the one place where a value a person wrote — a MAC, an IP address, a CIDR prefix, a port,
 * an FDB row, a neighbour, a route — is read and, when it is wrong, worded. Every entry point uses it: `up`
 * flags and config files (values.ts), the whole-overlay form (overlay.ts), `plan` and `explain` (which parse
 * through config.ts), the control commands on the client (cli/ctl.ts) and in the instance (tables.ts).
 * So one input gets one verdict and one sentence wherever it is typed. The rules are in docs/config.md.
 *
 * The syntax of addresses is the wire layer's (`macParse`, `ipv4AddrParse`, `ipv6AddrParse`, all pure); this
 * module adds what the control plane needs on top: canonical text, the address's kind (ipaddr.js ranges), and
 * refusals as values. A `Refusal` is the part of the sentence that does not depend on where the value came
 * from: a noun phrase ("a malformed MAC address") and the rule ("expected six hex octets ..."). The entry
 * point puts its own subject in front — `--mac X`, `mac X in node.yaml`, `nodes[0] (a) mac X`, `MAC X` —
 * with `phrase()`, so the sentence after the subject is the same everywhere.
 */
import ipaddr from 'ipaddr.js';
import { ipv4AddrFormat, ipv4AddrParse } from '../../wire/ipv4.js';
import { ipv6AddrFormat, ipv6AddrParse } from '../../wire/ipv6.js';
import { macFormat, macIsMulticast, macParse, MAC_ZERO } from '../../wire/mac.js';
import { PORT_MAX, PORT_MIN, VNI_MAX, VNI_MIN } from './defaults.js';

/** What is wrong with a value, without saying where the value came from. */
export class Refusal {
  /**
   * @param noun   what the value is (`a malformed MAC address`), read after "is" (the whole value) or "has"
   *               (one part of it, followed by the part's text);
   * @param reason the rule, after a colon;
   * @param has    the noun already says "has ...", whatever part it is (`has no prefix length`).
   */
  constructor(
    readonly noun: string,
    readonly reason: string,
    readonly has = false,
  ) {}
}

export const isRefusal = (v: unknown): v is Refusal => v instanceof Refusal;

/** A value for a message: bare when unambiguous, JSON-quoted when empty or holding spaces or quotes. */
export function showText(v: string): string {
  return v !== '' && /^[^\s'"]+$/.test(v) ? v : JSON.stringify(v);
}

/**
 * The sentence after the subject. `whole` says whether `text` is the whole value the subject names
 * (`--mac 01:...` → "is a multicast MAC address: ...") or one part of it (`--neigh IP=01:...` →
 * "has a multicast MAC address 01:...: ...").
 */
export function phrase(r: Refusal, text: string, whole: boolean): string {
  if (r.has) return `${r.noun}: ${r.reason}`;
  return whole ? `is ${r.noun}: ${r.reason}` : `has ${r.noun} ${showText(text)}: ${r.reason}`;
}

// ───────────────────────────────────────────────────── MAC ─────────────────────────────────────────────────────

export interface Mac {
  /** Lower-case colon form with two digits per octet, as iproute2 prints it. */
  readonly mac: string;
  /** The 48-bit value (wire/mac.ts). */
  readonly macNum: number;
}

export const MAC_RULE = 'expected six hex octets separated by colons, like 7a:3a:fe:45:a3:76';

/** Any MAC (six octets of one or two hex digits, ':' between them, as iproute2's ll_addr_a2n). */
export function parseMac(text: string, what = ''): Mac | Refusal {
  const n = macParse(text);
  if (n === undefined) return new Refusal(`a malformed ${what}MAC address`, MAC_RULE);
  return { mac: macFormat(n), macNum: n };
}

/** A MAC that stands for one station: a device address or a neighbour's lladdr. */
export function parseUnicastMac(text: string, what = ''): Mac | Refusal {
  const m = parseMac(text, what);
  if (isRefusal(m)) return m;
  if (m.macNum === MAC_ZERO) return new Refusal(`the all-zeros ${what}MAC address`, 'a station needs a unicast address');
  if (macIsMulticast(m.macNum)) {
    return new Refusal(`a multicast ${what}MAC address`, 'the I/G bit, 0x01 in the first octet, is set, and a station needs a unicast address');
  }
  return m;
}

/**
 * The MAC of an FDB row: a station's, or all zeros (the default destinations). A group MAC is refused:
 * the dataplane never looks one up (vtep.ts floods group frames to the default destinations), so such a
 * row would never be used.
 */
export function parseFdbMac(text: string): Mac | Refusal {
  const m = parseMac(text);
  if (isRefusal(m)) return m;
  if (m.macNum !== MAC_ZERO && macIsMulticast(m.macNum)) {
    return new Refusal(
      'a multicast/broadcast MAC address',
      'such frames always go to the default destinations, the 00:00:00:00:00:00 entry, so the row would never be used',
    );
  }
  return m;
}

// ────────────────────────────────────────────────── IP addresses ──────────────────────────────────────────────────

export type Family = 4 | 6;
export interface Ip {
  readonly addr: ipaddr.IPv4 | ipaddr.IPv6;
  /** Canonical text: dotted quad, or RFC 5952 for IPv6. */
  readonly text: string;
  readonly family: Family;
}

const IP_RULE = 'expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31';

/**
 * The reason `text` is not an IP address, or the address. IPv4 only as a dotted quad of decimal octets
 * without leading zeros (inet_aton's `10.1`, `0x0a.0.0.1` and octal `010.0.0.1` are refused: they are typos
 * more often than intent); IPv6 in any RFC 4291 form, printed in RFC 5952 form; no zone index, no
 * IPv4-mapped IPv6.
 */
export function parseIpText(text: string): Ip | string {
  const v4 = ipv4AddrParse(text);
  if (v4 !== undefined) return { addr: ipaddr.fromByteArray([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]), text: ipv4AddrFormat(v4), family: 4 };
  if (!text.includes(':')) return IP_RULE;
  const b = Buffer.alloc(16);
  const zone = text.indexOf('%');
  // An address with a zone (`fe80::1%eth0`) is named as such; the wire parser refuses any '%'.
  if (zone >= 0) return ipv6AddrParse(text.slice(0, zone), b, 0) ? 'IPv6 zone indexes (%IFACE) are not supported' : IP_RULE;
  if (!ipv6AddrParse(text, b, 0)) return IP_RULE;
  const addr = ipaddr.fromByteArray([...b]) as ipaddr.IPv6;
  if (addr.isIPv4MappedAddress()) return `it is IPv4-mapped; write the IPv4 address ${addr.toIPv4Address().toString()}`;
  return { addr, text: ipv6AddrFormat(b, 0), family: 6 };
}

/** Any IP address. `what` qualifies the noun: `underlay `, `gateway `. */
export function parseIp(text: string, what = ''): Ip | Refusal {
  const ip = parseIpText(text);
  return typeof ip === 'string' ? new Refusal(`a malformed ${what}IP address`, ip) : ip;
}

/** An address that names one host: not unspecified, multicast or the IPv4 limited broadcast. */
export function parseHostIp(text: string, what = ''): Ip | Refusal {
  const ip = parseIp(text, what);
  if (isRefusal(ip)) return ip;
  const range = ip.addr.range();
  if (range === 'unspecified' || range === 'broadcast' || range === 'multicast') {
    return new Refusal(`the ${range} ${what}address`, "a host's unicast address is needed here");
  }
  return ip;
}

/** An underlay address (local, remote, FDB destination). A multicast group is not a supported underlay. */
export function parseUnderlayIp(text: string): Ip | Refusal {
  const ip = parseIp(text, 'underlay ');
  if (isRefusal(ip)) return ip;
  if (ip.addr.range() === 'multicast') {
    return new Refusal('a multicast group', "a multicast underlay (the kernel's 'group') is not supported; give each peer's unicast address");
  }
  return parseHostIp(text, 'underlay ');
}

// ───────────────────────────────────────────────────── CIDR ─────────────────────────────────────────────────────

export interface Cidr {
  /** The address as written (host part kept). */
  readonly ip: Ip;
  readonly prefix: number;
  /** The network address (host bits cleared). */
  readonly network: Ip;
  /** `network/prefix`. */
  readonly text: string;
}

function networkOf(ip: Ip, prefix: number): Ip {
  const bytes = ip.addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  const addr = ipaddr.fromByteArray(bytes);
  return { addr, text: ip.family === 6 ? ipv6AddrFormat(Buffer.from(bytes), 0) : addr.toString(), family: ip.family };
}

/**
 * `ADDRESS/PREFIX`, the prefix a decimal number `minPrefix`..32 (or ..128 for IPv6). `example` is shown when
 * the prefix is missing.
 */
export function parseCidr(text: string, minPrefix: number, example: string): Cidr | Refusal {
  const slash = text.indexOf('/');
  if (slash < 0) return new Refusal('has no prefix length', `write it as CIDR, e.g. ${example}`, true);
  const ip = parseIp(text.slice(0, slash));
  if (isRefusal(ip)) return new Refusal(`has ${ip.noun} ${showText(text.slice(0, slash))}`, ip.reason, true);
  const p = text.slice(slash + 1);
  const maxPrefix = ip.family === 4 ? 32 : 128;
  const prefix = /^[0-9]{1,3}$/.test(p) ? Number(p) : NaN;
  if (!(prefix >= minPrefix && prefix <= maxPrefix)) {
    return new Refusal(`has a bad prefix length ${showText(p)}`, `an IPv${ip.family} prefix is ${minPrefix}..${maxPrefix}`, true);
  }
  const network = networkOf(ip, prefix);
  return { ip, prefix, network, text: `${network.text}/${prefix}` };
}

/** An interface address: `ADDRESS/PREFIX` with the host part kept, prefix 1.., a unicast host address. */
export function parseInterfaceAddr(text: string): Cidr | Refusal {
  const c = parseCidr(text, 1, '179.17.1.21/24');
  if (isRefusal(c)) return c;
  const r = c.ip.addr.range();
  if (r === 'unspecified' || r === 'multicast' || r === 'broadcast') return new Refusal(`a ${r} address`, 'an interface address must be a unicast host address');
  return c;
}

/** Parses CIDR text that is known to be valid (a resolved config's). @throws Error on a caller bug */
export function cidrOf(text: string): Cidr {
  const c = parseCidr(text, 0, '10.0.0.0/8');
  if (isRefusal(c)) throw new Error(`not a CIDR: ${text}`);
  return c;
}

export const inCidr = (ip: Ip, net: Cidr): boolean => ip.family === net.ip.family && ip.addr.match(net.network.addr, net.prefix);

/** Two prefixes overlap when the shorter one contains the other's network address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.ip.family !== b.ip.family) return false;
  const [short, long] = a.prefix <= b.prefix ? [a, b] : [b, a];
  return inCidr(long.network, short);
}

// ─────────────────────────────────────────────────── numbers ───────────────────────────────────────────────────

export const VNI_LIMIT = `a VNI is 24 bits, ${VNI_MIN}..${VNI_MAX}`;
/** Named by protocol: the VXLAN ports are UDP ports, the --metrics endpoint listens on a TCP port. */
export const portLimit = (kind: 'UDP' | 'TCP'): string => `a ${kind} port is ${PORT_MIN}..${PORT_MAX}`;

/**
 * A whole number: an integer, or a string of decimal digits (a flag, a file's quoted value). Returns the
 * number, or which of the two ways it is wrong; the caller words it with the limit.
 */
export function wholeNumber(value: unknown, min: number, max: number): number | 'not a whole number' | 'out of range' {
  let n = NaN;
  if (typeof value === 'number' && Number.isInteger(value)) n = value;
  else if (typeof value === 'string' && /^[0-9]+$/.test(value)) n = Number(value);
  else return 'not a whole number';
  if (!Number.isSafeInteger(n) || n < min || n > max) return 'out of range';
  return n;
}

// ─────────────────────────────────────────────── FDB destinations ───────────────────────────────────────────────

export const FDB_FORM = 'MAC=IP, MAC=IP:PORT, MAC=IPv6 or MAC=[IPv6]:PORT (e.g. 7a:3a:fe:45:a3:76=192.168.0.31:4789)';

/** The destination of an FDB row's string form: `IP`, `IPv4:PORT`, `IPv6`, `[IPv6]` or `[IPv6]:PORT`. */
export function splitFdbDst(dst: string): { host: string; port?: string } | Refusal {
  if (dst.startsWith('[')) {
    const close = dst.indexOf(']');
    if (close < 0) return new Refusal("has an unclosed '[' in the destination", `expected ${FDB_FORM}`, true);
    const rest = dst.slice(close + 1);
    if (rest === '') return { host: dst.slice(1, close) };
    if (!rest.startsWith(':')) return new Refusal("has junk after ']' in the destination", `expected ${FDB_FORM}`, true);
    return { host: dst.slice(1, close), port: rest.slice(1) };
  }
  const colons = dst.split(':').length - 1;
  if (colons === 1) {
    const c = dst.indexOf(':');
    return { host: dst.slice(0, c), port: dst.slice(c + 1) };
  }
  return { host: dst }; // IPv4, or a bare IPv6 (which then cannot carry a port)
}

// ─────────────────────────────────────────── rules across one table row ───────────────────────────────────────────

/** The subnets for a message: `179.17.1.0/24, 2001:db8::/64`. */
export const listCidrs = (nets: readonly Cidr[]): string => nets.map((n) => n.text).join(', ');

/**
 * A neighbour outside every `--addr` subnet of its family would never be asked for (the kernel ARPs or
 * solicits only for on-link addresses). With no `--addr` of its family we cannot tell (the addresses may be
 * assigned by something else), so nothing is said. Returns the problem, or undefined.
 */
export function neighbourOffLink(ip: Ip, addrs: readonly Cidr[]): string | undefined {
  const nets = addrs.filter((a) => a.ip.family === ip.family);
  if (nets.length === 0 || nets.some((a) => inCidr(ip, a))) return undefined;
  return `is outside every --addr subnet (${listCidrs(nets)}): the kernel never ${ip.family === 4 ? 'ARPs' : 'solicits'} for an off-link address, so the entry would never be used`;
}

export const NEIGHBOUR_IS_SELF = "a neighbour cannot be this node's own address";
export const PEER_IS_SELF = "a peer cannot be this node's own --local address";

/**
 * A route (or pod subnet) whose destination holds an underlay address would send the tunnel's own datagrams
 * into the tunnel. `underlay` names each address's owner for the message (`--local`, `nodes[0] (a)`).
 */
export function routeLoop(to: Cidr, underlay: readonly { readonly ip: Ip; readonly of: string }[]): string | undefined {
  const hit = underlay.find((u) => inCidr(u.ip, to));
  if (hit === undefined) return undefined;
  return `contains the underlay address ${hit.ip.text} of ${hit.of}: routing it into the tunnel would loop the tunnel's own packets`;
}

/** A default destination (all-zeros MAC) keeps the instance's port and VNI. Returns the problem, or undefined. */
export function defaultDestinationOwnPortOrVni(port: number | undefined, vni: number | undefined, dstport: number, ownVni: number): string | undefined {
  if ((port === undefined || port === dstport) && (vni === undefined || vni === ownVni)) return undefined;
  return `gives a default destination (the all-zeros MAC) its own port or VNI, which is not supported: default destinations use --dstport ${dstport} and --vni ${ownVni}`;
}

// ───────────────────────────────────────── rows of the control commands ─────────────────────────────────────────
//
// `vxlan-user fdb ...` and `neigh ...` are read twice: by the client (cli/ctl.ts), so a bad value exits 2
// whether or not an instance runs, and by the instance (tables.ts), which must not trust its socket. Both
// call these, so both say the same sentence. What needs the instance (its socket's family, its --local and
// --addr, the current table) is checked in tables.ts only.

export interface FdbCommandRow {
  readonly mac: Mac;
  readonly dst?: Ip;
  readonly port?: number;
  readonly vni?: number;
}

/** A command value that is a number (from the instance's JSON) or the word the user typed (on the client). */
function commandNumber(what: string, value: unknown, min: number, max: number, limit: string): number | string {
  const n = wholeNumber(value, min, max);
  return typeof n === 'number' ? n : `${what} ${showText(String(value))} is ${n}: ${limit}`;
}

/** `MAC [dst IP] [port P] [vni N]`: the row, or the refusal as a whole sentence. */
export function parseFdbCommand(c: { readonly mac: string; readonly dst?: string | undefined; readonly port?: unknown; readonly vni?: unknown }): FdbCommandRow | string {
  const mac = parseFdbMac(c.mac);
  if (isRefusal(mac)) return `MAC ${showText(c.mac)} ${phrase(mac, c.mac, true)}`;
  let dst: Ip | undefined;
  if (c.dst !== undefined) {
    const ip = parseUnderlayIp(c.dst);
    if (isRefusal(ip)) return `dst ${showText(c.dst)} ${phrase(ip, c.dst, true)}`;
    dst = ip;
  }
  const port = c.port === undefined ? undefined : commandNumber('port', c.port, PORT_MIN, PORT_MAX, portLimit('UDP'));
  if (typeof port === 'string') return port;
  const vni = c.vni === undefined ? undefined : commandNumber('vni', c.vni, VNI_MIN, VNI_MAX, VNI_LIMIT);
  if (typeof vni === 'string') return vni;
  return { mac, ...(dst === undefined ? {} : { dst }), ...(port === undefined ? {} : { port }), ...(vni === undefined ? {} : { vni }) };
}

export interface NeighCommandRow {
  readonly ip: Ip;
  readonly lladdr?: Mac;
}

/** `IP [lladdr MAC]`: the row, or the refusal as a whole sentence. */
export function parseNeighCommand(c: { readonly ip: string; readonly lladdr?: string | undefined }): NeighCommandRow | string {
  const ip = parseHostIp(c.ip);
  if (isRefusal(ip)) return `neighbour ${showText(c.ip)} ${phrase(ip, c.ip, true)}`;
  // IPv4 entries go to the proxy-ARP table, IPv6 ones to the NDP proxy's (runtime/tables.ts).
  if (c.lladdr === undefined) return { ip };
  const mac = parseUnicastMac(c.lladdr);
  if (isRefusal(mac)) return `lladdr ${showText(c.lladdr)} ${phrase(mac, c.lladdr, true)}`;
  return { ip, lladdr: mac };
}
