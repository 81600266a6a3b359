/**
 * A declarative network-namespace topology: one namespace per node, joined by an underlay "switch".
 *
 * ```
 *   ${prefix}-a                 ${prefix}-sw                  ${prefix}-b
 *  ┌───────────┐             ┌────────────────┐             ┌───────────┐
 *  │ eth0      │── veth ──── │ sw0 ─┐    ┌─ sw1│ ──── veth ──│ eth0      │
 *  │ 192.168.  │             │      └ br0 ┘    │             │ 192.168.  │
 *  │   0.21/24 │             └────────────────┘             │   0.31/24 │
 *  └─────┬─────┘                                             └───────────┘
 *        │ veth vp0 (gateway) ── eth0 in ${prefix}-<pod>   (optional pod namespaces, addPodNamespace)
 * ```
 * Every link is created directly inside its namespaces (`ip -n NS link add ... peer ... netns SW`), so the
 * host's own namespace never sees a testbed interface, address or route.
 *
 * Ownership: a Topology owns exactly the namespaces it created (never one that already existed, whose
 * `ip netns add` fails) and the processes started through spawn(). teardown() stops those processes, kills
 * whatever else still runs inside its namespaces, and deletes the namespaces. It never throws and may be
 * called any number of times; a build that fails halfway tears down what it made before rejecting.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { CommandError, run, nsExec, spawnInNs, stopProcess, type RunOptions, type RunResult } from './exec.js';

export interface NodeSpec {
  /** Short host name, e.g. 'a'; the namespace is `${prefix}-${name}`. Letters, digits, '_', '.', '-'. */
  name: string;
  /** Underlay address of the node's eth0, e.g. '192.168.0.21'. Validated by `ip` itself. */
  underlayIp: string;
  /** Prefix length of the underlay, e.g. 24. */
  underlayPrefix: number;
}

export interface TopologySpec {
  /** Namespace name prefix. Tests use testPrefix() (`vxut-<pid>-<tag>`) so cleanupStale() can tell stale ones. */
  prefix: string;
  nodes: NodeSpec[];
  /** MTU of the underlay veth pairs (both ends). Default: the kernel's (1500). */
  underlayMtu?: number;
}

export interface PodInfo {
  /** Pod name (also accepted by Topology.exec/spawn/nsOf). */
  name: string;
  /** The node it sits behind. */
  node: string;
  /** Its namespace. */
  ns: string;
  /** Address of its eth0, with prefix length, e.g. '10.234.117.2/24'. */
  cidrIp: string;
  /** Its default gateway (the node side of its veth), e.g. '10.234.117.1'. */
  gatewayIp: string;
  /** Name of the node-side veth inside the node namespace, e.g. 'vp0'. */
  nodeIfname: string;
}

export interface TeardownOptions {
  /** Milliseconds between SIGTERM and SIGKILL for spawned processes. Default 5 000. */
  termTimeoutMs?: number;
}

