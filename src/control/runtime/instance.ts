/**
 * One running VTEP process: applies a validated UpConfig to the host and starts the dataplane; stops it cleanly.
 * A single-VNI config makes one device; a `vnis:` config makes one device per entry, all on one UDP socket
 * (the kernel's several vxlan devices on one port), which demultiplexes by VNI (dataplane/udp-port.ts).
 *
 * Apply order (each step registered for undo before the next runs, so a failure anywhere leaves nothing):
 *   1. underlay: check --dev / --local exist, learn the underlay MTU; refuse device names in use
 *   2. per device: TAP device (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), never persistent
 *   3. UDP socket bound to --local:--dstport (and the --srcport / DF send sockets), shared by all devices
 *   4. per device: the first one's offload negotiation decides the offloads and the TX path of all; link (MAC,
 *      MTU, addresses, up), FDB and neighbours, routes, dataplane started
 * Only then is the instance "ready". Each device has its own undo stack, so a reload can add or remove one.
 *
 * Ownership: this module opens every TAP and socket and is the only one that closes them (the undo stacks);
 * the dataplane borrows them.
 *
 * Which devices and sockets (the Linux TAP, the native or dgram UDP socket) is the caller's choice: the
 * composition root (src/cli/up.ts) passes a Platform; nothing here names an implementation.
 */
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { UpConfig } from '../config/config-types.js';
import { VxlanUserError } from '../config/errors.js';
import { deviceOfAddress, deviceToward, ip, ipOrThrow, linkExists, linkMtu, openFilesLimit, UndoStack } from './host.js';
import { Vtep, type PacketObserver } from '../../dataplane/vtep.js';
import { TOS_INHERIT } from '../../dataplane/ecn.js';
import { Neigh6Table } from '../../dataplane/ndp-proxy.js';
import { FixedTtlBind, TtlInheritBind } from '../../dataplane/ttl-inherit.js';
import { UdpPort } from '../../dataplane/udp-port.js';
import type { TunnelTx } from '../../dataplane/tunnel-tx.js';
import type { OffloadTap, Platform, QueuedUdpBind, TunableUdpBind, UdpBind, UdpIpOption } from '../../platform/types.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN } from '../../wire/virtio-net.js';
import { macFormat, macParse, macRandomLocal } from '../../wire/mac.js';
import { ipv4AddrParse } from '../../wire/ipv4.js';
import { ETH_HLEN } from '../../wire/ethernet.js';
import { VXLAN_MTU_OVERHEAD_IPV4, VXLAN_MTU_OVERHEAD_IPV6 } from '../../wire/vxlan.js';
import { C, type Counters } from '../../dataplane/counters.js';
import { DEFAULT_AGEING, DEFAULT_LEARNING, VNIS_MAX } from '../config/defaults.js';
import { openTunnelPath } from './tunnel-path.js';
import { NativeTcpSegmenter } from '../../dataplane/tso-native.js';
import { SOURCE_PORTS_CAP, SourcePorts, type SourcePortOpener } from '../../dataplane/source-ports.js';

/** Frames the TAP may queue toward the dataplane (see the comment where it is set). */
export const TAP_TXQUEUELEN = 8192;

/** One device of an instance: a TAP with its VNI, tables and routes. */
export interface Device {
  /** The whole configuration of this device (the shared keys included). */
  readonly config: UpConfig;
  readonly vtep: Vtep;
  readonly tapName: string;
  readonly mac: string;
  readonly mtu: number;
  /** Routes installed through the device (cidr → gateway); a reload diffs against it and keeps it current. */
  readonly routes: Map<string, string>;
  /** The `ready:` line printed on stdout for this device. */
  readonly readyLine: string;
}

