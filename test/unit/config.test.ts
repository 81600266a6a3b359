import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import type { UpConfig } from '../../src/control/config/config-types.js';
import { ConfigError, UsageError } from '../../src/control/config/errors.js';
import { formatMainHelp, formatUpHelp } from '../../src/control/config/help.js';

// ─── helpers ───

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vxlan-user-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
/** Write a temp config file and return its path. */
function file(text: string, ext = 'yaml'): string {
  const p = join(dir, `cfg-${++fileCount}.${ext}`);
  writeFileSync(p, text);
  return p;
}

function up(...argv: string[]): UpConfig {
  const r = parseUpArgs(argv);
  if (r.help) throw new Error('unexpected help');
  return r.config;
}

type ErrClass = typeof UsageError | typeof ConfigError;

/** Assert that `fn` throws `cls` with `code` and a message containing every fragment. */
function expectError(fn: () => unknown, cls: ErrClass, code: 'EUSAGE' | 'ECONFIG', ...fragments: string[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(cls);
  const err = caught as UsageError | ConfigError;
  expect(err.code).toBe(code);
  expect(err.exitCode).toBe(2);
  for (const f of fragments) expect(err.message).toContain(f);
  // one sentence: no line breaks, no stack trace in the message
  expect(err.message).not.toContain('\n');
  return err.message;
}
const usage = (argv: string[], ...fragments: string[]): string =>
  expectError(() => parseUpArgs(argv), UsageError, 'EUSAGE', ...fragments);
const refused = (argv: string[], ...fragments: string[]): string =>
  expectError(() => parseUpArgs(argv), ConfigError, 'ECONFIG', ...fragments);

const SEED_ARGV = [
  '--vni', '10001', '--name', 'vxlan-test', '--dstport', '4899', '--local', '192.168.0.21',
  '--mac', 'c2:6a:9b:e5:39:8d', '--addr', '179.17.1.21/24',
  '--neigh', '179.17.1.31=7a:3a:fe:45:a3:76', '--fdb', '7a:3a:fe:45:a3:76=192.168.0.31',
  '--route', '10.234.118.0/24=179.17.1.31',
];

const SEED_CONFIG: UpConfig = {
  vni: 10001,
  name: 'vxlan-test',
  dstport: 4899,
  local: '192.168.0.21',
  mac: 'c2:6a:9b:e5:39:8d',
  addr: ['179.17.1.21/24'],
  remote: [],
  // 0x7a3afe45a376, computed by hand: 0x7a3afe45 * 2^16 + 0xa376
  fdb: [{ mac: '7a:3a:fe:45:a3:76', macNum: 0x7a3afe45 * 0x10000 + 0xa376, ip: '192.168.0.31' }],
  neigh: [{ ip: '179.17.1.31', mac: '7a:3a:fe:45:a3:76', macNum: 134393792668534 }],
  route: [{ cidr: '10.234.118.0/24', gateway: '179.17.1.31' }],
  io: 'native',
  offload: 'on',
  peersOnly: false,
  quiet: false,
};

// ─── the seed recipe and defaults ───

describe('the seed recipe', () => {
  it('parses the issue command line to the expected UpConfig', () => {
    expect(parseUpArgs(SEED_ARGV)).toEqual({ help: false, config: SEED_CONFIG });
  });

  it('parses examples/node-001.yaml to the same UpConfig', () => {
    expect(up('--config', join(import.meta.dirname, '../../examples/node-001.yaml'))).toEqual(SEED_CONFIG);
  });

  it('returns a frozen config', () => {
    const c = up(...SEED_ARGV);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.fdb)).toBe(true);
    expect(Object.isFrozen(c.fdb[0])).toBe(true);
  });
});

describe('defaults', () => {
  it('fills name, dstport, io, quiet and empty lists; leaves local/dev/mac/mtu unset', () => {
    const c = up('--vni', '0');
    expect(c).toEqual({ vni: 0, name: 'vxlan0', dstport: 4789, addr: [], remote: [], fdb: [], neigh: [], route: [], io: 'native', offload: 'on', quiet: false, peersOnly: false });
    for (const k of ['local', 'dev', 'mac', 'mtu'] as const) expect(k in c).toBe(false);
  });

  it('accepts the VNI bounds 0 and 16777215, --io dgram and --quiet', () => {
    expect(up('--vni', '16777215').vni).toBe(16777215);
    const c = up('--vni', '1', '--io', 'dgram', '--quiet');
    expect(c.io).toBe('dgram');
    expect(c.quiet).toBe(true);
  });

  it('canonicalises MACs and IPs', () => {
    const c = up('--vni', '1', '--mac', 'C2:6A:9B:E5:39:8D', '--fdb', 'A:b:C:d:E:f=2001:DB8:0:0::1', '--local', '2001:db8::99');
    expect(c.mac).toBe('c2:6a:9b:e5:39:8d');
    expect(c.fdb[0]).toEqual({ mac: '0a:0b:0c:0d:0e:0f', macNum: 0x0a0b0c0d0e0f, ip: '2001:db8::1' });
    expect(c.local).toBe('2001:db8::99');
  });

  it('last one wins for a repeated scalar flag', () => {
    expect(up('--vni', '1', '--vni', '2').vni).toBe(2);
  });
});

