/**
 * The send queue of one device's encapsulation: datagrams queued during a TAP wakeup, handed to the kernel in
 * one sendmmsg per run of entries that share a Buffer and a socket, and the staging area for bytes that cannot
 * be sent from the read slots in place (TSO segments, per-remote VNI copies, UDP GSO trains).
 *
 * Sockets: each entry remembers the socket it leaves from (--srcport and --df inherit choose one per flow).
 * send() hands every socket its own entries in one sendmmsg, in queue order, so a batch of frames from many
 * flows costs one call per socket, not one per change of socket. Entries of one socket keep their order, and
 * one flow always leaves from one socket, so each flow's wire order is its TAP order.
 *
 * Ownership, in one sentence: the queue owns the staging area and its entry arrays; the Buffers its entries
 * point at (the TAP batch or the staging area) stay valid until flush(), which the encapsulator calls at the end
 * of every TAP batch, and the sockets it sends on are borrowed (opened and closed by the control plane).
 *
 * Counting: a flushed entry is tx_packets/tx_bytes (sent), tx_sock_full or tx_error, per datagram (a GSO train
 * counts its segments), into the device's counters.
 */
import type { UdpBind } from '../platform/types.js';
import { C } from './counters.js';

/** One UDP GSO send: at most 64 segments (UDP_MAX_SEGMENTS on older kernels) and < 64 KiB in all. */
export const GSO_MAX_SEGMENTS = 64;
export const GSO_MAX_BYTES = 65000;
/** Entries one native call takes at most. */
const QUEUE_ENTRIES = 1024;

/** sendmmsg entries as parallel typed arrays (the shape sendBatch takes). */
class Entries {
  readonly offs = new Uint32Array(QUEUE_ENTRIES);
  readonly lens = new Uint32Array(QUEUE_ENTRIES);
  readonly dest = new Uint32Array(QUEUE_ENTRIES);
  readonly gso = new Uint16Array(QUEUE_ENTRIES);
  readonly segs = new Uint16Array(QUEUE_ENTRIES);
  readonly tos = new Uint8Array(QUEUE_ENTRIES);

  /** Entry `i` becomes a copy of entry `j` of `from`. */
  copy(i: number, from: Entries, j: number): void {
    this.offs[i] = from.offs[j]!;
    this.lens[i] = from.lens[j]!;
    this.dest[i] = from.dest[j]!;
    this.gso[i] = from.gso[j]!;
    this.segs[i] = from.segs[j]!;
    this.tos[i] = from.tos[j]!;
  }
}

export class SendQueue {
  /**
   * Staging area: bump-allocated during a wakeup (stageAlloc, queueTrain), reset by flush() after the
   * synchronous send.
   */
  readonly stage: Buffer;
  private stagePos = 0;
  /** The socket the next queued entry leaves from: chosen per frame by the encapsulator (--srcport, --df inherit). */
  via: UdpBind;
  private readonly udpGso: boolean;
  private readonly perPacketTos: boolean;
  private readonly v: Float64Array;
  // The queued entries: one Buffer and one socket per native call.
  private sendBuf: Buffer;
  /** The socket of each entry (references only: set per entry, never allocated). */
  private readonly sockOf: UdpBind[];
  /** Some entry leaves from another socket than entry 0: send() groups them. */
  private mixed = false;
  /** The queued entries. */
  private readonly e = new Entries();
  /** Scratch for one socket's entries when the queue holds several sockets' (send()). */
  private readonly g = new Entries();
  private readonly taken = new Uint8Array(QUEUE_ENTRIES);
  private count = 0;
  /** The last queued entry is a GSO train that may take more datagrams (see queueTrain). */
  private trainOpen = false;
  private readonly result = new Int32Array(4);

  constructor(o: { readonly stageBytes: number; readonly udp: UdpBind; readonly udpGso: boolean; readonly counters: Float64Array }) {
    this.stage = Buffer.allocUnsafeSlow(o.stageBytes).fill(0);
    this.via = o.udp;
    this.sockOf = new Array<UdpBind>(QUEUE_ENTRIES).fill(o.udp);
    this.sendBuf = this.stage;
    this.udpGso = o.udpGso;
    this.perPacketTos = o.udp.perPacketTos;
    this.v = o.counters;
  }

  /** Reserves `len` bytes of the staging area (64-byte aligned), flushing queued sends first when it is full. */
  stageAlloc(len: number): number {
    if (this.stagePos + len > this.stage.length) this.flush();
    const at = this.stagePos;
    this.stagePos += (len + 63) & ~63;
    return at;
  }