export interface Instance extends Device {
  /** The configuration `up` started with (its first device's keys for a `vnis:` file). */
  readonly config: UpConfig;
  /** Every device, in start order; the fields of Device above are the first one's. */
  readonly devices: readonly Device[];
  /**
   * A `vnis:` process: the socket's own counters, for datagrams that belong to no device (an unknown VNI, a
   * bad header). Undefined for a single-VNI process, which counts them on its one device.
   */
  readonly stray: Counters | undefined;
  readonly underlayMtu: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly ioPath: string;
  /** Which offloads are live and the TX path, e.g. "TAP TSO4/TSO6+CSUM on, UDP GSO on, UDP GRO on; TX path tap (...)". */
  readonly offloads: string;
  /** Where TCP super-frames leave: whole through the underlay-side TAP, or segmented onto the UDP socket. */
  readonly txPath: 'tap' | 'udp';
  readonly startedAt: number;
  /**
   * Adds a device on the shared socket (a reload that adds a VNI to a `vnis:` process). Throws a
   * VxlanUserError with nothing left behind when the host refuses; the other devices are not touched.
   */
  addDevice(cfg: UpConfig): Device;
  /** Removes one device (its routes, TAP and tables); the others keep their traffic. */
  removeDevice(name: string): void;
  /** A `vnis:` process: who sees the datagrams that belong to no device (the --trace printer of the socket). */
  observeStrays(o: PacketObserver | undefined): void;
  /** The observer a device added by a reload gets (--trace, installed by the CLI); undefined: none. */
  observeNewDevices(of: ((d: Device) => PacketObserver | undefined) | undefined): void;
  /** Removes routes and the TAP devices, closes sockets. Idempotent; never throws. */
  stop(): void;
}

export type Logger = (line: string) => void;

/** Devices one `vnis:` process may hold: each owns SLOTS_PER_DEVICE destination slots of the shared sockets. */
export const MAX_DEVICES = VNIS_MAX;
const SLOTS_PER_DEVICE = 1024;

/**
 * At stop, the datagrams the dgram fallback dropped because its receive queue was full join the device's
 * pool_exhausted, in time for the final counter dump. Only those: a send that found the fallback's ring full
 * was in sendBatch's result and is already tx_sock_full (counting both made every such drop two).
 */
export function foldQueuedDrops(counters: Counters, sock: QueuedUdpBind): void {
  counters.v[C.pool_exhausted]! += sock.rxQueueFull;
}

export async function startInstance(cfg: UpConfig, log: Logger, platform: Platform): Promise<Instance> {
  const undo = new UndoStack();
  try {
    return await apply(cfg, log, undo, platform);
  } catch (e) {
    undo.run(log);
    throw e;
  }
}

/** What every device of an instance shares: the underlay, the sockets, the offloads, the receive port. */
interface Shared {
  readonly platform: Platform;
  readonly log: Logger;
  readonly v6: boolean;
  readonly underlayMtu: number;
  readonly maxUdpPayload: number;
  readonly udp: UdpBind;
  /** --srcport (a shared key): the range, and the opener of (once per process) the raw socket of a port and kind. */
  readonly srcport: { readonly min: number; readonly max: number; readonly open: SourcePortOpener } | undefined;
  /** Sockets a device's --srcport pool opens at most per kind. */
  readonly srcCap: number;
  /** --df inherit without --srcport (or --df set in a `vnis:` process): the DF-set twin of the --dstport socket. */
  readonly dfTwin: TunableUdpBind | undefined;
  readonly off: Offloads;
  readonly tunnel: TunnelTx | undefined;
  /** A `vnis:` process: the one receive port all devices join, and the free destination-slot blocks. */
  readonly port: UdpPort | undefined;
  readonly freeBlocks: number[];
  readonly ioPath: string;
  readonly localAddress: string;
}

