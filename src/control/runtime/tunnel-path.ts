/**
 * `--tx-path auto|tap|udp`: sets up the tunnel-GSO send path (dataplane/tunnel-tx.ts) where it can work, or
 * says why not. What it needs, each checked here with a one-line reason on failure:
 *  - the native I/O path with TAP TSO live (super-frames to send), an IPv4 underlay with a known local address;
 *  - an outer TTL below 255 (forwarding through the host takes one off, so we write TTL + 1);
 *  - Linux >= 6.17: a TAP that takes the 24-byte virtio-net header and TUNSETOFFLOAD with UDP_TUNNEL_GSO
 *    (+ UDP_TUNNEL_GSO_CSUM when outer checksums are on);
 *  - the host may forward what the TAP hands it: the underlay-side TAP gets forwarding=1, accept_local=1 (the
 *    outer source is our own address) and rp_filter=0 — per-device sysctls on our own device only, never a
 *    host-wide one. The effective rp_filter is max(conf.all, device): with conf.all.rp_filter = 1 (strict) the
 *    packets are dropped as martians, so that falls back; loose mode (2) drops them too while the TAP has no
 *    address and passes them once it has one, so the TAP then gets a link-local /32 (169.254.253.N).
 *  - no firewall FORWARD policy that drops (Docker sets one): read from `iptables -S FORWARD` and
 *    `nft list ruleset` where those tools exist.
 * `auto` falls back to the socket path with the reason in the start-up line; `tap` refuses to start instead.
 * Ownership: the returned TAP belongs to the instance's undo stack (closing it removes the device).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import type { UpConfig } from '../config/config-types.js';
import { VxlanUserError } from '../config/errors.js';
import { ipOrThrow, linkExists, type UndoStack } from './host.js';
import { TunnelTx } from '../../dataplane/tunnel-tx.js';
import type { OffloadTap, Platform } from '../../platform/types.js';
import { macParse } from '../../wire/mac.js';
import {
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_UDP_TUNNEL_GSO,
  TUN_F_UDP_TUNNEL_GSO_CSUM,
  VIRTIO_NET_HDR_TUNNEL_LEN,
} from '../../wire/virtio-net.js';

export interface TunnelPath {
  readonly tunnel: TunnelTx | undefined;
  /** For the start-up line, `show` and the metrics, e.g. "TX path tap (vxlan-test-tx)" or "TX path udp (...)". */
  readonly summary: string;
}

export interface TunnelPathInput {
  readonly cfg: UpConfig;
  /** TAP TSO was negotiated on the overlay TAP (else no super-frames arrive). */
  readonly tso: boolean;
  readonly v6: boolean;
  readonly underlayDev: string | undefined;
  /** Destination slots of the FDB (the tunnel path mirrors them). */
  readonly slots: number;
  /** Opens the underlay-side TAP (the instance's platform). */
  readonly platform: Platform;
}

/** The name of the underlay-side TAP for overlay device `name` (IFNAMSIZ: at most 15 bytes). */
export function tunnelTapName(name: string): string {
  return `${name.slice(0, 12)}-tx`;
}

