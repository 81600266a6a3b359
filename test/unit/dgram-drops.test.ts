// The dgram fallback (`--io dgram`) counts each lost datagram once, in the counters the instance dumps at stop.
// A real node:dgram socket on the loopback address (an ephemeral port; no interface, route or namespace is
// touched): its send ring holds 512 datagrams until dgram's callbacks free them, and those cannot run inside
// one synchronous TAP wakeup, so a wakeup of 600 frames sends 512 and finds the ring full for 88.
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { Vtep } from '../../src/dataplane/vtep.js';
import { DROP_REASONS } from '../../src/dataplane/counters.js';
import { FakeTap } from '../../src/platform/fake/fake.js';
import { DgramUdpBind } from '../../src/platform/linux/udp-dgram.js';
import { foldQueuedDrops } from '../../src/control/runtime/instance.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const PEER_MAC = 0x7a3afe45a376;
const FRAME = Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), Buffer.alloc(86, 0x5a)]);

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

describe('--io dgram drop accounting', () => {
  it('a datagram the send ring had no room for is one drop, not two (tx_sock_full and pool_exhausted)', async () => {
    const sink = dgram.createSocket('udp4');
    opened.push(sink);
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
    const udp = await DgramUdpBind.open({ address: '127.0.0.1', port: 0, device: '' });
    opened.push(udp);
    const tap = new FakeTap('vx0', true);
    const vtep = new Vtep(tap, udp, { vni: 10001, ownMac: 0xc26a9be5398d, maxUdpPayload: 1472, maxFrame: 1518, dstport: 4789 });
    vtep.fdb.append(PEER_MAC, '127.0.0.1', sink.address().port);
    for (let i = 0; i < 600; i++) tap.inject(FRAME);
    expect(vtep.onTapReadable()).toBe(600);
    // What the instance's stop() does before its final dump.
    foldQueuedDrops(vtep.counters, udp);
    const c = vtep.counters;
    const dropped = DROP_REASONS.reduce((sum, r) => sum + c.get(r), 0);
    expect(c.get('tx_packets')).toBe(512);
    expect(dropped).toBe(600 - 512);
    expect(c.get('tx_frames')).toBe(c.get('tx_packets') + dropped);
    // Let dgram's send callbacks run before the sockets close.
    await new Promise((r) => setTimeout(r, 50));
  });
});
