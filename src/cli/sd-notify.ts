/**
 * The sd_notify protocol (sd_notify(3)), spoken by the `up` process itself: with systemd's default
 * NotifyAccess=main, only datagrams from the main pid count, so a `systemd-notify` child cannot do it.
 *
 *   READY=1 + STATUS=...     when `ready:` is printed (TAP up, socket bound, routes and control socket open)
 *   RELOADING=1 + MONOTONIC_USEC=...  then READY=1   around each reload (SIGHUP or `vxlan-user reload`)
 *   STOPPING=1               when a clean stop begins
 *   WATCHDOG=1               every WATCHDOG_USEC/2, from an event-loop timer: a stuck loop stops them
 *
 * $NOTIFY_SOCKET is a filesystem path or an abstract name (`@...`); each message is one datagram, sent through
 * the addon (Node has no Unix datagram sockets). A failed send is logged once and never stops the instance.
 */
import { native } from '../platform/linux/native.js';
import type { Logger } from '../control/runtime/instance.js';
import type { Notifier } from '../control/runtime/notifier.js';

export type { Notifier };


/** The watchdog ping interval in ms (half of WATCHDOG_USEC), or undefined when no watchdog is asked of us. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isInteger(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID, when set, names the process that must ping: a child that inherited the variable must not.
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants it (process.hrtime is CLOCK_MONOTONIC on Linux). */
export const monotonicUsec = (): bigint => process.hrtime.bigint() / 1000n;

export class SdNotify implements Notifier {
  private warned = false;
  /** READY=1 was sent once: a reload answered during start-up (control socket already open) must not send it early. */
  private started = false;
  private watchdog: NodeJS.Timeout | undefined;

  private constructor(
    readonly socket: string,
    private readonly log: Logger,
  ) {}

  /** From $NOTIFY_SOCKET; undefined when it is unset (not under systemd) or of a kind we do not speak. */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger): SdNotify | undefined {
    const path = env.NOTIFY_SOCKET;
    if (path === undefined || path === '') return undefined;
    if (!path.startsWith('/') && !path.startsWith('@')) {
      log(`NOTIFY_SOCKET=${path} is neither a path nor an @abstract name: not notifying systemd`);
      return undefined;
    }
    return new SdNotify(path, log);
  }

  /** One datagram of newline-separated KEY=VALUE lines. */
  send(...lines: string[]): void {
    try {
      native().unixDgramSend(this.socket, lines.join('\n'));
    } catch (e) {
      if (this.warned) return;
      this.warned = true;
      this.log(`cannot notify systemd at ${this.socket}: ${(e as Error).message}`);
    }
  }

  ready(status?: string): void {
    if (status === undefined) {
      if (this.started) this.send('READY=1');
      return;
    }
    this.started = true;
    this.send('READY=1', `STATUS=${status.replace(/\n/g, ' ')}`);
  }

  reloading(): void {
    if (this.started) this.send('RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`);
  }

  stopping(): void {
    this.stopWatchdog();
    this.send('STOPPING=1');
  }

  /** Starts WATCHDOG=1 pings when $WATCHDOG_USEC asks for them. The timer does not keep the process alive. */
  startWatchdog(env: NodeJS.ProcessEnv, pid: number): void {
    const ms = watchdogIntervalMs(env, pid);
    if (ms === undefined || this.watchdog) return;
    this.watchdog = setInterval(() => this.send('WATCHDOG=1'), ms);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
