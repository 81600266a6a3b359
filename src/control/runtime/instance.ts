/**
 * One running VTEP: applies a validated UpConfig to the host and starts the dataplane; stops it cleanly.
 *
 * Apply order (each step registered for undo before the next runs, so a failure anywhere leaves nothing):
 *   1. underlay: check --dev / --local exist, learn the underlay MTU
 *   2. TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), never persistent
 *   3. UDP socket bound to --local:--dstport
 *   4. link: MAC, MTU, addresses, up
 *   5. FDB, neighbours (dataplane tables), routes through the device
 *   6. dataplane started; only then is the instance "ready"
 *
 * Which devices and sockets (the Linux TAP, the native or dgram UDP socket) is the caller's choice: the
 * composition root (src/cli/up.ts) passes a Platform; nothing here names an implementation.
 */
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { UpConfig } from '../config/config-types.js';
import { VxlanUserError } from '../config/errors.js';
import { deviceOfAddress, deviceToward, ip, ipOrThrow, linkExists, linkMtu, UndoStack } from './host.js';
import { Vtep } from '../../dataplane/vtep.js';
import { TOS_INHERIT } from '../../dataplane/ecn.js';
import { Neigh6Table } from '../../dataplane/ndp-proxy.js';
import { TtlInheritBind } from '../../dataplane/ttl-inherit.js';
import type { OffloadTap, Platform, QueuedUdpBind, TunableUdpBind, UdpBind, UdpIpOption } from '../../platform/types.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN } from '../../wire/virtio-net.js';
import { macFormat, macParse, macRandomLocal } from '../../wire/mac.js';
import { ipv4AddrParse } from '../../wire/ipv4.js';
import { ETH_HLEN } from '../../wire/ethernet.js';
import { C } from '../../dataplane/counters.js';
import { DEFAULT_AGEING, DEFAULT_LEARNING } from '../config/defaults.js';
import { openTunnelPath } from './tunnel-path.js';
import { NativeTcpSegmenter } from '../../dataplane/tso-native.js';

/** IPv4 + UDP + VXLAN + inner Ethernet: what the underlay MTU must carry on top of the overlay MTU. */
export const OVERHEAD_V4 = 20 + 8 + 8 + ETH_HLEN; // 50
export const OVERHEAD_V6 = 40 + 8 + 8 + ETH_HLEN; // 70
/** Frames the TAP may queue toward the dataplane (see the comment where it is set). */
export const TAP_TXQUEUELEN = 8192;

export interface Instance {
  readonly config: UpConfig;
  readonly vtep: Vtep;
  readonly tapName: string;
  readonly mac: string;
  readonly mtu: number;
  readonly underlayMtu: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly ioPath: string;
  /** Routes installed through the device (cidr → gateway); a reload diffs against it and keeps it current. */
  readonly routes: Map<string, string>;
  /** Which offloads are live and the TX path, e.g. "TAP TSO4/TSO6+CSUM on, UDP GSO on, UDP GRO on; TX path tap (...)". */
  readonly offloads: string;
  /** Where TCP super-frames leave: whole through the underlay-side TAP, or segmented onto the UDP socket. */
  readonly txPath: 'tap' | 'udp';
  readonly startedAt: number;
  /** The `ready:` line printed on stdout. */
  readonly readyLine: string;
  /** Removes routes and the TAP device, closes sockets. Idempotent; never throws. */
  stop(): void;
}

export type Logger = (line: string) => void;

export async function startInstance(cfg: UpConfig, log: Logger, platform: Platform): Promise<Instance> {
  const undo = new UndoStack();
  try {
    return await apply(cfg, log, undo, platform);
  } catch (e) {
    undo.run(log);
    throw e;
  }
}

