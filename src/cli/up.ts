/**
 * `vxlan-user up`: runs one VTEP in the foreground until SIGINT/SIGTERM.
 *
 * stdout carries exactly one line, `ready: ...`, printed once the TAP is up with its MAC, addresses and MTU,
 * the UDP socket is bound and the routes are installed. Everything else (logs, counters) goes to stderr.
 * SIGUSR1 prints the counters as one JSON line on stderr; so does the stop.
 */
import { parseUpArgs } from '../control/config.js';
import { formatUpHelp } from '../control/help.js';
import { startInstance, type Instance } from '../control/instance.js';
import { startOperations, type Operations } from '../control/control-server.js';
import { reload } from '../control/reload.js';
import { installObservers } from './observe.js';
import { wantsEtcd } from '../control/flannel/args.js';
import { prepareEtcdMember, type EtcdMember } from '../control/flannel/node.js';

/** Resolves with -1: the process keeps running; the exit happens from the signal handler. */
export async function runUp(argv: string[]): Promise<number> {
  // etcd mode (--etcd-endpoints, control/flannel/): the lease decides the device's flags before they are parsed.
  let member: EtcdMember | undefined;
  const etcdMode = wantsEtcd(argv) && !argv.includes('--help') && !argv.includes('-h');
  if (etcdMode) member = await prepareEtcdMember(argv, argv.includes('--quiet') ? () => {} : (line) => process.stderr.write(`vxlan-user: ${line}\n`));
  let parsed;
  try {
    parsed = parseUpArgs(member?.upArgv ?? argv);
  } catch (e) {
    await member?.leave();
    throw e;
  }
  const { help, config } = parsed;
  if (help) {
    process.stdout.write(formatUpHelp());
    return 0;
  }
  const log = config.quiet ? () => {} : (line: string) => process.stderr.write(`vxlan-user: ${line}\n`);

  // Signals that arrive while we are still applying the configuration must not leave it half done:
  // remember them and stop as soon as the start has finished (or undone itself).
  let pendingStop: NodeJS.Signals | undefined;
  const early = (sig: NodeJS.Signals): void => {
    pendingStop = sig;
  };
  process.on('SIGINT', early);
  process.on('SIGTERM', early);
  // SIGHUP re-reads --config (reload.ts); before the start has finished there is nothing to reload yet.
  let ops: Operations | undefined;
  process.on('SIGHUP', () => {
    if (!ops) return log('SIGHUP during start-up: ignored');
    try {
      log(reload(ops.rt));
    } catch (e) {
      process.stderr.write(`vxlan-user: ${(e as Error).message}\n`);
    }
  });

  let inst: Instance;
  try {
    inst = await startInstance(config, log).catch(async (e: unknown) => {
      await member?.leave();
      throw e;
    });
    // The control socket and --metrics open before the ready line, so `ready:` means they answer too.
    try {
      const m = member;
      ops = await startOperations(inst, config, argv, log, { down: () => stop('vxlan-user down'), ...(m ? { membership: () => m.show() } : {}) });
      await m?.attach(inst, ops.rt, (why) => fail(why));
    } catch (e) {
      ops?.close();
      inst.stop();
      await member?.leave();
      throw e;
    }
  } finally {
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
  }

  // --trace / --pcap (observe.ts); without them the dataplane has no observer.
  let closeObservers = (): void => {};
  try {
    closeObservers = installObservers(inst, config, log);
  } catch (e) {
    ops?.close();
    inst.stop();
    throw e;
  }

  const dump = (event: string): void => {
    const line = JSON.stringify({ event, name: inst.tapName, uptime_s: Math.round((Date.now() - inst.startedAt) / 1000), counters: inst.vtep.counters.snapshot() });
    process.stderr.write(`${line}\n`);
  };
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    // In etcd mode the lease is revoked first, so the peers drop this node at once (bounded: leave() waits ≤ 2 s).
    void (member?.leave() ?? Promise.resolve()).then(() => {
      ops?.close();
      closeObservers();
      inst.stop();
      dump('stop');
      log(`${inst.tapName}: stopped on ${sig}; routes and TAP device removed`);
      process.exit(0);
    });
  };
  // A membership failure the node cannot repair (our subnet taken while our lease was lost): exit 1.
  function fail(why: string): void {
    process.stderr.write(`vxlan-user: ${why}\n`);
    ops?.close();
    closeObservers();
    inst.stop();
    void member?.leave().finally(() => process.exit(1));
  }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGUSR1', () => dump('counters'));
  // A runtime failure after start (an exception in a callback) must still remove what we installed.
  process.on('uncaughtException', (e) => {
    process.stderr.write(`vxlan-user: runtime failure: ${e.message}\n`);
    if (process.env.VXLAN_USER_DEBUG === '1') process.stderr.write(`${e.stack ?? ''}\n`);
    ops?.close();
    closeObservers();
    inst.stop();
    dump('stop');
    process.exit(1);
  });

  process.stdout.write(`${inst.readyLine}${member ? ` subnet ${member.subnet}` : ''}\n`);
  if (pendingStop) stop(pendingStop);
  return -1;
}