async function apply(cfg: UpConfig, log: Logger, undo: UndoStack, platform: Platform): Promise<Instance> {
  const multi = cfg.vnis !== undefined;
  const all = cfg.vnis ?? [cfg];
  const v6 = cfg.local !== undefined ? isIPv6(cfg.local) : all.some((d) => d.remote.some((r) => isIPv6(r)) || d.fdb.some((f) => isIPv6(f.ip)));

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
    const first = all.flatMap((d) => [...d.remote, ...d.fdb.map((f) => f.ip)])[0];
    if (first !== undefined) underlayDev = deviceToward(first);
  }
  const underlayMtu = (underlayDev !== undefined ? linkMtu(underlayDev) : undefined) ?? 1500;
  for (const d of all) checkDeviceFree(d, underlayMtu, v6);

  // 2. TAP devices, one per device (each is handed to its device's own undo stack in step 4).
  const taps: OffloadTap[] = [];
  const handedOver = new Set<OffloadTap>();
  undo.push('close TAP devices', () => {
    for (const t of taps) if (!handedOver.has(t)) t.close();
  });
  for (const d of all) taps.push(openTapOf(platform, d.name));

  // 3. UDP: the --dstport socket, shared by every device.
  const bindAddr = cfg.local ?? (v6 ? '::' : '0.0.0.0');
  const destinationSlots = multi ? MAX_DEVICES * SLOTS_PER_DEVICE : undefined;
  let udp: UdpBind;
  // The native socket takes outer-header options; the dgram fallback counts its receive-queue drops.
  let tunable: TunableUdpBind | undefined;
  let queued: QueuedUdpBind | undefined;
  try {
    if (cfg.io === 'dgram') udp = queued = await platform.openDgramUdp({ address: bindAddr, port: cfg.dstport, device: cfg.dev ?? '' });
    else udp = tunable = platform.openUdp({ address: bindAddr, port: cfg.dstport, device: cfg.dev ?? '', ...(destinationSlots ? { destinationSlots } : {}) });
  } catch (e) {
    throw udpError(e as NodeJS.ErrnoException, bindAddr, cfg.dstport);
  }
  undo.push('close UDP socket', () => udp.close());
  // --df inherit (or, in a `vnis:` process, set): Linux has no per-datagram DF control message, so frames whose
  // inner packet gets DF leave from DF-set twins: of the --dstport socket (an ephemeral port), or with
  // --srcport one per port of the range, bound to the same port (SO_REUSEPORT) when a flow first needs it.
  const dfTwins = all.some((d) => d.df === 'inherit' || (multi && d.df === 'set'));
  let dfTwin: TunableUdpBind | undefined;
  undo.push('close the DF socket', () => dfTwin?.close());
  if (dfTwins && tunable !== undefined && cfg.srcport === undefined) {
    dfTwin = platform.openUdp({ address: bindAddr, port: 0, device: cfg.dev ?? '', rcvbuf: 64 << 10, shareDestinations: tunable });
    log(`--df ${all.some((d) => d.df === 'inherit') ? 'inherit' : 'set'}: 1 DF-set sending socket, port ${dfTwin.localPort}`);
  }
  // Outer header settings: socket-wide for a single device (config refuses them with --io dgram). A `vnis:`
  // process sets only the shared checksum options on the sockets: each device's TTL and TOS go per datagram,
  // its DF by the choice of socket.
  for (const sock of [...(tunable === undefined ? [] : [tunable]), ...(dfTwin === undefined ? [] : [dfTwin])]) {
    for (const [what, value] of outerOptions(cfg, sock === dfTwin, multi)) {
      const err = sock.setIpOption(what, value);
      if (err !== 0) throw new VxlanUserError('EHOST', `cannot set the outer ${what} to ${value} on the UDP socket (errno ${-err})`);
    }
  }
  // --srcport (config refuses it with --io dgram): the raw send sockets of the range, one per port and kind,
  // opened when a device's pool first needs them and shared by the devices; closed after the devices stop.
  const srcSockets = new Map<number, TunableUdpBind | string>();
  undo.push('close source-port sockets', () => {
    for (const p of srcSockets.values()) if (typeof p !== 'string') p.close();
  });
  const srcCap = sourcePortsCap(dfTwins);
  const srcOpen =
    cfg.srcport !== undefined && tunable !== undefined
      ? rawSourcePortOpener({ cfg, multi, platform, main: tunable, addr: bindAddr, reusePort: dfTwins, gso: () => off!.gso, cap: srcCap, sockets: srcSockets })
      : undefined;
  if (cfg.srcport !== undefined)
    log(
      `--srcport ${cfg.srcport.min}-${cfg.srcport.max}: a send socket per port on its first flow, at most ${srcCap.cap}${dfTwins ? ' per kind (DF clear, DF set)' : ''}${srcCap.why}`,
    );

  // 4. Devices. The first one's TAP negotiates the offloads (the TAP offload is per device).
  const zeroCsum = cfg.udpcsum === false ? '--noudpcsum' : cfg.udp6zerocsumtx === true ? '--udp6zerocsumtx' : undefined;
  const maxUdpPayload = underlayMtu - (v6 ? 40 : 20) - 8;
  let off: Offloads | undefined;
  let tunnel: TunnelTx | undefined;
  let txSummary = '';
  const shared = (): Shared => ({
    platform, log, v6, underlayMtu, maxUdpPayload, udp, srcport: srcOpen === undefined ? undefined : { ...cfg.srcport!, open: srcOpen }, srcCap: srcCap.cap, dfTwin, off: off!, tunnel, port, freeBlocks,
    ioPath: udp.ioPath, localAddress: cfg.local ?? bindAddr,
  });
  const freeBlocks = multi ? Array.from({ length: MAX_DEVICES }, (_, i) => MAX_DEVICES - 1 - i) : [];
  let port: UdpPort | undefined;
  const devices: OpenDevice[] = [];
  // Devices stay listed after a stop: the exit's counter dump reads them.
  undo.push('remove devices', () => {
    for (const d of [...devices].reverse()) d.stop(log);
  });
  for (const [k, d] of all.entries()) {
    const tap = taps[k]!;
    handedOver.add(tap);
    if (off === undefined) {
      // Offloads (each one only if the kernel accepts it; the log line says which path is live).
      // The kernel refuses UDP_SEGMENT sends (EINVAL) on a socket that sends zero checksums.
      try {
        off = negotiateOffloads(tap, udp, cfg.offload !== 'off', zeroCsum);
        const txPath = openTunnelPath({ cfg, tso: off.tso, v6, underlayDev, slots: udp.destinationSlots, platform }, undo);
        tunnel = txPath.tunnel;
        txSummary = txPath.summary;
        if (multi)
          port = new UdpPort(udp, { batchSize: 64, udpGro: off.gro, ...(cfg.reservedBits ? { reserved: cfg.reservedBits } : {}), clock: () => performance.now() / 1000 });
      } catch (e) {
        tap.close();
        throw e;
      }
    } else giveSiblingOffloads(tap, d.name, off);
    devices.push(openDevice(d, tap, shared()));
  }
  const offloads = `${off!.summary}; ${txSummary}`;
  const first = devices[0]!;
  const localAddress = cfg.local ?? bindAddr;
  log(`${devices.map((d) => d.tapName).join(', ')}: underlay ${underlayDev ?? '(unknown device)'} mtu ${underlayMtu}; I/O path: ${udp.ioPath}; ${offloads}`);

  let stopped = false;
  let observerOf: ((d: Device) => PacketObserver | undefined) | undefined;
  const inst: Instance = {
    config: cfg,
    get vtep() { return first.vtep; },
    tapName: first.tapName,
    mac: first.mac,
    mtu: first.mtu,
    routes: first.routes,
    readyLine: first.readyLine,
    get devices(): readonly Device[] { return devices; },
    stray: port?.stray,
    underlayMtu,
    localAddress,
    localPort: udp.localPort,
    ioPath: udp.ioPath,
    offloads,
    txPath: tunnel === undefined ? 'udp' : 'tap',
    startedAt: Date.now(),
    addDevice(d: UpConfig): Device {
      if (port === undefined) throw new VxlanUserError('ECONFIG', 'only a process started from a vnis: list can add a device');
      checkDeviceFree(d, underlayMtu, v6);
      const tap = openTapOf(platform, d.name);
      giveSiblingOffloads(tap, d.name, off!);
      const dev = openDevice(d, tap, shared());
      dev.vtep.observer = observerOf?.(dev);
      devices.push(dev);
      return dev;
    },
    observeStrays(o: PacketObserver | undefined): void {
      if (port !== undefined) port.observer = o;
    },
    observeNewDevices(of: ((d: Device) => PacketObserver | undefined) | undefined): void {
      observerOf = of;
    },
    removeDevice(name: string): void {
      const i = devices.findIndex((d) => d.tapName === name);
      if (i < 0) return;
      const [dev] = devices.splice(i, 1);
      dev!.stop(log);
    },
    stop(): void {
      if (stopped) return;
      stopped = true;
      if (queued !== undefined) foldQueuedDrops(first.vtep.counters, queued);
      undo.run(log); // devices first (routes, then TAP; newest first), then the sockets
    },
  };
  return inst;
}