async function apply(cfg: UpConfig, log: Logger, undo: UndoStack, platform: Platform): Promise<Instance> {
  const v6 = cfg.local !== undefined ? isIPv6(cfg.local) : cfg.remote.some((r) => isIPv6(r)) || cfg.fdb.some((f) => isIPv6(f.ip));

  // 1. Underlay.
  if (cfg.dev !== undefined && !linkExists(cfg.dev))
    throw new VxlanUserError('ECONFIG', `--dev ${cfg.dev}: no such network device in this namespace`);
  let underlayDev = cfg.dev;
  if (cfg.local !== undefined) {
    const owner = deviceOfAddress(cfg.local);
    if (!owner) throw new VxlanUserError('ECONFIG', `--local ${cfg.local} is not an address of this host (see \`ip addr\`)`);
    underlayDev ??= owner.ifname;
  }
  if (underlayDev === undefined) {
    const first = cfg.remote[0] ?? cfg.fdb[0]?.ip;
    if (first !== undefined) underlayDev = deviceToward(first);
  }
  const underlayMtu = (underlayDev !== undefined ? linkMtu(underlayDev) : undefined) ?? 1500;
  const overhead = v6 ? OVERHEAD_V6 : OVERHEAD_V4;
  const mtu = cfg.mtu ?? underlayMtu - overhead;
  if (mtu < 68)
    throw new VxlanUserError('ECONFIG', `the overlay MTU would be ${mtu}: the underlay MTU ${underlayMtu} leaves too little room for the ${overhead}-byte VXLAN overhead (IPv4 needs at least 68)`);
  if (linkExists(cfg.name))
    throw new VxlanUserError('EINUSE', `a network device named ${cfg.name} already exists in this namespace; choose another --name or remove it`);

  // 2. TAP.
  let tap: OffloadTap;
  try {
    tap = platform.openTap(cfg.name, { vnetHdr: true });
  } catch (e) {
    throw tapError(e as NodeJS.ErrnoException, cfg.name);
  }
  undo.push(`close TAP ${cfg.name}`, () => tap.close());

  // 3. UDP.
  const bindAddr = cfg.local ?? (v6 ? '::' : '0.0.0.0');
  let udp: UdpBind;
  // The native socket takes outer-header options; the dgram fallback counts its ring drops.
  let tunable: TunableUdpBind | undefined;
  let queued: QueuedUdpBind | undefined;
  try {
    if (cfg.io === 'dgram') udp = queued = await platform.openDgramUdp({ address: bindAddr, port: cfg.dstport, device: cfg.dev ?? '' });
    else udp = tunable = platform.openUdp({ address: bindAddr, port: cfg.dstport, device: cfg.dev ?? '' });
  } catch (e) {
    throw udpError(e as NodeJS.ErrnoException, bindAddr, cfg.dstport);
  }
  undo.push('close UDP socket', () => udp.close());
  // --srcport: send-only sockets on ports spread over the range (config refuses it with --io dgram).
  const pool = cfg.srcport !== undefined ? openSourcePorts(platform, cfg.srcport, cfg.dstport, bindAddr, cfg.dev ?? '') : [];
  undo.push('close source-port sockets', () => pool.forEach((p) => p.close()));
  if (pool.length !== 0) log(`--srcport: ${pool.length} sending sockets, ports ${pool.map((p) => p.localPort).join(' ')}`);
  // --df inherit: Linux has no per-datagram DF control message, so frames whose inner IPv4 packet has DF leave
  // from DF-set twins of the sending sockets (ephemeral ports, or ports of the --srcport range).
  const dfPool: TunableUdpBind[] = [];
  undo.push('close DF sockets', () => dfPool.forEach((p) => p.close()));
  if (cfg.df === 'inherit' && tunable !== undefined) {
    if (cfg.srcport !== undefined) dfPool.push(...openSourcePorts(platform, cfg.srcport, cfg.dstport, bindAddr, cfg.dev ?? ''));
    else dfPool.push(platform.openUdp({ address: bindAddr, port: 0, device: cfg.dev ?? '', rcvbuf: 64 << 10 }));
    log(`--df inherit: ${dfPool.length} DF-set sending socket(s), port(s) ${dfPool.map((p) => p.localPort).join(' ')}`);
  }
  // Outer header settings (--ttl, --tos, --df): socket-wide; config refuses them with --io dgram.
  for (const sock of [...(tunable === undefined ? [] : [tunable]), ...pool, ...dfPool]) {
    const df = cfg.df === undefined ? undefined : cfg.df === 'set' || dfPool.includes(sock) ? 1 : 0;
    const outer: [UdpIpOption, number | undefined][] = [
      // --ttl inherit: per datagram (TtlInheritBind); the socket keeps the route's hop limit for non-IP frames.
      ['ttl', cfg.ttl === 'inherit' ? undefined : cfg.ttl],
      // The per-datagram IP_TOS control message (ECN, inherit) overrides this; it covers any send without one.
      ['tos', cfg.tos === undefined || cfg.tos === 'inherit' ? undefined : cfg.tos & ~3],
      ['df', df],
      // UDP checksums: --noudpcsum (IPv4), --udp6zerocsumtx / --udp6zerocsumrx (IPv6); config checks the family.
      ['nocheck', cfg.udpcsum === false ? 1 : undefined],
      ['nocheck6tx', cfg.udp6zerocsumtx === true ? 1 : undefined],
      ['nocheck6rx', cfg.udp6zerocsumrx === true ? 1 : undefined],
    ];
    for (const [what, value] of outer) {
      if (value === undefined) continue;
      const err = sock.setIpOption(what, value);
      if (err !== 0) throw new VxlanUserError('EHOST', `cannot set the outer ${what} to ${value} on the UDP socket (errno ${-err})`);
    }
  }


  // 4. Link.
  const macNum = cfg.mac !== undefined ? macParse(cfg.mac)! : macRandomLocal(randomBytes(6));
  const mac = macFormat(macNum);
  // txqueuelen: the TAP's queue toward us is a ring of this many frames; a sender's burst beyond it is
  // dropped (counted by the kernel as TX drops on the device). The kernel's vxlan device has no such queue
  // (it transmits inline), so give bursts room: 1000 (the default) measured 6 % loss for 200 Mbit/s of
  // 1400-byte UDP from iperf3; TCP is unaffected (TCP small queues bound what one socket queues).
  ipOrThrow(['link', 'set', 'dev', tap.name, 'address', mac, 'mtu', String(mtu), 'txqueuelen', String(TAP_TXQUEUELEN)], `cannot set MAC ${mac} and MTU ${mtu} on ${tap.name}`, 'ECONFIG');
  for (const a of cfg.addr) ipOrThrow(['addr', 'add', a, 'dev', tap.name], `cannot add address ${a} to ${tap.name}`, 'ECONFIG');
  ipOrThrow(['link', 'set', 'dev', tap.name, 'up'], `cannot bring ${tap.name} up`);

  // 5. Offloads (each one only if the kernel accepts it; the log line says which path is live), tables, routes.
  // The kernel refuses UDP_SEGMENT sends (EINVAL) on a socket that sends zero checksums.
  const zeroCsum = cfg.udpcsum === false ? '--noudpcsum' : cfg.udp6zerocsumtx === true ? '--udp6zerocsumtx' : undefined;
  const off = negotiateOffloads(tap, udp, cfg.offload !== 'off', zeroCsum);
  const maxUdpPayload = underlayMtu - (v6 ? 40 : 20) - 8;
  const txPath = openTunnelPath({ cfg, tso: off.tso, v6, underlayDev, slots: udp.destinationSlots, platform }, undo);
  const offloads = `${off.summary}; ${txPath.summary}`;
  // --ttl inherit: every socket the Vtep sends from sets an IP_TTL / IPV6_HOPLIMIT per datagram.
  const sendVia = (b: UdpBind): UdpBind => (cfg.ttl === 'inherit' ? new TtlInheritBind(b) : b);
  const vtep = new Vtep(tap, sendVia(udp), {
    vni: cfg.vni,
    ownMac: macNum,
    maxUdpPayload,
    maxFrame: Math.max(mtu, 1500) + ETH_HLEN + 4,
    tapMtu: mtu,
    dstport: cfg.dstport,
    tso: off.tso,
    udpGso: off.gso,
    udpGro: off.gro,
    rxCoalesce: cfg.offload !== 'off',
    learning: cfg.learning ?? DEFAULT_LEARNING,
    ageing: cfg.ageing ?? DEFAULT_AGEING,
    tos: cfg.tos === 'inherit' ? TOS_INHERIT : cfg.tos ?? 0,
    srcPool: pool.filter((p) => !off.gso || p.enableOffload('gso')).map(sendVia),
    dfPool: dfPool.filter((p) => !off.gso || p.enableOffload('gso')).map(sendVia),
    ...(txPath.tunnel === undefined ? {} : { tunnelTx: txPath.tunnel }),
    ...(cfg.df === undefined ? {} : { df: cfg.df }),
    ...(platform.segmentTcp === undefined ? {} : { segmenter: new NativeTcpSegmenter(platform.segmentTcp) }),
    ...(cfg.reservedBits === undefined ? {} : { reserved: cfg.reservedBits }),
  });
  for (const r of cfg.remote) vtep.fdb.append(0, r);
  for (const f of cfg.fdb) vtep.fdb.append(f.macNum, f.ip, f.port, f.vni);
  const neigh = new Map<number, number>();
  for (const n of cfg.neigh) {
    const a = ipv4AddrParse(n.ip);
    if (a !== undefined) neigh.set(a, n.macNum);
  }
  vtep.neigh = neigh;
  // IPv6 neighbours: the NDP proxy. (Set at start; `neigh` control commands and reload handle IPv4 only.)
  vtep.neigh6 = new Neigh6Table(cfg.neigh.filter((n) => isIPv6(n.ip)).map((n) => [n.ip, n.macNum] as const));
  vtep.peersOnly = cfg.peersOnly ?? false;
  const routes = new Map<string, string>();
  undo.push('remove routes', () => {
    for (const [cidr, gw] of [...routes].reverse()) void ip(['route', 'del', cidr, 'via', gw, 'dev', tap.name]);
  });
  for (const r of cfg.route) {
    ipOrThrow(['route', 'add', r.cidr, 'via', r.gateway, 'dev', tap.name], `cannot add route ${r.cidr} via ${r.gateway}`, 'ECONFIG');
    routes.set(r.cidr, r.gateway);
  }

  // 6. Dataplane.
  vtep.start();
  const localAddress = cfg.local ?? bindAddr;
  const readyLine = `ready: ${tap.name} vni ${cfg.vni} udp ${v6 ? `[${localAddress}]` : localAddress}:${udp.localPort} mac ${mac} mtu ${mtu} io ${cfg.io}`;
  log(`${tap.name}: underlay ${underlayDev ?? '(unknown device)'} mtu ${underlayMtu}; I/O path: ${udp.ioPath}; ${offloads}`);

  let stopped = false;
  return {
    config: cfg,
    vtep,
    tapName: tap.name,
    mac,
    mtu,
    underlayMtu,
    localAddress,
    localPort: udp.localPort,
    ioPath: udp.ioPath,
    routes,
    offloads,
    txPath: txPath.tunnel === undefined ? 'udp' : 'tap',
    startedAt: Date.now(),
    readyLine,
    stop(): void {
      if (stopped) return;
      stopped = true;
      if (queued !== undefined) vtep.counters.v[C.pool_exhausted]! += queued.ringFull;
      undo.run(log); // routes first (newest first), then the socket, then the TAP (the device disappears)
    },
  };
}

