/**
 * `npm run bench`: the micro benchmarks (JS hot path, no privileges), then the macro benchmark (netns, iperf3;
 * needs root), then the pod-to-pod benchmark of the mixed overlay (bench/pods.ts). Extra arguments go to the
 * macro benchmark (e.g. `npm run bench -- --runs 1 --quick`).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const step = (file: string, args: string[], nodeFlags: string[] = []): void => {
  const r = spawnSync(process.execPath, [...nodeFlags, `${dir}${file}`, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
step('micro.js', [], ['--expose-gc']);
step('macro.js', process.argv.slice(2));
// Pod to pod through mixed kernel / vxlan-user nodes, both send paths side by side (issue 9).
step('pods.js', ['--runs', '3', '--seconds', '5', '--variant', 'tap=--tx-path tap', '--variant', 'udp=--tx-path udp']);
