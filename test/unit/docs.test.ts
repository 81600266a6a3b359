// The man page and the bash completion against the CLI itself: the committed files are what the generator
// makes from the help texts now, the rendered man page holds every `vxlan-user <command> --help` as the built
// CLI prints it, and bash (the real one) completes exactly the commands of `vxlan-user --help`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { commandHelps, formatBashCompletion, formatManPage, mainCommands, optionsIn } from '../../src/cli/docs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const MAN = join(ROOT, 'man', 'vxlan-user.8');
const COMPLETION = join(ROOT, 'completion', 'vxlan-user.bash');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const cli = (args: string[]): string => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  expect(r.status, `vxlan-user ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

/** Lines of text with runs of blanks folded, as a formatter may re-space them. */
const lines = (text: string): string[] => text.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');

describe('man page and completion', () => {
  it('the committed files are current (run `npm run docs:gen` after changing a help text)', () => {
    expect(readFileSync(MAN, 'utf8')).toBe(formatManPage(version));
    expect(readFileSync(COMPLETION, 'utf8')).toBe(formatBashCompletion());
  });

  it('the rendered man page holds every help text exactly as the CLI prints it', () => {
    expect(existsSync(CLI), `${CLI} is missing: build first (npm ci or npx tsc)`).toBe(true);
    const r = spawnSync('man', ['-l', MAN], { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8', MANWIDTH: '250', MAN_KEEP_FORMATTING: '' } });
    expect(r.error, 'man is missing: run scripts/install-deps.sh').toBeUndefined();
    const rendered = lines(r.stdout).join('\n');
    const printed = [cli(['--help']), ...commandHelps().map((h) => cli([h.command, '--help']))];
    expect(printed).toHaveLength(commandHelps().length + 1);
    for (const text of printed) {
      const want = lines(text);
      // The help's lines appear in order, as one run of the rendered page.
      expect(rendered, want[0]).toContain(want.join('\n'));
    }
  });

  it('bash completes the commands of `vxlan-user --help`, and the options of each command', () => {
    const complete = (...words: string[]): string[] => {
      const script = `source ${COMPLETION}; COMP_WORDS=(vxlan-user ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _vxlan_user; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter((w) => w !== '');
    };
    const commands = mainCommands();
    expect(commands).toEqual(['up', 'demo', 'plan', 'explain', 'fdb', 'neigh', 'stats', 'show', 'reload', 'down', 'version']);
    expect(complete('')).toEqual([...commands, '--help', '--version']);
    expect(complete('re')).toEqual(['reload']);
    expect(complete('fdb', '')).toEqual(['add', 'append', 'replace', 'del', 'show', '--json', '--name', '--help']);
    expect(complete('up', '--v')).toEqual(['--vni']);
    // Every option `up --help` defines is offered after `up`, and each is one the CLI knows.
    const upOptions = optionsIn(cli(['up', '--help']));
    expect(upOptions.length).toBeGreaterThan(25);
    expect(complete('up', '--')).toEqual([...upOptions, '--help'].filter((o, i, a) => a.indexOf(o) === i));
  });
});
