// --pcap: pcapng blocks written by hand-checked layout, synthesised outer headers (lengths, checksums), and
// tshark dissecting a file produced by a real Vtep on the fake platform as VXLAN on a non-IANA port.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { PcapWriter, pcapngPacket, synthesiseOuter } from '../../src/dataplane/pcap.js';
import { octets, refChecksum, refOnesSum } from '../wire/helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
const OWN_MAC = 0xc26a9be5398d;
const PEER_MAC = 0x12d1df443daa;




function tsharkAvailable(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The folded one's-complement sum (reference implementation): 0xffff over a buffer that holds a valid checksum. */
const onesSum = (b: Buffer): number => refOnesSum(octets(b));
/** An IPv4 header with its checksum filled in by the reference implementation. */
function ip4(h: string): Buffer {
  const b = hex(h);
  b.writeUInt16BE(refChecksum(octets(b)), 10);
  return b;
}

// ICMP echo request 10.234.111.10 -> 10.235.113.10, id 7 seq 1 (ICMP checksum 0xf7f7 over 08 00 .. 00 07 00 01).
const ICMP = Buffer.concat([ip4('4500 001c 0001 4000 3f01 0000 0aea6f0a 0aeb710a'), hex('0800 f7f7 0007 0001')]);
const TO_PEER = Buffer.concat([hex('12d1df443daa c26a9be5398d 0800'), ICMP]);
const FROM_PEER = Buffer.concat([hex('c26a9be5398d 12d1df443daa 0800'), ICMP]);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vxlan-user-pcap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pcapng blocks', () => {
  it('an enhanced packet block: type 6, lengths at both ends, padding, flags and comment options', () => {
    const b = pcapngPacket(1, 0x1_0000_0002, hex('aabbcc'), 2, 'hi');
    expect(b.readUInt32LE(0)).toBe(6);
    expect(b.readUInt32LE(4)).toBe(b.length);
    expect(b.readUInt32LE(b.length - 4)).toBe(b.length);
    expect(b.readUInt32LE(8)).toBe(1); // interface
    expect(b.readUInt32LE(12)).toBe(1); // timestamp high
    expect(b.readUInt32LE(16)).toBe(2); // timestamp low
    expect(b.readUInt32LE(20)).toBe(3); // captured
    expect(b.readUInt32LE(24)).toBe(3); // original
    expect(b.subarray(28, 32).toString('hex')).toBe('aabbcc00'); // padded to 4
    expect(b.readUInt16LE(32)).toBe(2); // epb_flags
    expect(b.readUInt16LE(34)).toBe(4);
    expect(b.readUInt32LE(36)).toBe(2); // outbound
    expect(b.readUInt16LE(40)).toBe(1); // opt_comment
    expect(b.subarray(44, 46).toString()).toBe('hi');
    expect(b.length % 4).toBe(0);
  });

  it('a synthesised outer IPv4/UDP frame has correct lengths, DF, TTL and valid checksums', () => {
    const payload = Buffer.concat([hex('08000000 00271100'), TO_PEER]);
    const f = synthesiseOuter(
      { ip: '192.168.0.21', port: 4899, mac: 0x020000000001 },
      { ip: '192.168.0.44', port: 4899, mac: 0x020000000002 },
      payload,
      0,
      payload.length,
      0x1234,
    )!;
    expect(f.subarray(0, 14).toString('hex')).toBe('020000000002' + '020000000001' + '0800');
    const ip = f.subarray(14, 34);
    expect(ip.readUInt16BE(2)).toBe(20 + 8 + payload.length);
    expect(ip.readUInt16BE(4)).toBe(0x1234);
    expect(ip.readUInt16BE(6)).toBe(0x4000); // DF
    expect(ip[8]).toBe(64);
    expect(ip[9]).toBe(17);
    expect(onesSum(ip)).toBe(0xffff);
    const udp = f.subarray(34);
    expect(udp.readUInt16BE(0)).toBe(4899);
    expect(udp.readUInt16BE(2)).toBe(4899);
    expect(udp.readUInt16BE(4)).toBe(8 + payload.length);
    // UDP checksum over the pseudo-header + UDP header + payload.
    const pseudo = Buffer.concat([ip.subarray(12, 20), hex('0011'), Buffer.from([udp.length >> 8, udp.length & 0xff])]);
    expect(onesSum(Buffer.concat([pseudo, udp]))).toBe(0xffff);
    expect(udp.subarray(8).equals(payload)).toBe(true);
  });
});

