// One text grammar (control/config/grammar.ts): every input below goes through every entry point that reads its
// kind of value — `up` flags, a config file, the whole-overlay file, `plan`, `explain`, the control command on
// the client (no instance running) and the table change inside an instance — and must get the same verdict
// and, when refused, the same sentence after the subject (`--mac X`, `mac X in F`, `nodes[0] (a) mac X`,
// `MAC X`, ...). Expected canonical forms are written out by hand.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runCtl } from '../../src/cli/ctl.js';
import { runExplain } from '../../src/cli/explain.js';
import { runPlan } from '../../src/cli/plan.js';
import { parseUpArgs } from '../../src/control/config/config.js';
import type { UpConfig } from '../../src/control/config/config-types.js';
import { handle } from '../../src/control/ops/control-server.js';
import type { FdbRow, NeighRow, Request } from '../../src/control/ops/control-protocol.js';
import { VxlanUserError } from '../../src/control/config/errors.js';
import type { Runtime } from '../../src/control/runtime/reload.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const dir = mkdtempSync(join(tmpdir(), 'vxut-grammar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function file(text: string): string {
  const p = join(dir, `g-${++files}.yaml`);
  writeFileSync(p, text);
  return p;
}
/** A YAML scalar that stays the string it is (JSON is YAML 1.2). */
const q = (v: string): string => JSON.stringify(v);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** No instance of this name runs, so a command the client accepts fails to connect (exit 1). */
const NO_INSTANCE = 'vxut-gram-none';
const PEER_MAC = '7a:3a:fe:45:a3:76';

type Verdict = { readonly ok: true; readonly value?: string } | { readonly ok: false; readonly exit: number; readonly tail: string };

/**
 * An entry point: runs one input, returns the verdict. `subject` matches what the message names before the
 * sentence proper; the tail after it is normalised from the part form ("has a malformed MAC address X: R",
 * "has port X, out of range: R") to the whole form ("is a malformed MAC address: R").
 */
interface Entry {
  readonly name: string;
  /** Checked on the client without the instance: context rules (on-link, own address) pass it on. */
  readonly contextFree?: boolean;
  run(v: string): Promise<Verdict> | Verdict;
}

function refusal(e: unknown, subject: RegExp, v: string, file?: string): Verdict {
  if (!(e instanceof VxlanUserError)) throw e;
  const m = e.message;
  expect(m, 'one sentence').not.toContain('\n');
  expect(m, `subject of: ${m}`).toMatch(subject);
  let tail = m.replace(subject, '');
  // Another value of the same file is named as its flag would be: `addr X in F` ~ `--addr X`.
  if (file !== undefined) tail = tail.replace(new RegExp(`(\\S+) (\\S+) in ${esc(file)}`, 'g'), '--$1 $2');
  tail = tail
    .replace(new RegExp(`^has (.+?) ${esc(v)}: `), 'is $1: ')
    .replace(/^has (port|vni) \S+, /, 'is ');
  return { ok: false, exit: e.exitCode, tail };
}

function config(argv: string[]): UpConfig {
  const r = parseUpArgs(argv);
  if (r.help) throw new Error('help?');
  return r.config;
}

/** `up`, `plan` and `explain` with the same arguments: the three must agree exactly (plan and explain parse as up). */
function upEntries(name: string, argv: (v: string) => string[], subject: (v: string) => RegExp, value: (c: UpConfig) => string | undefined): Entry[] {
  const quiet = <T>(f: () => T): T => {
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      return f();
    } finally {
      spy.mockRestore();
    }
  };
  const via = (tool: string, f: (args: string[]) => unknown): Entry => ({
    name: `${tool} ${name}`,
    run(v) {
      try {
        const out = quiet(() => f(argv(v)));
        return { ok: true, ...(typeof out === 'object' && out !== null ? { value: value(out as UpConfig) } : {}) };
      } catch (e) {
        return refusal(e, subject(v), v);
      }
    },
  });
  return [
    via('up', (a) => config(a)),
    via('plan', (a) => runPlan(a)),
    // A DEST the config has no route for: the verdict is about the options, not the packet.
    via('explain', (a) => runExplain([...a, '198.51.100.1'])),
  ];
}

