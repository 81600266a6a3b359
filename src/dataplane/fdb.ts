/**
 * The forwarding database, shaped like the kernel's (drivers/net/vxlan): MAC → entry, each entry a *list* of
 * remotes (`bridge fdb append` adds one more); the all-zeros MAC entry holds the default destinations, where
 * broadcast, multicast and unknown unicast go (head-end replication). MACs are 48-bit integers.
 *
 * Remotes are interned into destination slots of the UDP bind (a sockaddr table), so the hot path hands the
 * kernel slot numbers only. Entries are immutable once published: a change builds a new entry and swaps it in
 * with one Map.set, so no packet ever sees a half-updated list.
 */
import type { UdpBind } from '../platform/types.js';

export interface Remote {
  readonly ip: string;
  readonly port: number;
  /** VNI to put in the header; -1 = the instance's own. */
  readonly vni: number;
  /** Destination slot in the UDP bind's table. */
  readonly slot: number;
}

export interface FdbEntry {
  readonly mac: number;
  readonly remotes: readonly Remote[];
  /** remotes[i].slot, as a typed array for the hot path. */
  readonly slots: Uint32Array;
  /** remotes[i].vni, -1 = the instance's own. */
  readonly vnis: Int32Array;
  /** True when any remote overrides the VNI (the hot path then copies per remote). */
  readonly anyVniOverride: boolean;
  readonly static: boolean;
}

export const MAC_ZERO = 0;

export class Fdb {
  private readonly entries = new Map<number, FdbEntry>();
  private readonly slotOf = new Map<string, number>();
  private nextSlot = 0;
  private readonly udp: UdpBind;
  private readonly defaultPort: number;
  /** The all-zeros entry (default destinations), or undefined when there is none. Read on every flood. */
  defaults: FdbEntry | undefined;
  /** Underlay addresses of every remote, as the 4 or 16 address bytes in hex: for --peers-only. */
  private peers = new Set<number>();
  private peers6 = new Set<string>();

  constructor(udp: UdpBind, defaultPort: number) {
    this.udp = udp;
    this.defaultPort = defaultPort;
  }

  get size(): number {
    return this.entries.size;
  }

  lookup(mac: number): FdbEntry | undefined {
    return this.entries.get(mac);
  }

  /** `bridge fdb append`: adds a remote to the entry for `mac` (creating it). Duplicate remotes are ignored. */
  append(mac: number, ip: string, port?: number, vni?: number): void {
    const p = port ?? this.defaultPort;
    const v = vni ?? -1;
    const old = this.entries.get(mac);
    const remotes = old ? [...old.remotes] : [];
    if (remotes.some((r) => r.ip === ip && r.port === p && r.vni === v)) return;
    remotes.push({ ip, port: p, vni: v, slot: this.intern(ip, p) });
    this.publish(mac, remotes);
  }

  /** Removes the whole entry for `mac`. Returns false when there was none. */
  delete(mac: number): boolean {
    const had = this.entries.delete(mac);
    if (mac === MAC_ZERO) this.defaults = undefined;
    this.rebuildPeers();
    return had;
  }

  /**
   * `bridge fdb replace` (and a reload): the entry for `mac` becomes exactly `rows`, published as a new entry
   * in one swap. An empty list removes the entry. Duplicate rows are kept once.
   */
  set(mac: number, rows: readonly { ip: string; port?: number; vni?: number }[]): void {
    if (rows.length === 0) {
      this.delete(mac);
      return;
    }
    const remotes: Remote[] = [];
    for (const r of rows) {
      const p = r.port ?? this.defaultPort;
      const v = r.vni ?? -1;
      if (!remotes.some((x) => x.ip === r.ip && x.port === p && x.vni === v)) remotes.push({ ip: r.ip, port: p, vni: v, slot: this.intern(r.ip, p) });
    }
    this.publish(mac, remotes);
  }

  /**
   * `bridge fdb del MAC dst IP`: removes one remote (matched by IP, and by port/VNI when given) from the entry;
   * the entry goes when its last remote does. Returns false when no remote matched.
   */
  removeRemote(mac: number, ip: string, port?: number, vni?: number): boolean {
    const old = this.entries.get(mac);
    if (!old) return false;
    const keep = old.remotes.filter((r) => !(r.ip === ip && (port === undefined || r.port === port) && (vni === undefined || r.vni === vni)));
    if (keep.length === old.remotes.length) return false;
    if (keep.length === 0) this.delete(mac);
    else this.publish(mac, keep);
    return true;
  }

  /**
   * True when the sockaddr (Linux layout: family u16 host order, port, address) at `addrs[off]` is the
   * address of a known remote. IPv4 is checked without allocating; IPv6 builds a string key (rare path).
   */
  isKnownPeer(addrs: Buffer, off: number): boolean {
    const family = addrs[off]! | (addrs[off + 1]! << 8);
    if (family === 2) return this.peers.has(addrs.readUInt32BE(off + 4));
    if (family === 10) return this.peers6.has(addrs.toString('hex', off + 8, off + 24));
    return false;
  }

  all(): FdbEntry[] {
    return [...this.entries.values()];
  }

  private publish(mac: number, remotes: Remote[]): void {
    const e: FdbEntry = {
      mac,
      remotes,
      slots: Uint32Array.from(remotes, (r) => r.slot),
      vnis: Int32Array.from(remotes, (r) => r.vni),
      anyVniOverride: remotes.some((r) => r.vni >= 0),
      static: true,
    };
    this.entries.set(mac, e);
    if (mac === MAC_ZERO) this.defaults = e;
    this.rebuildPeers();
  }

  /** Recomputes the known-peer sets from all entries (control plane; swaps whole sets). */
  private rebuildPeers(): void {
    const p4 = new Set<number>();
    const p6 = new Set<string>();
    for (const e of this.entries.values())
      for (const r of e.remotes) {
        const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(r.ip);
        if (v4) p4.add(((+v4[1]! << 24) | (+v4[2]! << 16) | (+v4[3]! << 8) | +v4[4]!) >>> 0);
        else p6.add(ipv6Hex(r.ip));
      }
    this.peers = p4;
    this.peers6 = p6;
  }

  private intern(ip: string, port: number): number {
    const key = `${ip}|${port}`;
    let slot = this.slotOf.get(key);
    if (slot === undefined) {
      if (this.nextSlot >= this.udp.destinationSlots)
        throw new RangeError(`too many distinct remotes: at most ${this.udp.destinationSlots}`);
      slot = this.nextSlot++;
      this.udp.setDestination(slot, ip, port);
      this.slotOf.set(key, slot);
    }
    return slot;
  }
}

/** The 16 bytes of an IPv6 address in hex (no separators), matching Buffer.toString('hex') of sin6_addr. */
function ipv6Hex(ip: string): string {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((x) => parseInt(x, 16).toString(16).padStart(4, '0')).join('');
}