// ─── help ───

describe('help', () => {
  it('returns help:true without validating', () => {
    expect(parseUpArgs(['--help'])).toEqual({ help: true, config: undefined });
    expect(parseUpArgs(['-h', '--vni', '99999999'])).toEqual({ help: true, config: undefined });
    expect(parseUpArgs(['--vni', 'x', '--help'])).toEqual({ help: true, config: undefined });
    // --help wins even over an unknown option or a missing value
    expect(parseUpArgs(['--bogus', '--help']).help).toBe(true);
    expect(parseUpArgs(['--vni', '--help']).help).toBe(true);
  });

  it('teaches the options, their kernel equivalents, ports, exit codes and signals', () => {
    const h = formatUpHelp();
    for (const opt of ['--vni', '--name', '--dstport', '--local', '--dev', '--mac', '--addr', '--mtu', '--remote', '--fdb', '--neigh', '--route', '--config', '--io', '--quiet', '--help']) {
      expect(h).toContain(opt);
    }
    for (const s of ['type vxlan id', 'dstport', 'nolearning', 'bridge fdb append', 'arp -s', 'route add -net', '8472', 'flannel', '4789', '4899', 'ready:', 'USR1', 'group', 'vxlan0', '16777215']) {
      expect(h).toContain(s);
    }
    expect(h).toMatch(/0\s+clean stop/);
    expect(h).toMatch(/1\s+runtime failure/);
    expect(h).toMatch(/2\s+bad usage or refused configuration/);
    expect(h).toContain('--route 10.234.118.0/24=179.17.1.31');
  });

  it('lists the commands in the main help', () => {
    const h = formatMainHelp();
    expect(h).toMatch(/^\s+up\s/m);
    expect(h).toMatch(/^\s+version\s/m);
  });
});

// ─── usage errors (EUSAGE) ───

describe('usage errors', () => {
  it('refuses an unknown option', () => {
    const m = usage(['--vni', '1', '--foo'], "unknown option '--foo'", "see 'vxlan-user up --help'");
    expect(m).toBe("unknown option '--foo'; see 'vxlan-user up --help'");
    usage(['-x'], "unknown option '-x'");
    usage(['--group', '239.1.1.1'], "unknown option '--group'");
  });

  it('refuses an option without its value', () => {
    usage(['--vni'], "option '--vni' needs a value");
    usage(['--vni', '-1'], "'--vni=VALUE'");
  });

  it('refuses a value on a boolean option and positional arguments', () => {
    usage(['--vni', '1', '--quiet=yes'], "option '--quiet' does not take a value");
    usage(['--vni', '1', 'eth0'], "unexpected argument 'eth0'");
  });

  it('requires --vni', () => {
    usage([], '--vni is required', '0..16777215');
    usage(['--name', 'x'], '--vni is required');
    usage(['--config', file('version: 1\nname: vx\n')], '--vni is required');
  });
});

// ─── field errors (ECONFIG) ───

describe('VNI', () => {
  it('refuses a VNI out of range, with the limit', () => {
    const m = refused(['--vni', '16777216']);
    expect(m).toBe('--vni 16777216 is out of range: a VNI is 24 bits, 0..16777215');
    refused(['--vni=-1'], '--vni -1 is not a whole number', '0..16777215');
    refused(['--vni', '1e3'], '--vni 1e3 is not a whole number');
    refused(['--vni', '99999999999999999999'], 'is out of range');
  });

  it('names the file and key for a file value', () => {
    const f = file('version: 1\nvni: 16777216\n');
    refused(['--config', f], `vni 16777216 in ${f} is out of range`, '0..16777215');
    refused(['--config', file('version: 1\nvni: 1.5\n')], 'vni 1.5 in', 'is not a whole number');
    refused(['--config', file('version: 1\nvni: [1]\n')], 'is not a whole number');
  });
});