interface Offloads {
  readonly tso: boolean;
  readonly gso: boolean;
  readonly gro: boolean;
  readonly summary: string;
}

/**
 * Asks the kernel for each offload and falls back, visibly, when it refuses:
 *  - TAP: TUNSETOFFLOAD(CSUM|TSO4|TSO6|TSO_ECN) — the host stack then hands us 64 KiB TCP super-frames;
 *  - UDP_SEGMENT (GSO): one sendmmsg entry carries up to 64 datagrams (refused e.g. with checksums off);
 *  - UDP_GRO: the kernel may hand us several datagrams glued together (needs Linux ≥ 5.0).
 * TSO without GSO still works (segments are sent as single datagrams), so they are independent.
 */
function negotiateOffloads(tap: OffloadTap, udp: UdpBind, wanted: boolean, noGsoBecause: string | undefined): Offloads {
  if (!wanted) return { tso: false, gso: false, gro: false, summary: 'offloads off (--offload off): plain path' };
  const tsoErr = tap.setOffload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
  const gso = noGsoBecause === undefined && udp.enableOffload('gso');
  const gro = udp.enableOffload('gro');
  const parts = [
    tsoErr === 0 ? 'TAP TSO4/TSO6+CSUM on' : `TAP offload refused (errno ${-tsoErr}): plain frames`,
    gso ? 'UDP GSO on' : noGsoBecause !== undefined ? `UDP GSO off (${noGsoBecause}: the kernel refuses UDP_SEGMENT without checksums)` : 'UDP GSO unavailable: one datagram per send entry',
    gro ? 'UDP GRO on' : 'UDP GRO unavailable',
  ];
  return { tso: tsoErr === 0, gso, gro, summary: parts.join(', ') };
}