export interface Topology {
  readonly spec: Readonly<TopologySpec>;
  /** Namespace of the underlay switch (holds bridge `br0`). */
  readonly switchNs: string;
  /** Namespace of a node or pod; throws for an unknown name. */
  nsOf(host: string): string;
  /** Underlay IP of a node (without prefix length). */
  underlayIpOf(node: string): string;
  /** Runs a command inside a node's or pod's namespace; rejects with CommandError (incl. stderr) on failure. */
  exec(host: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts a long-running process inside a node's or pod's namespace; teardown() stops it. */
  spawn(host: string, cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess;
  /**
   * Creates namespace `${prefix}-${podName}` behind `node`: a veth with `eth0` = `podCidrIp` (e.g.
   * '10.234.117.2/24') in the pod and `gatewayIp/<same prefix length>` on the node side, a default route in the
   * pod via `gatewayIp`, and IPv4 forwarding on in the node namespace.
   */
  addPodNamespace(node: string, podName: string, podCidrIp: string, gatewayIp: string): Promise<PodInfo>;
  /** Pods added so far. */
  pods(): readonly PodInfo[];
  /** Namespaces this topology created and has not deleted yet, in creation order. */
  namespaces(): readonly string[];
  /** Stops spawned processes and deletes every namespace this topology created. Idempotent; never throws. */
  teardown(opts?: TeardownOptions): Promise<void>;
}

/** Namespace prefix for tests: `vxut-<pid>-<tag>`; cleanupStale() removes it once `pid` is gone. */
export function testPrefix(tag: string): string {
  return `vxut-${process.pid}-${tag}`;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SWITCH = 'sw';

function validate(spec: TopologySpec): void {
  if (!PREFIX_RE.test(spec.prefix)) {
    throw new Error(`testbed prefix "${spec.prefix}" must be 1-64 letters, digits, '_', '.' or '-'`);
  }
  if (spec.nodes.length === 0) throw new Error('a testbed topology needs at least one node');
  const seen = new Set<string>();
  for (const n of spec.nodes) {
    checkHostName(n.name, 'node');
    if (seen.has(n.name)) throw new Error(`testbed node name "${n.name}" is used twice`);
    seen.add(n.name);
    if (!Number.isInteger(n.underlayPrefix) || n.underlayPrefix < 0 || n.underlayPrefix > 32) {
      throw new Error(`underlay prefix length of node "${n.name}" must be an integer 0..32, got ${n.underlayPrefix}`);
    }
  }
  if (spec.underlayMtu !== undefined && (!Number.isInteger(spec.underlayMtu) || spec.underlayMtu < 68 || spec.underlayMtu > 65535)) {
    throw new Error(`underlay MTU must be an integer 68..65535, got ${spec.underlayMtu}`);
  }
}

function checkHostName(name: string, what: string): void {
  if (!NAME_RE.test(name)) throw new Error(`testbed ${what} name "${name}" must be 1-32 letters, digits, '_', '.' or '-'`);
  if (name === SWITCH) throw new Error(`testbed ${what} name "${SWITCH}" is reserved for the underlay switch`);
}

class NetnsTopology implements Topology {
  readonly spec: Readonly<TopologySpec>;
  readonly switchNs: string;
  /** host name (node or pod) → namespace */
  private readonly hosts = new Map<string, string>();
  private readonly created: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly podList: PodInfo[] = [];
  private podIfIndex = 0;
  private teardownPromise: Promise<void> | undefined;

  constructor(spec: TopologySpec) {
    this.spec = { ...spec, nodes: spec.nodes.map((n) => ({ ...n })) };
    this.switchNs = `${spec.prefix}-${SWITCH}`;
  }

  /** Creates namespace `ns` and records it as ours (only after `ip netns add` succeeded). */
  private async addNs(ns: string): Promise<void> {
    this.assertAlive();
    await run('ip', ['netns', 'add', ns]);
    this.created.push(ns);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  private assertAlive(): void {
    if (this.teardownPromise) throw new Error(`testbed ${this.spec.prefix} has been torn down`);
  }

  async build(): Promise<void> {
    const sw = this.switchNs;
    const mtu = this.spec.underlayMtu;
    await this.addNs(sw);
    await run('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    if (mtu !== undefined) await run('ip', ['-n', sw, 'link', 'set', 'br0', 'mtu', String(mtu)]);
    await run('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
    let i = 0;
    for (const node of this.spec.nodes) {
      const ns = `${this.spec.prefix}-${node.name}`;
      const swIf = `sw${i++}`;
      await this.addNs(ns);
      this.hosts.set(node.name, ns);
      await run('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', swIf, 'netns', sw]);
      if (mtu !== undefined) {
        await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', String(mtu)]);
        await run('ip', ['-n', sw, 'link', 'set', swIf, 'mtu', String(mtu)]);
      }
      await run('ip', ['-n', sw, 'link', 'set', swIf, 'master', 'br0']);
      await run('ip', ['-n', sw, 'link', 'set', swIf, 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${node.underlayIp}/${node.underlayPrefix}`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
  }

  nsOf(host: string): string {
    const ns = this.hosts.get(host);
    if (ns === undefined) throw new Error(`testbed ${this.spec.prefix} has no node or pod named "${host}"`);
    return ns;
  }

  underlayIpOf(node: string): string {
    const n = this.spec.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`testbed ${this.spec.prefix} has no node named "${node}"`);
    return n.underlayIp;
  }

  exec(host: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return nsExec(this.nsOf(host), cmd, args, opts);
  }

  spawn(host: string, cmd: string, args: readonly string[], opts?: SpawnOptions): ChildProcess {
    this.assertAlive();
    return spawnInNs(this.nsOf(host), cmd, args, opts, this.children);
  }

  async addPodNamespace(node: string, podName: string, podCidrIp: string, gatewayIp: string): Promise<PodInfo> {
    this.assertAlive();
    const nodeNs = this.nsOf(node);
    if (!this.spec.nodes.some((n) => n.name === node)) throw new Error(`"${node}" is a pod, not a node`);
    checkHostName(podName, 'pod');
    if (this.hosts.has(podName)) throw new Error(`testbed host name "${podName}" is already in use`);
    const slash = podCidrIp.indexOf('/');
    if (slash < 0) throw new Error(`pod address "${podCidrIp}" needs a prefix length, e.g. 10.234.117.2/24`);
    const plen = podCidrIp.slice(slash + 1);
    const ns = `${this.spec.prefix}-${podName}`;
    const nodeIf = `vp${this.podIfIndex++}`;
    // Recorded before anything can fail, so a half-made pod is still found by teardown().
    await this.addNs(ns);
    this.hosts.set(podName, ns);
    await run('ip', ['-n', nodeNs, 'link', 'add', nodeIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await run('ip', ['-n', nodeNs, 'addr', 'add', `${gatewayIp}/${plen}`, 'dev', nodeIf]);
    await run('ip', ['-n', nodeNs, 'link', 'set', nodeIf, 'up']);
    await run('ip', ['-n', ns, 'addr', 'add', podCidrIp, 'dev', 'eth0']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', gatewayIp, 'dev', 'eth0']);
    // ip_forward is per network namespace; this touches only the node's.
    await nsExec(nodeNs, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    const info: PodInfo = { name: podName, node, ns, cidrIp: podCidrIp, gatewayIp, nodeIfname: nodeIf };
    this.podList.push(info);
    return info;
  }

  pods(): readonly PodInfo[] {
    return [...this.podList];
  }

  namespaces(): readonly string[] {
    return [...this.created];
  }

  teardown(opts: TeardownOptions = {}): Promise<void> {
    this.teardownPromise ??= this.doTeardown(opts.termTimeoutMs ?? 5_000);
    return this.teardownPromise;
  }

  private async doTeardown(termTimeoutMs: number): Promise<void> {
    const problems: string[] = [];
    await Promise.all([...this.children].map((c) => stopProcess(c, termTimeoutMs)));
    this.children.clear();
    // Pods and nodes before the switch: reverse creation order.
    for (const ns of [...this.created].reverse()) {
      try {
        await deleteNamespace(ns);
      } catch (e) {
        problems.push(e instanceof Error ? e.message : String(e));
      }
    }
    this.created.length = 0;
    this.hosts.clear();
    if (problems.length > 0) {
      // Never throw from a teardown (it runs in finally/afterAll, where it would mask the real failure).
      process.stderr.write(`testbed ${this.spec.prefix}: teardown problems:\n  ${problems.join('\n  ')}\n`);
    }
  }
}

/**
 * Kills every process still inside namespace `ns` (SIGKILL, by PID, as listed by `ip netns pids`), then
 * deletes it. Only for namespaces the caller owns. Resolves quietly if the namespace is already gone.
 */
export async function deleteNamespace(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns], { check: false });
  if (pids.code === 0) {
    for (const word of pids.stdout.split(/\s+/)) {
      const pid = Number(word);
      if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  const del = await run('ip', ['netns', 'del', ns], { check: false });
  if (del.code !== 0 && !/No such file|not found|does not exist/i.test(del.stderr)) {
    throw new CommandError('ip', ['netns', 'del', ns], del.code, `failed with exit status ${del.code}`, del.stdout, del.stderr);
  }
}

/**
 * Builds the topology described by `spec`. Rejects (after tearing down whatever it had made) if any step
 * fails, e.g. an invalid address or a namespace name that already exists; the error carries `ip`'s stderr.
 */
export async function buildTopology(spec: TopologySpec): Promise<Topology> {
  validate(spec);
  const topo = new NetnsTopology(spec);
  try {
    await topo.build();
  } catch (e) {
    await topo.teardown();
    throw e;
  }
  return topo;
}
