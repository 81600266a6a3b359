/**
 * The control protocol between `vxlan-user <command>` and a running `vxlan-user up`.
 *
 * Transport: an abstract Unix stream socket named `\0vxlan-user/IFNAME`. Abstract names live in the network
 * namespace of the process that binds them and vanish when it dies, so instances with the same --name in
 * different namespaces never collide, a client reaches the instance of its own namespace, and a kill -9 leaves
 * nothing stale behind (no file to unlink before a restart).
 *
 * Framing: line-delimited JSON, one request per line, one response line per request, in order. A client may
 * send several requests on one connection (`stats --watch` does). Requests and responses are plain data: the
 * server re-validates everything it receives (a client is any process in the namespace that can connect).
 *
 * Exit codes carried in a refusal follow the CLI's rule: 2 for bad usage or a refused change (`add` of an
 * existing entry, `del` of a missing one, a reload the running instance cannot take), 1 for runtime failures,
 * 4 for a change refused to this client because it lacks CAP_NET_ADMIN over the instance (access.ts).
 */

/** Abstract socket name of the instance that owns TAP device `name` (leading NUL = abstract namespace). */
export function controlSocketPath(name: string): string {
  return `\0vxlan-user/${name}`;
}

/** Largest request line the server accepts (a request is a handful of fields). */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** `bridge fdb` verbs. `add` refuses an existing MAC; `append` adds a remote; `replace` sets the one remote. */
export const FDB_ACTIONS = ['add', 'append', 'replace', 'del'] as const;
export type FdbAction = (typeof FDB_ACTIONS)[number];

/** `ip neigh` verbs. `add` refuses an existing IP; `replace` creates or overwrites. */
export const NEIGH_ACTIONS = ['add', 'replace', 'del'] as const;
export type NeighAction = (typeof NEIGH_ACTIONS)[number];

export type Request =
  | { readonly op: 'fdb'; readonly action: FdbAction; readonly mac: string; readonly dst?: string; readonly port?: number; readonly vni?: number }
  | { readonly op: 'fdb-show' }
  | { readonly op: 'neigh'; readonly action: NeighAction; readonly ip: string; readonly lladdr?: string }
  | { readonly op: 'neigh-show' }
  | { readonly op: 'stats' }
  | { readonly op: 'show' }
  | { readonly op: 'reload' }
  | { readonly op: 'down' };

export type Response =
  | { readonly ok: true; readonly data?: unknown }
  | { readonly ok: false; readonly exit: 1 | 2 | 4; readonly error: string };

/** One FDB row as `fdb show --json` prints it (bridge -j fdb show shape: mac, dst, port, vni, flags). */
export interface FdbRow {
  readonly mac: string;
  readonly dst: string;
  /** Present only when it differs from the instance's --dstport (as `bridge fdb show` prints it). */
  readonly port?: number;
  /** Present only when it differs from the instance's --vni. */
  readonly vni?: number;
  /** 'permanent' for configured entries, '' for learned ones (--learning), as `bridge -j fdb show`. */
  readonly state: 'permanent' | '';
}

/** One neighbour as `neigh show --json` prints it (ip -j neigh shape). */
export interface NeighRow {
  readonly dst: string;
  readonly lladdr: string;
  readonly state: readonly ['PERMANENT'];
}

/** What `show` returns. */
export interface ShowData {
  readonly name: string;
  readonly pid: number;
  readonly vni: number;
  readonly local: string;
  readonly port: number;
  readonly mac: string;
  readonly mtu: number;
  readonly underlayMtu: number;
  readonly io: string;
  readonly ioPath: string;
  readonly uptimeS: number;
  readonly peersOnly: boolean;
  readonly metrics: string | null;
  readonly configFile: string | null;
  readonly reloads: number;
  readonly lastReload: string | null;
  readonly addr: readonly string[];
  readonly fdbEntries: number;
  readonly defaultDestinations: readonly string[];
  readonly neighbours: number;
  readonly routes: readonly { readonly cidr: string; readonly gateway: string }[];
  /** A `vnis:` process only: every device it runs, this one included. */
  readonly devices?: readonly { readonly name: string; readonly vni: number }[];
  /** etcd mode only: the lease, etcd's reachability and every remote lease (control/flannel/node.ts). */
  readonly etcd?: EtcdShow;
}

/** Serialises one message as a line. */
export function encodeLine(msg: Request | Response): string {
  return `${JSON.stringify(msg)}\n`;
}

/**
 * Splits a byte stream into lines. `push` returns the complete lines received so far; a partial line waits for
 * the next chunk. `overflow` turns true when a line grows past `max` (the caller then drops the connection).
 */
export class LineSplitter {
  private pending = '';
  overflow = false;
  constructor(private readonly max = MAX_REQUEST_BYTES) {}

  push(chunk: string): string[] {
    if (this.overflow) return [];
    this.pending += chunk;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    // A too-long line is refused whether or not its newline arrived in the same chunk.
    if (this.pending.length > this.max || lines.some((l) => l.length > this.max)) {
      this.overflow = true;
      this.pending = '';
      return [];
    }
    return lines.filter((l) => l.trim() !== '');
  }

  /** The unterminated rest, once the peer has closed its side (a request without its final newline). */
  rest(): string[] {
    const r = this.pending;
    this.pending = '';
    return this.overflow || r.trim() === '' ? [] : [r];
  }
}

/** Formats an FDB row the way `bridge fdb show dev IFNAME` does for a vxlan device. */
export function formatFdbRow(r: FdbRow, dev: string): string {
  let s = `${r.mac} dev ${dev} dst ${r.dst}`;
  if (r.port !== undefined) s += ` port ${r.port}`;
  if (r.vni !== undefined) s += ` vni ${r.vni}`;
  return r.state === 'permanent' ? `${s} self permanent` : `${s} self`;
}

/** Formats a neighbour the way `ip neigh show dev IFNAME` does. */
export function formatNeighRow(r: NeighRow, dev: string): string {
  return `${r.dst} dev ${dev} lladdr ${r.lladdr} PERMANENT`;
}

/** `1d2h3m4s` style, as a human reads an uptime. */
export function formatDuration(seconds: number): string {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${d ? `${d}d` : ''}${d || h ? `${h}h` : ''}${d || h || m ? `${m}m` : ''}${s}s`;
}

/** etcd mode (control/flannel/): what `show` reports about the membership. */
export interface EtcdShow {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly subnet: string;
  readonly publicIp: string;
  readonly leaseTtl: number;
  readonly subnetFile: string;
  readonly reachable: boolean;
  /** Seconds since etcd became reachable / unreachable. */
  readonly stateForS: number;
  readonly lastError: string | null;
  readonly resyncs: number;
  readonly leaseRenewals: number;
  readonly skipped: number;
  readonly rejected: readonly string[];
  readonly leases: readonly { readonly subnet: string; readonly publicIp: string; readonly mac: string; readonly ageS: number }[];
}
