/** Shared by the benchmarks: waits for a VTEP child's `ready:` line on stdout (15 s), or rejects with its stderr. */
import type { ChildProcess } from 'node:child_process';

export function waitReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`VTEP not ready: ${err}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready:')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`VTEP exited ${c}: ${err}`));
    });
  });
}