export function openTunnelPath(input: TunnelPathInput, undo: UndoStack): TunnelPath {
  const mode = input.cfg.txPath ?? 'auto';
  if (mode === 'udp') return { tunnel: undefined, summary: 'TX path udp (--tx-path udp): TCP super-frames segmented here' };
  const why = unavailable(input);
  if (why !== undefined) return fallback(mode, why);
  const name = tunnelTapName(input.cfg.name);
  let tap: OffloadTap;
  try {
    tap = input.platform.openTap(name, { vnetHdr: true });
  } catch (e) {
    return fallback(mode, `cannot create the underlay-side TAP ${name}: ${(e as Error).message}`);
  }
  // Until the path is live, a refusal closes the TAP (the device goes with it) before falling back.
  const giveUp = (why: string): TunnelPath => {
    tap.close();
    return fallback(mode, why);
  };
  if (tap.setVnetHdrSize(VIRTIO_NET_HDR_TUNNEL_LEN) !== 0) return giveUp('the kernel takes no 24-byte virtio-net header on a TAP (needs Linux >= 6.17)');
  const csum = input.cfg.udpcsum !== false;
  const flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UDP_TUNNEL_GSO | (csum ? TUN_F_UDP_TUNNEL_GSO_CSUM : 0);
  const off = tap.setOffload(flags);
  if (off !== 0) return giveUp( `the kernel has no UDP-tunnel GSO for TAP (TUNSETOFFLOAD 0x${flags.toString(16)}: errno ${-off}; needs Linux >= 6.17)`);
  // Per-device sysctls on our own device only (the namespace's other devices and conf.all stay as they are).
  try {
    for (const [k, v] of [['forwarding', '1'], ['accept_local', '1'], ['rp_filter', '0']] as const) writeFileSync(`/proc/sys/net/ipv4/conf/${name}/${k}`, v);
    // Nothing is ever routed out of this TAP; no IPv6 link-local address, router solicitations or MLD on it.
    writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch (e) {
    return giveUp(`cannot set forwarding/accept_local/rp_filter on ${name}: ${(e as Error).message}`);
  }
  undo.push(`close TAP ${name}`, () => tap.close());
  // Loose reverse-path filtering (conf.all.rp_filter = 2) drops our packets while the TAP has no address
  // (TcpExtIPReversePathFilter counts them; measured on Linux 6.18) and passes them once it has one: give it a
  // link-local /32, which routes nothing anywhere and goes with the device.
  if (sysctl('net/ipv4/conf/all/rp_filter') === '2') {
    const idx = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
    ipOrThrow(['addr', 'add', `169.254.253.${(idx % 254) + 1}/32`, 'dev', name], `cannot add a link-local address to ${name} (needed with loose rp_filter)`);
  }
  ipOrThrow(['link', 'set', 'dev', name, 'arp', 'off', 'up'], `cannot bring ${name} up`);
  const mac = macParse(readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim())!;
  const local = input.cfg.local ?? firstIpv4(input.underlayDev!)!;
  const tunnel = new TunnelTx({ tap, tapMac: mac, local, ttl: typeof input.cfg.ttl === 'number' ? input.cfg.ttl : defaultTtl(), udpCsum: csum }, input.slots);
  return { tunnel, summary: `TX path tap (${name}: whole super-packets, UDP-tunnel GSO, forwarded by the host from ${local})` };
}

function fallback(mode: 'auto' | 'tap', why: string): TunnelPath {
  if (mode === 'tap') throw new VxlanUserError('ECONFIG', `--tx-path tap cannot work here: ${why}`);
  return { tunnel: undefined, summary: `TX path udp (tap unavailable: ${why})` };
}

/** Why the tunnel path cannot work on this host and config, or undefined. */
function unavailable(i: TunnelPathInput): string | undefined {
  const c = i.cfg;
  if (c.io !== 'native') return '--io dgram';
  if (!i.tso) return 'no TAP TSO, so no super-frames';
  if (i.v6) return 'IPv6 underlay (IPv6 forwarding is namespace-wide, conf.all.forwarding, which vxlan-user does not change)';
  const local = c.local ?? (i.underlayDev !== undefined ? firstIpv4(i.underlayDev) : undefined);
  if (local === undefined || !isIPv4(local)) return 'no IPv4 --local address (give --local or --dev)';
  if (c.ttl === 'inherit') return '--ttl inherit (the tunnel path writes one TTL per super-packet, not the inner one yet)';
  const ttl = c.ttl ?? defaultTtl();
  if (ttl >= 255) return `--ttl ${ttl}: forwarding through the host takes one off, and 256 cannot be written`;
  if (linkExists(tunnelTapName(c.name))) return `a device named ${tunnelTapName(c.name)} already exists`;
  const rp = sysctl('net/ipv4/conf/all/rp_filter');
  if (rp === '1') return 'net.ipv4.conf.all.rp_filter is 1 (strict): the host would drop our own source address as a martian';
  return firewallDrop();
}

function sysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The namespace's default TTL (what the socket path's sends get without --ttl). */
function defaultTtl(): number {
  return Number(sysctl('net/ipv4/ip_default_ttl') ?? '64');
}

function firstIpv4(dev: string): string | undefined {
  const r = spawnSync('ip', ['-j', '-4', 'addr', 'show', 'dev', dev], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  try {
    const j = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
    return j[0]?.addr_info?.[0]?.local;
  } catch {
    return undefined;
  }
}

/** A FORWARD policy or rule set that drops, where iptables or nft can tell; undefined when none is seen. */
function firewallDrop(): string | undefined {
  const ipt = spawnSync('iptables', ['-S', 'FORWARD'], { encoding: 'utf8' });
  if (ipt.status === 0 && /^-P FORWARD DROP/m.test(ipt.stdout)) return 'the iptables FORWARD policy is DROP (forwarded packets would be dropped)';
  const nft = spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
  if (nft.status === 0 && /hook forward[^;]*;\s*policy drop/.test(nft.stdout)) return 'an nftables forward chain has policy drop';
  return undefined;
}