/** Sockets the source-port pool holds at most: enough for ECMP/RSS spread, few enough to stay cheap. */
const SRCPORT_SOCKETS = 16;

/**
 * Opens up to SRCPORT_SOCKETS send sockets on ports spread evenly over [min, max]: in each share of the range,
 * the first port that is free (EADDRINUSE moves on; --dstport is skipped). Throws when none could be bound.
 */
function openSourcePorts(platform: Platform, range: { min: number; max: number }, dstport: number, addr: string, dev: string): TunableUdpBind[] {
  const span = range.max - range.min + 1;
  const want = Math.min(SRCPORT_SOCKETS, span);
  const out: TunableUdpBind[] = [];
  try {
    for (let i = 0; i < want; i++) {
      const first = range.min + Math.floor((i * span) / want);
      const last = range.min + Math.floor(((i + 1) * span) / want) - 1;
      for (let port = first; port <= last; port++) {
        if (port === dstport) continue;
        try {
          // Send-only: never read, so a small receive buffer.
          out.push(platform.openUdp({ address: addr, port, device: dev, rcvbuf: 64 << 10 }));
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw udpError(e as NodeJS.ErrnoException, addr, port);
        }
      }
    }
  } catch (e) {
    for (const p of out) p.close();
    throw e;
  }
  if (out.length === 0) throw new VxlanUserError('EINUSE', `--srcport ${range.min}-${range.max}: every port of the range is in use`);
  return out;
}

