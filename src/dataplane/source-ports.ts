/**
 * `--srcport MIN-MAX`: which outer UDP source port an inner flow leaves from, and the send socket bound to it.
 *
 * The port, as the kernel's udp_flow_src_port (include/net/udp.h) picks it:
 *     kernel:  ((u64) hash * (max - min)) >> 32) + min        max exclusive
 *     ours:    ((hash * (max - min + 1)) / 2^32 | 0) + min    max inclusive (the config's MIN-MAX)
 * Every port of the range comes out, each for 1/span of the hash space, and one flow (one hash) always gets one
 * port: 65 flows over 1000 ports land on ~63 distinct ports, as with the kernel. The kernel first folds
 * `hash ^= hash << 16`, to obfuscate the skb hash it puts on the wire (only the top 16 bits count); ours is
 * not a secret (the inner 5-tuple it hashes travels in clear beside it), and flowHash ends in murmur3's
 * finaliser, whose top bits are as well mixed as its low ones, so it is used as is.
 *
 * The sockets. A userspace VTEP can only send from a port through a socket bound to it (the kernel's vxlan
 * writes the UDP header itself, as our tunnel path does: portFor). So a port gets its socket the first time a
 * flow maps to it — one bind per port, never per packet — and keeps it until the instance stops. A port that
 * cannot be bound (EADDRINUSE: another program holds it; EMFILE; ...) or that comes once CAP sockets are open is
 * mapped, once and for good, onto an open socket of the pool (the one at `offset % open`), so its flows keep one
 * port — another one — from then on. prime() opens the first free port at start, so an open one always exists.
 *
 * --df inherit. Linux has no per-datagram DF control message for IPv4, so DF is a socket setting: each port has
 * two kinds of socket, DF clear and DF set, each opened lazily on its own (a port whose flows are all TCP, DF
 * set, costs one socket). The DF-set twin binds the same port (SO_REUSEPORT on both: the opener's business), so
 * a flow's port does not depend on its DF bit, as with the kernel; the two kinds fall back independently.
 *
 * Cost per open socket: one fd and the kernel's socket (~2-3 KiB; a receive buffer kept small since these
 * sockets are never read), a few hundred bytes of JS; no destination table — the opener must give each the
 * --dstport socket's table (UdpOpenOptions.shareDestinations), so the FDB writes a slot once for all of them.
 * Per port of the range: 2 bytes per kind (the Uint16Array maps), at most 128 KiB for a 65535-port range.
 *
 * Ownership: the sockets are opened by the `open` callback of the control plane (bind, outer-header options,
 * GSO) and closed by it; the pool only borrows them. Each device has its pool (its own wrappers, e.g. its
 * per-datagram TTL); the devices of a `vnis:` process share the sockets underneath through the opener.
 *
 * Hot path: socketFor and portFor are a multiply and two typed-array/array reads once a port is known; the
 * slow path (resolve) runs once per port and kind, and allocates only there.
 */
import type { UdpBind } from '../platform/types.js';

/**
 * Sockets the pool opens at most per kind (DF clear / DF set). Why 1024: it covers a 1000-port range whole
 * (the 40000-40999, and what ECMP/RSS needs: their hash tables have 64-512 buckets, so 1024 distinct
 * source ports already spread as well as 28 000 would); 1024 (2048 with --df inherit) fds fit the usual
 * RLIMIT_NOFILE that Node raises to the hard limit (4096 and up), and the control plane has its own limit
 * check (the instance lowers the cap when the process has fewer fds to spare). Past it, new ports share open
 * sockets; the spread stays over 1024 ports.
 */
export const SOURCE_PORTS_CAP = 1024;

/**
 * Opens the send socket for `port`, DF set when `df`, sharing the --dstport socket's destination table; returns
 * it, or the errno name (EADDRINUSE, EMFILE, ...) when the kernel refuses. Called at most once per port and kind.
 */
export type SourcePortOpener = (port: number, df: boolean) => UdpBind | string;

export interface SourcePortsOptions {
  readonly min: number;
  /** Inclusive. */
  readonly max: number;
  readonly open: SourcePortOpener;
  /** Sockets per kind at most; default SOURCE_PORTS_CAP. */
  readonly cap?: number;
  /** --df inherit: frames with DF leave from DF-set sockets of their port. */
  readonly dfTwins?: boolean;
  /** Last resort when a kind has no socket at all (prime() was not called or found none): the --dstport socket. */
  readonly fallback: UdpBind;
  /** Told once per kind when the cap is reached and once per kind and errno when a port falls back. */
  readonly log?: (line: string) => void;
}

/** One kind of socket (DF clear or DF set): the port → socket map and the sockets open. */
class Kind {
  /** Per port offset: 0 = not resolved yet, else 1 + the index in `socks` (its own socket, or a fallback). */
  readonly slot: Uint16Array;
  readonly socks: UdpBind[] = [];
  /** Sockets the opener gave (socks may also hold the fallback, when nothing could be opened). */
  opened = 0;
  /** Ports mapped onto another port's socket (refused, or past the cap). */
  fellBack = 0;
  readonly logged = new Set<string>();
  constructor(
    span: number,
    readonly df: boolean,
  ) {
    this.slot = new Uint16Array(span);
  }
}

