// flannel's etcd layout (control/flannel/layout.ts), the membership table (members.ts) and the subnet file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freeSubnets, LayoutError, parseLease, parseNetworkConfig, parseSubnet, parseSubnetKey, subnetText, formatLease, type Subnet } from '../../src/control/flannel/layout.js';
import { Membership } from '../../src/control/flannel/members.js';
import { formatSubnetFile, readSubnetFile, writeSubnetFile } from '../../src/control/flannel/subnet-file.js';
import { splitEtcdArgs, refuseEtcdConflicts } from '../../src/control/flannel/args.js';

const P = '/coreos.com/network';
const CFG = parseNetworkConfig(`${P}/config`, '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}');
const sub = (t: string): Subnet => parseSubnet(t) as Subnet;
const lease = (ip: string, mac: string): string => formatLease(ip, 1, mac);

describe('network config', () => {
  it("reads flannel's config with flannel's defaults (VNI 1, Port 8472, SubnetMin/Max)", () => {
    expect(CFG.vni).toBe(1);
    expect(CFG.port).toBe(8472);
    expect(subnetText(CFG.network)).toBe('10.244.0.0/16');
    expect(subnetText({ net: CFG.subnetMin, len: 24 })).toBe('10.244.1.0/24');
    expect(subnetText({ net: CFG.subnetMax, len: 24 })).toBe('10.244.255.0/24');
    const c = parseNetworkConfig('k', '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":4096,"Port":4789}}');
    expect([c.vni, c.port, c.subnetLen]).toEqual([4096, 4789, 24]);
    // Smaller than a /22: SubnetLen is the network's + 2.
    expect(parseNetworkConfig('k', '{"Network":"10.5.0.0/23","Backend":{"Type":"vxlan"}}').subnetLen).toBe(25);
  });
  it.each([
    ['{"Network":', /k is not JSON/],
    ['{"Backend":{"Type":"vxlan"}}', /k has no Network/],
    ['{"Network":"10.244.0.1/16","Backend":{"Type":"vxlan"}}', /host bits set/],
    ['{"Network":"10.244.0.0/16"}', /Backend\.Type "udp": vxlan-user speaks flannel's vxlan backend only/],
    ['{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}', /Backend\.Type "host-gw"/],
    ['{"Network":"10.244.0.0/16","SubnetLen":16,"Backend":{"Type":"vxlan"}}', /SubnetLen 16/],
    ['{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}', /Backend\.VNI 16777216/],
    ['{"Network":"10.244.0.0/16","SubnetMin":"10.245.0.0","Backend":{"Type":"vxlan"}}', /SubnetMin 10\.245\.0\.0 outside Network/],
  ])('refuses %s with a sentence naming the key', (text, re) => {
    expect(() => parseNetworkConfig('k', text)).toThrow(LayoutError);
    expect(() => parseNetworkConfig('k', text)).toThrow(re);
  });
});

describe('leases', () => {
  it('parses keys and values as flanneld writes them, IPv6 twin keys included', () => {
    expect(parseSubnetKey(`${P}/subnets/10.244.3.0-24`, P)).toEqual(sub('10.244.3.0/24'));
    expect(parseSubnetKey(`${P}/subnets/10.244.3.0-24&fd00:1::-64`, P)).toEqual(sub('10.244.3.0/24'));
    expect(parseSubnetKey(`${P}/subnets/garbage`, P)).toMatch(/is not a subnet key/);
    const l = parseLease('k', sub('10.244.3.0/24'), '{"PublicIP":"192.168.0.21","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"C2:6A:9B:E5:39:8D"}}', CFG);
    expect(l).toMatchObject({ publicIp: '192.168.0.21', mac: 'c2:6a:9b:e5:39:8d', vni: 1 });
    expect(JSON.parse(formatLease('192.168.0.21', 1, 'c2:6a:9b:e5:39:8d'))).toEqual({ PublicIP: '192.168.0.21', PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: 'c2:6a:9b:e5:39:8d' } });
  });
  it.each([
    ['nope', /is not JSON/],
    ['{"PublicIP":"192.168.0.21","BackendType":"vxlan","BackendData":{}}', /lacks BackendData\.VtepMAC/],
    ['{"PublicIP":"192.168.0.21","BackendType":"vxlan","BackendData":{"VtepMAC":"01:00:5e:00:00:01"}}', /not a unicast MAC/],
    ['{"PublicIP":"fd00::1","BackendType":"vxlan","BackendData":{"VtepMAC":"02:00:00:00:00:01"}}', /no usable PublicIP/],
    ['{"PublicIP":"192.168.0.21","BackendType":"vxlan","BackendData":{"VNI":2,"VtepMAC":"02:00:00:00:00:01"}}', /VNI is 1/],
  ])('refuses the lease value %s', (text, re) => {
    expect(() => parseLease('k', sub('10.244.3.0/24'), text, CFG)).toThrow(re);
  });
  it('refuses a subnet outside Network', () => {
    expect(() => parseLease('k', sub('10.99.0.0/24'), lease('192.168.0.21', '02:00:00:00:00:01'), CFG)).toThrow(/outside Network 10\.244\.0\.0\/16/);
  });
  it('lists free subnets in order, skipping the taken ones', () => {
    const f = freeSubnets(CFG, new Set([sub('10.244.1.0/24').net, sub('10.244.3.0/24').net]), 3);
    expect(f.map(subnetText)).toEqual(['10.244.2.0/24', '10.244.4.0/24', '10.244.5.0/24']);
  });
});