function tapError(e: NodeJS.ErrnoException, name: string): VxlanUserError {
  switch (e.code) {
    case 'EPERM':
    case 'EACCES':
      return new VxlanUserError('EPRIV', `cannot create TAP device ${name}: permission denied; vxlan-user up needs root or CAP_NET_ADMIN`);
    case 'ENOENT':
    case 'ENODEV':
      return new VxlanUserError('EHOST', `cannot create TAP device ${name}: /dev/net/tun is missing (load the tun module; in a container, pass the device in)`);
    case 'EBUSY':
      return new VxlanUserError('EINUSE', `cannot create TAP device ${name}: the name is in use by another process`);
    case 'EINVAL':
      return new VxlanUserError('EINUSE', `cannot create TAP device ${name}: a device of another type already has this name`);
    default:
      return new VxlanUserError('EHOST', `cannot create TAP device ${name}: ${e.message}`);
  }
}

function udpError(e: NodeJS.ErrnoException, addr: string, port: number): VxlanUserError {
  switch (e.code) {
    case 'EADDRINUSE':
      return new VxlanUserError('EINUSE', `UDP port ${port} on ${addr} is already in use (another VTEP? see \`ss -ulpn\`)`);
    case 'EADDRNOTAVAIL':
      return new VxlanUserError('ECONFIG', `--local ${addr} is not an address of this host`);
    case 'EACCES':
    case 'EPERM':
      return new VxlanUserError('EPRIV', `cannot bind UDP port ${port}: permission denied`);
    case 'ENODEV':
      return new VxlanUserError('ECONFIG', `--dev: no such network device`);
    default:
      return new VxlanUserError('EHOST', `cannot open UDP socket ${addr}:${port}: ${e.message}`);
  }
}
