/**
 * Keeps this node's view of `<prefix>/` current: list once, then watch from the list's revision + 1, and
 * after any watch failure (etcd gone, the stream reset, a compaction that cancels the watch: flannel#2470)
 * list again, diff, and watch again. The re-list is what makes a gap harmless: whatever happened while we
 * were not watching shows up in the diff.
 *
 * While etcd is unreachable nothing is removed: the last known state keeps forwarding, `status()` says
 * "unreachable since ...", and the retry pauses grow from 100 ms to at most ETCD_RETRY_CAP_MS.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../runtime/instance.js';
import { ETCD_RETRY_CAP_MS, etcdErrorText } from './etcd-client.js';

export interface SyncHandlers {
  /** A full listing (key → value) at some revision: diff it against the known state. */
  resync(all: ReadonlyMap<string, string>): void;
  put(key: string, value: string): void;
  del(key: string): void;
}

export interface SyncStatus {
  readonly reachable: boolean;
  /** Since when (ms since the epoch) etcd has been reachable or unreachable. */
  readonly since: number;
  readonly lastError: string | undefined;
  /** Full re-lists after the first one. */
  readonly resyncs: number;
  /** Watch events applied. */
  readonly events: number;
  readonly revision: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

export class PrefixSync {
  private watcher: Watcher | undefined;
  private revision = '0';
  private reachable = true;
  private since = Date.now();
  private lastError: string | undefined;
  private resyncs = 0;
  private events = 0;
  private repairing = false;
  private stopped = false;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly h: SyncHandlers,
    private readonly log: Logger,
  ) {}

  status(): SyncStatus {
    return { reachable: this.reachable, since: this.since, lastError: this.lastError, resyncs: this.resyncs, events: this.events, revision: this.revision };
  }

  /** The first list and the watch; rejects when etcd cannot be listed (the caller retries at start). */
  async start(): Promise<void> {
    await this.list();
    await this.watch();
  }

  stop(): void {
    this.stopped = true;
    const w = this.watcher;
    this.watcher = undefined;
    void w?.cancel().catch(() => {});
  }

  /** Marks etcd unreachable (for `show` and the log) without touching any table; called by the lease keeper too. */
  markUnreachable(why: string): void {
    this.lastError = why;
    if (!this.reachable) return;
    this.reachable = false;
    this.since = Date.now();
    this.log(`etcd: unreachable (${why}); forwarding goes on with the last known state (${new Date(this.since).toISOString()})`);
  }

  private markReachable(): void {
    if (this.reachable) return;
    const down = Math.round((Date.now() - this.since) / 100) / 10;
    this.reachable = true;
    this.since = Date.now();
    this.log(`etcd: reachable again after ${down} s; state re-listed and diffed (revision ${this.revision})`);
  }

  private async list(): Promise<void> {
    const res = await this.client.getAll().prefix(`${this.prefix}/`).exec();
    const all = new Map<string, string>();
    for (const kv of res.kvs) all.set(kv.key.toString(), kv.value.toString());
    this.revision = res.header.revision;
    this.h.resync(all);
  }

  private async watch(): Promise<void> {
    const next = (BigInt(this.revision) + 1n).toString();
    const w = await this.client.watch().prefix(`${this.prefix}/`).startRevision(next).create();
    if (this.stopped) {
      void w.cancel().catch(() => {});
      return;
    }
    this.watcher = w;
    w.on('put', (kv: IKeyValue) => this.event(kv, () => this.h.put(kv.key.toString(), kv.value.toString())));
    w.on('delete', (kv: IKeyValue) => this.event(kv, () => this.h.del(kv.key.toString())));
    w.on('disconnected', (e: Error) => this.broken(w, `watch disconnected: ${etcdErrorText(e)}`));
    w.on('error', (e: Error) => this.broken(w, `watch failed: ${etcdErrorText(e)}`));
  }

  private event(kv: IKeyValue, apply: () => void): void {
    // An event the last list already covered (the watch started before the list's revision) is skipped.
    if (BigInt(kv.mod_revision) <= BigInt(this.revision)) return;
    this.revision = kv.mod_revision;
    this.events++;
    apply();
  }

  /** The watch is gone: drop it, then list + diff + watch again until that works. */
  private broken(w: Watcher, why: string): void {
    if (this.stopped || this.watcher !== w || this.repairing) return;
    this.watcher = undefined;
    void w.cancel().catch(() => {});
    this.markUnreachable(why);
    this.repairing = true;
    void this.repair();
  }

  private async repair(): Promise<void> {
    let pause = 100;
    while (!this.stopped) {
      try {
        await this.list();
        await this.watch();
        this.resyncs++;
        this.repairing = false;
        this.markReachable();
        return;
      } catch (e) {
        this.lastError = etcdErrorText(e);
        await sleep(pause);
        pause = Math.min(pause * 2, ETCD_RETRY_CAP_MS);
      }
    }
    this.repairing = false;
  }
}
