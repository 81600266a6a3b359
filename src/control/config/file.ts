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
import { LIST_KEYS, SCALAR_KEYS, type ListKey, type RawUp, type ScalarKey } from './raw.js';
import { describeType, show } from './values.js';

const FILE_KEYS: readonly string[] = ['version', ...SCALAR_KEYS, ...LIST_KEYS];

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

  const scalars: Partial<Record<ScalarKey, Raw>> = {};
  for (const key of SCALAR_KEYS) {
    const v = obj[key];
    // A key with an empty value (`mac:`) is the same as no key.
    if (v !== undefined && v !== null) scalars[key] = { value: v, origin: { key, file } };
  }
  const lists = {} as Record<ListKey, Raw[]>;
  for (const key of LIST_KEYS) {
    const v = obj[key];
    // A single entry may be written without the list: `addr: 179.17.1.21/24`.
    const items = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
    lists[key] = items.map((value: unknown) => ({ value, origin: { key, file } }));
  }
  return { scalars, lists };
}
