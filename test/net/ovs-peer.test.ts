// Open vSwitch's userspace datapath as a second independent peer (issue 12): its own VXLAN encap/decap
// (lib/netdev-native-tnl.c), as strict on receive as the kernel. OVS runs in n2's namespace without its kernel
// module, started by hand in a temp dir as OVS's own check-system-userspace suite does (not ovs-ctl, which loads
// a module): ovsdb-server, then ovs-vswitchd --disable-system.
//
//   n1: vxlan-user (vxlan-test 179.17.1.21) ── eth0 192.168.0.21 ─ switch ─ eth0 ─┐ n2: br-phy (netdev) 192.168.0.31
//                                                                                 └─ br-int (netdev): vx0 (vxlan, key 10001,
//                                                                                    dst_port 4899) + vp0 ── pod 179.17.1.31
//
// Checked both ways: ping, 32 MB of TCP with its SHA-256, and a frame to an unknown MAC flooded across. Also
// what happens before the veth offloads are turned off (docs/interop-ovs.md): OVS drops our datagrams at
// tunnel pop, because a veth hands its AF_PACKET socket UDP checksums that are still partial.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, type Topology } from '../../src/testbed/index.js';
import { capture } from './probes.js';
import { N1, N2 } from './seed-nodes.js';
import { assertBuilt, NetSession, type RunningVtep } from './vtep-process.js';

const gate = netTestGate();
const net = new NetSession();
const DEV = 'vxlan-test';
const POD_IP = '179.17.1.31';
let work: string;
let ovsDir: string;

/** ovs-vswitchd and ovsdb-server, as they wrote their pidfiles. */
function ovsPids(): number[] {
  const out: number[] = [];
  for (const d of ['ovs-vswitchd', 'ovsdb-server']) {
    try {
      out.push(Number(readFileSync(join(ovsDir, `${d}.pid`), 'utf8').trim()));
    } catch {
      // not started
    }
  }
  return out;
}

function vswitchSchema(): string {
  const files = execFileSync('dpkg', ['-L', 'openvswitch-switch', 'openvswitch-common'], { encoding: 'utf8' }).split('\n');
  const schema = files.find((f) => f.endsWith('/vswitch.ovsschema'));
  if (schema === undefined) throw new Error('vswitch.ovsschema not found in the openvswitch packages (scripts/install-deps.sh installs openvswitch-switch)');
  return schema;
}

/** Starts OVS in `host`'s namespace with its run, db and log dirs in ovsDir; returns a runner for its tools. */
async function startOvs(t: Topology, host: string): Promise<(cmd: string, ...args: string[]) => Promise<string>> {
  const env = { OVS_RUNDIR: ovsDir, OVS_DBDIR: ovsDir, OVS_LOGDIR: ovsDir, OVS_SYSCONFDIR: ovsDir };
  const db = join(ovsDir, 'conf.db');
  const sock = `unix:${join(ovsDir, 'db.sock')}`;
  execFileSync('ovsdb-tool', ['create', db, vswitchSchema()], { env: { ...process.env, ...env } });
  const x = async (cmd: string, ...args: string[]): Promise<string> => (await t.exec(host, cmd, args, { env })).stdout;
  await x('ovsdb-server', db, '--detach', '--pidfile', `--remote=p${sock}`, '--log-file');
  await x('ovs-vsctl', `--db=${sock}`, '--no-wait', 'init');
  await x('ovs-vswitchd', sock, '--disable-system', '--detach', '--pidfile', '--log-file');
  return (cmd, ...args) => (cmd === 'ovs-vsctl' ? x(cmd, `--db=${sock}`, '--timeout=20', ...args) : x(cmd, ...args));
}

/** Writes one Ethernet frame into `dev` in `host`'s namespace (AF_PACKET), as if its stack sent it. */
async function inject(t: Topology, host: string, dev: string, frameHex: string): Promise<void> {
  const py = `import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${dev}', 0)); s.send(bytes.fromhex('${frameHex}'))`;
  await t.exec(host, 'python3', ['-c', py]);
}

