// The package as a newcomer gets it: `npm pack`, then the tarball installed globally into a clean prefix with
// the exact command README.md gives (npm 11: --allow-scripts naming the tarball, so node-gyp builds the
// addon; --strict-allow-scripts makes a mismatch fail instead of warn), then the installed command run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const work = mkdtempSync(join(tmpdir(), 'vxut-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm pack + npm install -g of the tarball', () => {
  it('ships the compiled src, native sources, docs and man page only, and installs into a working command', { timeout: 300_000 }, () => {
    const pack = run('npm', ['pack', '--json', '--pack-destination', work], ROOT);
    expect(pack.status, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['dist/src/cli/main.js', 'native/vxlan_native.cc', 'binding.gyp', 'LICENSE', 'README.md', 'man/vxlan-user.8', 'completion/vxlan-user.bash', 'systemd/vxlan-user@.service', 'docs/operations.md', 'examples/overlay.yaml']));
    const stray = files.filter((f) => /^(test|bench|scripts|\.ci|build|dist\/(test|bench|scripts))\/|\.map$|\.ts$/.test(f));
    expect(stray).toEqual([]);

    const tgz = join(work, info!.filename);
    const prefix = join(work, 'prefix');
    mkdirSync(join(prefix, 'lib'), { recursive: true }); // npm 11.19's strict preflight lstat()s PREFIX/lib
    const install = run('npm', ['install', '-g', '--strict-allow-scripts', `--allow-scripts=${tgz}`, '--allow-scripts=protobufjs', '--prefix', prefix, tgz], work);
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/install-scripts/);
    const pkg = join(prefix, 'lib', 'node_modules', 'vxlan-user');
    expect(existsSync(join(pkg, 'build', 'Release', 'vxlan_native.node')), 'node-gyp did not build the addon').toBe(true);
    expect(existsSync(join(prefix, 'share', 'man', 'man8', 'vxlan-user.8'))).toBe(true);

    const bin = join(prefix, 'bin', 'vxlan-user');
    const help = run(bin, ['--help'], work);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: vxlan-user <command> \[options\]/);
    expect(run(bin, ['version'], work).stdout).toBe(`vxlan-user ${version}\n`);
    // The installed addon loads (what `up` does first).
    const load = run(process.execPath, ['-e', `require(${JSON.stringify(join(pkg, 'build', 'Release', 'vxlan_native.node'))}).peerCred`], work);
    expect(load.status, load.stderr).toBe(0);
    // A bad configuration is still exit 2 from the installed command.
    expect(run(bin, ['up', '--config', join(work, 'absent.yaml')], work).status).toBe(2);
  });
});
