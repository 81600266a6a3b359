/**
 * The remote leases this node programs, kept incrementally from etcd's key/value events.
 *
 * put(key, value) / del(key) each cost O(1) (index lookups, one JSON parse) and return the peer changes they
 * cause: add, change (a new VTEP MAC or public IP for the same subnet) or remove. resync(all) diffs a full
 * re-list against what is known and feeds only the differences through put/del, so a watch that broke (an
 * error, a compaction: flannel#2470) costs one list, not a reprogramming of every route.
 *
 * Bad input never crashes and never removes good entries: a value that does not parse, a subnet outside
 * Network, a lease claiming this node's subnet, a second lease for one subnet, public IP or VTEP MAC: each is
 * skipped, counted, and reported once (one sentence naming the key) until its value changes. When the lease
 * that won a duplicate goes, the skipped ones are looked at again.
 */
import { LayoutError, parseLease, parseSubnetKey, subnetEq, subnetKeyName, subnetText, type NetworkConfig, type Subnet } from './layout.js';

export interface Peer {
  readonly key: string;
  readonly subnet: Subnet;
  readonly publicIp: string;
  readonly mac: string;
  readonly macNum: number;
  /** When this node first saw this value (ms since the epoch): `show` prints the age. */
  readonly since: number;
}

export type PeerChange =
  | { readonly kind: 'add'; readonly peer: Peer }
  | { readonly kind: 'change'; readonly from: Peer; readonly to: Peer }
  | { readonly kind: 'remove'; readonly peer: Peer };

export interface MembershipSelf {
  readonly publicIp: string;
  /** Our subnet; a getter because a lease lost during an outage may come back (it keeps the subnet). */
  subnet(): Subnet | undefined;
}

export class Membership {
  /** Every value seen under <prefix>/subnets/, valid or not. */
  private readonly raw = new Map<string, string>();
  private readonly peersByKey = new Map<string, Peer>();
  private readonly byPublicIp = new Map<string, string>();
  private readonly byMac = new Map<number, string>();
  /** Subnet network address → key: `10.244.3.0-24` and `10.244.3.0-24&fd00::-64` are one subnet. */
  private readonly bySubnet = new Map<number, string>();
  /** Skipped keys → why (the sentence). */
  private readonly rejected = new Map<string, string>();
  /** Bad entries skipped so far (each distinct bad value once). */
  skipped = 0;

  constructor(
    private readonly cfg: NetworkConfig,
    private readonly prefix: string,
    private readonly self: MembershipSelf,
    private readonly report: (key: string, sentence: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  peers(): IterableIterator<Peer> {
    return this.peersByKey.values();
  }
  get size(): number {
    return this.peersByKey.size;
  }
  get rejectedCount(): number {
    return this.rejected.size;
  }
  rejections(): ReadonlyMap<string, string> {
    return this.rejected;
  }

  put(key: string, value: string): PeerChange[] {
    if (this.raw.get(key) === value && (this.peersByKey.has(key) || this.rejected.has(key) || this.isSelf(key))) return [];
    this.raw.set(key, value);
    return this.evaluate(key, value);
  }

  del(key: string): PeerChange[] {
    if (!this.raw.delete(key)) return [];
    this.rejected.delete(key);
    const old = this.peersByKey.get(key);
    if (old === undefined) return [];
    this.unindex(old);
    const out: PeerChange[] = [{ kind: 'remove', peer: old }];
    // A lease skipped as a duplicate of this one may be fine now.
    for (const k of [...this.rejected.keys()]) out.push(...this.evaluate(k, this.raw.get(k)!));
    return out;
  }

  /** Diffs a full listing (key → value) against what is known: only the differences become changes. */
  resync(all: ReadonlyMap<string, string>): PeerChange[] {
    const out: PeerChange[] = [];
    for (const k of [...this.raw.keys()]) if (!all.has(k)) out.push(...this.del(k));
    for (const [k, v] of all) out.push(...this.put(k, v));
    return out;
  }

  /** Our own key (our subnet, our public IP) is not a peer. */
  private isSelf(key: string): boolean {
    const own = this.self.subnet();
    return own !== undefined && key.startsWith(`${this.prefix}/subnets/${subnetKeyName(own)}`);
  }

  private evaluate(key: string, value: string): PeerChange[] {
    const old = this.peersByKey.get(key);
    const verdict = this.check(key, value);
    if (typeof verdict === 'string' || verdict === undefined) {
      if (old !== undefined) this.unindex(old);
      if (verdict === undefined) {
        this.rejected.delete(key);
      } else if (this.rejected.get(key) !== verdict) {
        this.rejected.set(key, verdict);
        this.skipped++;
        this.report(key, verdict);
      }
      return old !== undefined ? [{ kind: 'remove', peer: old }] : [];
    }
    this.rejected.delete(key);
    if (old !== undefined && old.publicIp === verdict.publicIp && old.macNum === verdict.macNum) return [];
    const peer: Peer = { key, subnet: verdict.subnet, publicIp: verdict.publicIp, mac: verdict.mac, macNum: verdict.macNum, since: this.now() };
    if (old !== undefined) this.unindex(old);
    this.peersByKey.set(key, peer);
    this.byPublicIp.set(peer.publicIp, key);
    this.byMac.set(peer.macNum, key);
    this.bySubnet.set(peer.subnet.net, key);
    return old !== undefined ? [{ kind: 'change', from: old, to: peer }] : [{ kind: 'add', peer }];
  }

  private unindex(p: Peer): void {
    this.peersByKey.delete(p.key);
    if (this.byPublicIp.get(p.publicIp) === p.key) this.byPublicIp.delete(p.publicIp);
    if (this.byMac.get(p.macNum) === p.key) this.byMac.delete(p.macNum);
    if (this.bySubnet.get(p.subnet.net) === p.key) this.bySubnet.delete(p.subnet.net);
  }

  /** A valid lease, a sentence saying why it is skipped, or undefined for our own lease (silently not a peer). */
  private check(key: string, value: string): { subnet: Subnet; publicIp: string; mac: string; macNum: number } | string | undefined {
    const subnet = parseSubnetKey(key, this.prefix);
    if (typeof subnet === 'string') return `${subnet}: skipped`;
    let lease;
    try {
      lease = parseLease(key, subnet, value, this.cfg);
    } catch (e) {
      if (e instanceof LayoutError) return `${e.message}: skipped`;
      throw e;
    }
    const own = this.self.subnet();
    if (own !== undefined && subnetEq(own, subnet)) {
      if (lease.publicIp === this.self.publicIp) return undefined;
      return `${key} claims this node's own subnet ${subnetText(own)} for ${lease.publicIp}: skipped (two nodes cannot share a subnet)`;
    }
    if (lease.publicIp === this.self.publicIp)
      return `${key} has this node's own PublicIP ${lease.publicIp} (a stale lease of ours?): skipped`;
    const netOwner = this.bySubnet.get(subnet.net);
    if (netOwner !== undefined && netOwner !== key) return `${key} claims subnet ${subnetText(subnet)}, which ${netOwner} already has: skipped (two nodes cannot share a subnet)`;
    const ipOwner = this.byPublicIp.get(lease.publicIp);
    if (ipOwner !== undefined && ipOwner !== key) return `${key} has PublicIP ${lease.publicIp}, which ${ipOwner} already has: skipped (one node, one lease)`;
    const macOwner = this.byMac.get(lease.macNum);
    if (macOwner !== undefined && macOwner !== key) return `${key} has VtepMAC ${lease.mac}, which ${macOwner} already has: skipped (one FDB entry per MAC)`;
    return lease;
  }
}
