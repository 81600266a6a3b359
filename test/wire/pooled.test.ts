// Regression: wire accessors must honour `off` relative to the Buffer view, never the underlying
// ArrayBuffer. Small Buffers from Buffer.allocUnsafe / Buffer.from share Node's 8 KiB pool and so have a
// non-zero byteOffset; the dataplane's slots are subarrays of one large allocation. A reader written as
// `new DataView(buf.buffer).getUint16(off)` reads some other packet's bytes (demonstrated below).

import { describe, expect, it } from 'vitest';
import { arpCheck, arpSenderIp, arpTargetIp, arpWriteReply } from '../../src/wire/arp.js';
import { csumAdd, csumFold, l4ChecksumFill } from '../../src/wire/checksum.js';
import { ethernetSrc, ethernetType } from '../../src/wire/ethernet.js';
import { ipv4Check, ipv4Dst, ipv4Src } from '../../src/wire/ipv4.js';
import { macParse, macRead, macWrite } from '../../src/wire/mac.js';
import { udpDstPort } from '../../src/wire/udp.js';
import { vxlanCheck, vxlanVni, vxlanWrite } from '../../src/wire/vxlan.js';
import { ARP_REQUEST, L3, L4_V4, VX4, VXLAN4_ARP_REQUEST } from './fixtures.js';
import { octets, refOnesSum } from './helpers.js';

function checkAll(view: Buffer, off: number): void {
  expect(ethernetType(view, off)).toBe(0x0800);
  expect(ethernetSrc(view, off)).toBe(macParse('02:00:00:00:0a:01'));
  expect(ipv4Check(view, off + L3, VXLAN4_ARP_REQUEST.length - L3)).toBe(0);
  expect(ipv4Src(view, off + L3)).toBe(0x0a000001);
  expect(ipv4Dst(view, off + L3)).toBe(0x0a000002);
  expect(udpDstPort(view, off + L4_V4)).toBe(4789);
  expect(vxlanCheck(view, off + VX4, VXLAN4_ARP_REQUEST.length - VX4)).toBe(0);
  expect(vxlanVni(view, off + VX4)).toBe(42);
  const arp = off + VX4 + 8 + 14;
  expect(arpCheck(view, arp, 28)).toBe(0);
  expect(arpSenderIp(view, arp)).toBe(0xc0a86401);
  expect(arpTargetIp(view, arp)).toBe(0xc0a86402);
  expect(csumFold(csumAdd(view, off + L3, 20))).toBe(0xffff);
}

describe('pooled and sliced Buffers (non-zero byteOffset)', () => {
  it('a subarray of a larger buffer, with an extra offset inside it', () => {
    const big = Buffer.alloc(4096, 0xee);
    const view = big.subarray(1001, 1001 + 200);
    expect(view.byteOffset).toBe(1001);
    VXLAN4_ARP_REQUEST.copy(view, 3);
    checkAll(view, 3);

    // The trap this test guards against: a DataView over the whole ArrayBuffer ignores byteOffset.
    const wrong = new DataView(view.buffer).getUint16(3 + 12);
    expect(wrong).toBe(0xeeee);
    expect(ethernetType(view, 3)).toBe(0x0800);
  });

  it('Buffer.allocUnsafe from the shared pool', () => {
    // Allocate a few so that at least one sits past the pool's start.
    const bufs = Array.from({ length: 4 }, () => Buffer.allocUnsafe(VXLAN4_ARP_REQUEST.length + 1));
    const pooled = bufs.filter((b) => b.byteOffset > 0);
    expect(pooled.length).toBeGreaterThan(0);
    for (const b of pooled) {
      VXLAN4_ARP_REQUEST.copy(b, 1);
      checkAll(b, 1);
    }
  });

  it('writers touch only the view, at `off`', () => {
    const big = Buffer.alloc(512, 0xee);
    const view = big.subarray(77, 77 + VXLAN4_ARP_REQUEST.length);
    VXLAN4_ARP_REQUEST.copy(view);
    vxlanWrite(view, VX4, 42);
    macWrite(view, 0, macRead(VXLAN4_ARP_REQUEST, 0));
    view.writeUInt16BE(0, L4_V4 + 6);
    expect(l4ChecksumFill(view, L3, false)).toBe(0x3930);
    const arp = VX4 + 8 + 14;
    arpWriteReply(view, arp, 0x0242c0a86401, 0xc0a86401, 0, 0xc0a86402);
    expect(view[arp + 7]).toBe(2); // op now reply
    expect(big.subarray(0, 77).every((x) => x === 0xee)).toBe(true);
    expect(big.subarray(77 + view.length).every((x) => x === 0xee)).toBe(true);
    expect(csumFold(csumAdd(view, 0, view.length))).toBe(refOnesSum(octets(view)));
    expect(ARP_REQUEST.length).toBe(42);
  });
});
