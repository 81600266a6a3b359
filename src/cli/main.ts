#!/usr/bin/env node
/**
 * `vxlan-user` command dispatcher. Every failure ends as one sentence on stderr and an exit code:
 * 0 success / clean stop, 1 runtime failure, 2 bad usage or refused configuration. No stack traces unless
 * VXLAN_USER_DEBUG=1.
 */
import { readFileSync } from 'node:fs';
import { VxlanUserError } from '../control/config/errors.js';
import { formatMainHelp } from '../control/config/help.js';
import { runUp } from './up.js';
import { runCtl, type CtlCommand } from './ctl.js';
import { runPlan } from './plan.js';
import { runDemo } from './demo.js';
import { runExplain } from './explain.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up':
      return runUp(rest);
    case 'fdb':
    case 'neigh':
    case 'stats':
    case 'show':
    case 'reload':
    case 'down':
      return runCtl(cmd satisfies CtlCommand, rest);
    case 'plan':
      return runPlan(rest);
    case 'demo':
      return runDemo(rest);
    case 'explain':
      return runExplain(rest);
    case 'version':
    case '--version':
    case '-V':
      process.stdout.write(`vxlan-user ${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(formatMainHelp());
      return cmd === undefined ? 2 : 0;
    default:
      throw new VxlanUserError('EUSAGE', `unknown command '${cmd}'; see 'vxlan-user --help'`);
  }
}

export function reportAndExit(e: unknown): never {
  if (e instanceof VxlanUserError) {
    process.stderr.write(`vxlan-user: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  const err = e as Error;
  process.stderr.write(`vxlan-user: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.VXLAN_USER_DEBUG === '1') process.stderr.write(`${err?.stack ?? ''}\n`);
  process.exit(1);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  reportAndExit,
);
