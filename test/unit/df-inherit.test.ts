// --df inherit picks the DF-set twin socket per frame, by the kernel's rule: inner IPv6, or inner IPv4 with DF.
import { describe, expect, it } from 'vitest';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const ETH4 = hex('7a3afe45a376 c26a9be5398d 0800');
const ETH6 = hex('7a3afe45a376 c26a9be5398d 86dd');
const ipv4 = (flagsFrag: string): Buffer => hex(`4500 001c 0001 ${flagsFrag} 4001 0000 0a000001 0a000002 0800f7fe00010000`);
const ipv6 = hex('60000000 0008 3a40 20010db8000000000000000000000001 20010db8000000000000000000000002 8000 0000 0001 0001');

describe('--df inherit', () => {
  it('sends inner IPv6 and inner IPv4 with DF from the DF twin, IPv4 without DF and ARP from the main socket', () => {
    const tap = new FakeTap('vx0', true);
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const twin = new FakeUdpBind('192.168.0.21', 40000, main); // shares main's destination table, as the instance opens it
    const vtep = new Vtep(tap, main, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789, dfTwin: twin });
    vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
    vtep.start();
    tap.inject(Buffer.concat([ETH4, ipv4('4000')])); // DF
    tap.inject(Buffer.concat([ETH4, ipv4('0000')])); // no DF
    tap.inject(Buffer.concat([ETH6, ipv6]));
    tap.wake();
    expect(twin.sent).toHaveLength(2);
    expect(main.sent).toHaveLength(1);
    expect(main.sent[0]!.data.readUInt16BE(8 + 14 + 6)).toBe(0); // the IPv4 frame without DF
    expect(twin.sent.map((d) => d.data.readUInt16BE(8 + 12))).toEqual([0x0800, 0x86dd]);
    expect(twin.sent[0]!.ip).toBe('192.168.0.31'); // the FDB wrote main's table, which the twin sends through
  });

  it('--df set with DF-set twins (a vnis: device on shared sockets): every frame leaves from the twin, ARP too', () => {
    const tap = new FakeTap('vx0', true);
    const main = new FakeUdpBind('192.168.0.21', 4789);
    const twin = new FakeUdpBind('192.168.0.21', 40000, main);
    const vtep = new Vtep(tap, main, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4789, dfTwin: twin, df: 'set' });
    vtep.fdb.append(0x7a3afe45a376, '192.168.0.31');
    vtep.start();
    tap.inject(Buffer.concat([ETH4, ipv4('0000')])); // no DF inside: DF outside all the same
    tap.inject(Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0806'), Buffer.alloc(28)]));
    tap.wake();
    expect(main.sent).toHaveLength(0);
    expect(twin.sent).toHaveLength(2);
  });
});
