/**
 * The naive baseline for the macro benchmark, in the style of the `tuntap2` package: Node fs streams on a
 * blocking TAP fd (every read and write is a libuv threadpool round trip) and one `dgram` send per frame.
 * Static FDB only, no proxy-ARP beyond what the kernel does with --neigh as a permanent neighbour.
 * Not a product: it exists so `npm run bench` can show what the batched native path buys.
 *
 * Usage (same flags as `vxlan-user up`, subset): --vni --name --dstport --local --mac --addr --neigh --fdb
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { native } from '../src/platform/linux/native.js';

const opts = new Map<string, string[]>();
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts.set(argv[i]!, [...(opts.get(argv[i]!) ?? []), argv[i + 1]!]);
const one = (k: string): string => opts.get(k)?.[0] ?? '';
const vni = Number(one('--vni'));
const name = one('--name') || 'vxlan0';
const port = Number(one('--dstport') || 4789);
const ip = (...a: string[]): void => void spawnSync('ip', a, { stdio: 'inherit' });

const [fd] = native().tapOpen(name, false, false, true);
ip('link', 'set', 'dev', name, 'address', one('--mac'), 'mtu', '1450', 'up');
for (const a of opts.get('--addr') ?? []) ip('addr', 'add', a, 'dev', name);
for (const n of opts.get('--neigh') ?? []) {
  const [addr, mac] = n.split('=');
  ip('neigh', 'replace', addr!, 'lladdr', mac!, 'dev', name, 'nud', 'permanent');
}
const fdb = new Map<string, string>();
for (const f of opts.get('--fdb') ?? []) {
  const [mac, dst] = f.split('=');
  fdb.set(mac!.replace(/:/g, '').toLowerCase(), dst!);
}

const sock = dgram.createSocket('udp4');
sock.bind(port, one('--local'), () => process.stdout.write(`ready: naive ${name}\n`));
const hdr = Buffer.from([0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0]);
const tapIn = fs.createReadStream('', { fd, highWaterMark: 65536, autoClose: false });
const tapOut = fs.createWriteStream('', { fd, autoClose: false });
tapIn.on('data', (frame) => {
  const f = frame as Buffer;
  const dst = fdb.get(f.subarray(0, 6).toString('hex'));
  if (dst) sock.send([hdr, f], port, dst);
});
sock.on('message', (msg) => {
  if (msg.length < 22 || msg[0] !== 0x08 || msg.readUIntBE(4, 3) !== vni) return;
  tapOut.write(msg.subarray(8));
});
const stop = (): void => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