/** A file entry point: `body(v)` is the YAML after `version: 1`. */
function fileEntry(name: string, body: (v: string) => string, key: string, value: (c: UpConfig) => string | undefined, extra: string[] = []): Entry {
  return {
    name,
    run(v) {
      const f = file(`version: 1\n${body(v)}`);
      try {
        return { ok: true, value: value(config(['--config', f, ...extra])) };
      } catch (e) {
        return refusal(e, new RegExp(`^${esc(key)} .*? in ${esc(f)} `), v, f);
      }
    },
  };
}

/** The whole-overlay form: node a's `key` is the input; node b is fixed. */
function overlayEntry(key: 'mac' | 'local' | 'addr', value: (c: UpConfig) => string | undefined): Entry {
  return {
    name: `overlay nodes[0] ${key}`,
    run(v) {
      const a: Record<string, string> = { node: 'a', local: '10.0.0.1', addr: '172.16.0.1/24', mac: '02:00:00:00:00:01' };
      const b: Record<string, string> = { node: 'b', local: '10.0.0.2', addr: '172.16.0.2/24', mac: '02:00:00:00:00:02' };
      a[key] = v;
      if (key === 'local' && v.includes(':')) b.local = '2001:db8::2'; // one underlay family
      const row = (n: Record<string, string>): string => `  - {${Object.entries(n).map(([k, x]) => `${k}: ${q(x)}`).join(', ')}}`;
      const f = file(`version: 1\nvni: 42\nnodes:\n${row(a)}\n${row(b)}\n`);
      try {
        return { ok: true, value: value(config(['--config', f, '--node', 'a'])) };
      } catch (e) {
        return refusal(e, new RegExp(`^--config ${esc(f)}: nodes\\[0\\] \\(a\\) ${key} ${esc(v)} `), v);
      }
    },
  };
}

/** The control command on the client, no instance running: refused (exit 2) or passed on (exit 1, no instance). */
function clientEntry(name: string, cmd: 'fdb' | 'neigh', argv: (v: string) => string[], subject: (v: string) => RegExp): Entry {
  return {
    name: `client ${name}`,
    contextFree: true,
    async run(v) {
      try {
        await runCtl(cmd, [...argv(v), '--name', NO_INSTANCE]);
        throw new Error('an instance answered?');
      } catch (e) {
        if (e instanceof VxlanUserError && e.exitCode === 1) {
          expect(e.message).toContain(`no vxlan-user instance named ${NO_INSTANCE}`);
          return { ok: true };
        }
        return refusal(e, subject(v), v);
      }
    },
  };
}

/** An instance's tables (a Vtep over the fake platform) with --local 192.168.0.21 and --addr 179.17.1.21/24. */
function runtime(family: 4 | 6): Runtime {
  const udp = new FakeUdpBind(family === 4 ? '192.168.0.21' : '2001:db8::21', 4789);
  const vtep = new Vtep(new FakeTap('vxlan-test'), udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789 });
  const local = family === 4 ? '192.168.0.21' : '2001:db8::21';
  return { tables: { vtep, vni: 10001, dstport: 4789, family, local, addr: ['179.17.1.21/24'] }, log: () => {} } as unknown as Runtime;
}

function instanceEntry(name: string, req: (v: string) => Request, subject: (v: string) => RegExp, value: (rt: Runtime) => string | undefined): Entry {
  return {
    name: `instance ${name}`,
    run(v) {
      const rt = runtime(v.includes(':') && !/^[0-9a-f]{1,2}:/i.test(v) ? 6 : 4);
      const r = handle(rt, req(v));
      if (r.ok) return { ok: true, value: value(rt) };
      return refusal(new VxlanUserError(r.exit === 1 ? 'ERUNTIME' : 'ECONFIG', r.error), subject(v), v);
    },
  };
}

