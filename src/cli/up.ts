/**
 * `vxlan-user up`: runs one VTEP in the foreground until SIGINT/SIGTERM.
 *
 * stdout carries exactly one line, `ready: ...`, printed once the TAP is up with its MAC, addresses and MTU,
 * the UDP socket is bound and the routes are installed. Everything else (logs, counters) goes to stderr.
 * SIGUSR1 prints the counters as one JSON line on stderr; so does the stop.
 *
 * This is the composition root: the one place that picks the platform (Linux TAP, native or dgram UDP) and
 * hands it to the runtime, which only knows the interfaces of platform/types.ts.
 */
import { parseUpArgs } from '../control/config/config.js';
import { formatUpHelp } from '../control/config/help.js';
import { startInstance, type Instance } from '../control/runtime/instance.js';
import { startOperations, type Operations } from '../control/ops/control-server.js';
import { reload } from '../control/runtime/reload.js';
import { SdNotify } from './sd-notify.js';
import { LINUX_PEER_INFO } from '../platform/linux/peer.js';
import { installObservers } from './observe.js';
import { LinuxTap } from '../platform/linux/tap.js';
import { DgramUdpBind } from '../platform/linux/udp-dgram.js';
import { NativeUdpBind } from '../platform/linux/udp-native.js';
import { native } from '../platform/linux/native.js';
import type { Platform } from '../platform/types.js';
import { FakeTap, FakeUdpBind } from '../platform/fake/fake.js';
import { warmUp } from '../dataplane/warmup.js';
import { wantsEtcd } from '../control/flannel/args.js';
import { prepareEtcdMember, type EtcdMember } from '../control/flannel/node.js';

/** The Linux devices and sockets (over the native addon; node:dgram for --io dgram). */
const LINUX: Platform = {
  openTap: (name, opts) => new LinuxTap(name, opts),
  openUdp: (o) => new NativeUdpBind(o),
  openDgramUdp: (o) => DgramUdpBind.open(o),
  get segmentTcp() {
    return native().segmentTcp; // loaded when the instance starts, like the TAP and the sockets
  },
};

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
  // Under systemd (Type=notify): READY/RELOADING/STOPPING/WATCHDOG from this process (sd-notify.ts).
  const notify = SdNotify.fromEnv(process.env, log);

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

  // Warm the hot paths (dataplane/warmup.ts) on in-memory devices before any device exists, so the first real
  // packets do not run in V8's interpreter. VXLAN_USER_WARMUP=0 skips it (for measuring what it buys).
  let warmMs: number | undefined;
  if (process.env.VXLAN_USER_WARMUP !== '0') {
    const ms = warmUp(
      { vni: config.vni, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, tapMtu: 1450, dstport: config.dstport, tso: true, udpGso: true, udpGro: true, rxCoalesce: true },
      new FakeTap('warmup0', true),
      new FakeUdpBind('192.0.2.1', config.dstport),
    );
    warmMs = ms;
  }

  let inst: Instance;
  try {
    inst = await startInstance(config, log, LINUX).catch(async (e: unknown) => {
      await member?.leave();
      throw e;
    });
    // The control socket and --metrics open before the ready line, so `ready:` means they answer too.
    try {
      const m = member;
      ops = await startOperations(inst, config, argv, log, { down: () => stop('vxlan-user down'), notify, peer: LINUX_PEER_INFO, ...(m ? { membership: () => m.show() } : {}) });
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

  // One line per device; a `vnis:` process adds its socket's counters (datagrams for no device) to each.
  const dump = (event: string): void => {
    const uptime = Math.round((Date.now() - inst.startedAt) / 1000);
    const socket = inst.stray !== undefined ? { socket: inst.stray.snapshot() } : {};
    for (const d of inst.devices) {
      const line = JSON.stringify({ event, name: d.tapName, uptime_s: uptime, counters: d.vtep.counters.snapshot(), ...socket });
      process.stderr.write(`${line}\n`);
    }
  };
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    notify?.stopping();
    // In etcd mode the lease is revoked first, so the peers drop this node at once (bounded: leave() waits ≤ 2 s).
    void (member?.leave() ?? Promise.resolve()).then(() => {
      ops?.close();
      closeObservers();
      inst.stop();
      dump('stop');
      log(`${inst.devices.length > 1 ? `${inst.devices.length} devices` : inst.tapName}: stopped on ${sig}; routes and TAP device${inst.devices.length > 1 ? 's' : ''} removed`);
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

  // Logged only now, so that a start that fails prints its one sentence and nothing before it.
  if (warmMs !== undefined) log(`dataplane warmed up on in-memory devices in ${warmMs.toFixed(0)} ms before the device came up`);
  // One ready line per device (a `vnis:` process has several), the last one after every device runs.
  for (const d of inst.devices) process.stdout.write(`${d.readyLine}${member ? ` subnet ${member.subnet}` : ''}\n`);
  notify?.ready(`${inst.tapName}: I/O path ${inst.ioPath}; ${inst.offloads}`);
  notify?.startWatchdog(process.env, process.pid);
  if (pendingStop) stop(pendingStop);
  return -1;
}