describe('interface names', () => {
  it('refuses a name longer than 15 bytes', () => {
    refused(['--vni', '1', '--name', 'abcdefghijklmnop'], '--name abcdefghijklmnop is 16 bytes long', 'at most 15');
    expect(up('--vni', '1', '--name', 'abcdefghijklmno').name).toBe('abcdefghijklmno');
    // bytes, not characters: 8 two-byte characters are 16 bytes
    refused(['--vni', '1', '--name', 'éééééééé'], 'is 16 bytes long');
  });

  it("refuses '/', ':', whitespace, '.', '..', '%' and empty names", () => {
    refused(['--vni', '1', '--name', 'a/b'], "may not contain '/'");
    refused(['--vni', '1', '--name', 'a:1'], "may not contain '/', ':'");
    refused(['--vni', '1', '--name', 'a b'], 'whitespace');
    refused(['--vni', '1', '--name', '.'], "'.' and '..' are reserved");
    refused(['--vni', '1', '--name', '..'], "'.' and '..' are reserved");
    refused(['--vni', '1', '--name', 'vx%d'], "'%'");
    refused(['--vni', '1', '--name='], 'is empty');
  });

  it('applies the same rules to --dev', () => {
    refused(['--vni', '1', '--dev', 'eth0/1'], '--dev eth0/1', "may not contain '/'");
    refused(['--vni', '1', '--dev', 'a-very-long-underlay'], '--dev a-very-long-underlay is 20 bytes long');
    expect(up('--vni', '1', '--dev', 'eth0').dev).toBe('eth0');
  });

  it('refuses a non-string name in a file', () => {
    refused(['--config', file('version: 1\nvni: 1\nname: 1234\n')], 'name 1234 in', 'must be a string');
  });
});

describe('ports and MTU', () => {
  it('refuses a bad --dstport', () => {
    expect(refused(['--vni', '1', '--dstport', '0'])).toBe('--dstport 0 is out of range: a UDP port is 1..65535');
    refused(['--vni', '1', '--dstport', '65536'], '--dstport 65536 is out of range', '1..65535');
    refused(['--vni', '1', '--dstport', 'vxlan'], '--dstport vxlan is not a whole number', '1..65535');
  });

  it('refuses an --mtu out of range, with the limit', () => {
    refused(['--vni', '1', '--mtu', '67'], '--mtu 67 is out of range', '68..65485');
    refused(['--vni', '1', '--mtu', '65486'], '--mtu 65486 is out of range', '68..65485', '65465 with IPv6');
    expect(up('--vni', '1', '--mtu', '65485').mtu).toBe(65485);
    expect(up('--vni', '1', '--mtu', '68').mtu).toBe(68);
  });

  it('uses the IPv6 limits across fields', () => {
    refused(['--vni', '1', '--local', '2001:db8::1', '--mtu', '65470'], 'too large for an IPv6 underlay', 'at most 65465');
    refused(['--vni', '1', '--addr', '2001:db8::1/64', '--mtu', '1000'], '--mtu 1000 is below 1280', '--addr 2001:db8::1/64 is IPv6');
    expect(up('--vni', '1', '--local', '2001:db8::1', '--mtu', '65465').mtu).toBe(65465);
  });
});

describe('--io', () => {
  it('accepts native|dgram only', () => {
    refused(['--vni', '1', '--io', 'uring'], '--io uring is not an I/O mode', 'native or dgram');
  });
});

describe('MAC addresses', () => {
  it('refuses a malformed MAC', () => {
    expect(refused(['--vni', '1', '--mac', 'c2:6a:9b:e5:39'])).toBe(
      '--mac c2:6a:9b:e5:39 is a malformed MAC address: expected six hex octets separated by colons, like 7a:3a:fe:45:a3:76',
    );
    refused(['--vni', '1', '--mac', 'c2:6a:9b:e5:39:zz'], 'is a malformed MAC address');
    refused(['--vni', '1', '--mac', 'c26a9be5398d'], 'is a malformed MAC address');
    refused(['--vni', '1', '--mac', 'c2:6a:9b:e5:39:8d0'], 'is a malformed MAC address');
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3=192.168.0.31'], '--fdb 7a:3a:fe:45:a3=192.168.0.31 has a malformed MAC address 7a:3a:fe:45:a3');
    refused(['--vni', '1', '--neigh', '179.17.1.31=7a:3a:fe:45:a3:7g'], 'has a malformed MAC address 7a:3a:fe:45:a3:7g');
  });

  it('refuses a multicast or all-zeros --mac', () => {
    refused(['--vni', '1', '--mac', '01:00:5e:00:00:01'], '--mac 01:00:5e:00:00:01 is a multicast MAC address', 'I/G bit');
    refused(['--vni', '1', '--mac', 'ff:ff:ff:ff:ff:ff'], 'is a multicast MAC address');
    refused(['--vni', '1', '--mac', '03:00:00:00:00:01'], 'is a multicast MAC address');
    refused(['--vni', '1', '--mac', '00:00:00:00:00:00'], 'is the all-zeros MAC address');
    // locally administered unicast is fine
    expect(up('--vni', '1', '--mac', '02:00:00:00:00:01').mac).toBe('02:00:00:00:00:01');
  });

  it('refuses a multicast neighbour MAC', () => {
    refused(['--vni', '1', '--neigh', '179.17.1.31=33:33:00:00:00:01'], 'has a multicast MAC address 33:33:00:00:00:01');
  });
});