/** A device as the instance holds it: with its own undo stack, so that it can go alone. */
interface OpenDevice extends Device {
  stop(log: Logger): void;
}

/** The device's overlay MTU: --mtu, else what the underlay leaves after the VXLAN overhead. */
function deviceMtu(d: UpConfig, underlayMtu: number, v6: boolean): number {
  return d.mtu ?? underlayMtu - (v6 ? VXLAN_MTU_OVERHEAD_IPV6 : VXLAN_MTU_OVERHEAD_IPV4);
}

/**
 * A device after the first shares the first one's Vtep settings, so its TAP must hand over the same frames:
 * TSO super-frames exactly when the first TAP accepted TSO. Closes the TAP and throws when the kernel refuses.
 */
function giveSiblingOffloads(tap: OffloadTap, name: string, off: Offloads): void {
  if (!off.tso || tap.setOffload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) === 0) return;
  tap.close();
  throw new VxlanUserError('EHOST', `cannot give ${name} the TAP offloads its sibling devices have`);
}

/** Refuses, before anything is created, a device whose MTU cannot work or whose name is taken. */
function checkDeviceFree(d: UpConfig, underlayMtu: number, v6: boolean): void {
  const overhead = v6 ? VXLAN_MTU_OVERHEAD_IPV6 : VXLAN_MTU_OVERHEAD_IPV4;
  const mtu = deviceMtu(d, underlayMtu, v6);
  if (mtu < 68)
    throw new VxlanUserError('ECONFIG', `the overlay MTU of ${d.name} would be ${mtu}: the underlay MTU ${underlayMtu} leaves too little room for the ${overhead}-byte VXLAN overhead (IPv4 needs at least 68)`);
  if (linkExists(d.name))
    throw new VxlanUserError('EINUSE', `a network device named ${d.name} already exists in this namespace; choose another --name or remove it`);
}