const fdbShow = (rt: Runtime, i = 0): string | undefined => (handle(rt, { op: 'fdb-show' }) as { data: FdbRow[] }).data[i]?.mac;
const neighShow = (rt: Runtime): string | undefined => (handle(rt, { op: 'neigh-show' }) as { data: NeighRow[] }).data[0]?.lladdr;
const neighIpShow = (rt: Runtime): string | undefined => (handle(rt, { op: 'neigh-show' }) as { data: NeighRow[] }).data[0]?.dst;

interface Case {
  readonly input: string;
  /** The canonical form every entry point prints back, or the sentence every entry point says after the subject. */
  readonly accept?: string;
  readonly refuse?: string;
  /** The refusal needs the instance's state (its --addr, --local): the client passes the command on. */
  readonly contextual?: boolean;
}

/** Runs every case through every entry point and compares. */
function table(role: string, entries: readonly Entry[], cases: readonly Case[]): void {
  describe(role, () => {
    it.each(cases.map((c) => [c.input, c] as const))('%j', async (_input, c) => {
      const seen: string[] = [];
      for (const ep of entries) {
        const v = await ep.run(c.input);
        const passedOn = ep.contextFree === true && c.contextual === true;
        if (c.accept !== undefined || passedOn) {
          expect(v, `${ep.name} accepts ${c.input}`).toMatchObject({ ok: true });
          if (v.ok && v.value !== undefined && c.accept !== undefined) expect(v.value, ep.name).toBe(c.accept);
        } else {
          expect(v, `${ep.name} refuses ${c.input}`).toMatchObject({ ok: false, exit: 2 });
          if (!v.ok) {
            expect(v.tail, ep.name).toBe(c.refuse);
            seen.push(ep.name);
          }
        }
      }
      if (c.refuse !== undefined) expect(seen.length, 'entry points that refused').toBeGreaterThan(1);
    });
  });
}

// ───────────────────────────────────────────────────── MACs ─────────────────────────────────────────────────────

const MALFORMED_MAC = 'is a malformed MAC address: expected six hex octets separated by colons, like 7a:3a:fe:45:a3:76';
const macSyntax: Case[] = [
  { input: '7a:3a:fe:45:a3:6', accept: '7a:3a:fe:45:a3:06' }, // iproute2 reads one digit as 06
  { input: 'A:B:C:D:E:F', accept: '0a:0b:0c:0d:0e:0f' },
  { input: '7A:3a:FE:45:a3:76', accept: '7a:3a:fe:45:a3:76' },
  { input: '7a:3a:fe:45:a3', refuse: MALFORMED_MAC },
  { input: '7a:3a:fe:45:a3:76:01', refuse: MALFORMED_MAC },
  { input: '7a-3a-fe-45-a3-76', refuse: MALFORMED_MAC },
  { input: '7a:3a:fe:45:a3:7g', refuse: MALFORMED_MAC },
  { input: '7a:3a:fe:45:a3:076', refuse: MALFORMED_MAC },
  { input: '7a3afe45a376', refuse: MALFORMED_MAC },
  { input: '7a:3a:fe:45::76', refuse: MALFORMED_MAC },
  { input: '7a.3a.fe.45.a3.76', refuse: MALFORMED_MAC },
];

