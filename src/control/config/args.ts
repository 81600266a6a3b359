/**
 * `vxlan-user up`'s command line → raw values (raw.ts), plus the two flags that say where else to read:
 * `--config FILE` and `--node NAME`.
 *
 * Separate because it is the one place that knows the flag spellings: node:util parseArgs (strict) and its
 * error codes, the kernel's `no...` spellings of off (`--nolearning`, `--noudpcsum`), and `-h`/`--help`
 * winning over every other error. Nothing here checks a value; validate.ts does, for flags and file keys alike.
 *
 * Errors: UsageError (EUSAGE) for the shape of the command line: unknown option, missing option value, stray
 * positional argument, a flag and its `no...` spelling together.
 */
import { parseArgs } from 'node:util';
import type { RawValue as Raw } from './config-types.js';
import { UsageError } from './errors.js';
import { LIST_KEYS, SCALAR_KEYS, type ListKey, type RawUp, type ScalarKey } from './raw.js';

const SEE_HELP = "see 'vxlan-user up --help'";

const OPTIONS = {
  vni: { type: 'string' },
  name: { type: 'string' },
  dstport: { type: 'string' },
  local: { type: 'string' },
  dev: { type: 'string' },
  mac: { type: 'string' },
  addr: { type: 'string', multiple: true },
  mtu: { type: 'string' },
  remote: { type: 'string', multiple: true },
  fdb: { type: 'string', multiple: true },
  neigh: { type: 'string', multiple: true },
  route: { type: 'string', multiple: true },
  config: { type: 'string' },
  io: { type: 'string' },
  offload: { type: 'string' },
  'tx-path': { type: 'string' },
  quiet: { type: 'boolean' },
  'peers-only': { type: 'boolean' },
  metrics: { type: 'string' },
  learning: { type: 'boolean' },
  nolearning: { type: 'boolean' },
  ageing: { type: 'string' },
  ttl: { type: 'string' },
  tos: { type: 'string' },
  df: { type: 'string' },
  udpcsum: { type: 'boolean' },
  noudpcsum: { type: 'boolean' },
  udp6zerocsumtx: { type: 'boolean' },
  udp6zerocsumrx: { type: 'boolean' },
  srcport: { type: 'string' },
  'reserved-bits': { type: 'string' },
  node: { type: 'string' },
  trace: { type: 'boolean' },
  pcap: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** Turn node:util's parseArgs errors into one sentence that names the option. */
function usageFromParseArgs(err: unknown): UsageError {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const quoted = /'([^']*)'/.exec(msg)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option '${quoted ?? msg}'; ${SEE_HELP}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument '${quoted ?? msg}': 'vxlan-user up' takes only options; ${SEE_HELP}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const opt = quoted?.split(' ')[0] ?? '';
      if (/argument missing|ambiguous/.test(msg)) {
        return new UsageError(
          `option '${opt}' needs a value (a value starting with '-' must be written '${opt}=VALUE'); ${SEE_HELP}`,
        );
      }
      if (/does not take an argument/.test(msg)) {
        return new UsageError(`option '${opt}' does not take a value; ${SEE_HELP}`);
      }
      return new UsageError(`${msg.split('\n')[0] ?? msg}; ${SEE_HELP}`);
    }
    default:
      return new UsageError(`${msg.split('\n')[0] ?? msg}; ${SEE_HELP}`);
  }
}

/** What the command line says: a help request, or its raw values and where the rest of the configuration is. */
export type UpArgv = 'help' | { readonly raw: RawUp; readonly configFile: string | undefined; readonly node: string | undefined };

/** Reads argv (what follows `up`) into raw values. @throws UsageError */
export function parseUpArgv(argv: readonly string[]): UpArgv {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    if (wantsHelp(argv)) return 'help';
    throw usageFromParseArgs(err);
  }
  if (values.help === true) return 'help';

  const scalars: Partial<Record<ScalarKey, Raw>> = {};
  for (const key of SCALAR_KEYS) {
    const v = values[key];
    // parseArgs keeps the last of repeated scalar flags: the last one wins, as with `ip`.
    if (v !== undefined) scalars[key] = { value: v, origin: { key } };
  }
  // `nolearning` is the kernel's spelling of learning off; both at once is a contradiction.
  if (values.nolearning === true) {
    if (values.learning === true) throw new UsageError(`--learning and --nolearning contradict each other: give one; ${SEE_HELP}`);
    scalars.learning = { value: false, origin: { key: 'nolearning' } };
  }
  // Likewise `noudpcsum` is the kernel's spelling of udpcsum off.
  if (values.noudpcsum === true) {
    if (values.udpcsum === true) throw new UsageError(`--udpcsum and --noudpcsum contradict each other: give one; ${SEE_HELP}`);
    scalars.udpcsum = { value: false, origin: { key: 'noudpcsum' } };
  }
  const lists = {} as Record<ListKey, Raw[]>;
  for (const key of LIST_KEYS) {
    lists[key] = (values[key] ?? []).map((value) => ({ value, origin: { key } }));
  }
  return { raw: { scalars, lists }, configFile: values.config, node: values.node };
}
