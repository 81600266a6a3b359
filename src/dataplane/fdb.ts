/**
 * The forwarding database, shaped like the kernel's (drivers/net/vxlan): MAC → entry, each entry a *list* of
 * remotes (`bridge fdb append` adds one more); the all-zeros MAC entry holds the default destinations, where
 * broadcast, multicast and unknown unicast go (head-end replication). MACs are 48-bit integers.
 *
 * Remotes are interned into destination slots of the UDP bind (a sockaddr table), so the hot path hands the
 * kernel slot numbers only. Entries are immutable once published: a change builds a new entry and swaps it in
 * with one Map.set, so no packet ever sees a half-updated list.
 *
 * Learning (`--learning`, the kernel's vxlan_snoop): on decap the inner source MAC is recorded against the
 * outer source IP, with the instance's --dstport (replies go to the VTEP's port, not to the sender's
 * flow-hash source port). A static entry is never moved by learning: a frame that claims a static MAC from
 * another VTEP is dropped, as the kernel does. Learned entries carry the one mutable field, `updated` (the
 * last time the MAC was seen as a source, in the caller's clock), which the ager reads: like the kernel since
 * 6.16 (ageing on `updated`), an entry ages out `ageing` seconds after its MAC was last heard from.
 */
import ipaddr from 'ipaddr.js';
import type { UdpBind } from '../platform/types.js';
import { ipv6Hex } from '../platform/sockaddr.js';
import { ipv4AddrParse } from '../wire/ipv4.js';
import { macHi24, macLo24, macRead, MAC_ZERO } from '../wire/mac.js';

/** What the FDB needs of the UDP side: destination slots (of one socket, or of every socket of a pool). */
export type DestinationTable = Pick<UdpBind, 'destinationSlots' | 'setDestination'>;

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
  /** False for entries learned from traffic (`bridge fdb show` prints them without `permanent`). */
  readonly static: boolean;
  /** remotes[i] as an IPv4 address (uint32), or -1 for IPv6: the snoop compares without allocating. */
  readonly ip4s: Float64Array;
  /** remotes[i] as 16 IPv6 address bytes (zeros for IPv4), back to back. */
  readonly ip6s: Buffer;
  /** Learned entries: when the MAC was last seen as a source (seconds, the caller's clock). Static: 0. */
  updated: number;
}

/** The default-destination entry's MAC (the wire layer's all-zeros address). */
export { MAC_ZERO };

/** snoop() results. */
export const SNOOP_SAME = 0 as const; // known, same VTEP (or learning not applicable): deliver
export const SNOOP_LEARNED = 1 as const; // a new learned entry: deliver
export const SNOOP_MOVED = 2 as const; // a learned entry moved to another VTEP: deliver
export const SNOOP_STATIC_CONFLICT = 3 as const; // a static entry points elsewhere: drop (kernel: VXLAN_ENTRY_EXISTS)
export const SNOOP_FULL = 4 as const; // not learned (table or destination slots full): deliver

/** Upper bound of learned entries (the kernel's `max_fdb` is unlimited by default; memory here is not). */
export const LEARNED_MAX = 16384;