table(
  'a station MAC (--mac, a neighbour lladdr, an overlay node mac)',
  [
    ...upEntries('--mac', (v) => ['--vni', '1', '--mac', v], (v) => new RegExp(`^--mac ${esc(v)} `), (c) => c.mac),
    ...upEntries('--neigh IP=MAC', (v) => ['--vni', '1', '--neigh', `179.17.1.31=${v}`], (v) => new RegExp(`^--neigh 179\\.17\\.1\\.31=${esc(v)} `), (c) => c.neigh[0]?.mac),
    fileEntry('file mac:', (v) => `vni: 1\nmac: ${q(v)}\n`, 'mac', (c) => c.mac),
    fileEntry('file neigh: {ip, lladdr}', (v) => `vni: 1\nneigh:\n  - {ip: 179.17.1.31, lladdr: ${q(v)}}\n`, 'neigh', (c) => c.neigh[0]?.mac),
    overlayEntry('mac', (c) => c.mac),
    clientEntry('neigh add IP lladdr MAC', 'neigh', (v) => ['add', '179.17.1.31', 'lladdr', v], (v) => new RegExp(`^lladdr ${esc(v)} `)),
    instanceEntry('neigh add IP lladdr MAC', (v) => ({ op: 'neigh', action: 'add', ip: '179.17.1.31', lladdr: v }), (v) => new RegExp(`^lladdr ${esc(v)} `), neighShow),
  ],
  [
    ...macSyntax,
    { input: '01:00:5e:00:00:01', refuse: 'is a multicast MAC address: the I/G bit, 0x01 in the first octet, is set, and a station needs a unicast address' },
    { input: 'ff:ff:ff:ff:ff:ff', refuse: 'is a multicast MAC address: the I/G bit, 0x01 in the first octet, is set, and a station needs a unicast address' },
    { input: '0:0:0:0:0:0', refuse: 'is the all-zeros MAC address: a station needs a unicast address' },
  ],
);

table(
  'an FDB MAC (--fdb, fdb add)',
  [
    ...upEntries('--fdb MAC=IP', (v) => ['--vni', '10001', '--fdb', `${v}=192.168.0.31`], (v) => new RegExp(`^--fdb ${esc(v)}=192\\.168\\.0\\.31 `), (c) => c.fdb[0]?.mac ?? (c.remote.length > 0 ? '00:00:00:00:00:00' : undefined)),
    fileEntry('file fdb: [MAC=IP]', (v) => `vni: 10001\nfdb: [${q(`${v}=192.168.0.31`)}]\n`, 'fdb', (c) => c.fdb[0]?.mac ?? (c.remote.length > 0 ? '00:00:00:00:00:00' : undefined)),
    fileEntry('file fdb: {mac, dst}', (v) => `vni: 10001\nfdb:\n  - {mac: ${q(v)}, dst: 192.168.0.31}\n`, 'fdb', (c) => c.fdb[0]?.mac ?? (c.remote.length > 0 ? '00:00:00:00:00:00' : undefined)),
    clientEntry('fdb add MAC dst IP', 'fdb', (v) => ['add', v, 'dst', '192.168.0.31'], (v) => new RegExp(`^MAC ${esc(v)} `)),
    instanceEntry('fdb add MAC dst IP', (v) => ({ op: 'fdb', action: 'add', mac: v, dst: '192.168.0.31' }), (v) => new RegExp(`^MAC ${esc(v)} `), (rt) => fdbShow(rt)),
  ],
  [
    ...macSyntax,
    { input: '0:0:0:0:0:0', accept: '00:00:00:00:00:00' }, // the default destinations
    { input: '01:00:5e:00:00:01', refuse: 'is a multicast/broadcast MAC address: such frames always go to the default destinations, the 00:00:00:00:00:00 entry, so the row would never be used' },
    { input: 'ff:ff:ff:ff:ff:ff', refuse: 'is a multicast/broadcast MAC address: such frames always go to the default destinations, the 00:00:00:00:00:00 entry, so the row would never be used' },
  ],
);

// ───────────────────────────────────────────────── IP addresses ─────────────────────────────────────────────────

const ipSyntax = (noun: string): Case[] => [
  { input: '10.8', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: '010.0.0.1', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: '0x0a.0.0.1', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: '192.168.0.256', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: '192.168.0.31.5', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: '192.168.0.31x', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: '2001:db8:::1', refuse: `is a malformed ${noun}: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31` },
  { input: 'fe80::1%eth0', refuse: `is a malformed ${noun}: IPv6 zone indexes (%IFACE) are not supported` },
  { input: '::ffff:192.168.0.31', refuse: `is a malformed ${noun}: it is IPv4-mapped; write the IPv4 address 192.168.0.31` },
];