describe.skipIf(!tsharkAvailable())('tshark reads what a Vtep wrote', () => {
  it('VXLAN on port 4899 with -d: VNI, I flag, the inner frame, directions and drop comments', () => {
    const file = join(dir, 'fake.pcapng');
    const tap = new FakeTap('vxlan-test', true);
    const udp = new FakeUdpBind('192.168.0.21', 4899);
    const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: OWN_MAC, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4899 });
    vtep.fdb.append(PEER_MAC, '192.168.0.44');
    vtep.start();
    const { writer, close } = PcapWriter.open(file, {
      vni: 10001,
      tapName: 'vxlan-test',
      localIp: '192.168.0.21',
      localPort: 4899,
      underlayName: 'eth0',
      macOf: (ip) => (ip === '192.168.0.21' ? 0x020000000021 : undefined),
    });
    vtep.observer = writer;
    tap.inject(TO_PEER); // encap: inner on the TAP + outer on the underlay
    tap.wake();
    udp.inject(Buffer.concat([hex('08000000 00271100'), FROM_PEER]), '192.168.0.44', 4899); // delivered: outer + inner
    udp.inject(Buffer.concat([hex('08000000 00271200'), FROM_PEER]), '192.168.0.44', 4899); // wrong VNI: outer, dropped
    udp.wake();
    close();
    expect(writer.packets).toBe(5);
    expect(readFileSync(file).readUInt32LE(0)).toBe(0x0a0d0d0a);

    // frame.p2p_dir is Wireshark's view of the pcapng direction flag: 1 received (inbound), 0 sent (outbound).
    const fields = ['frame.interface_id', 'frame.p2p_dir', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'vxlan.flag_i', 'vxlan.vni', 'eth.src', 'eth.dst', 'icmp.type', 'frame.comment'];
    const out = execFileSync('tshark', ['-r', file, '-d', 'udp.port==4899,vxlan', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const rows = out.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(5);
    const [txInner, txOuter, rxOuter, rxInner, rxDrop] = rows as string[][];
    // 1: the inner frame read from the TAP (interface 0, inbound), no VXLAN.
    expect(txInner!.slice(0, 4)).toEqual(['0', '1', '10.234.111.10', '10.235.113.10']);
    expect(txInner![7]).toBe('');
    // 2: the datagram we sent: outer 192.168.0.21:4899 > 192.168.0.44:4899, I flag, VNI 10001, inner frame inside.
    expect(txOuter!.slice(0, 8)).toEqual(['1', '0', '192.168.0.21,10.234.111.10', '192.168.0.44,10.235.113.10', '4899', '4899', '1', '10001']);
    expect(txOuter![8]).toBe('02:00:00:00:00:21,c2:6a:9b:e5:39:8d');
    expect(txOuter![10]).toBe('8');
    expect(txOuter![11]).toContain('encapsulated, to 192.168.0.44:4899');
    // 3, 4: received and delivered.
    expect(rxOuter!.slice(0, 8)).toEqual(['1', '1', '192.168.0.44,10.234.111.10', '192.168.0.21,10.235.113.10', '4899', '4899', '1', '10001']);
    expect(rxInner!.slice(0, 2)).toEqual(['0', '0']);
    expect(rxInner![11]).toContain('decapsulated (VNI 10001), written to vxlan-test');
    // 5: the wrong-VNI datagram, with its own VNI and the drop reason.
    expect(rxDrop![7]).toBe('10002');
    expect(rxDrop![11]).toContain('dropped: rx_wrong_vni');
    // tshark finds no malformed packets or bad checksums.
    const expert = execFileSync('tshark', ['-r', file, '-d', 'udp.port==4899,vxlan', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-z', 'expert,error', '-q'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(expert).not.toMatch(/Malformed|Bad checksum|incorrect/i);
  });
});
