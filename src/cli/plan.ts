/**
 * `vxlan-user plan`: what `vxlan-user up` would configure on a node, without touching the host.
 * Takes `up`'s options (usually `--config overlay.yaml --node NAME`), plus:
 *   --as-kernel  print the equivalent iproute2 commands for the kernel's vxlan device instead;
 *   --all        every node of a whole-overlay file, one after the other.
 */
import { loadOverlay, parseUpArgs } from '../control/config/config.js';
import type { UpConfig } from '../control/config/config-types.js';
import { UsageError } from '../control/config/errors.js';
import { selectNode, type Overlay, type OverlayNode } from '../control/config/overlay.js';
import { formatKernelScript, formatPlan, nodeLabel } from '../control/tools/plan.js';

export const PLAN_HELP = `Usage: vxlan-user plan --config FILE [--node NAME] [--as-kernel] [--all] [up options]

Prints what 'vxlan-user up' would configure with the same options - device, tunnel, neighbours, FDB,
routes, and the equivalent 'up' flags - without touching the host.

  --config FILE   a config file; with the whole-overlay form (nodes:, docs/overlay.md) each node's
                  tables are derived from the other nodes
  --node NAME     which node of the overlay (default: the node whose underlay IP is on this host)
  --all           every node of the overlay, one after the other
  --as-kernel     print the iproute2 commands that build the same node with the kernel's vxlan
                  device instead (ip link add ... type vxlan, ip neigh replace ... nud permanent,
                  bridge fdb append, ip route replace); pipe them to 'sh -e' to apply

Example
  vxlan-user plan --config examples/overlay.yaml --node multicluster-test-001 --as-kernel | sh -e
`;

/** Splits plan's own flags off; the rest are `up` options. */
export function splitPlanArgs(argv: readonly string[]): { upArgs: string[]; asKernel: boolean; all: boolean; help: boolean } {
  const upArgs: string[] = [];
  let asKernel = false;
  let all = false;
  let help = false;
  for (const a of argv) {
    if (a === '--as-kernel') asKernel = true;
    else if (a === '--all') all = true;
    else if (a === '--help' || a === '-h') help = true;
    else upArgs.push(a);
  }
  return { upArgs, asKernel, all, help };
}

function configOf(args: readonly string[]): UpConfig {
  const r = parseUpArgs(args);
  if (r.help) throw new UsageError("unexpected --help; see 'vxlan-user plan --help'");
  return r.config;
}

/** The --config and --node values in an argv (last one wins, like parseArgs). */
export function fileAndNode(argv: readonly string[]): { file?: string; node?: string } {
  let file: string | undefined;
  let node: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config') file = argv[++i];
    else if (a.startsWith('--config=')) file = a.slice(9);
    else if (a === '--node') node = argv[++i];
    else if (a.startsWith('--node=')) node = a.slice(7);
  }
  return { ...(file === undefined ? {} : { file }), ...(node === undefined ? {} : { node }) };
}

/** The overlay (when --config is the whole-overlay form) and the node the options pick in it. */
export function overlayContext(argv: readonly string[]): { ov?: Overlay; self?: OverlayNode } {
  const { file, node } = fileAndNode(argv);
  if (file === undefined) return {};
  let ov: Overlay;
  try {
    ov = loadOverlay(file);
  } catch {
    return {}; // a single-node file (or a broken one: parseUpArgs reports that)
  }
  try {
    return { ov, self: selectNode(ov, node) };
  } catch {
    return { ov };
  }
}

export function runPlan(argv: string[]): number {
  const { upArgs, asKernel, all, help } = splitPlanArgs(argv);
  if (help) {
    process.stdout.write(PLAN_HELP);
    return 0;
  }
  const runs: string[][] = [];
  if (all) {
    const { file } = fileAndNode(upArgs);
    if (file === undefined) throw new UsageError("--all needs --config FILE in the whole-overlay form; see 'vxlan-user plan --help'");
    const ov = loadOverlay(file);
    for (const n of ov.nodes) runs.push([...upArgs, '--node', n.node]);
  } else {
    runs.push(upArgs);
  }
  const parts: string[] = [];
  for (const args of runs) {
    const cfg = configOf(args);
    const { ov, self } = overlayContext(args);
    if (asKernel) {
      const title = self !== undefined && ov !== undefined ? `${nodeLabel(self)} from ${ov.file}` : `vxlan-user plan ${args.join(' ')}`;
      parts.push(formatKernelScript(cfg, title));
    } else {
      parts.push(formatPlan(cfg, ov, self));
    }
  }
  process.stdout.write(parts.join('\n'));
  return 0;
}