export class Fdb {
  private readonly entries = new Map<number, FdbEntry>();
  /**
   * The hot path's index of `entries` (lookupAt): the MAC's high 24 bits → its low 24 bits → the entry. Both
   * keys are small integers (V8 Smis); a 48-bit key is a double, and Map.get boxes it into a new heap number:
   * 16 bytes per encapsulated frame (test/unit/alloc.test.ts measured it). Kept in step by put() and remove().
   */
  private readonly byHalves = new Map<number, Map<number, FdbEntry>>();
  private readonly slotOf = new Map<string, number>();
  private nextSlot = 0;
  /** Destination slots no entry uses any more, ready for reuse (see reclaimSlots). */
  private freeSlots: number[] = [];
  /** Slots handed out by intern() for an entry not yet published: never reclaimed under its feet. */
  private readonly pendingSlots = new Set<number>();
  private readonly udp: DestinationTable;
  private readonly defaultPort: number;
  /** The all-zeros entry (default destinations), or undefined when there is none. Read on every flood. */
  defaults: FdbEntry | undefined;
  /**
   * Underlay addresses of every static remote, for --peers-only: IPv4 as sorted uint32s (a binary search: a Set
   * of numbers would box every address from 128.0.0.0 up, 16 bytes per datagram), IPv6 as the 16 address bytes
   * in hex.
   */
  private peers = new Uint32Array(0);
  private peers6 = new Set<string>();
  /** Number of learned (non-static) entries. */
  learnedCount = 0;
  /**
   * The caller's clock (seconds) for snoop(): set once per receive wakeup by the socket loop. A field, not a
   * per-datagram argument: a fractional number passed to a call V8 does not inline is a new heap number each time
   * (16 bytes per datagram with --learning, seen by test/unit/alloc.test.ts in some runs).
   */
  now = 0;

  /** One past the last destination slot this table may use. */
  private readonly slotEnd: number;
  private readonly slotBase: number;

  /**
   * `slots`: the part of the destination table this FDB owns, when several devices share one socket (a `vnis:`
   * process): each device interns its remotes in its own range, so no device reclaims another's slots.
   */
  constructor(udp: DestinationTable, defaultPort: number, slots?: { readonly base: number; readonly count: number }) {
    this.udp = udp;
    this.defaultPort = defaultPort;
    const base = slots?.base ?? 0;
    this.slotBase = base;
    this.nextSlot = base;
    this.slotEnd = Math.min(udp.destinationSlots, base + (slots?.count ?? udp.destinationSlots));
  }

  get size(): number {
    return this.entries.size;
  }

  /** Control plane: the entry for a 48-bit MAC. */
  lookup(mac: number): FdbEntry | undefined {
    return this.entries.get(mac);
  }

  /** Hot path: the entry for the 6 MAC bytes at `buf[off]`, without allocating (see byHalves). */
  lookupAt(buf: Buffer, off: number): FdbEntry | undefined {
    return this.byHalves.get(macHi24(buf, off))?.get(macLo24(buf, off));
  }

  private put(e: FdbEntry): void {
    this.entries.set(e.mac, e);
    const hi = Math.floor(e.mac / 0x1000000);
    let m = this.byHalves.get(hi);
    if (m === undefined) this.byHalves.set(hi, (m = new Map()));
    m.set(e.mac % 0x1000000, e);
  }

  private remove(mac: number): boolean {
    const hi = Math.floor(mac / 0x1000000);
    const m = this.byHalves.get(hi);
    if (m !== undefined && m.delete(mac % 0x1000000) && m.size === 0) this.byHalves.delete(hi);
    return this.entries.delete(mac);
  }

  /** `bridge fdb append`: adds a remote to the entry for `mac` (creating it). Duplicate remotes are ignored. */
  append(mac: number, ip: string, port?: number, vni?: number): void {
    const p = port ?? this.defaultPort;
    const v = vni ?? -1;
    const old = this.entries.get(mac);
    // Appending to a learned entry makes it static: the learned remote is dropped, not promoted.
    const remotes = old && old.static ? [...old.remotes] : [];
    if (remotes.some((r) => r.ip === ip && r.port === p && r.vni === v)) return;
    remotes.push({ ip, port: p, vni: v, slot: this.intern(ip, p) });
    this.publish(mac, remotes);
  }

