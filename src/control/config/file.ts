/**
 * A version-1 `--config` file (YAML, or JSON, which YAML 1.2 reads too) → raw values (raw.ts), the same form
 * the command line gives; and the whole-overlay form (`nodes:`) for `plan`, `explain` and `demo`.
 *
 * Separate because it is the one place that reads the disk and knows the file's shape: the YAML parser and its
 * positions, the schema version, the keys a file may hold, a single entry written without its list. Values are
 * not checked here (validate.ts does, as for flags); overlay.ts checks the whole-overlay form and derives one
 * node's raw values from it.
 *
 * Errors: ConfigError (ECONFIG) for an unreadable, malformed or unknown-keyed file; UsageError (EUSAGE) for
 * `--node` with a single-node file.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { RawValue as Raw } from './config-types.js';
import { CONFIG_SCHEMA_VERSION } from './defaults.js';
import { ConfigError } from './errors.js';
import { nodeWithoutOverlay, overlayRaw, parseOverlay, type Overlay } from './overlay.js';
import { DEVICE_KEYS, DEVICE_SCALAR_KEYS, LIST_KEYS, SCALAR_KEYS, type ListKey, type RawUp, type RawVnisEntry, type ScalarKey } from './raw.js';
import { describeType, show } from './values.js';

const FILE_KEYS: readonly string[] = ['version', ...SCALAR_KEYS, ...LIST_KEYS, 'vnis'];

/** Reads a version-1 config file (YAML, or JSON, which YAML 1.2 reads too) into its top-level mapping. */
function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new ConfigError(`cannot read --config ${file}: ${why}${e.code ? ` (${e.code})` : ''}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter, logLevel: 'error' });
  const first = doc.errors[0];
  if (first !== undefined) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const what = first.message.split('\n')[0] ?? first.message;
    throw new ConfigError(`--config ${file} is not valid YAML or JSON: line ${line}, column ${col}: ${what}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new ConfigError(`--config ${file} is empty: expected a mapping that starts with 'version: ${CONFIG_SCHEMA_VERSION}'`);
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`--config ${file} must be a mapping of keys (vni, name, ...), not ${describeType(data)}`);
  }
  const obj = data as Record<string, unknown>;
  if (!('version' in obj) || obj.version === null) {
    throw new ConfigError(`--config ${file} has no 'version' key: write 'version: ${CONFIG_SCHEMA_VERSION}' at the top`);
  }
  if (obj.version !== CONFIG_SCHEMA_VERSION) {
    throw new ConfigError(
      `--config ${file} has version ${show(obj.version, true)}: this vxlan-user reads schema version ${CONFIG_SCHEMA_VERSION} only`,
    );
  }
  return obj;
}

/** Reads a config file that must be in the whole-overlay form (plan, explain, demo). @throws ConfigError */
export function loadOverlay(file: string): Overlay {
  const obj = readConfigFile(file);
  if (!('nodes' in obj)) {
    throw new ConfigError(`--config ${file} describes one node (it has no 'nodes:' list): this needs the whole-overlay form, see docs/overlay.md`);
  }
  return parseOverlay(obj, file);
}

/** Read a version-1 config file into raw values; the whole-overlay form (nodes:) derives them for one node (overlay.ts). */
export function loadConfigFile(file: string, node: string | undefined): RawUp {
  const obj = readConfigFile(file);
  if ('nodes' in obj) return overlayRaw(obj, file, node);
  if (node !== undefined) throw nodeWithoutOverlay(node, file);
  for (const key of Object.keys(obj)) {
    if (!FILE_KEYS.includes(key)) {
      throw new ConfigError(`--config ${file} has an unknown key '${key}': the keys of version 1 are ${FILE_KEYS.join(', ')}`);
    }
  }

  const { scalars, lists } = rawKeys(obj, SCALAR_KEYS, file, '');
  if (!('vnis' in obj) || obj.vnis === null) return { scalars, lists };
  return { scalars, lists, vnis: readVnis(obj, file) };
}

/** The scalar and list keys of `obj` as raw values; `prefix` names the entry in messages (`vnis[1] `). */
function rawKeys<K extends string>(obj: Record<string, unknown>, keys: readonly K[], file: string, prefix: string): { scalars: Partial<Record<K, Raw>>; lists: Record<ListKey, Raw[]> } {
  const scalars: Partial<Record<K, Raw>> = {};
  for (const key of keys) {
    const v = obj[key];
    // A key with an empty value (`mac:`) is the same as no key.
    if (v !== undefined && v !== null) scalars[key] = { value: v, origin: { key: `${prefix}${key}`, file } };
  }
  const lists = {} as Record<ListKey, Raw[]>;
  for (const key of LIST_KEYS) {
    const v = obj[key];
    // A single entry may be written without the list: `addr: 179.17.1.21/24`.
    const items = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
    lists[key] = items.map((value: unknown) => ({ value, origin: { key: `${prefix}${key}`, file } }));
  }
  return { scalars, lists };
}

/**
 * `vnis:`: one mapping per device, holding only the device's own keys (DEVICE_KEYS); the shared keys stay at
 * the top, and a device key at the top beside `vnis:` is refused (whose would it be?).
 */
function readVnis(obj: Record<string, unknown>, file: string): RawVnisEntry[] {
  const list = obj.vnis;
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError(`--config ${file}: vnis must be a non-empty list of devices, e.g. vnis: [{vni: 10001, name: vx10001}]`);
  for (const key of DEVICE_KEYS) {
    if (obj[key] !== undefined && obj[key] !== null)
      throw new ConfigError(`--config ${file} has a top-level '${key}' beside vnis: give each device its ${key} inside its vnis: entry`);
  }
  return list.map((item: unknown, i: number) => {
    const where = `vnis[${i}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw new ConfigError(`--config ${file}: ${where} must be a mapping of device keys (vni, name, addr, fdb, ...), not ${describeType(item)}`);
    const entry = item as Record<string, unknown>;
    for (const key of Object.keys(entry)) {
      if (!DEVICE_KEYS.includes(key)) {
        const shared = (SCALAR_KEYS as readonly string[]).includes(key);
        throw new ConfigError(
          shared
            ? `--config ${file}: ${where} has '${key}', which all devices share: write it once at the top level`
            : `--config ${file}: ${where} has an unknown key '${key}': a vnis: entry holds ${DEVICE_KEYS.join(', ')}`,
        );
      }
    }
    return { where, file, ...rawKeys(entry, DEVICE_SCALAR_KEYS, file, `${where} `) };
  });
}
