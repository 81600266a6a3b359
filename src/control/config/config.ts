/**
 * The `vxlan-user up` configuration front end: argv (and an optional `--config` file) → `UpConfig`.
 *
 * Three steps, like the kernel's vxlan_nl2conf() → vxlan_config_validate() → apply:
 *   1. parse     argv (args.ts) and the file (file.ts; overlay.ts for the whole-overlay form) into *raw*
 *                values, each with its origin (flag or file key), merged (raw.ts): scalar flags override the
 *                file, repeatable flags add to the file's lists (file entries first).
 *   2. validate  per field, then across fields (validate.ts, reading each value through values.ts and grammar.ts).
 *   3. resolve   defaults from defaults.ts, into a frozen `UpConfig` (validate.ts).
 *
 * Errors: every refusal is one sentence with the offending value and the limit, thrown as
 *   - UsageError  (EUSAGE) for the shape of the command line: unknown option, missing option value,
 *                 stray positional argument, missing --vni;
 *   - ConfigError (ECONFIG) for bad values, from a flag or a file alike, and for an unreadable or
 *                 malformed --config file.
 * Both exit 2. Nothing here touches the host; so a refusal leaves nothing behind.
 */
import type { UpConfig } from './config-types.js';
import { parseUpArgv } from './args.js';
import { loadConfigFile } from './file.js';
import { nodeWithoutOverlay } from './overlay.js';
import { mergeRaw } from './raw.js';
import { validateUp } from './validate.js';

/** What `parseUpArgs` returns: either a help request (nothing validated) or a complete configuration. */
export type UpArgs =
  | { readonly help: true; readonly config: undefined }
  | { readonly help: false; readonly config: UpConfig };

/**
 * Parse, validate and resolve `vxlan-user up` arguments (argv is what follows `up`).
 * `-h`/`--help` anywhere (before a `--`) wins over everything else, including other errors.
 * @throws UsageError | ConfigError
 */
export function parseUpArgs(argv: readonly string[]): UpArgs {
  const flags = parseUpArgv(argv);
  if (flags === 'help') return { help: true, config: undefined };
  if (flags.node !== undefined && flags.configFile === undefined) throw nodeWithoutOverlay(flags.node, undefined);
  const file = flags.configFile === undefined ? undefined : loadConfigFile(flags.configFile, flags.node);
  return { help: false, config: validateUp(mergeRaw(file, flags.raw)) };
}