  /** Removes the whole entry for `mac`. Returns false when there was none. */
  delete(mac: number): boolean {
    const old = this.entries.get(mac);
    if (old !== undefined && !old.static) this.learnedCount--;
    const had = this.remove(mac);
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
    if (family === 2) {
      // Read in place, not by a helper: a uint32 from 128.0.0.0 up returned by a call V8 does not inline is a
      // new heap number (16 bytes per datagram; Buffer.readUInt32BE measured so, see test/unit/alloc.test.ts).
      const a = ((addrs[off + 4]! << 24) | (addrs[off + 5]! << 16) | (addrs[off + 6]! << 8) | addrs[off + 7]!) >>> 0;
      const p = this.peers;
      let lo = 0;
      let hi = p.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const x = p[mid]!;
        if (x === a) return true;
        if (x < a) lo = mid + 1;
        else hi = mid - 1;
      }
      return false;
    }
    if (family === 10) return this.peers6.has(addrs.toString('hex', off + 8, off + 24));
    return false;
  }

  all(): FdbEntry[] {
    return [...this.entries.values()];
  }

  /**
   * Learning (the kernel's vxlan_snoop): the inner source MAC, the 6 bytes at `buf[macOff]`, arrived from the
   * outer source sockaddr at `addrs[off]` (Linux layout) at time `this.now`. Allocates only when an entry is created
   * or moves (the MAC is read as bytes, not passed as a number, for the reason given at byHalves). Returns a
   * SNOOP_* code; SNOOP_STATIC_CONFLICT means the caller drops the datagram.
   */
  snoop(buf: Buffer, macOff: number, addrs: Buffer, off: number): number {
    const now = this.now;
    const e = this.lookupAt(buf, macOff);
    const family = addrs[off]! | (addrs[off + 1]! << 8);
    if (e !== undefined) {
      if (remoteIndexOf(e, addrs, off, family) >= 0) {
        if (!e.static) e.updated = now;
        return SNOOP_SAME;
      }
      // "Don't migrate static entries, drop packets" (vxlan_core.c).
      if (e.static) return SNOOP_STATIC_CONFLICT;
    } else if (this.learnedCount >= LEARNED_MAX) return SNOOP_FULL;
    const ip = sockaddrIp(addrs, off, family);
    if (ip === undefined) return SNOOP_FULL;
    let slot: number;
    try {
      slot = this.intern(ip, this.defaultPort);
    } catch {
      return SNOOP_FULL; // no destination slot left: keep flooding to this MAC
    }
    if (e === undefined) this.learnedCount++;
    this.publish(macRead(buf, macOff), [{ ip, port: this.defaultPort, vni: -1, slot }], false, now);
    return e === undefined ? SNOOP_LEARNED : SNOOP_MOVED;
  }

  /**
   * Ageing: removes learned entries not heard from for `ageing` seconds (updated + ageing <= now, as the
   * kernel's vxlan_cleanup). Returns how many went. `ageing` 0 = never.
   */
  age(now: number, ageing: number): number {
    if (ageing <= 0 || this.learnedCount === 0) return 0;
    let n = 0;
    for (const e of this.entries.values()) {
      if (!e.static && e.updated + ageing <= now) {
        this.remove(e.mac);
        this.learnedCount--;
        n++;
      }
    }
    return n;
  }

  private publish(mac: number, remotes: Remote[], isStatic = true, now = 0): void {
    const ip6s = Buffer.alloc(16 * remotes.length);
    const ip4s = Float64Array.from(remotes, (r, i) => {
      const v4 = parseV4(r.ip);
      if (v4 < 0) Buffer.from(ipaddr.parse(r.ip).toByteArray()).copy(ip6s, 16 * i);
      return v4;
    });
    const e: FdbEntry = {
      mac,
      remotes,
      slots: Uint32Array.from(remotes, (r) => r.slot),
      vnis: Int32Array.from(remotes, (r) => r.vni),
      static: isStatic,
      ip4s,
      ip6s,
      updated: isStatic ? 0 : now,
    };
    const old = this.entries.get(mac);
    if (isStatic && old !== undefined && !old.static) this.learnedCount--;
    this.put(e);
    this.pendingSlots.clear();
    if (mac === MAC_ZERO) this.defaults = e;
    // Learned remotes come from datagrams that already passed --peers-only: the peer sets stay the static ones.
    if (isStatic) this.rebuildPeers();
  }

  /** Recomputes the known-peer sets from all entries (control plane; swaps whole sets). */
  private rebuildPeers(): void {
    const p4 = new Set<number>();
    const p6 = new Set<string>();
    for (const e of this.entries.values())
      if (e.static) for (const r of e.remotes) {
        const v4 = parseV4(r.ip);
        if (v4 >= 0) p4.add(v4);
        else p6.add(ipv6Hex(r.ip));
      }
    this.peers = Uint32Array.from(p4).sort();
    this.peers6 = p6;
  }

  private intern(ip: string, port: number): number {
    const key = `${ip}|${port}`;
    let slot = this.slotOf.get(key);
    if (slot === undefined) {
      if (this.freeSlots.length === 0 && this.nextSlot >= this.slotEnd) this.reclaimSlots();
      if (this.freeSlots.length > 0) slot = this.freeSlots.pop()!;
      else if (this.nextSlot < this.slotEnd) slot = this.nextSlot++;
      else throw new RangeError(`too many distinct remotes: at most ${this.slotEnd - this.slotBase}`);
      this.udp.setDestination(slot, ip, port);
      this.slotOf.set(key, slot);
    }
    this.pendingSlots.add(slot);
    return slot;
  }

  /**
   * Frees the destination slots that no published entry refers to any more (remotes deleted, replaced, moved
   * or aged out), so months of `fdb replace` and learning never exhaust the table. Runs only when the table is
   * full, on the control path or in a learning step — never per packet in steady state. Safe because every
   * change happens between batches on the one event loop: no queued send refers to a slot of a removed entry.
   */
  private reclaimSlots(): void {
    const used = new Set<number>(this.pendingSlots);
    for (const e of this.entries.values()) for (const r of e.remotes) used.add(r.slot);
    for (const [key, slot] of this.slotOf) {
      if (!used.has(slot)) {
        this.slotOf.delete(key);
        this.freeSlots.push(slot);
      }
    }
  }

  /** Destination slots in use by the table (tests). */
  get slotsInUse(): number {
    return this.slotOf.size;
  }
}