describe('membership table', () => {
  const own = sub('10.244.1.0/24');
  const make = (): { m: Membership; said: string[] } => {
    const said: string[] = [];
    const m = new Membership(CFG, P, { publicIp: '192.168.0.21', subnet: () => own }, (_k, s) => said.push(s), () => 1000);
    return { m, said };
  };
  const k = (s: string): string => `${P}/subnets/${s}`;

  it('adds, changes (one change for a new MAC) and removes; re-putting the same value is no change', () => {
    const { m } = make();
    expect(m.put(k('10.244.2.0-24'), lease('192.168.0.22', '02:00:00:00:00:02')).map((c) => c.kind)).toEqual(['add']);
    expect(m.put(k('10.244.2.0-24'), lease('192.168.0.22', '02:00:00:00:00:02'))).toEqual([]);
    const ch = m.put(k('10.244.2.0-24'), lease('192.168.0.22', '02:00:00:00:00:99'));
    expect(ch).toHaveLength(1);
    expect(ch[0]).toMatchObject({ kind: 'change', from: { mac: '02:00:00:00:00:02' }, to: { mac: '02:00:00:00:00:99' } });
    expect(m.del(k('10.244.2.0-24')).map((c) => c.kind)).toEqual(['remove']);
    expect(m.size).toBe(0);
  });
  it('skips our own lease silently and counts every bad entry once, with a sentence naming the key', () => {
    const { m, said } = make();
    expect(m.put(k('10.244.1.0-24'), lease('192.168.0.21', '02:00:00:00:00:01'))).toEqual([]);
    expect(said).toEqual([]);
    m.put(k('10.244.1.0-24&fd00::-64'), lease('192.168.0.99', '02:00:00:00:00:09'));
    m.put(k('10.244.5.0-24'), 'garbage');
    m.put(k('10.244.5.0-24'), 'garbage');
    m.put(k('10.244.6.0-24'), lease('192.168.0.22', '02:00:00:00:00:02'));
    m.put(k('10.244.7.0-24'), lease('192.168.0.22', '02:00:00:00:00:07'));
    m.put(k('10.244.8.0-24'), lease('192.168.0.21', '02:00:00:00:00:08'));
    expect(m.skipped).toBe(4);
    expect(said[0]).toMatch(/10\.244\.1\.0-24&fd00::-64 claims this node's own subnet/);
    expect(said[1]).toMatch(/10\.244\.5\.0-24 is not JSON/);
    expect(said[2]).toMatch(/10\.244\.7\.0-24 has PublicIP 192\.168\.0\.22, which .*10\.244\.6\.0-24 already has/);
    expect(said[3]).toMatch(/this node's own PublicIP/);
    expect(m.size).toBe(1);
  });
  it('a skipped duplicate takes over when the lease that won goes', () => {
    const { m } = make();
    m.put(k('10.244.6.0-24'), lease('192.168.0.22', '02:00:00:00:00:02'));
    m.put(k('10.244.7.0-24'), lease('192.168.0.22', '02:00:00:00:00:07'));
    const ch = m.del(k('10.244.6.0-24'));
    expect(ch.map((c) => c.kind)).toEqual(['remove', 'add']);
    expect([...m.peers()].map((p) => subnetText(p.subnet))).toEqual(['10.244.7.0/24']);
  });
  it('a re-list costs only its differences', () => {
    const { m } = make();
    const all = new Map<string, string>();
    for (let i = 2; i < 255; i++) all.set(k(`10.244.${i}.0-24`), lease(`192.168.1.${i}`, `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`));
    expect(m.resync(all)).toHaveLength(253);
    all.set(k('10.244.9.0-24'), lease('192.168.1.9', '02:00:00:00:09:09'));
    all.delete(k('10.244.10.0-24'));
    expect(m.resync(all).map((c) => c.kind).sort()).toEqual(['change', 'remove']);
  });
});

describe('subnet file and flags', () => {
  it('writes what the flannel CNI plugin reads (.1 of the subnet, IPMASQ false) and reads the subnet back', () => {
    const text = formatSubnetFile(CFG, sub('10.244.3.0/24'), 1450);
    expect(text).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    const dir = mkdtempSync(join(tmpdir(), 'vxut-subnetenv-'));
    try {
      const f = join(dir, 'run', 'subnet.env');
      writeSubnetFile(f, text);
      expect(readSubnetFile(f)).toEqual(sub('10.244.3.0/24'));
      expect(readSubnetFile(join(dir, 'absent'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("splits flannel's flags off and refuses the ones etcd decides", () => {
    const { etcd, rest } = splitEtcdArgs(['--etcd-endpoints', 'http://10.0.0.1:2379,http://10.0.0.2:2379', '--subnet-lease-ttl=30', '--mac', '02:00:00:00:00:01', '--public-ip', '192.168.0.21'], 'up');
    expect(etcd.endpoints).toEqual(['http://10.0.0.1:2379', 'http://10.0.0.2:2379']);
    expect([etcd.leaseTtl, etcd.prefix, etcd.subnetFile, etcd.renewMargin]).toEqual([30, P, '/run/flannel/subnet.env', 60]);
    expect(rest).toEqual(['--mac', '02:00:00:00:00:01']);
    expect(() => splitEtcdArgs(['--etcd-endpoints', 'localhost:2379'], 'up')).toThrow(/is not an etcd URL/);
    expect(() => splitEtcdArgs(['--etcd-endpoints', 'http://a:1', '--subnet-lease-ttl', '0'], 'up')).toThrow(/at least 1/);
    const d = { vni: 1, dstport: 8472, local: '192.168.0.21', key: `${P}/config` };
    expect(() => refuseEtcdConflicts(['--vni', '1'], d)).not.toThrow();
    expect(() => refuseEtcdConflicts(['--vni', '2'], d)).toThrow(/--vni 2 conflicts with \/coreos\.com\/network\/config, which says VNI 1/);
    expect(() => refuseEtcdConflicts(['--addr', '10.0.0.1/24'], d)).toThrow(/--addr cannot be given with --etcd-endpoints/);
  });
});
