// Control-socket access and bad input against a real instance in a namespace: changes need CAP_NET_ADMIN over
// the instance's network namespace (uid 65534, root without the capability, root of a plain `unshare -U` and of
// `unshare -U -r` are all refused and change nothing); reads stay open; malformed requests and 1000 idle
// connections get an answer or a close while pings keep flowing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, waitForExit, type Topology } from '../../src/testbed/index.js';
import { MAX_ADMIN_CONNECTIONS, MAX_READ_ONLY_CONNECTIONS_PER_UID } from '../../src/control/ops/control-server.js';
import { MAX_REQUEST_BYTES } from '../../src/control/ops/control-protocol.js';
import { N1, N2, type SeedNode } from './seed-nodes.js';
import { assertBuilt, NetSession, runCli, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();
const A: SeedNode = { ...N1, name: 'a' };
const B: SeedNode = { ...N2, name: 'b' };
const DEV = 'vxlan-test';
const OTHER_MAC = '02:00:00:00:00:66';

/** How each refused client is run: the wrapper put in front of `node main.js ...`. */
const UNPRIVILEGED: Record<string, string[]> = {
  'uid 65534': ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
  'uid 0 without CAP_NET_ADMIN': ['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin'],
  'root of a plain unshare -U': ['unshare', '-U'],
  'root of unshare -U -r (full CapEff in its own user namespace)': ['unshare', '-U', '-r'],
};

/** Every changing command, each one that would succeed for root. */
const CHANGES: string[][] = [
  ['fdb', 'add', OTHER_MAC, 'dst', '192.168.0.66'],
  ['fdb', 'append', B.mac, 'dst', '192.168.0.66'],
  ['fdb', 'replace', B.mac, 'dst', '192.168.0.66'],
  ['fdb', 'del', B.mac],
  ['neigh', 'add', '179.17.1.66', 'lladdr', OTHER_MAC],
  ['neigh', 'replace', B.overlay, 'lladdr', OTHER_MAC],
  ['neigh', 'del', B.overlay],
  ['reload'],
  ['down'],
];

const READS: string[][] = [['show'], ['stats'], ['fdb', 'show'], ['neigh', 'show'], ['stats', '--json']];

/**
 * A raw client of the control socket, run inside the namespace (abstract sockets belong to it). Modes:
 * `send END`: writes its stdin, half-closes if END is 1, prints {data, closed} after close or 2 s;
 * `idle N`: opens N connections, prints {open, refused, other} 1.5 s after the last, then holds them.
 */
const RAW_CLIENT = `
const net = require('node:net');
const [mode, name, a, b] = process.argv.slice(1);
const path = '\\0vxlan-user/' + name;
if (mode === 'send') {
  const s = net.connect(path);
  let data = '';
  let closed = false;
  s.setEncoding('utf8').on('data', (d) => (data += d)).on('error', () => {});
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
    s.write(Buffer.concat(chunks));
    if (a === '1') s.end();
  });
  const done = () => { process.stdout.write(JSON.stringify({ data, closed })); process.exit(0); };
  s.on('close', () => { closed = true; done(); });
  setTimeout(done, 2000);
} else {
  // One connection after the other (a burst would overflow the listen backlog, which is not what we test).
  const n = Number(a);
  const conns = [];
  const next = () => {
    if (conns.length === n) return setTimeout(report, 1500);
    const c = { got: '', closed: false };
    conns.push(c);
    const s = net.connect(path);
    let connected = false;
    s.setEncoding('utf8').on('data', (d) => (c.got += d)).on('connect', () => { connected = true; next(); });
    s.on('error', (e) => {
      if (connected) return;
      // The client can outrun the server's accept(): a full backlog refuses a connect with EAGAIN. Retry it.
      if (e.code === 'EAGAIN') { conns.pop(); setTimeout(next, 20); } else next();
    });
    s.on('close', () => (c.closed = true));
  };
  const report = () => {
    const open = conns.filter((c) => !c.closed).length;
    const refused = conns.filter((c) => c.closed && c.got.includes('"error":"too many connections')).length;
    process.stdout.write(JSON.stringify({ open, refused, other: n - open - refused }) + '\\n');
  };
  next();
  setInterval(() => {}, 1000);
}
`;

let work: string;
const net = new NetSession();

describe.skipIf(gate.skip)('control socket access and bad input (real namespaces)', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-access-'));
  });
  afterEach(() => net.cleanup());
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const yaml = (fdbDst: string): string =>
    `version: 1\nvni: 10001\nname: ${DEV}\ndstport: 4899\nlocal: ${A.underlay}\nmac: ${A.mac}\naddr: ${A.overlay}/24\n` +
    `neigh: [${B.overlay}=${B.mac}]\nfdb: [${B.mac}=${fdbDst}]\n`;

  async function pair(tag: string): Promise<{ t: Topology; a: RunningVtep; file: string }> {
    const t = await net.topology(tag, [A, B]);
    const file = join(work, `${tag}.yaml`);
    writeFileSync(file, yaml(B.underlay));
    const a = await net.up(t, A, ['--config', file]);
    await net.up(t, B, ['--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', B.underlay, '--mac', B.mac, '--addr', `${B.overlay}/24`, '--neigh', `${A.overlay}=${A.mac}`, '--fdb', `${A.mac}=${A.underlay}`]);
    return { t, a, file };
  }

  const ctl = (t: Topology, args: string[], wrap?: string[]) => runCli([...args, '--name', DEV], { ns: t.nsOf(A.name), ...(wrap ? { wrap } : {}) });

  async function tables(t: Topology): Promise<string> {
    const f = await ctl(t, ['fdb', 'show']);
    const n = await ctl(t, ['neigh', 'show']);
    expect(f.code, f.stderr).toBe(0);
    expect(n.code, n.stderr).toBe(0);
    return f.stdout + n.stdout;
  }

  it('every changing command is refused (exit 4, one sentence, logged) and changes nothing; reads stay open; root still works', async () => {
    const { t, a, file } = await pair('acl');
    await t.exec(A.name, 'ping', ['-c', '1', '-W', '2', B.overlay]);
    const before = await tables(t);
    expect(before).toBe(`${B.mac} dev ${DEV} dst ${B.underlay} self permanent\n${B.overlay} dev ${DEV} lladdr ${B.mac} PERMANENT\n`);
    // A reload would change the FDB now: the file points B's MAC elsewhere.
    writeFileSync(file, yaml('192.168.0.66'));

    for (const [who, wrap] of Object.entries(UNPRIVILEGED)) {
      for (const cmd of CHANGES) {
        const r = await ctl(t, cmd, wrap);
        expect({ who, cmd: cmd.join(' '), code: r.code, stderr: r.stderr }).toEqual({
          who,
          cmd: cmd.join(' '),
          code: 4,
          stderr: `vxlan-user: permission denied: changing ${DEV} needs CAP_NET_ADMIN\n`,
        });
      }
      expect(await tables(t), who).toBe(before);
      expect(a.child.exitCode, who).toBeNull();
      for (const cmd of READS) {
        const r = await ctl(t, cmd, wrap);
        expect(r.code, `${who}: ${cmd.join(' ')}: ${r.stderr}`).toBe(0);
      }
    }
    const refusals = a.stderr().match(/^vxlan-user: control: refused .*$/gm) ?? [];
    expect(refusals).toHaveLength(Object.keys(UNPRIVILEGED).length * CHANGES.length);
    expect(refusals[2]).toMatch(/^vxlan-user: control: refused fdb replace from pid [1-9]\d* uid 65534: no CAP_NET_ADMIN in its effective set$/);
    expect(refusals.some((l) => /refused down from pid [1-9]\d* uid 0: its user namespace does not own this network namespace$/.test(l))).toBe(true);
    expect(refusals.some((l) => /refused reload from pid [1-9]\d* uid 0: no CAP_NET_ADMIN in its effective set$/.test(l))).toBe(true);
    await t.exec(A.name, 'ping', ['-c', '1', '-W', '2', B.overlay]);

    // Root of the instance's own user namespace still changes it.
    expect((await ctl(t, ['fdb', 'add', OTHER_MAC, 'dst', '192.168.0.67'])).code).toBe(0);
    const reload = await ctl(t, ['reload']);
    expect(reload.code, reload.stderr).toBe(0);
    expect((await ctl(t, ['fdb', 'show'])).stdout).toBe(`${B.mac} dev ${DEV} dst 192.168.0.66 self permanent\n`);
    const down = await ctl(t, ['down']);
    expect(down.code, down.stderr).toBe(0);
    expect(await waitForExit(a.child, 2_000)).toBe(true);
    expect(a.child.exitCode).toBe(0);
  });

  /** Runs the raw client in A's namespace and returns what it saw. */
  function raw(t: Topology, payload: string, halfClose: boolean): Promise<{ data: string; closed: boolean }> {
    const child = spawn('ip', ['netns', 'exec', t.nsOf(A.name), process.execPath, '-e', RAW_CLIENT, 'send', DEV, halfClose ? '1' : '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.stdin.end(payload);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    return new Promise((resolve, reject) =>
      child.on('close', (code) => {
        try {
          resolve(JSON.parse(out) as { data: string; closed: boolean });
        } catch {
          reject(new Error(`the raw client exited with ${code} and printed ${JSON.stringify(out)}`));
        }
      }),
    );
  }

  it('bad input: invalid JSON, an over-long line, an unknown op, a half-closed connection, 1000 idle connections', async () => {
    const { t, a } = await pair('bad');
    const pinging = t.exec(A.name, 'ping', ['-c', '60', '-i', '0.1', '-W', '1', B.overlay]).then((r) => r.stdout, (e: Error) => e.message);

    const notJson = await raw(t, '{"op": "show"\n', false);
    expect(notJson).toEqual({ data: '{"ok":false,"exit":2,"error":"malformed request: not a JSON line"}\n', closed: true });

    const long = await raw(t, `{"op":"show","x":"${'a'.repeat(MAX_REQUEST_BYTES)}"}\n`, false);
    expect(long).toEqual({ data: `{"ok":false,"exit":2,"error":"malformed request: a line longer than ${MAX_REQUEST_BYTES} bytes"}\n`, closed: true });

    // An unknown op is answered and the connection stays usable: the next request on it gets its answer.
    const unknown = await raw(t, '{"op":"format-disk"}\n["show"]\n{"op":"stats"}\n', true);
    const [u1, u2, u3] = unknown.data.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; error?: string });
    expect(u1).toEqual({ ok: false, exit: 2, error: 'malformed request: unknown op "format-disk"' });
    expect(u2).toMatchObject({ ok: false, exit: 2 });
    expect(u3).toMatchObject({ ok: true });
    expect(unknown.closed).toBe(true);

    // Half-closed: the request without its newline is answered once the client shuts down its side.
    const half = await raw(t, '{"op":"show"}', true);
    expect(half.closed).toBe(true);
    expect(JSON.parse(half.data)).toMatchObject({ ok: true, data: { name: DEV, pid: a.child.pid } });
    // Half-closed with nothing sent: closed, no answer.
    expect(await raw(t, '', true)).toEqual({ data: '', closed: true });

    // 1000 idle connections from an unprivileged user: all but the quota are answered and closed.
    const idle = (wrap: string[]) => {
      const child = spawn('ip', ['netns', 'exec', t.nsOf(A.name), ...wrap, process.execPath, '-e', RAW_CLIENT, 'idle', DEV, '1000'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const counted = new Promise<{ open: number; refused: number; other: number }>((resolve) => {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out) as { open: number; refused: number; other: number });
        });
      });
      return { child, counted };
    };
    const nobody = idle(UNPRIVILEGED['uid 65534']!);
    expect(await nobody.counted).toEqual({ open: MAX_READ_ONLY_CONNECTIONS_PER_UID, refused: 1000 - MAX_READ_ONLY_CONNECTIONS_PER_UID, other: 0 });
    // 1000 idle connections from root: its own, higher limit; the instance still answers and forwards.
    const root = idle([]);
    expect(await root.counted).toEqual({ open: MAX_ADMIN_CONNECTIONS, refused: 1000 - MAX_ADMIN_CONNECTIONS, other: 0 });
    // Meanwhile another local user still reads, and the holders themselves are told why they cannot.
    const other = await ctl(t, ['show'], ['setpriv', '--reuid=65533', '--regid=65533', '--clear-groups']);
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toContain(`pid ${a.child.pid}`);
    const nobodyShow = await ctl(t, ['show'], UNPRIVILEGED['uid 65534']);
    expect(nobodyShow.code).toBe(1);
    expect(nobodyShow.stderr).toBe(`vxlan-user: too many connections from uid 65534: at most ${MAX_READ_ONLY_CONNECTIONS_PER_UID} for a client without CAP_NET_ADMIN\n`);
    const rootShow = await ctl(t, ['show']);
    expect(rootShow.stderr).toBe(`vxlan-user: too many connections: at most ${MAX_ADMIN_CONNECTIONS} at once\n`);
    nobody.child.kill('SIGKILL');
    root.child.kill('SIGKILL');
    await Promise.all([waitForExit(nobody.child, 2_000), waitForExit(root.child, 2_000)]);
    // Their connections are gone and counted back: both may use the socket again.
    await new Promise((r) => setTimeout(r, 200));
    expect((await ctl(t, ['show'], UNPRIVILEGED['uid 65534'])).code).toBe(0);
    expect((await ctl(t, ['fdb', 'add', OTHER_MAC, 'dst', '192.168.0.67'])).code).toBe(0);

    const out = await pinging;
    expect(Number(/(\d+) received/.exec(out)?.[1])).toBeGreaterThanOrEqual(57); // the dataplane never stalled
    expect(a.child.exitCode).toBeNull();
  });
});