table(
  'an underlay IP (--remote, --fdb destination, fdb add dst, an overlay node local)',
  [
    ...upEntries('--remote', (v) => ['--vni', '10001', '--remote', v], (v) => new RegExp(`^--remote ${esc(v)} `), (c) => c.remote[0]),
    ...upEntries('--fdb MAC=IP', (v) => ['--vni', '10001', '--fdb', `${PEER_MAC}=${v}`], (v) => new RegExp(`^--fdb ${esc(PEER_MAC)}=${esc(v)} `), (c) => c.fdb[0]?.ip),
    fileEntry('file remote:', (v) => `vni: 10001\nremote: ${q(v)}\n`, 'remote', (c) => c.remote[0]),
    overlayEntry('local', (c) => c.local),
    clientEntry('fdb add MAC dst IP', 'fdb', (v) => ['add', PEER_MAC, 'dst', v], (v) => new RegExp(`^dst ${esc(v)} `)),
    instanceEntry('fdb add MAC dst IP', (v) => ({ op: 'fdb', action: 'add', mac: PEER_MAC, dst: v }), (v) => new RegExp(`^dst ${esc(v)} `), (rt) => (handle(rt, { op: 'fdb-show' }) as { data: FdbRow[] }).data[0]?.dst),
  ],
  [
    { input: '192.168.0.31', accept: '192.168.0.31' },
    { input: '2001:DB8:0:0::31', accept: '2001:db8::31' },
    ...ipSyntax('underlay IP address'),
    { input: '239.1.1.1', refuse: "is a multicast group: a multicast underlay (the kernel's 'group') is not supported; give each peer's unicast address" },
    { input: '0.0.0.0', refuse: "is the unspecified underlay address: a host's unicast address is needed here" },
    { input: '255.255.255.255', refuse: "is the broadcast underlay address: a host's unicast address is needed here" },
  ],
);

table(
  'a neighbour IP (--neigh, neigh add), with --addr 179.17.1.21/24',
  [
    ...upEntries('--neigh IP=MAC', (v) => ['--vni', '1', '--addr', '179.17.1.21/24', '--neigh', `${v}=${PEER_MAC}`], (v) => new RegExp(`^--neigh ${esc(v)}=${esc(PEER_MAC)} `), (c) => c.neigh[0]?.ip),
    fileEntry('file neigh: [IP=MAC]', (v) => `vni: 1\naddr: 179.17.1.21/24\nneigh: [${q(`${v}=${PEER_MAC}`)}]\n`, 'neigh', (c) => c.neigh[0]?.ip),
    clientEntry('neigh add IP lladdr MAC', 'neigh', (v) => ['add', v, 'lladdr', PEER_MAC], (v) => new RegExp(`^neighbour ${esc(v)} `)),
    instanceEntry('neigh add IP lladdr MAC', (v) => ({ op: 'neigh', action: 'add', ip: v, lladdr: PEER_MAC }), (v) => new RegExp(`^neighbour ${esc(v)} `), neighIpShow),
  ],
  [
    { input: '179.17.1.31', accept: '179.17.1.31' },
    ...ipSyntax('IP address'),
    // The bug of issue 13: the instance used to accept what the config refuses.
    { input: '10.9.9.9', contextual: true, refuse: 'is outside every --addr subnet (179.17.1.0/24): the kernel never ARPs for an off-link address, so the entry would never be used' },
    { input: '179.17.1.21', contextual: true, refuse: "conflicts with --addr 179.17.1.21/24: a neighbour cannot be this node's own address" },
    { input: '224.0.0.1', refuse: "is the multicast address: a host's unicast address is needed here" },
    { input: '0.0.0.0', refuse: "is the unspecified address: a host's unicast address is needed here" },
  ],
);

// ───────────────────────────────────────────────────── CIDR ─────────────────────────────────────────────────────

