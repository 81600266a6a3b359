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
    return had;
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