describe('IP addresses and prefixes', () => {
  it('refuses a malformed IP', () => {
    refused(['--vni', '1', '--local', '192.168.0.256'], '--local 192.168.0.256 is a malformed underlay IP address');
    refused(['--vni', '1', '--local', 'eth0'], 'is a malformed underlay IP address', 'expected an IPv4 address');
    refused(['--vni', '1', '--remote', '10.1'], '--remote 10.1 is a malformed underlay IP address');
    refused(['--vni', '1', '--remote', '0x0a.0.0.1'], 'is a malformed underlay IP address');
    refused(['--vni', '1', '--remote', '2001:db8:::1'], 'is a malformed underlay IP address');
    refused(['--vni', '1', '--remote', 'fe80::1%eth0'], 'zone indexes');
    refused(['--vni', '1', '--remote', '::ffff:192.168.0.31'], 'IPv4-mapped', '192.168.0.31');
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=192.168.0'], 'has a malformed underlay IP address 192.168.0');
    refused(['--vni', '1', '--neigh', '179.17.1=7a:3a:fe:45:a3:76'], 'has a malformed IP address 179.17.1');
  });

  it('refuses unspecified and broadcast underlay addresses', () => {
    refused(['--vni', '1', '--local', '0.0.0.0'], 'is the unspecified underlay address');
    refused(['--vni', '1', '--remote', '255.255.255.255'], 'is the broadcast underlay address');
    refused(['--vni', '1', '--remote', '::'], 'is the unspecified underlay address');
  });

  it('refuses a multicast underlay (group)', () => {
    refused(['--vni', '1', '--remote', '239.1.1.1'], '--remote 239.1.1.1 is a multicast group', "'group'", 'not supported');
    refused(['--vni', '1', '--local', 'ff02::1'], 'is a multicast group');
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=239.1.1.1'], 'has a multicast group 239.1.1.1');
  });

  it('refuses a malformed --addr CIDR', () => {
    refused(['--vni', '1', '--addr', '179.17.1.21'], '--addr 179.17.1.21 has no prefix length', 'e.g. 179.17.1.21/24');
    refused(['--vni', '1', '--addr', '179.17.1.21/33'], 'has a bad prefix length 33', 'IPv4 prefix is 1..32');
    refused(['--vni', '1', '--addr', '179.17.1.21/0'], 'has a bad prefix length 0', '1..32');
    refused(['--vni', '1', '--addr', '179.17.1.21/'], 'has a bad prefix length ""');
    refused(['--vni', '1', '--addr', '2001:db8::1/129'], 'IPv6 prefix is 1..128');
    refused(['--vni', '1', '--addr', '179.17.1/24'], 'has a malformed IP address 179.17.1');
    refused(['--vni', '1', '--addr', '224.0.0.1/24'], 'is a multicast address');
    expect(up('--vni', '1', '--addr', '2001:DB8::1/64', '--addr', '10.0.0.1/32').addr).toEqual(['2001:db8::1/64', '10.0.0.1/32']);
  });

  it('keeps the host part of --addr', () => {
    expect(up('--vni', '1', '--addr', '179.17.1.21/24').addr).toEqual(['179.17.1.21/24']);
  });
});

// ─── repeatable entries ───