table(
  'an interface address (--addr, an overlay node addr)',
  [
    ...upEntries('--addr', (v) => ['--vni', '1', '--addr', v], (v) => new RegExp(`^--addr ${esc(v)} `), (c) => c.addr[0]),
    fileEntry('file addr:', (v) => `vni: 1\naddr: ${q(v)}\n`, 'addr', (c) => c.addr[0]),
    overlayEntry('addr', (c) => c.addr[0]),
  ],
  [
    { input: '172.16.0.1/24', accept: '172.16.0.1/24' },
    { input: '172.16.0.1', refuse: 'has no prefix length: write it as CIDR, e.g. 179.17.1.21/24' },
    { input: '172.16.0.1/33', refuse: 'has a bad prefix length 33: an IPv4 prefix is 1..32' },
    { input: '172.16.0.1/0', refuse: 'has a bad prefix length 0: an IPv4 prefix is 1..32' },
    { input: '172.16.0.1/024x', refuse: 'has a bad prefix length 024x: an IPv4 prefix is 1..32' },
    { input: '172.16.0/24', refuse: 'has a malformed IP address 172.16.0: expected an IPv4 address like 192.168.0.31 or an IPv6 address like 2001:db8::31' },
    { input: '224.0.0.1/24', refuse: 'is a multicast address: an interface address must be a unicast host address' },
  ],
);

// ───────────────────────────────────────────────────── ports ─────────────────────────────────────────────────────

table(
  'a VXLAN UDP port (--dstport, an FDB row port, fdb add port)',
  [
    ...upEntries('--dstport', (v) => ['--vni', '1', '--dstport', v], (v) => new RegExp(`^--dstport ${esc(v)} `), (c) => String(c.dstport)),
    ...upEntries('--fdb MAC=IP:PORT', (v) => ['--vni', '1', '--fdb', `${PEER_MAC}=192.168.0.31:${v}`], (v) => new RegExp(`^--fdb ${esc(PEER_MAC)}=192\\.168\\.0\\.31:${esc(v)} `), (c) => String(c.fdb[0]?.port)),
    fileEntry('file fdb: {mac, dst, port}', (v) => `vni: 1\nfdb:\n  - {mac: ${PEER_MAC}, dst: 192.168.0.31, port: ${q(v)}}\n`, 'fdb', (c) => String(c.fdb[0]?.port)),
    clientEntry('fdb add MAC dst IP port P', 'fdb', (v) => ['add', PEER_MAC, 'dst', '192.168.0.31', 'port', v], (v) => new RegExp(`^port ${esc(v)} `)),
  ],
  [
    { input: '4789', accept: '4789' },
    { input: '0', refuse: 'is out of range: a UDP port is 1..65535' },
    { input: '65536', refuse: 'is out of range: a UDP port is 1..65535' },
    { input: 'vxlan', refuse: 'is not a whole number: a UDP port is 1..65535' },
    { input: '47.89', refuse: 'is not a whole number: a UDP port is 1..65535' },
  ],
);

describe('ports named by protocol', () => {
  it('the --metrics port is a TCP port, the VXLAN ports UDP ports', () => {
    expect(() => config(['--vni', '1', '--metrics', '127.0.0.1:0'])).toThrow('--metrics 127.0.0.1:0 has port 0, out of range: a TCP port is 1..65535');
    expect(() => config(['--vni', '1', '--metrics', ':70000'])).toThrow(/a TCP port is 1\.\.65535$/);
    expect(() => config(['--vni', '1', '--dstport', '0'])).toThrow(/a UDP port is 1\.\.65535$/);
  });
  it('the instance words a port from its socket as the client does', () => {
    const r = handle(runtime(4), { op: 'fdb', action: 'add', mac: PEER_MAC, dst: '192.168.0.31', port: 70000 });
    expect(r).toEqual({ ok: false, exit: 2, error: 'port 70000 is out of range: a UDP port is 1..65535' });
  });
});

// ───────────────────────────────────────── rules across a row, named in issue 13 ─────────────────────────────────────────

