/**
 * `vxlan-user plan --etcd-endpoints ... [--public-ip IP | --iface DEV] [--as-kernel]`: what this node would
 * program from the same etcd data, read-only (no lease is taken, nothing is written).
 *
 * The node's own lease is the one whose PublicIP is ours (a kernel node's lease is written as flanneld writes
 * it; `plan` then builds the kernel's device with that subnet and VtepMAC). Remote leases go through the same
 * checks as in `up` (members.ts), so a bad entry is skipped here too, with the same sentence on stderr.
 */
import { deviceOfAddress } from '../runtime/host.js';
import { shellWord } from '../tools/plan.js';
import { VxlanUserError } from '../config/errors.js';
import { VXLAN_OVERHEAD_IPV4 } from '../config/defaults.js';
import { connectEtcd, findPublicIp } from './node.js';
import { LayoutError, parseLease, parseSubnetKey, subnetAddr, subnetText, type FlannelLease } from './layout.js';
import { Membership, type Peer } from './members.js';
import { peerAddLines } from './program.js';

export async function runEtcdPlan(argv: readonly string[], asKernel: boolean): Promise<number> {
  const log = (line: string): void => void process.stderr.write(`vxlan-user: ${line}\n`);
  const { a, client, cfg } = await connectEtcd(argv, 'plan', log);
  try {
    const publicIp = findPublicIp(a);
    const res = await client.getAll().prefix(`${a.prefix}/subnets/`).exec();
    const all = new Map<string, string>();
    for (const kv of res.kvs) all.set(kv.key.toString(), kv.value.toString());
    let own: FlannelLease | undefined;
    for (const [k, v] of all) {
      const s = parseSubnetKey(k, a.prefix);
      if (typeof s === 'string') continue;
      try {
        const l = parseLease(k, s, v, cfg);
        if (l.publicIp === publicIp) own = l;
      } catch (e) {
        if (!(e instanceof LayoutError)) throw e;
      }
    }
    if (own === undefined)
      throw new VxlanUserError('ECONFIG', `no lease under ${a.prefix}/subnets/ has PublicIP ${publicIp}: plan shows a node whose lease exists (start 'vxlan-user up --etcd-endpoints ...', or write the lease as flanneld does)`);
    const mine = own;
    const m = new Membership(cfg, a.prefix, { publicIp, subnet: () => mine.subnet }, (_k, sentence) => log(sentence));
    m.resync(all);
    const peers = [...m.peers()].sort((x, y) => x.subnet.net - y.subnet.net);
    const dev = `flannel.${cfg.vni}`;
    const underlay = deviceOfAddress(publicIp);
    const out = asKernel ? kernelScript(dev, cfg.vni, cfg.port, publicIp, underlay, mine, peers, a.endpoints.join(',')) : readable(dev, cfg.vni, cfg.port, publicIp, mine, peers, argv);
    process.stdout.write(out);
    return 0;
  } finally {
    client.close();
  }
}

function kernelScript(dev: string, vni: number, port: number, publicIp: string, underlay: { ifname: string; mtu: number } | undefined, own: FlannelLease, peers: readonly Peer[], etcd: string): string {
  const w = (words: string[]): string => words.map(shellWord).join(' ');
  const lines = [
    `# flannel vxlan node ${publicIp}, lease ${subnetText(own.subnet)}, from etcd ${etcd}`,
    `# the kernel's vxlan device, iproute2 only; undo with: ip link del ${dev}`,
    w(['ip', 'link', 'add', dev, 'type', 'vxlan', 'id', String(vni), 'dstport', String(port), 'local', publicIp, ...(underlay ? ['dev', underlay.ifname] : []), 'nolearning']),
    w(['ip', 'link', 'set', 'dev', dev, 'address', own.mac]),
    ...(underlay ? [w(['ip', 'link', 'set', 'dev', dev, 'mtu', String(underlay.mtu - VXLAN_OVERHEAD_IPV4)])] : []),
    w(['ip', 'addr', 'add', `${subnetAddr(own.subnet, 0)}/32`, 'dev', dev]),
    w(['ip', 'link', 'set', 'dev', dev, 'up']),
  ];
  for (const p of peers) {
    const [neigh, route] = peerAddLines(dev, p);
    lines.push(`# lease ${subnetText(p.subnet)} (${p.publicIp})`, `ip ${neigh}`, w(['bridge', 'fdb', 'append', p.mac, 'dst', p.publicIp, 'dev', dev, 'self', 'permanent']), `ip ${route}`);
  }
  return `${lines.join('\n')}\n`;
}

function readable(dev: string, vni: number, port: number, publicIp: string, own: FlannelLease, peers: readonly Peer[], argv: readonly string[]): string {
  const lines = [
    `device  ${dev}  vni ${vni}  udp ${publicIp}:${port}  mac ${own.mac}  addr ${subnetAddr(own.subnet, 0)}/32  (lease ${subnetText(own.subnet)})`,
    `remote leases (${peers.length}): neighbour <subnet>.0 → VtepMAC, FDB VtepMAC → PublicIP, route <subnet> via <subnet>.0 onlink`,
    ...peers.map((p) => `  ${subnetText(p.subnet).padEnd(18)} ${p.publicIp.padEnd(15)} ${p.mac}`),
    `run it:  vxlan-user up ${argv.filter((x) => x !== '--as-kernel').map(shellWord).join(' ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