  /**
   * Queues one sendmmsg entry, from the socket `via`. Entries refer to one Buffer per native call, so switching
   * Buffers (the read slots, the staging area) sends what is queued first — which also keeps the wire order
   * equal to the TAP order.
   */
  queue(buf: Buffer, off: number, len: number, dest: number, gso: number, segs: number, tos: number): void {
    this.trainOpen = false; // only queueTrain reopens: a train must stay the last entry
    if (this.count !== 0 && (buf !== this.sendBuf || this.count === QUEUE_ENTRIES)) this.send();
    this.sendBuf = buf;
    const i = this.count++;
    const via = this.via;
    this.sockOf[i] = via;
    if (i !== 0 && via !== this.sockOf[0]) this.mixed = true;
    this.e.offs[i] = off;
    this.e.lens[i] = len;
    this.e.dest[i] = dest;
    this.e.gso[i] = gso;
    this.e.segs[i] = segs;
    this.e.tos[i] = tos;
  }

  /**
   * UDP GSO for ordinary frames (wireguard-go does the same): consecutive datagrams to one remote are copied
   * back to back into the staging area and sent as one UDP_SEGMENT message — one pass through the kernel's
   * UDP/IP stack (and, with UDP GRO at the peer, one receive) for up to 64 datagrams, against one each. A
   * train takes datagrams of its first one's size; a shorter one may end it (GSO allows a short last segment).
   * A train has one outer TOS (one IP_TOS control message): a datagram with another TOS starts a new train.
   * The memcpy (~0.1 µs for 1.4 KB) is far cheaper than the per-datagram kernel work it saves.
   */
  queueTrain(buf: Buffer, off: number, len: number, dest: number, tos: number): void {
    const t = this.count - 1;
    if (
      this.trainOpen && t >= 0 && this.sendBuf === this.stage && this.sockOf[t] === this.via && this.e.dest[t] === dest && this.e.tos[t] === tos &&
      len <= this.e.gso[t]! && this.e.segs[t]! < GSO_MAX_SEGMENTS && this.e.lens[t]! + len <= GSO_MAX_BYTES &&
      this.stagePos === this.e.offs[t]! + this.e.lens[t]! && this.stagePos + len <= this.stage.length
    ) {
      buf.copy(this.stage, this.stagePos, off, off + len);
      this.stagePos += len;
      this.e.lens[t]! += len;
      this.e.segs[t]!++;
      if (len < this.e.gso[t]!) this.trainOpen = false;
      return;
    }
    if (this.stagePos + len > this.stage.length) this.flush();
    const at = this.stagePos;
    buf.copy(this.stage, at, off, off + len);
    this.stagePos += len;
    this.queue(this.stage, at, len, dest, len, 1, tos);
    this.trainOpen = true;
  }

  /** Sends everything queued and frees the staging area (end of a TAP batch). */
  flush(): void {
    this.send();
    this.stagePos = 0;
  }

  /**
   * Sends what is queued, keeping the staging area: for when queued entries point at staged bytes about to be
   * rewritten (a super-frame's VXLAN headers for a remote with another VNI), or before a tunnel-path write.
   */
  send(): void {
    const n = this.count;
    if (n === 0) return;
    this.count = 0;
    this.trainOpen = false;
    // A one-datagram train is a plain datagram.
    for (let i = 0; i < n; i++) if (this.e.segs[i] === 1) this.e.gso[i] = 0;
    if (!this.mixed) {
      this.sendGroup(this.sockOf[0]!, this.e, n);
      return;
    }
    this.mixed = false;
    // Several sockets: each one's entries, in queue order, copied to the front of the scratch arrays and sent
    // in one call. O(entries × sockets) copies of a few numbers: far below one syscall per change of socket.
    const taken = this.taken;
    taken.fill(0, 0, n);
    for (let i = 0; i < n; i++) {
      if (taken[i] !== 0) continue;
      const sock = this.sockOf[i]!;
      let k = 0;
      for (let j = i; j < n; j++) {
        if (taken[j] !== 0 || this.sockOf[j] !== sock) continue;
        taken[j] = 1;
        this.g.copy(k++, this.e, j);
      }
      this.sendGroup(sock, this.g, k);
    }
  }

  /** One sendmmsg of entries 0..n-1 of `q` from `sock`, and their counters. */
  private sendGroup(sock: UdpBind, q: Entries, n: number): void {
    let bytes = 0;
    let segs = 0;
    for (let i = 0; i < n; i++) {
      bytes += q.lens[i]!; // UDP payload bytes handed over (VXLAN headers included)
      segs += q.segs[i]!;
    }
    const r = this.result;
    sock.sendBatch(this.sendBuf, q.offs, q.lens, q.dest, n, r, this.udpGso ? q.gso : undefined, this.perPacketTos ? q.tos : undefined);
    const v = this.v;
    if (r[1]! === 0 && r[2]! === 0) {
      v[C.tx_packets]! += segs;
      v[C.tx_bytes]! += bytes;
    } else {
      // Entries fail whole; scale by the share that went out (exact when all entries are alike, which is the
      // common case: a batch of MTU frames or of GSO bursts).
      v[C.tx_packets]! += Math.round((segs * r[0]!) / n);
      v[C.tx_bytes]! += Math.round((bytes * r[0]!) / n);
      v[C.tx_sock_full]! += Math.round((segs * r[1]!) / n);
      v[C.tx_error]! += Math.round((segs * r[2]!) / n);
    }
  }
}
