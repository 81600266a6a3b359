/**
 * /run/flannel/subnet.env, the file the stock flannel CNI plugin reads on the node:
 *
 *   FLANNEL_NETWORK=10.244.0.0/16
 *   FLANNEL_SUBNET=10.244.3.1/24      the node's subnet with .1: the bridge gateway the CNI plugin uses
 *   FLANNEL_MTU=1450
 *   FLANNEL_IPMASQ=false              we don't masquerade; true would turn off the bridge plugin's own
 *
 * Kept on exit, as flanneld keeps it: a restarted node reads its subnet back from it (allocation step 2).
 * Written to a temporary name and renamed, so a reader never sees half a file.
 */
import { DEFAULT_SUBNET_FILE } from '../config/defaults.js';
export { DEFAULT_SUBNET_FILE };
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ipv4AddrParse } from '../../wire/ipv4.js';
import { parseSubnet, subnetAddr, subnetText, type NetworkConfig, type Subnet } from './layout.js';


export function formatSubnetFile(cfg: NetworkConfig, subnet: Subnet, mtu: number): string {
  return [
    `FLANNEL_NETWORK=${subnetText(cfg.network)}`,
    `FLANNEL_SUBNET=${subnetAddr(subnet, 1)}/${subnet.len}`,
    `FLANNEL_MTU=${mtu}`,
    'FLANNEL_IPMASQ=false',
    '',
  ].join('\n');
}

export function writeSubnetFile(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The subnet a previous run wrote (FLANNEL_SUBNET=10.244.3.1/24 → 10.244.3.0/24), or undefined. */
export function readSubnetFile(file: string): Subnet | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^FLANNEL_SUBNET=(\S+)\/(\d+)\s*$/m.exec(text);
  if (!m) return undefined;
  const a = ipv4AddrParse(m[1]!);
  const len = Number(m[2]);
  if (a === undefined || len > 32) return undefined;
  const net = len === 0 ? 0 : (a & ((0xffff_ffff << (32 - len)) >>> 0)) >>> 0;
  const s = parseSubnet(`${subnetAddr({ net, len }, 0)}/${len}`);
  return typeof s === 'string' ? undefined : s;
}
