// sd_notify from a real `vxlan-user up` to a real datagram listener on $NOTIFY_SOCKET (a path, then an abstract
// name), with the sender's pid checked through SCM_CREDENTIALS: READY=1 + STATUS= at `ready:`, WATCHDOG=1
// pings, RELOADING=1 + MONOTONIC_USEC then READY=1 around a reload, STOPPING=1 on SIGTERM.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, waitForExit, type Topology } from '../../src/testbed/index.js';
import { N1 } from './seed-nodes.js';
import { assertBuilt, CLI, NetSession, runCli } from './vtep-process.js';

const gate = netTestGate();
const A = { ...N1, name: 'a' };
const DEV = 'vxlan-test';

/** A datagram listener (Debian's python3): one JSON line per datagram with the sender's pid and our clock. */
const LISTENER = `
import json, os, socket, struct, sys, time
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({"listening": addr}), flush=True)
while True:
    msg, anc, flags, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack('iII', d[:12])[0] for (l, t, d) in anc if t == socket.SCM_CREDENTIALS), None)
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    print(json.dumps({"pid": pid, "msg": msg.decode(), "now": now}), flush=True)
`;

interface Datagram {
  readonly pid: number;
  readonly msg: string;
  readonly now: number;
}

class Listener {
  readonly got: Datagram[] = [];
  private constructor(readonly proc: ChildProcess) {}

  static async start(t: Topology, addr: string): Promise<Listener> {
    const proc = t.spawn(A.name, '/usr/bin/python3', ['-c', LISTENER, addr]);
    const l = new Listener(proc);
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`the listener exited with ${code}`)));
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const o = JSON.parse(buf.slice(0, i)) as Datagram | { listening: string };
          buf = buf.slice(i + 1);
          if ('listening' in o) resolve();
          else l.got.push(o);
        }
      });
    });
    return l;
  }

  async until(what: string, f: (d: readonly Datagram[]) => boolean, ms = 5_000): Promise<void> {
    const end = Date.now() + ms;
    while (!f(this.got)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.got.map((d) => d.msg))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

let work: string;
const net = new NetSession();

describe.skipIf(gate.skip)('sd_notify to a real NOTIFY_SOCKET listener', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-notify-'));
  });
  afterEach(() => net.cleanup());
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  for (const kind of ['path', 'abstract'] as const) {
    it(`READY, STATUS, WATCHDOG, RELOADING/READY, STOPPING from the main process (${kind} socket)`, async () => {
      const t = await net.topology(`sdn-${kind[0]}`, [A]);
      const addr = kind === 'path' ? join(work, 'notify.sock') : `@vxut-${process.pid}-notify`;
      const l = await Listener.start(t, addr);
      const file = join(work, `${kind}.yaml`);
      writeFileSync(file, `version: 1\nvni: 10001\nname: ${DEV}\ndstport: 4899\nlocal: ${A.underlay}\naddr: ${A.overlay}/24\n`);
      const child = t.spawn(A.name, process.execPath, [CLI, 'up', '--config', file], {
        env: { ...process.env, NOTIFY_SOCKET: addr, WATCHDOG_USEC: '200000' },
      });
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
      await l.until('READY=1', (g) => g.some((d) => d.msg.startsWith('READY=1')));
      // The main pid itself sent it (NotifyAccess=main), and not before the ready line was printed.
      const ready = l.got.find((d) => d.msg.startsWith('READY=1'))!;
      expect(ready.pid).toBe(child.pid);
      expect(out).toMatch(/^ready: vxlan-test vni 10001 /);
      expect(ready.msg).toMatch(/^READY=1\nSTATUS=vxlan-test: I\/O path .+; .*(offload|GSO|TSO)/);
      expect(l.got.filter((d) => d.msg === 'READY=1' || d.msg.startsWith('RELOADING'))).toEqual([]);

      // WATCHDOG_USEC=200000: a ping every 100 ms from the event loop.
      const w0 = l.got.length;
      await new Promise((r) => setTimeout(r, 1_000));
      const pings = l.got.slice(w0).filter((d) => d.msg === 'WATCHDOG=1');
      expect(pings.length).toBeGreaterThanOrEqual(6);
      expect(pings.length).toBeLessThanOrEqual(12);
      expect(pings.every((d) => d.pid === child.pid)).toBe(true);

      // A reload through the control socket: RELOADING=1 with our CLOCK_MONOTONIC, then READY=1.
      const r0 = l.got.length;
      const r = await runCli(['reload', '--name', DEV], { ns: t.nsOf(A.name) });
      expect(r.code, r.stderr).toBe(0);
      await l.until('READY=1 after the reload', (g) => g.slice(r0).some((d) => d.msg === 'READY=1'));
      const around = l.got.slice(r0).filter((d) => d.msg !== 'WATCHDOG=1');
      expect(around.map((d) => d.msg.replace(/USEC=\d+/, 'USEC=N'))).toEqual(['RELOADING=1\nMONOTONIC_USEC=N', 'READY=1']);
      const usec = Number(/MONOTONIC_USEC=(\d+)/.exec(around[0]!.msg)![1]);
      expect(Math.abs(around[0]!.now - usec)).toBeLessThan(1_000_000); // the same clock, within a second

      // SIGTERM: STOPPING=1, then a clean exit and no more pings.
      child.kill('SIGTERM');
      expect(await waitForExit(child, 5_000)).toBe(true);
      expect(child.exitCode).toBe(0);
      const stopping = l.got.findIndex((d) => d.msg === 'STOPPING=1');
      expect(stopping).toBeGreaterThan(0);
      expect(l.got.slice(stopping + 1).filter((d) => d.msg === 'WATCHDOG=1')).toEqual([]);
    });
  }
});
