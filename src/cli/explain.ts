/**
 * `vxlan-user explain [up options] DEST`: which route, neighbour entry and FDB row a packet to DEST would
 * use on a node, the UDP ports and outer headers it would carry, or why it would be dropped. Pure
 * computation over the node's derived configuration (control/tools/explain.ts): nothing is opened or changed.
 */
import { parseUpArgs } from '../control/config/config.js';
import { UsageError } from '../control/config/errors.js';
import { explain, formatExplanation, parseDest } from '../control/tools/explain.js';
import { overlayContext } from './plan.js';

export const EXPLAIN_HELP = `Usage: vxlan-user explain --config FILE [--node NAME] [--json] [up options] DEST

Shows the way one packet to DEST would take through the node's VTEP, computed from the configuration
alone (no network, nothing changed):

  route       the pod subnet route via a peer's overlay IP, or the connected overlay subnet
  neighbour   the proxy-ARP answer for the next hop (IP -> MAC), from the neighbour table
  fdb         the FDB row for that MAC (underlay IP, UDP port, VNI), or the default destinations
  udp/outer   the UDP ports and the outer IP and VXLAN headers each datagram would carry
  or why it is dropped (and which counter says so), or that DEST is on the node itself

  DEST            a MAC (7a:3a:fe:45:a3:76), an overlay IP (179.17.1.31) or a pod IP (10.235.88.10)
  --config FILE   the overlay file (docs/overlay.md) or a single-node config; other 'up' options
                  (--dstport, --remote, --fdb, ...) apply as they would to 'vxlan-user up'
  --node NAME     which node of the overlay (default: the node whose underlay IP is on this host)
  --json          print the explanation as one JSON object

Example
  vxlan-user explain --config examples/overlay.yaml --node multicluster-test-001 10.235.88.10
`;

/** `up` flags that take no value (everything else starting with '--' and without '=' takes the next word). */
const BOOLEAN_FLAGS = new Set([
  '--quiet',
  '--peers-only',
  '--learning',
  '--nolearning',
  '--udpcsum',
  '--noudpcsum',
  '--udp6zerocsumtx',
  '--udp6zerocsumrx',
  '--trace',
]);

/** Splits explain's own flags and DEST off; the rest are `up` options. @throws UsageError */
export function splitExplainArgs(argv: readonly string[]): { upArgs: string[]; dest?: string; json: boolean; help: boolean } {
  const upArgs: string[] = [];
  const dests: string[] = [];
  let json = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      dests.push(...argv.slice(i + 1));
      break;
    }
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--json') json = true;
    else if (a.startsWith('-') && a.length > 1) {
      upArgs.push(a);
      // A flag without '=VALUE' that takes a value: the next word is its value, not DEST.
      if (a.startsWith('--') && !a.includes('=') && !BOOLEAN_FLAGS.has(a) && i + 1 < argv.length) upArgs.push(argv[++i]!);
    } else dests.push(a);
  }
  if (dests.length > 1) {
    throw new UsageError(`explain takes one DEST, not ${dests.length} (${dests.join(', ')}); see 'vxlan-user explain --help'`);
  }
  return { upArgs, ...(dests[0] === undefined ? {} : { dest: dests[0] }), json, help };
}

export function runExplain(argv: string[]): number {
  const { upArgs, dest, json, help } = splitExplainArgs(argv);
  if (help) {
    process.stdout.write(EXPLAIN_HELP);
    return 0;
  }
  if (dest === undefined) {
    throw new UsageError(
      "explain needs DEST, a MAC, overlay IP or pod IP, after the options: e.g. 'vxlan-user explain --config examples/overlay.yaml --node multicluster-test-001 10.235.88.10'",
    );
  }
  parseDest(dest); // a malformed DEST is reported before the configuration is read
  const r = parseUpArgs(upArgs);
  if (r.help) throw new UsageError("unexpected --help; see 'vxlan-user explain --help'");
  const ctx = overlayContext(upArgs);
  const e = explain(r.config, dest, ctx);
  if (json) {
    const node = (n: { node: string } | undefined): string | undefined => n?.node;
    process.stdout.write(
      `${JSON.stringify(e, (k, v: unknown) => (k === 'node' && typeof v === 'object' && v !== null ? node(v as { node: string }) : v))}\n`,
    );
  } else {
    process.stdout.write(formatExplanation(e, ctx));
  }
  return 0;
}