/** A dotted-quad IPv4 address as uint32, or -1 when `ip` is not IPv4 (the wire layer's one IPv4 grammar). */
function parseV4(ip: string): number {
  return ipv4AddrParse(ip) ?? -1;
}

/** Index of the remote of `e` whose address is the sockaddr at `addrs[off]`, or -1. No allocation. */
function remoteIndexOf(e: FdbEntry, addrs: Buffer, off: number, family: number): number {
  const k = e.ip4s.length;
  if (family === 2) {
    // Read in place, as in isKnownPeer (a returned uint32 may be boxed).
    const a = ((addrs[off + 4]! << 24) | (addrs[off + 5]! << 16) | (addrs[off + 6]! << 8) | addrs[off + 7]!) >>> 0;
    for (let i = 0; i < k; i++) if (e.ip4s[i] === a) return i;
  } else if (family === 10) {
    for (let i = 0; i < k; i++) if (e.ip4s[i]! < 0 && e.ip6s.compare(addrs, off + 8, off + 24, 16 * i, 16 * i + 16) === 0) return i;
  }
  return -1;
}

/** The address of a Linux sockaddr_in/_in6 as canonical text (control-plane rate: a learn or a move). */
function sockaddrIp(addrs: Buffer, off: number, family: number): string | undefined {
  if (family === 2) return `${addrs[off + 4]}.${addrs[off + 5]}.${addrs[off + 6]}.${addrs[off + 7]}`;
  if (family === 10) return (ipaddr.fromByteArray([...addrs.subarray(off + 8, off + 24)]) as ipaddr.IPv6).toRFC5952String();
  return undefined;
}