describe('--fdb forms', () => {
  it('accepts IP, IPv4:PORT, bare IPv6, [IPv6] and [IPv6]:PORT', () => {
    const mac = '7a:3a:fe:45:a3:76';
    const c = up('--vni', '1', '--fdb', `${mac}=192.168.0.31:4799`, '--fdb', `${mac}=192.168.0.32`);
    expect(c.fdb.map((e) => [e.ip, e.port])).toEqual([['192.168.0.31', 4799], ['192.168.0.32', undefined]]);
    const v6 = up('--vni', '1', '--fdb', `${mac}=2001:db8::31`, '--fdb', `${mac}=[2001:db8::32]:4799`, '--fdb', `${mac}=[2001:db8::33]`);
    expect(v6.fdb.map((e) => [e.ip, e.port])).toEqual([['2001:db8::31', undefined], ['2001:db8::32', 4799], ['2001:db8::33', undefined]]);
  });

  it('refuses malformed rows', () => {
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76'], 'is malformed: expected MAC=IP');
    expect(refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=192.168.0.31:0'])).toBe(
      '--fdb 7a:3a:fe:45:a3:76=192.168.0.31:0 has port 0, out of range: a UDP port is 1..65535',
    );
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=192.168.0.31:70000'], 'has port 70000, out of range', '1..65535');
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=192.168.0.31:x'], 'has port x, not a whole number');
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=[2001:db8::1'], "unclosed '['");
    refused(['--vni', '1', '--fdb', '7a:3a:fe:45:a3:76=[2001:db8::1]x'], "junk after ']'");
  });
});

describe('--neigh and --route forms', () => {
  it('refuses malformed rows', () => {
    refused(['--vni', '1', '--neigh', '179.17.1.31'], '--neigh 179.17.1.31 is malformed: expected IP=MAC');
    refused(['--vni', '1', '--route', '10.234.118.0/24'], 'is malformed: expected CIDR=GATEWAY');
    refused(['--vni', '1', '--addr', '179.17.1.21/24', '--route', '10.234.118.0=179.17.1.31'], 'has no prefix length');
    refused(['--vni', '1', '--addr', '179.17.1.21/24', '--route', '10.234.118.0/24=179.17.1'], 'has a malformed gateway IP address 179.17.1');
    refused(['--vni', '1', '--addr', '179.17.1.21/24', '--route', '10.234.118.0/24=2001:db8::1'], 'mixes families');
  });

  it('normalises a route to its network address and accepts prefix 0', () => {
    const c = up('--vni', '1', '--addr', '179.17.1.21/24', '--route', '10.234.118.77/24=179.17.1.31', '--route', '0.0.0.0/0=179.17.1.1', '--route', '10.1.2.3/13=179.17.1.31');
    expect(c.route).toEqual([
      { cidr: '10.234.118.0/24', gateway: '179.17.1.31' },
      { cidr: '0.0.0.0/0', gateway: '179.17.1.1' },
      { cidr: '10.0.0.0/13', gateway: '179.17.1.31' },
    ]);
  });

  it('accepts IPv6 neighbours (answered by the NDP proxy), refusing one outside the IPv6 --addr subnets', () => {
    const c = up('--vni', '1', '--addr', '2001:db8::21/64', '--neigh', '2001:db8::31=7a:3a:fe:45:a3:76');
    expect(c.neigh.map((n) => n.ip)).toEqual(['2001:db8::31']);
    refused(['--vni', '1', '--addr', '2001:db8::21/64', '--neigh', '2001:db9::31=7a:3a:fe:45:a3:76'], 'outside every --addr subnet', 'solicits');
  });
});

// ─── cross-field checks ───

describe('cross-field checks', () => {
  const base = ['--vni', '10001', '--local', '192.168.0.21', '--addr', '179.17.1.21/24'];

  it('refuses one neighbour IP with two MACs, merges an exact repeat', () => {
    refused(
      [...base, '--neigh', '179.17.1.31=7a:3a:fe:45:a3:76', '--neigh', '179.17.1.31=7a:3a:fe:45:a3:77'],
      '--neigh 179.17.1.31=7a:3a:fe:45:a3:77 conflicts with --neigh 179.17.1.31=7a:3a:fe:45:a3:76',
      'two MACs',
    );
    const c = up(...base, '--neigh', '179.17.1.31=7a:3a:fe:45:a3:76', '--neigh', '179.17.1.31=7A:3A:FE:45:A3:76');
    expect(c.neigh).toHaveLength(1);
  });

  it('refuses a neighbour outside every --addr subnet, or equal to our own address', () => {
    refused([...base, '--neigh', '10.0.0.5=7a:3a:fe:45:a3:76'], '--neigh 10.0.0.5=7a:3a:fe:45:a3:76 is outside every --addr subnet (179.17.1.0/24)');
    refused([...base, '--neigh', '179.17.1.21=7a:3a:fe:45:a3:76'], "this node's own address");
    // with no --addr at all the check is skipped (addresses may be assigned elsewhere)
    expect(up('--vni', '1', '--neigh', '10.0.0.5=7a:3a:fe:45:a3:76').neigh).toHaveLength(1);
  });

  it('merges an exact --fdb repeat, keeps several destinations per MAC', () => {
    const mac = '7a:3a:fe:45:a3:76';
    const c = up(...base, '--fdb', `${mac}=192.168.0.31`, '--fdb', `${mac}=192.168.0.31`, '--fdb', `${mac}=192.168.0.31:4789`, '--fdb', `${mac}=192.168.0.32`);
    // 4789 is the default --dstport: the same row as the first one
    expect(c.fdb.map((e) => e.ip)).toEqual(['192.168.0.31', '192.168.0.32']);
    // another port is another destination
    expect(up(...base, '--fdb', `${mac}=192.168.0.31`, '--fdb', `${mac}=192.168.0.31:4799`).fdb).toHaveLength(2);
  });

  it('turns an all-zeros --fdb row into a --remote', () => {
    const c = up(...base, '--remote', '192.168.0.31', '--fdb', '00:00:00:00:00:00=192.168.0.32', '--fdb', '00:00:00:00:00:00=192.168.0.31');
    expect(c.remote).toEqual(['192.168.0.31', '192.168.0.32']);
    expect(c.fdb).toEqual([]);
    refused([...base, '--fdb', '00:00:00:00:00:00=192.168.0.32:4799'], 'default destination', 'its own port or VNI', '--dstport 4789');
  });

  it('dedupes remotes and keeps their order', () => {
    expect(up('--vni', '1', '--remote', '10.0.0.2', '--remote', '10.0.0.1', '--remote', '10.0.0.2').remote).toEqual(['10.0.0.2', '10.0.0.1']);
    expect(up('--vni', '1', '--remote', '2001:db8::1', '--remote', '2001:DB8:0::1').remote).toEqual(['2001:db8::1']);
  });

  it('refuses mixed underlay families', () => {
    refused([...base, '--remote', '2001:db8::31'], '--remote 2001:db8::31 conflicts with --local 192.168.0.21', 'one family');
    refused([...base, '--fdb', '7a:3a:fe:45:a3:76=2001:db8::31'], 'conflicts with --local 192.168.0.21', 'one family');
    refused(['--vni', '1', '--remote', '10.0.0.1', '--remote', '2001:db8::1'], '--remote 2001:db8::1 conflicts with --remote 10.0.0.1', 'one family');
  });

  it('refuses a peer equal to --local', () => {
    refused([...base, '--remote', '192.168.0.21'], '--remote 192.168.0.21 conflicts with --local 192.168.0.21', "own --local");
    refused([...base, '--fdb', '7a:3a:fe:45:a3:76=192.168.0.21'], 'conflicts with --local 192.168.0.21');
  });

  it('refuses a route without --addr, or with a gateway off every subnet', () => {
    refused(['--vni', '1', '--route', '10.234.118.0/24=179.17.1.31'], '--route 10.234.118.0/24=179.17.1.31 needs an IPv4 --addr');
    refused([...base, '--route', '10.234.118.0/24=179.17.2.31'], 'gateway 179.17.2.31 outside every --addr subnet (179.17.1.0/24)', 'Nexthop has invalid gateway');
    refused([...base, '--route', '10.234.118.0/24=179.17.1.21'], "the gateway cannot be this node's own address");
    refused(['--vni', '1', '--addr', '10.0.0.1/24', '--route', '2001:db8:1::/48=2001:db8::1'], 'needs an IPv6 --addr');
  });

  it('accepts an IPv6 link-local gateway without an --addr', () => {
    expect(up('--vni', '1', '--route', '2001:db8:1::/48=fe80::1').route).toEqual([{ cidr: '2001:db8:1::/48', gateway: 'fe80::1' }]);
  });

  it('refuses one route with two gateways, merges an exact repeat', () => {
    refused([...base, '--route', '10.234.118.0/24=179.17.1.31', '--route', '10.234.118.9/24=179.17.1.32'], 'two gateways');
    expect(up(...base, '--route', '10.234.118.0/24=179.17.1.31', '--route', '10.234.118.0/24=179.17.1.31').route).toHaveLength(1);
  });

  it('refuses one address with two prefix lengths, merges an exact repeat', () => {
    refused(['--vni', '1', '--addr', '179.17.1.21/24', '--addr', '179.17.1.21/16'], '--addr 179.17.1.21/16 conflicts with --addr 179.17.1.21/24', 'two prefix lengths');
    expect(up('--vni', '1', '--addr', '179.17.1.21/24', '--addr', '179.17.1.21/24').addr).toEqual(['179.17.1.21/24']);
  });
});

// ─── --config files ───

describe('--config files', () => {
  const SEED_YAML = `version: 1
vni: 10001
name: vxlan-test
dstport: 4899
local: 192.168.0.21
mac: c2:6a:9b:e5:39:8d
addr: [179.17.1.21/24]
neigh:
  - 179.17.1.31=7a:3a:fe:45:a3:76
fdb:
  - 7a:3a:fe:45:a3:76=192.168.0.31
route:
  - 10.234.118.0/24=179.17.1.31
`;
  const SEED_JSON = JSON.stringify({
    version: 1,
    vni: 10001,
    name: 'vxlan-test',
    dstport: 4899,
    local: '192.168.0.21',
    mac: 'c2:6a:9b:e5:39:8d',
    addr: ['179.17.1.21/24'],
    neigh: ['179.17.1.31=7a:3a:fe:45:a3:76'],
    fdb: ['7a:3a:fe:45:a3:76=192.168.0.31'],
    route: ['10.234.118.0/24=179.17.1.31'],
  });

  it('reads YAML and JSON to the seed UpConfig', () => {
    expect(up('--config', file(SEED_YAML))).toEqual(SEED_CONFIG);
    expect(up('--config', file(SEED_JSON, 'json'))).toEqual(SEED_CONFIG);
  });

  it('reads the object forms and a single string for a list', () => {
    const c = up(
      '--config',
      file(`version: 1
vni: "10001"
addr: 179.17.1.21/24
remote: 192.168.0.41
fdb:
  - { mac: 7a:3a:fe:45:a3:76, dst: 192.168.0.31, port: 4799, vni: 10002 }
  - { mac: 7a:3a:fe:45:a3:77, dst: 192.168.0.32, port: "4800" }
neigh:
  - { ip: 179.17.1.31, lladdr: 7a:3a:fe:45:a3:76 }
route:
  - { to: 10.234.118.0/24, via: 179.17.1.31 }
io: dgram
quiet: true
mtu: 1400
`),
    );
    expect(c.vni).toBe(10001);
    expect(c.addr).toEqual(['179.17.1.21/24']);
    expect(c.remote).toEqual(['192.168.0.41']);
    expect(c.fdb).toEqual([
      { mac: '7a:3a:fe:45:a3:76', macNum: 0x7a3afe45a376, ip: '192.168.0.31', port: 4799, vni: 10002 },
      { mac: '7a:3a:fe:45:a3:77', macNum: 0x7a3afe45a377, ip: '192.168.0.32', port: 4800 },
    ]);
    expect(c.neigh).toEqual([{ ip: '179.17.1.31', mac: '7a:3a:fe:45:a3:76', macNum: 0x7a3afe45a376 }]);
    expect(c.route).toEqual([{ cidr: '10.234.118.0/24', gateway: '179.17.1.31' }]);
    expect([c.io, c.quiet, c.mtu]).toEqual(['dgram', true, 1400]);
  });

  it('refuses bad object entries', () => {
    const f1 = file('version: 1\nvni: 1\nfdb:\n  - { mac: 7a:3a:fe:45:a3:76, dest: 192.168.0.31 }\n');
    refused(['--config', f1], `in ${f1} has an unknown key 'dest'`);
    refused(['--config', file('version: 1\nvni: 1\nfdb:\n  - { mac: 7a:3a:fe:45:a3:76 }\n')], "lacks the key 'dst'");
    const f2 = file('version: 1\nvni: 1\nfdb:\n  - { mac: 7a:3a:fe:45:a3:76, dst: 192.168.0.31, vni: 16777216 }\n');
    expect(refused(['--config', f2])).toBe(
      `fdb {mac: 7a:3a:fe:45:a3:76, dst: 192.168.0.31, vni: 16777216} in ${f2} has vni 16777216, out of range: a VNI is 24 bits, 0..16777215`,
    );
    refused(['--config', file('version: 1\nvni: 1\nfdb:\n  - { mac: 7a:3a:fe:45:a3:76, dst: 192.168.0.31, port: "x" }\n')], 'has port x, not a whole number');
    refused(['--config', file('version: 1\nvni: 1\nneigh:\n  - { ip: 179.17.1.31, mac: 7a:3a:fe:45:a3:76 }\n')], "unknown key 'mac'");
    refused(['--config', file('version: 1\nvni: 1\nroute:\n  - 42\n')], 'is malformed: expected CIDR=GATEWAY');
    refused(['--config', file('version: 1\nvni: 1\nquiet: yes\n')], 'quiet "yes" in', 'must be true or false');
  });

  it('refuses an unreadable file', () => {
    const missing = join(dir, 'no-such.yaml');
    refused(['--vni', '1', '--config', missing], `cannot read --config ${missing}`, 'no such file', 'ENOENT');
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    refused(['--vni', '1', '--config', sub], `cannot read --config ${sub}`, 'EISDIR');
  });

  it('refuses a YAML or JSON syntax error, with the line', () => {
    const y = file('version: 1\nvni: 1\naddr: [179.17.1.21/24\nname: x\n');
    refused(['--config', y], `--config ${y} is not valid YAML or JSON`, 'line ');
    const j = file('{\n  "version": 1,\n  "vni": 1,\n  "name": "x"\n  "dev": "eth0"\n}\n', 'json');
    refused(['--config', j], `--config ${j} is not valid YAML or JSON`, 'line 5');
    const dup = file('version: 1\nvni: 1\nvni: 2\n');
    refused(['--config', dup], 'line 3', 'unique');
  });

  it('refuses an empty file or a top level that is not a mapping', () => {
    refused(['--config', file('')], 'is empty', "'version: 1'");
    refused(['--config', file('# nothing\n')], 'is empty');
    refused(['--config', file('- vni: 1\n')], 'must be a mapping', 'a list');
    refused(['--config', file('10001\n')], 'must be a mapping', 'number');
  });

  it('requires version 1', () => {
    const f = file('vni: 1\n');
    refused(['--config', f], `--config ${f} has no 'version' key`, "'version: 1'");
    refused(['--config', file('version:\nvni: 1\n')], "has no 'version' key");
    refused(['--config', file('version: 2\nvni: 1\n')], 'has version 2', 'schema version 1 only');
    refused(['--config', file('version: "1"\nvni: 1\n')], 'has version "1"', 'schema version 1 only');
  });

  it('refuses an unknown key, naming it and the file', () => {
    const f = file('version: 1\nvni: 1\nvnid: 2\n');
    expect(refused(['--config', f])).toContain(`--config ${f} has an unknown key 'vnid'`);
    refused(['--config', file('version: 1\nvni: 1\ngroup: 239.1.1.1\n')], "unknown key 'group'");
    refused(['--config', file('version: 1\nvni: 1\nconfig: other.yaml\n')], "unknown key 'config'");
  });

  it('reads nodes: as the whole-overlay form (test/unit/overlay.test.ts), with its own errors', () => {
    refused(['--config', file('version: 1\nnodes:\n  - name: n1\n')], "nodes[0] has an unknown key 'name'", "a node's name is 'node:'");
  });

  it('treats an empty value as no key', () => {
    expect(up('--config', file('version: 1\nvni: 5\nmac:\naddr:\n')).addr).toEqual([]);
  });

  it('reports file values by key and file in cross-field errors', () => {
    const f = file('version: 1\nvni: 1\nlocal: 192.168.0.21\n');
    refused(['--config', f, '--remote', '2001:db8::1'], `conflicts with local 192.168.0.21 in ${f}`);
  });
});

describe('merge rules: flags and a file', () => {
  const f = (): string =>
    file(`version: 1
vni: 10001
name: from-file
dstport: 4899
addr: [179.17.1.21/24]
remote: [192.168.0.31, 192.168.0.32]
neigh: [179.17.1.31=7a:3a:fe:45:a3:76]
fdb: [7a:3a:fe:45:a3:76=192.168.0.31]
route: [10.234.118.0/24=179.17.1.31]
io: dgram
`);

  it('lets scalar flags override the file', () => {
    const c = up('--config', f(), '--vni', '42', '--name', 'from-flag', '--dstport', '4789', '--io', 'native', '--quiet');
    expect([c.vni, c.name, c.dstport, c.io, c.quiet]).toEqual([42, 'from-flag', 4789, 'native', true]);
  });

  it('keeps file scalars that no flag overrides', () => {
    const c = up('--config', f());
    expect([c.vni, c.name, c.dstport, c.io]).toEqual([10001, 'from-file', 4899, 'dgram']);
  });

  it('adds repeatable flags to the file lists, file first', () => {
    const c = up(
      '--config', f(),
      '--addr', '179.18.1.21/24',
      '--remote', '192.168.0.33',
      '--neigh', '179.17.1.32=7a:3a:fe:45:a3:77',
      '--fdb', '7a:3a:fe:45:a3:77=192.168.0.32',
      '--route', '10.234.119.0/24=179.17.1.32',
    );
    expect(c.addr).toEqual(['179.17.1.21/24', '179.18.1.21/24']);
    expect(c.remote).toEqual(['192.168.0.31', '192.168.0.32', '192.168.0.33']);
    expect(c.neigh.map((n) => n.ip)).toEqual(['179.17.1.31', '179.17.1.32']);
    expect(c.fdb.map((e) => e.mac)).toEqual(['7a:3a:fe:45:a3:76', '7a:3a:fe:45:a3:77']);
    expect(c.route.map((r) => r.cidr)).toEqual(['10.234.118.0/24', '10.234.119.0/24']);
  });

  it('merges a flag that repeats a file entry, refuses one that contradicts it', () => {
    const c = up('--config', f(), '--remote', '192.168.0.31', '--fdb', '7a:3a:fe:45:a3:76=192.168.0.31', '--neigh', '179.17.1.31=7a:3a:fe:45:a3:76');
    expect(c.remote).toEqual(['192.168.0.31', '192.168.0.32']);
    expect(c.fdb).toHaveLength(1);
    expect(c.neigh).toHaveLength(1);
    refused(['--config', f(), '--neigh', '179.17.1.31=7a:3a:fe:45:a3:99'], '--neigh 179.17.1.31=7a:3a:fe:45:a3:99 conflicts with neigh', 'two MACs');
  });

  it('validates the merged result: a flag route may use a file address', () => {
    const c = up('--config', f(), '--route', '10.234.120.0/24=179.17.1.33');
    expect(c.route).toHaveLength(2);
  });
});

describe('--offload', () => {
  it('accepts on and off, and refuses anything else with the choices in the sentence', () => {
    expect(parseUpArgs(['--vni', '1', '--offload', 'off']).config?.offload).toBe('off');
    expect(() => parseUpArgs(['--vni', '1', '--offload', 'maybe'])).toThrow(/--offload maybe is not an offload mode: use on or off/);
  });
});