export class SourcePorts {
  readonly min: number;
  readonly max: number;
  readonly span: number;
  readonly cap: number;
  /** --df inherit: DF-set sockets per port (socketFor's `df` chooses them). */
  readonly dfTwins: boolean;
  private readonly open: SourcePortOpener;
  private readonly fallback: UdpBind;
  private readonly log: ((line: string) => void) | undefined;
  private readonly plain: Kind;
  private readonly dfKind: Kind | undefined;

  constructor(o: SourcePortsOptions) {
    if (!(o.min >= 1 && o.max <= 65535 && o.min <= o.max)) throw new RangeError(`source ports ${o.min}-${o.max}: not a range within 1-65535`);
    this.min = o.min;
    this.max = o.max;
    this.span = o.max - o.min + 1;
    // Socket indexes are stored + 1 in a Uint16Array: at most 65535 sockets per kind.
    this.cap = Math.max(1, Math.min(o.cap ?? SOURCE_PORTS_CAP, 65535));
    this.open = o.open;
    this.fallback = o.fallback;
    this.log = o.log;
    this.dfTwins = o.dfTwins === true;
    this.plain = new Kind(this.span, false);
    this.dfKind = o.dfTwins === true ? new Kind(this.span, true) : undefined;
  }

  /** The port of the range a flow hash maps to (udp_flow_src_port, MAX inclusive). `hash`: its 32 bits, int32 or uint32. */
  portOf(hash: number): number {
    return this.min + this.offsetOf(hash);
  }

  private offsetOf(hash: number): number {
    // As unsigned, hash < 2^32 and span <= 2^16: the product is exact in a double; the quotient is below 2^16.
    return (((hash >>> 0) * this.span) / 4294967296) | 0;
  }

  /** The socket a frame of flow `hash` leaves from (DF set when `df` and --df inherit). Opens it the first time. */
  socketFor(hash: number, df: boolean): UdpBind {
    const k = df && this.dfKind !== undefined ? this.dfKind : this.plain;
    const i = this.offsetOf(hash);
    const s = k.slot[i]!;
    return s !== 0 ? k.socks[s - 1]! : this.resolve(k, i);
  }

  /**
   * The source port for flow `hash` where no socket is needed (the tunnel path writes the UDP header itself):
   * the port its socket has, once a frame of the flow went through one (so one flow keeps one port, fallbacks
   * included), else the mapped port. Never opens a socket.
   */
  portFor(hash: number, df: boolean): number {
    const k = df && this.dfKind !== undefined ? this.dfKind : this.plain;
    const i = this.offsetOf(hash);
    const s = k.slot[i]!;
    return s !== 0 ? k.socks[s - 1]!.localPort : this.min + i;
  }

  /**
   * Start: opens the first port of the range that binds, for each kind (the DF-set twin on the plain socket's
   * port first), so that later fallbacks have a socket to go to. Returns undefined, or the errno name of the
   * first refusal other than EADDRINUSE, or 'EADDRINUSE' when every port of the range is in use.
   */
  prime(): string | undefined {
    for (const k of this.dfKind === undefined ? [this.plain] : [this.plain, this.dfKind]) {
      if (k.opened !== 0) continue;
      const twinAt = k !== this.plain ? this.plain.socks[0]?.localPort : undefined;
      if (twinAt !== undefined && twinAt >= this.min && twinAt <= this.max && this.tryOpen(k, twinAt - this.min) === undefined) continue;
      let err: string | undefined = 'EADDRINUSE';
      for (let i = 0; err !== undefined && i < this.span; i++) {
        if (k.slot[i] !== 0) continue;
        err = this.tryOpen(k, i);
        if (err !== undefined && err !== 'EADDRINUSE') return err;
      }
      if (err !== undefined) return err;
    }
    return undefined;
  }

  /** Opens port offset `i` (not resolved yet) for kind `k`: undefined when it did (the port now maps to it), or the errno name. */
  private tryOpen(k: Kind, i: number): string | undefined {
    const r = this.open(this.min + i, k.df);
    if (typeof r === 'string') return r;
    k.socks.push(r);
    k.opened++;
    k.slot[i] = k.socks.length;
    return undefined;
  }

  /** Slow path, once per port and kind: open the port's socket, or map the port onto an open one for good. */
  private resolve(k: Kind, i: number): UdpBind {
    let why: string | undefined;
    if (k.socks.length < this.cap) {
      why = this.tryOpen(k, i);
      if (why === undefined) return k.socks[k.socks.length - 1]!;
    } else why = 'cap';
    // Not primed and refused: the --dstport socket becomes this kind's only one, so no port retries per packet.
    if (k.socks.length === 0) k.socks.push(this.fallback);
    k.fellBack++;
    k.slot[i] = 1 + (i % k.socks.length);
    const to = k.socks[k.slot[i]! - 1]!;
    if (this.log !== undefined && !k.logged.has(why)) {
      k.logged.add(why);
      const kind = k.df ? ' DF-set' : '';
      this.log(
        why === 'cap'
          ? `--srcport: ${this.cap}${kind} sockets open (the cap): flows on further ports leave from ports already open`
          : `--srcport: cannot bind${kind} port ${this.min + i} (${why}): its flows leave from port ${to.localPort} (logged once per errno)`,
      );
    }
    return to;
  }

  /** Sockets the opener gave, per kind (for the log and tests). */
  get opened(): { readonly plain: number; readonly df: number } {
    return { plain: this.plain.opened, df: this.dfKind?.opened ?? 0 };
  }

  /** Ports mapped onto another port's socket, both kinds. */
  get fellBack(): number {
    return this.plain.fellBack + (this.dfKind?.fellBack ?? 0);
  }

}