describe('the bugs of issue 13, point 3', () => {
  it('up --fdb and fdb add both accept a one-digit octet and print it as :06', async () => {
    expect(config(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:6=192.168.0.31']).fdb[0]?.mac).toBe('7a:3a:fe:45:a3:06');
    const rt = runtime(4);
    expect(handle(rt, { op: 'fdb', action: 'add', mac: '7a:3a:fe:45:a3:6', dst: '192.168.0.31' })).toEqual({ ok: true, data: 'added 7a:3a:fe:45:a3:06 dst 192.168.0.31' });
    await expect(runCtl('fdb', ['add', '7a:3a:fe:45:a3:6', 'dst', '192.168.0.31', '--name', NO_INSTANCE])).rejects.toMatchObject({ exitCode: 1 });
  });

  it('fdb add with a bad MAC exits 2 with no instance running, in the instance\'s words', async () => {
    const client = await runCtl('fdb', ['add', '7a:3a:fe:45:a3:7g', 'dst', '192.168.0.31', '--name', NO_INSTANCE]).catch((e: unknown) => e);
    expect(client).toBeInstanceOf(VxlanUserError);
    expect((client as VxlanUserError).exitCode).toBe(2);
    const server = handle(runtime(4), { op: 'fdb', action: 'add', mac: '7a:3a:fe:45:a3:7g', dst: '192.168.0.31' });
    expect(server).toEqual({ ok: false, exit: 2, error: (client as Error).message });
    expect((client as Error).message).toBe(`MAC 7a:3a:fe:45:a3:7g ${MALFORMED_MAC}`);
  });

  it('a route that holds --local is refused in a single-node config, as a pod subnet holding an underlay address is in an overlay', () => {
    const base = ['--vni', '1', '--local', '192.168.0.21', '--addr', '179.17.1.21/24'];
    expect(() => config([...base, '--route', '192.168.0.0/24=179.17.1.31'])).toThrow(
      "--route 192.168.0.0/24=179.17.1.31 contains the underlay address 192.168.0.21 of --local: routing it into the tunnel would loop the tunnel's own packets",
    );
    expect(() => config([...base, '--remote', '10.0.0.9', '--route', '10.0.0.0/8=179.17.1.31'])).toThrow('contains the underlay address 10.0.0.9 of --remote');
    expect(config([...base, '--route', '10.234.118.0/24=179.17.1.31']).route).toEqual([{ cidr: '10.234.118.0/24', gateway: '179.17.1.31' }]);
    const f = file(
      `version: 1\nvni: 1\nnodes:\n  - {node: a, local: 10.0.0.1, addr: 172.16.0.1/24, mac: 02:00:00:00:00:01}\n  - {node: b, local: 10.0.0.2, addr: 172.16.0.2/24, mac: 02:00:00:00:00:02, pods: [10.0.0.0/24]}\n`,
    );
    expect(() => config(['--config', f, '--node', 'a'])).toThrow(
      `--config ${f}: nodes[1] (b) pods 10.0.0.0/24 contains the underlay address 10.0.0.1 of nodes[0] (a): routing it into the tunnel would loop the tunnel's own packets`,
    );
  });

  it('fdb add refuses this node itself as a destination, as --fdb does', () => {
    const r = handle(runtime(4), { op: 'fdb', action: 'add', mac: PEER_MAC, dst: '192.168.0.21' });
    expect(r).toEqual({ ok: false, exit: 2, error: "dst 192.168.0.21 conflicts with --local 192.168.0.21: a peer cannot be this node's own --local address" });
    expect(() => config(['--vni', '1', '--local', '192.168.0.21', '--fdb', `${PEER_MAC}=192.168.0.21`])).toThrow(
      `--fdb ${PEER_MAC}=192.168.0.21 conflicts with --local 192.168.0.21: a peer cannot be this node's own --local address`,
    );
  });

  it('a default destination keeps the instance port and VNI, in one sentence', () => {
    const r = handle(runtime(4), { op: 'fdb', action: 'append', mac: '00:00:00:00:00:00', dst: '192.168.0.31', vni: 7 });
    const want = 'gives a default destination (the all-zeros MAC) its own port or VNI, which is not supported: default destinations use --dstport 4789 and --vni 10001';
    expect(r).toEqual({ ok: false, exit: 2, error: `MAC 00:00:00:00:00:00 ${want}` });
    expect(() => config(['--vni', '10001', '--fdb', '00:00:00:00:00:00=192.168.0.31:4799'])).toThrow(
      `--fdb 00:00:00:00:00:00=192.168.0.31:4799 ${want}`,
    );
  });
});
