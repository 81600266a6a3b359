/**
 * `vxlan-user plan`: what `vxlan-user up` would configure on a node, without touching the host.
 * Takes `up`'s options (usually `--config overlay.yaml --node NAME`), plus:
 *   --as-kernel  print the equivalent iproute2 commands for the kernel's vxlan device instead;
 *   --all        every node of a whole-overlay file, one after the other.
 */
import { parseUpArgs } from '../control/config/config.js';
import { loadOverlay } from '../control/config/file.js';
import type { UpConfig } from '../control/config/config-types.js';
import { UsageError } from '../control/config/errors.js';
import { selectNode, type Overlay, type OverlayNode } from '../control/config/overlay.js';
import { ip } from '../control/runtime/host.js';
import { formatKernelScript, formatPlan, nodeLabel, underlayFromAddrs } from '../control/tools/plan.js';
import { wantsEtcd } from '../control/flannel/args.js';
import { runEtcdPlan } from '../control/flannel/plan.js';

export const PLAN_HELP = `Usage: vxlan-user plan --config FILE [--node NAME] [--as-kernel] [--all] [up options]
       vxlan-user plan --etcd-endpoints URL[,URL...] [--public-ip IP | --iface DEV] [--etcd-prefix P] [--as-kernel]

Prints what 'vxlan-user up' would configure with the same options - device, tunnel, neighbours, FDB,
routes, and the equivalent 'up' flags - without touching the host.

  --config FILE   a config file; with the whole-overlay form (nodes:, docs/overlay.md) each node's
                  tables are derived from the other nodes
  --node NAME     which node of the overlay (default: the node whose underlay IP is on this host)
  --all           every node of the overlay, one after the other
  --as-kernel     print the iproute2 commands that build the same node with the kernel's vxlan
                  device instead (ip link add ... type vxlan, ip neigh replace ... nud permanent,
                  bridge fdb append, ip route replace); pipe them to 'sh -e' to apply.
                  Every option with a kernel equivalent is written out; 'dev' is --dev or the
                  device of this host that holds --local, and 'mtu' is --mtu or that device's
                  MTU - 50 (- 70 on IPv6; 1500 assumed when unknown). Options the kernel has
                  no equivalent for (--peers-only, ...) are named in a comment line.

With --etcd-endpoints, the node is the one whose lease in etcd has this PublicIP (flannel's layout under
--etcd-prefix, default /coreos.com/network): its device flannel.<VNI> with <subnet>.0/32, and for every other
lease a neighbour, an FDB entry and an onlink route. Read-only: no lease is taken.

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

export function runPlan(argv: string[]): number | Promise<number> {
  const { upArgs, asKernel, all, help } = splitPlanArgs(argv);
  if (help) {
    process.stdout.write(PLAN_HELP);
    return 0;
  }
  // etcd mode: the node's lease and the remote leases, read from etcd (control/flannel/plan.ts).
  if (wantsEtcd(upArgs)) return runEtcdPlan(upArgs, asKernel);
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
  // `dev` and `mtu` for the kernel device come from this host's addresses (the device that holds --local),
  // read once; a plan made on another host says in a comment what it assumed.
  let addrs: string | undefined;
  if (asKernel) {
    const r = ip(['-j', 'addr', 'show']);
    if (r.ok) addrs = r.stdout;
  }
  for (const args of runs) {
    const top = configOf(args);
    const { ov, self } = overlayContext(args);
    // A vnis: list: one device each, in order (the kernel's vxlan devices share a port the same way).
    for (const cfg of top.vnis ?? [top]) {
      if (asKernel) {
        const title = self !== undefined && ov !== undefined ? `${nodeLabel(self)} from ${ov.file}` : `vxlan-user plan ${args.join(' ')}`;
        parts.push(formatKernelScript(cfg, top.vnis ? `${title} (device ${cfg.name}, vni ${cfg.vni})` : title, underlayFromAddrs(cfg, addrs)));
      } else {
        parts.push(formatPlan(cfg, ov, self));
      }
    }
  }
  process.stdout.write(parts.join('\n'));
  return 0;
}
