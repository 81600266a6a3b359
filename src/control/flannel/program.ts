/**
 * Programs what flannel's vxlan backend programs for each remote lease, on this node's TAP device:
 *
 *   1. a neighbour <subnet>.0 → VtepMAC: in the proxy-ARP table (tables.ts) and in the kernel's neighbour
 *      table (`ip neigh replace ... nud permanent`), so the kernel never ARPs and `ip neigh` shows the truth;
 *   2. an FDB entry VtepMAC → PublicIP (tables.ts, the same code as `vxlan-user fdb replace`);
 *   3. a route `<subnet> via <subnet>.0 dev IFNAME onlink` (the device has <subnet>.0/32: /32 addressing).
 *
 * Order, so that no packet ever meets a half-made entry (flannel#1795, #1788: a stale ARP entry after a MAC
 * change):
 *   add/change  FDB entry and proxy neighbour for the new MAC in one synchronous step (between two dataplane
 *               batches), then the kernel neighbour and route in one `ip -batch`, then the old MAC's FDB entry
 *               goes. At every moment the MAC the kernel resolves to has an FDB entry.
 *   remove      route and kernel neighbour first (`ip -batch`), then the FDB entry and proxy neighbour.
 * Each batch of changes costs one `ip` process, whatever its size; one lease change touches only its own
 * three entries.
 */
import { spawn } from 'node:child_process';
import { ipv4AddrParse } from '../../wire/ipv4.js';
import { macParse } from '../../wire/mac.js';
import type { Logger } from '../runtime/instance.js';
import { applyFdbChange, applyNeighChange, type TableContext } from '../runtime/tables.js';
import { subnetAddr, subnetText } from './layout.js';
import type { Peer, PeerChange } from './members.js';

export interface IpBatchResult {
  readonly ok: boolean;
  readonly stderr: string;
}

/** `ip -force -batch -` with these lines on stdin: one process for many commands; never rejects. */
export function ipBatch(lines: readonly string[]): Promise<IpBatchResult> {
  if (lines.length === 0) return Promise.resolve({ ok: true, stderr: '' });
  return new Promise((resolve) => {
    const child = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => resolve({ ok: false, stderr: e.message }));
    child.on('close', (code) => resolve({ ok: code === 0, stderr: stderr.trim() }));
    child.stdin.on('error', () => {});
    child.stdin.end(lines.join('\n') + '\n');
  });
}

/** The iproute2 lines that program (or unprogram) one peer on `dev`; `plan --as-kernel` prints the same. */
export function peerAddLines(dev: string, p: Pick<Peer, 'subnet' | 'mac'>): string[] {
  const gw = subnetAddr(p.subnet, 0);
  return [`neigh replace ${gw} lladdr ${p.mac} dev ${dev} nud permanent`, `route replace ${subnetText(p.subnet)} via ${gw} dev ${dev} onlink`];
}
export function peerDelLines(dev: string, p: Pick<Peer, 'subnet'>): string[] {
  return [`route del ${subnetText(p.subnet)} dev ${dev}`, `neigh del ${subnetAddr(p.subnet, 0)} dev ${dev}`];
}

export class Programmer {
  /** Changes wait here while a batch is being applied; they are applied in arrival order. */
  private queue: PeerChange[] = [];
  private running: Promise<void> | undefined;
  /** Peer changes applied so far, and `ip` batches that reported an error. */
  applied = 0;
  ipErrors = 0;

  constructor(
    private readonly ctx: TableContext,
    private readonly dev: string,
    private readonly log: Logger,
  ) {}

  /** Queues changes; the returned promise resolves when they (and all queued before) are programmed. */
  apply(changes: readonly PeerChange[]): Promise<void> {
    if (changes.length > 0) this.queue.push(...changes);
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.applyBatch(batch);
    }
  }

  private async applyBatch(batch: readonly PeerChange[]): Promise<void> {
    const ctx = this.ctx;
    const lines: string[] = [];
    const after: (() => void)[] = [];
    // Step 1, synchronous: the new MACs become forwardable and answerable.
    for (const c of batch) {
      if (c.kind === 'remove') {
        lines.push(...peerDelLines(this.dev, c.peer));
        after.push(() => this.forget(c.peer));
        continue;
      }
      const p = c.kind === 'add' ? c.peer : c.to;
      this.quiet(() => applyFdbChange(ctx, { action: 'replace', mac: p.mac, dst: p.publicIp }));
      this.quiet(() => applyNeighChange(ctx, { action: 'replace', ip: subnetAddr(p.subnet, 0), lladdr: p.mac }));
      lines.push(...peerAddLines(this.dev, p));
      if (c.kind === 'change' && c.from.macNum !== c.to.macNum) after.push(() => this.dropMac(c.from.mac));
    }
    // Step 2: the kernel's neighbour and route tables, one process for the whole batch.
    const r = await ipBatch(lines);
    if (!r.ok) {
      this.ipErrors++;
      this.log(`etcd: ip -batch reported: ${r.stderr.split('\n').slice(0, 3).join('; ')}`);
    }
    // Step 3, synchronous: what the old state needed and the new one does not.
    for (const f of after) f();
    this.applied += batch.length;
  }

  private forget(p: Peer): void {
    const ip = subnetAddr(p.subnet, 0);
    if (this.ctx.vtep.neigh.get(ipv4AddrParse(ip)!) === p.macNum) this.quiet(() => applyNeighChange(this.ctx, { action: 'del', ip }));
    this.dropMac(p.mac);
  }

  private dropMac(mac: string): void {
    // Only when no neighbour still resolves to it (a later lease may have taken the MAC over).
    const num = macParse(mac)!;
    for (const m of this.ctx.vtep.neigh.values()) if (m === num) return;
    if (this.ctx.vtep.fdb.lookup(num) !== undefined) this.quiet(() => applyFdbChange(this.ctx, { action: 'del', mac }));
  }

  private quiet(f: () => string): void {
    try {
      f();
    } catch (e) {
      this.log(`etcd: ${(e as Error).message}`);
    }
  }
}

