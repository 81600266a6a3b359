// The shipped systemd unit, read as systemd reads it: Type=notify, an ExecStart that runs vxlan-user directly
// (absolute path, no shell), and exit codes that reach systemd unchanged — checked by running that very
// ExecStart line with a bad configuration. Plus the watchdog interval rule of sd-notify.ts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { watchdogIntervalMs } from '../../src/cli/sd-notify.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = join(ROOT, 'systemd', 'vxlan-user@.service');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const text = readFileSync(UNIT, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'vxut-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Values of `Key=` in the [Service] section, in order. */
function service(key: string): string[] {
  const body = text.split(/^\[Service\]$/m)[1]!.split(/^\[/m)[0]!;
  return [...body.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
}

/** ExecStart as systemd would run it for instance `name`: %i expanded, split on blanks (the unit uses no quotes). */
function execStart(name: string): string[] {
  const [line] = service('ExecStart');
  return line!.replace(/%i/g, name).split(/\s+/);
}

/** Every *.service file in the repository (not node_modules or build output). */
function serviceFiles(d = ROOT): string[] {
  return readdirSync(d).flatMap((n) => {
    if (n === 'node_modules' || n === 'dist' || n === 'build' || n.startsWith('.')) return [];
    const p = join(d, n);
    return statSync(p).isDirectory() ? serviceFiles(p) : n.endsWith('.service') ? [p] : [];
  });
}

describe('systemd/vxlan-user@.service', () => {
  it('is Type=notify with NotifyAccess=main, reads /etc/vxlan-user/%i.yaml, and does not restart after exit 2', () => {
    expect(service('Type')).toEqual(['notify']);
    expect(service('NotifyAccess')).toEqual(['main']);
    expect(service('ExecStart')).toEqual(['/usr/local/bin/vxlan-user up --config /etc/vxlan-user/%i.yaml']);
    expect(service('Restart')).toEqual(['on-failure']);
    expect(service('RestartPreventExitStatus')).toEqual(['2']);
    expect(service('WatchdogSec')).toHaveLength(1);
    // ProtectSystem=strict makes /run read-only: the subnet file and --pcap need these.
    expect(service('ProtectSystem')).toEqual(['strict']);
    expect(service('RuntimeDirectory')[0]!.split(' ')).toEqual(expect.arrayContaining(['flannel', 'vxlan-user']));
    expect(service('LogsDirectory')).toEqual(['vxlan-user']);
  });

  it('no unit in the repository runs a shell: every Exec line starts with an absolute path to vxlan-user', () => {
    const files = serviceFiles();
    expect(files).toContain(UNIT);
    for (const f of files) {
      for (const m of readFileSync(f, 'utf8').matchAll(/^(Exec\w+)=(.*)$/gm)) {
        const argv = m[2]!.split(/\s+/);
        expect(argv[0], `${f}: ${m[0]}`).toMatch(/^\/[^\s]*\/vxlan-user$/);
        expect(m[2], `${f}: ${m[0]}`).not.toMatch(/[|;&`$<>]|\bsh\b|\bbash\b/);
      }
    }
  });

  it("the ExecStart line itself exits 2 on a bad configuration (systemd sees vxlan-user's own status)", () => {
    expect(existsSync(CLI), `${CLI} is missing: build first (npm ci or npx tsc)`).toBe(true);
    // The binary path is where npm put ours; everything after it is the unit's own text.
    const run = (argv: string[]) => spawnSync(process.execPath, [CLI, ...argv.slice(1)], { encoding: 'utf8', timeout: 20_000 });
    const absent = `vxut-${process.pid}-absent`;
    const argv = execStart(absent);
    expect(argv.slice(1)).toEqual(['up', '--config', `/etc/vxlan-user/${absent}.yaml`]);
    expect(existsSync(`/etc/vxlan-user/${absent}.yaml`)).toBe(false);
    const missing = run(argv);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^vxlan-user: .*\/etc\/vxlan-user\/vxut-\d+-absent\.yaml.*\n$/);
    // A file that exists but is invalid: same line, the config directory moved to a temporary one.
    writeFileSync(join(dir, 'bad.yaml'), 'version: 1\nvni: 99999999\nname: bad\n');
    const invalid = run(execStart('bad').map((a) => a.replace('/etc/vxlan-user/', `${dir}/`)));
    expect(invalid.status).toBe(2);
    expect(invalid.stderr).toMatch(/^vxlan-user: .*vni.*\n$/);
  });

  it('passes systemd-analyze verify (with ExecStart pointed at the built CLI)', () => {
    const copy = join(dir, 'vxlan-user@check.service');
    writeFileSync(copy, text.replace(/\/usr\/local\/bin\/vxlan-user/g, CLI));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
    expect(r.error, 'systemd-analyze is missing: run scripts/install-deps.sh').toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('watchdog interval', () => {
  it('pings at half of WATCHDOG_USEC, only for the pid WATCHDOG_PID names', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '10000000' }, 42)).toBe(5000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '10000000', WATCHDOG_PID: '42' }, 42)).toBe(5000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '10000000', WATCHDOG_PID: '41' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
  });
});