/** 32 MiB over TCP from `from` to `toIp` on `to` (socat), compared by SHA-256. */
async function tcp32(t: Topology, from: string, to: string, toIp: string, port: number): Promise<void> {
  const src = join(work, `src-${port}`);
  const dst = join(work, `dst-${port}`);
  const data = randomBytes(32 << 20);
  writeFileSync(src, data);
  const server = t.spawn(to, 'socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, `CREATE:${dst}`]);
  const done = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
  for (let i = 0; i < 50; i++) {
    if ((await t.exec(to, 'ss', ['-ltn', `sport = :${port}`])).stdout.includes(`:${port}`)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await t.exec(from, 'socat', ['-u', `OPEN:${src}`, `TCP:${toIp}:${port},connect-timeout=5`], { timeoutMs: 90_000 });
  expect(await done).toBe(0);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  expect(sha(readFileSync(dst))).toBe(sha(data));
}

const ping = async (t: Topology, from: string, to: string): Promise<boolean> =>
  (await t.exec(from, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', to], { check: false })).stdout.includes('3 received');

describe.skipIf(gate.skip)('Open vSwitch userspace datapath as a peer', () => {
  let vtep: RunningVtep | undefined;

  beforeAll(() => {
    gate.assert();
    assertBuilt();
    work = mkdtempSync(join(tmpdir(), 'vxut-ovs-'));
    ovsDir = mkdtempSync(join(tmpdir(), 'vxut-ovs-run-'));
  });
  afterAll(async () => {
    for (const pid of ovsPids()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await net.cleanup();
    rmSync(work, { recursive: true, force: true });
    rmSync(ovsDir, { recursive: true, force: true });
  });

  it('ping, 32 MB TCP and flooding both ways; OVS drops our datagrams until the veth finishes checksums', async () => {
    const t = await net.topology('ovs', [N1, N2], { ipv6: false });
    const pod = await t.addPodNamespace(N2.name, 'n2pod', `${POD_IP}/24`, '179.17.1.1');
    await t.exec(pod.name, 'ip', ['link', 'set', 'dev', 'eth0', 'address', N2.mac]);
    await t.exec(N2.name, 'ip', ['addr', 'flush', 'dev', pod.nodeIfname]);

    // OVS on n2: the underlay address moves from eth0 to the netdev bridge br-phy (OVS's tunnels route and ARP
    // through it); br-int holds the tunnel port and the pod's veth.
    const ovs = await startOvs(t, N2.name);
    await ovs('ovs-vsctl', 'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev');
    await ovs('ovs-vsctl', 'add-port', 'br-phy', 'eth0');
    await t.exec(N2.name, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    await t.exec(N2.name, 'ip', ['addr', 'add', `${N2.underlay}/24`, 'dev', 'br-phy']);
    await t.exec(N2.name, 'ip', ['link', 'set', 'br-phy', 'up']);
    await ovs('ovs-vsctl', 'add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev');
    await ovs('ovs-vsctl', 'add-port', 'br-int', pod.nodeIfname);
    await ovs(
      'ovs-vsctl', 'add-port', 'br-int', 'vx0', '--', 'set', 'interface', 'vx0', 'type=vxlan',
      `options:remote_ip=${N1.underlay}`, 'options:key=10001', 'options:dst_port=4899',
    );
    await t.exec(N2.name, 'ip', ['link', 'set', 'br-int', 'up']);

    vtep = await net.up(t, N1, [
      '--vni', '10001', '--name', DEV, '--dstport', '4899', '--local', N1.underlay, '--mac', N1.mac, '--addr', `${N1.overlay}/24`,
      '--neigh', `${POD_IP}=${N2.mac}`, '--fdb', `${N2.mac}=${N2.underlay}`, '--remote', N2.underlay,
    ]);
    const tunnelPopErrors = async (): Promise<number> =>
      Number(/datapath_drop_tunnel_pop_error\s.*total: (\d+)/.exec(await ovs('ovs-appctl', 'coverage/show'))?.[1] ?? 0);

    // 1. As it comes: the veth hands OVS's AF_PACKET socket our UDP checksums unfinished (CHECKSUM_PARTIAL,
    //    and GSO trains unsegmented); OVS verifies the checksum at tunnel pop and drops every datagram.
    expect(await ping(t, N1.name, POD_IP)).toBe(false);
    expect(await tunnelPopErrors()).toBeGreaterThan(0);

    // 2. The fix for a veth testbed (OVS's own tests do the same): no tx offloads on the veths that feed OVS —
    //    vxlan-user's underlay device, so the kernel completes checksums and cuts GSO trains before the veth,
    //    and the pod's, so its TCP does not send 64 KiB TSO frames that OVS's AF_PACKET read cannot take.
    await t.exec(N1.name, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
    await t.exec(pod.name, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
    const before = await tunnelPopErrors();
    expect(await ping(t, N1.name, POD_IP)).toBe(true);
    expect(await ping(t, pod.name, N1.overlay)).toBe(true);
    expect(await tunnelPopErrors()).toBe(before);

    // 3. 32 MB of TCP each way (vxlan-user keeps its offloads: TSO super-frames from its TAP, UDP GSO trains).
    await tcp32(t, N1.name, pod.name, POD_IP, 5201);
    await tcp32(t, pod.name, N1.name, N1.overlay, 5202);

    // 4. Flooding: a frame to a MAC nobody has learned crosses both ways (vxlan-user: to its --remote list;
    //    OVS: the NORMAL action floods an unknown destination to every port, the tunnel included).
    const frame = (dst: string, src: string): string => `${dst}${src.replaceAll(':', '')}88b5${'ab'.repeat(46)}`;
    const toPod = await capture(t, { ...N2, name: pod.name }, 'eth0', 'ether dst 02:00:00:00:00:77', 1, () => inject(t, N1.name, DEV, frame('020000000077', N1.mac)));
    expect(toPod).toMatch(/0x88b5/);
    const toUser = await capture(t, N1, DEV, 'ether dst 02:00:00:00:00:78', 1, () => inject(t, pod.name, 'eth0', frame('020000000078', N2.mac)));
    expect(toUser).toMatch(/0x88b5/);
    const c = await vtep.counters();
    expect(c.tx_flood_frames).toBeGreaterThanOrEqual(1);
    expect(c.rx_wrong_vni).toBe(0);
    expect(c.rx_bad_flags).toBe(0);
  }, 240_000);
});
