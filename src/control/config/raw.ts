/**
 * The raw form of a `vxlan-user up` configuration: the keys, the shape of the values before validation, and
 * how a command line and a `--config` file combine.
 *
 * Separate because three readers produce this form and one validator consumes it: args.ts (flags), file.ts
 * (a single-node file), overlay.ts (one node of a whole-overlay file), and validate.ts. Keeping the keys here,
 * in a module that imports none of them, lets each import the keys without an import circle.
 *
 * A raw value is not checked at all: only its origin (flag or file key) is recorded, so that validate.ts can
 * name it in a refusal.
 */
import type { RawValue as Raw } from './config-types.js';

/**
 * The single-valued keys, as flags (`--vni`) and as file keys (`vni:`). The order is the one the messages list
 * them in ("the keys of version 1 are ...").
 */
export const SCALAR_KEYS = ['vni', 'name', 'dstport', 'local', 'dev', 'mac', 'mtu', 'io', 'offload', 'quiet', 'peers-only', 'metrics', 'trace', 'pcap', 'learning', 'ageing', 'ttl', 'tos', 'df', 'udpcsum', 'udp6zerocsumtx', 'udp6zerocsumrx', 'srcport', 'tx-path', 'reserved-bits'] as const;
/** The repeatable keys: each flag adds one entry, each file key holds a list (or one entry). */
export const LIST_KEYS = ['addr', 'remote', 'fdb', 'neigh', 'route'] as const;
export type ScalarKey = (typeof SCALAR_KEYS)[number];
export type ListKey = (typeof LIST_KEYS)[number];

/**
 * The scalar keys that belong to one device (one VNI and its TAP); with the list keys they are what
 * validate.ts validateDevice() reads. Every other scalar key is shared by the whole instance (one UDP
 * socket, one I/O path, one metrics endpoint): validate.ts validateShared().
 */
export type DeviceScalarKey = Extract<ScalarKey, 'vni' | 'name' | 'mac' | 'mtu' | 'learning' | 'ageing' | 'ttl' | 'tos' | 'df'>;
export type SharedKey = Exclude<ScalarKey, DeviceScalarKey>;

/** The scalar keys of one device, as a list (DeviceScalarKey as a value). */
export const DEVICE_SCALAR_KEYS: readonly DeviceScalarKey[] = ['vni', 'name', 'mac', 'mtu', 'learning', 'ageing', 'ttl', 'tos', 'df'];
/** The keys one `vnis:` entry may hold: the device's own. */
export const DEVICE_KEYS: readonly string[] = [...DEVICE_SCALAR_KEYS, ...LIST_KEYS];

/** A whole configuration's raw values, from flags, a file, or both merged. */
export interface RawUp {
  readonly scalars: Partial<Record<ScalarKey, Raw>>;
  readonly lists: Record<ListKey, readonly Raw[]>;
  /**
   * A config file's `vnis:` list, one entry per device (its vni may be missing: validate.ts says so, naming the
   * entry). The top-level scalars then hold only shared keys, and the lists are empty.
   */
  readonly vnis?: readonly RawVnisEntry[];
}

/** One `vnis:` entry as read: `where` names it in messages (`vnis[1]`). */
export interface RawVnisEntry {
  readonly where: string;
  readonly file: string;
  readonly scalars: Partial<Record<DeviceScalarKey, Raw>>;
  readonly lists: Record<ListKey, readonly Raw[]>;
}

/** One device's raw values. The VNI is required: whoever reads the device says, in its own words, that it is missing. */
export interface RawDevice {
  readonly scalars: Partial<Record<DeviceScalarKey, Raw>> & { readonly vni: Raw };
  readonly lists: Record<ListKey, readonly Raw[]>;
}

/** Scalar flags override the file; repeatable flags add to the file's lists (file entries first). */
export function mergeRaw(file: RawUp | undefined, flags: RawUp): RawUp {
  if (file === undefined) return flags;
  const lists = {} as Record<ListKey, readonly Raw[]>;
  for (const key of LIST_KEYS) lists[key] = [...file.lists[key], ...flags.lists[key]];
  return { scalars: { ...file.scalars, ...flags.scalars }, lists, ...(file.vnis === undefined ? {} : { vnis: file.vnis }) };
}