function openTapOf(platform: Platform, name: string): OffloadTap {
  try {
    return platform.openTap(name, { vnetHdr: true });
  } catch (e) {
    throw tapError(e as NodeJS.ErrnoException, name);
  }
}

/**
 * One device on the shared sockets: link settings, the Vtep, its tables and routes, started. Everything it
 * creates is on its own undo stack (the TAP included, closed last), run on failure and by stop().
 */
function openDevice(d: UpConfig, tap: OffloadTap, s: Shared): OpenDevice {
  const undo = new UndoStack();
  undo.push(`close TAP ${d.name}`, () => tap.close());
  try {
    const mtu = deviceMtu(d, s.underlayMtu, s.v6);
    // Link.
    const macNum = d.mac !== undefined ? macParse(d.mac)! : macRandomLocal(randomBytes(6));
    const mac = macFormat(macNum);
    // txqueuelen: the TAP's queue toward us is a ring of this many frames; a sender's burst beyond it is
    // dropped (counted by the kernel as TX drops on the device). The kernel's vxlan device has no such queue
    // (it transmits inline), so give bursts room: 1000 (the default) measured 6 % loss for 200 Mbit/s of
    // 1400-byte UDP from iperf3; TCP is unaffected (TCP small queues bound what one socket queues).
    ipOrThrow(['link', 'set', 'dev', tap.name, 'address', mac, 'mtu', String(mtu), 'txqueuelen', String(TAP_TXQUEUELEN)], `cannot set MAC ${mac} and MTU ${mtu} on ${tap.name}`, 'ECONFIG');
    for (const a of d.addr) ipOrThrow(['addr', 'add', a, 'dev', tap.name], `cannot add address ${a} to ${tap.name}`, 'ECONFIG');
    ipOrThrow(['link', 'set', 'dev', tap.name, 'up'], `cannot bring ${tap.name} up`);

    // Dataplane. --ttl inherit: every socket the Vtep sends from sets an IP_TTL / IPV6_HOPLIMIT per datagram;
    // in a `vnis:` process so does a fixed --ttl (the sockets are shared).
    const multi = s.port !== undefined;
    const sendVia = (b: UdpBind): UdpBind => (d.ttl === 'inherit' ? new TtlInheritBind(b) : multi && d.ttl !== undefined ? new FixedTtlBind(b, d.ttl) : b);
    const off = s.off;
    let block: number | undefined;
    if (multi) {
      block = s.freeBlocks.pop();
      if (block === undefined) throw new VxlanUserError('ECONFIG', `${d.name}: a process holds at most ${MAX_DEVICES} devices`);
      const b = block;
      undo.push('free destination slots', () => s.freeBlocks.push(b));
    }
    // A device whose DF is not inherited sends from the DF twins only with --df set in a `vnis:` process.
    const wantsDf = d.df === 'inherit' || (multi && d.df === 'set');
    const sendMain = sendVia(s.udp);
    const sourcePorts = s.srcport === undefined ? undefined : devicePorts(d.name, s, sendMain, sendVia, wantsDf);
    const dfTwin = wantsDf && s.dfTwin !== undefined && (!off.gso || s.dfTwin.enableOffload('gso')) ? sendVia(s.dfTwin) : undefined;
    const vtep = new Vtep(tap, sendMain, {
      vni: d.vni,
      ownMac: macNum,
      maxUdpPayload: s.maxUdpPayload,
      maxFrame: Math.max(mtu, 1500) + ETH_HLEN + 4,
      tapMtu: mtu,
      dstport: d.dstport,
      tso: off.tso,
      udpGso: off.gso,
      udpGro: off.gro,
      rxCoalesce: d.offload !== 'off',
      learning: d.learning ?? DEFAULT_LEARNING,
      ageing: d.ageing ?? DEFAULT_AGEING,
      tos: d.tos === 'inherit' ? TOS_INHERIT : d.tos ?? 0,
      ...(sourcePorts === undefined ? {} : { sourcePorts }),
      ...(dfTwin === undefined ? {} : { dfTwin }),
      ...(s.tunnel === undefined ? {} : { tunnelTx: s.tunnel }),
      ...(d.df === undefined ? {} : { df: d.df }),
      ...(s.platform.segmentTcp === undefined ? {} : { segmenter: new NativeTcpSegmenter(s.platform.segmentTcp) }),
      ...(d.reservedBits === undefined ? {} : { reserved: d.reservedBits }),
      ...(s.port === undefined ? {} : { port: s.port, slots: { base: block! * SLOTS_PER_DEVICE, count: SLOTS_PER_DEVICE } }),
    });
    undo.push(`stop the dataplane of ${d.name}`, () => vtep.stop());
    for (const r of d.remote) vtep.fdb.append(0, r);
    for (const f of d.fdb) vtep.fdb.append(f.macNum, f.ip, f.port, f.vni);
    const neigh = new Map<number, number>();
    for (const n of d.neigh) {
      const a = ipv4AddrParse(n.ip);
      if (a !== undefined) neigh.set(a, n.macNum);
    }
    vtep.neigh = neigh;
    vtep.neigh6 = new Neigh6Table(d.neigh.filter((n) => isIPv6(n.ip)).map((n) => [n.ip, n.macNum] as const));
    vtep.peersOnly = d.peersOnly ?? false;
    const routes = new Map<string, string>();
    undo.push(`remove routes of ${d.name}`, () => {
      for (const [cidr, gw] of [...routes].reverse()) void ip(['route', 'del', cidr, 'via', gw, 'dev', tap.name]);
    });
    for (const r of d.route) {
      ipOrThrow(['route', 'add', r.cidr, 'via', r.gateway, 'dev', tap.name], `cannot add route ${r.cidr} via ${r.gateway}`, 'ECONFIG');
      routes.set(r.cidr, r.gateway);
    }
    vtep.start();
    const la = s.localAddress;
    const readyLine = `ready: ${tap.name} vni ${d.vni} udp ${s.v6 ? `[${la}]` : la}:${s.udp.localPort} mac ${mac} mtu ${mtu} io ${d.io}`;
    return { config: d, vtep, tapName: tap.name, mac, mtu, routes, readyLine, stop: (log: Logger) => undo.run(log) };
  } catch (e) {
    undo.run(s.log);
    throw e;
  }
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

/** fds the process keeps for everything but the --srcport sockets (TAPs, the control sockets, etcd, logs). */
const FDS_KEPT = 256;

/**
 * Sockets a --srcport pool opens at most per kind: SOURCE_PORTS_CAP, lowered so that every kind's sockets fit
 * under RLIMIT_NOFILE with FDS_KEPT to spare (EMFILE elsewhere, on the control socket or etcd, would hurt more
 * than fewer distinct source ports). `why` is for the log line.
 */
function sourcePortsCap(dfTwins: boolean): { readonly cap: number; readonly why: string } {
  const limit = openFilesLimit();
  const kinds = dfTwins ? 2 : 1;
  const cap = limit === undefined ? SOURCE_PORTS_CAP : Math.max(1, Math.min(SOURCE_PORTS_CAP, Math.floor((limit - FDS_KEPT) / kinds)));
  return { cap, why: cap < SOURCE_PORTS_CAP ? ` (lowered from ${SOURCE_PORTS_CAP}: the process may open ${limit} files)` : '' };
}

/** The outer-header settings of a send socket (--ttl, --tos, --df, UDP checksums); `dfSet`: a DF-set twin. */
function outerOptions(cfg: UpConfig, dfSet: boolean, multi: boolean): [UdpIpOption, number][] {
  const df = multi ? (dfSet ? 1 : undefined) : cfg.df === undefined ? undefined : cfg.df === 'set' || dfSet ? 1 : 0;
  const outer: [UdpIpOption, number | undefined][] = [
    // --ttl inherit: per datagram (TtlInheritBind); the socket keeps the route's hop limit for non-IP frames.
    ['ttl', multi || cfg.ttl === 'inherit' ? undefined : cfg.ttl],
    // The per-datagram IP_TOS control message (ECN, inherit) overrides this; it covers any send without one.
    ['tos', multi || cfg.tos === undefined || cfg.tos === 'inherit' ? undefined : cfg.tos & ~3],
    ['df', df],
    // UDP checksums: --noudpcsum (IPv4), --udp6zerocsumtx / --udp6zerocsumrx (IPv6); config checks the family.
    ['nocheck', cfg.udpcsum === false ? 1 : undefined],
    ['nocheck6tx', cfg.udp6zerocsumtx === true ? 1 : undefined],
    ['nocheck6rx', cfg.udp6zerocsumrx === true ? 1 : undefined],
  ];
  return outer.filter((o): o is [UdpIpOption, number] => o[1] !== undefined);
}

/**
 * Opens the raw --srcport socket of a port and kind, once per process (`sockets` remembers sockets and
 * refusals, so every device sees the same answer): bound with the --dstport socket's destination table
 * (shareDestinations), SO_REUSEPORT when DF-set twins are wanted (so a twin binds its port too), the outer-header
 * options, GSO when the main socket has it. It is called from the dataplane, on a port's first flow: every
 * refusal is an errno name for the pool, which then maps the port onto an open one; nothing throws.
 */
function rawSourcePortOpener(o: {
  readonly cfg: UpConfig;
  readonly multi: boolean;
  readonly platform: Platform;
  readonly main: TunableUdpBind;
  readonly addr: string;
  readonly reusePort: boolean;
  readonly gso: () => boolean;
  readonly cap: { readonly cap: number };
  readonly sockets: Map<number, TunableUdpBind | string>;
}): SourcePortOpener {
  let open = 0;
  const openRaw = (port: number, df: boolean): TunableUdpBind | string => {
    // Devices' pools each stop at the cap; together they stay under it too.
    if (open >= o.cap.cap * (o.reusePort ? 2 : 1)) return `the process holds ${open} source-port sockets`;
    let s: TunableUdpBind;
    try {
      // Send-only, never read: the smallest receive buffer, so stray datagrams to these ports cost little.
      s = o.platform.openUdp({ address: o.addr, port, device: o.cfg.dev ?? '', rcvbuf: 4 << 10, shareDestinations: o.main, reusePort: o.reusePort });
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? 'EIO';
    }
    for (const [what, value] of outerOptions(o.cfg, df, o.multi)) {
      const err = s.setIpOption(what, value);
      if (err !== 0) {
        s.close();
        return `errno ${-err} setting the outer ${what}`;
      }
    }
    // One socket without GSO would cut its flows' trains into single sends: map its port onto one that has it.
    if (o.gso() && !s.enableOffload('gso')) {
      s.close();
      return 'UDP GSO refused';
    }
    open++;
    return s;
  };
  return (port, df) => {
    const key = port * 2 + (df ? 1 : 0);
    let s = o.sockets.get(key);
    if (s === undefined) o.sockets.set(key, (s = openRaw(port, df)));
    return s;
  };
}

/**
 * A device's --srcport pool (dataplane/source-ports.ts) over the process's raw sockets, each wrapped with this
 * device's per-datagram TTL (sendVia). The port the --dstport socket is bound to needs no other socket for DF
 * clear (a DF-set twin cannot join it: it has no SO_REUSEPORT). The first free port is opened now; when none
 * is, the device fails to start.
 */
function devicePorts(name: string, s: Shared, sendMain: UdpBind, sendVia: (b: UdpBind) => UdpBind, dfTwins: boolean): SourcePorts {
  const range = s.srcport!;
  const raw = range.open;
  const dstport = s.udp.localPort;
  const open: SourcePortOpener = (port, df) => {
    if (port === dstport && !df) return sendMain;
    const r = raw(port, df);
    return typeof r === 'string' ? r : sendVia(r);
  };
  const pool = new SourcePorts({ min: range.min, max: range.max, open, cap: s.srcCap, dfTwins, fallback: sendMain, log: (l) => s.log(`${name}: ${l}`) });
  const err = pool.prime();
  if (err === 'EADDRINUSE') throw new VxlanUserError('EINUSE', `--srcport ${range.min}-${range.max}: every port of the range is in use`);
  if (err !== undefined) throw new VxlanUserError('EHOST', `--srcport ${range.min}-${range.max}: cannot bind a port of the range (${err})`);
  return pool;
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
