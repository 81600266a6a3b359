// ECN through the tunnel (src/dataplane/ecn.ts) against the kernel's INET_ECN_encapsulate /
// INET_ECN_decapsulate: the encap table, all 16 decap cases over real IPv4 and IPv6 bytes (IPv4 header checksum
// verified by a full recomputation written here), and the Vtep wiring over the fake platform.
import { describe, expect, it } from 'vitest';
import { decapEcn, ECN_DELIVER, ECN_DROP, ecnEncapsulate, encapTos, innerHopLimit, TOS_INHERIT } from '../../src/dataplane/ecn.js';
import { TtlInheritBind } from '../../src/dataplane/ttl-inherit.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { InnerFrame } from '../../src/wire/inner-frame.js';

/** The frame `b[fo .. fo+flen)` and its parsed InnerFrame, as the dataplane helpers take them. */
function at(b: Buffer, fo: number, flen: number): [Buffer, InnerFrame] {
  const v = new InnerFrame();
  v.parse(b, fo, flen);
  return [b, v];
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
const NOT_ECT = 0;
const ECT1 = 1;
const ECT0 = 2;
const CE = 3;
const NAMES = ['Not-ECT', 'ECT(1)', 'ECT(0)', 'CE'];

/** Reference IPv4 header checksum: one's complement of the one's complement sum of the 16-bit words. */
function ipv4Checksum(h: Buffer): number {
  let s = 0;
  for (let i = 0; i < h.length; i += 2) if (i !== 10) s += h.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const ETH4 = hex('7a3afe45a376 c26a9be5398d 0800');
const ETH6 = hex('7a3afe45a376 c26a9be5398d 86dd');
/** IPv4 UDP 10.0.0.1 -> 10.0.0.2, DSCP AF41 (0x88) | ecn, valid header checksum. */
function v4Frame(ecn: number): Buffer {
  const ip = hex('4500 0020 1234 4000 4011 0000 0a000001 0a000002' + '1f90 1f91 000c 0000 61626364');
  ip[1] = 0x88 | ecn;
  ip.writeUInt16BE(ipv4Checksum(ip.subarray(0, 20)), 10);
  return Buffer.concat([ETH4, ip]);
}
/** IPv6 UDP 2001:db8::1 -> 2001:db8::2, traffic class 0x88 | ecn, flow label 0x12345. */
function v6Frame(ecn: number): Buffer {
  const tc = 0x88 | ecn;
  const w0 = ((6 << 28) | (tc << 20) | 0x12345) >>> 0;
  const ip = Buffer.concat([
    Buffer.alloc(4),
    hex('000c 11 40 20010db8000000000000000000000001 20010db8000000000000000000000002 1f90 1f91 000c 0000 61626364'),
  ]);
  ip.writeUInt32BE(w0, 0);
  return Buffer.concat([ETH6, ip]);
}
const v4Ecn = (f: Buffer) => f[15]! & 3;
const v6Ecn = (f: Buffer) => (f.readUInt32BE(14) >>> 20) & 3;

// The kernel's decapsulation table, written out by hand: [outer][inner] → new inner ECN, or 'drop'.
const DECAP: (number | 'drop')[][] = [
  /* outer Not-ECT */ [NOT_ECT, ECT1, ECT0, CE],
  /* outer ECT(1)  */ [NOT_ECT, ECT1, ECT1, CE],
  /* outer ECT(0)  */ [NOT_ECT, ECT1, ECT0, CE],
  /* outer CE      */ ['drop', CE, CE, CE],
];

describe('INET_ECN_encapsulate', () => {
  it('copies the inner ECN into the outer TOS, inner CE becoming ECT(0), over the configured DSCP', () => {
    // inner ECN → outer ECN
    const expected = [NOT_ECT, ECT1, ECT0, ECT0];
    for (let inner = 0; inner < 4; inner++) {
      expect(ecnEncapsulate(0xb8, 0x28 | inner), NAMES[inner]).toBe(0xb8 | expected[inner]!);
      expect(ecnEncapsulate(0xbb, inner)).toBe(0xb8 | expected[inner]!); // configured ECN bits never leak
      expect(encapTos(0x20, ...at(v4Frame(inner), 0, 46))).toBe(0x20 | expected[inner]!);
      expect(encapTos(0x20, ...at(v6Frame(inner), 0, 66))).toBe(0x20 | expected[inner]!);
      // --tos inherit: the inner DSCP too
      expect(encapTos(TOS_INHERIT, ...at(v4Frame(inner), 0, 46))).toBe(0x88 | expected[inner]!);
      expect(encapTos(TOS_INHERIT, ...at(v6Frame(inner), 0, 66))).toBe(0x88 | expected[inner]!);
    }
  });
  it('treats a non-IP frame (ARP, also under a VLAN tag) as Not-ECT with DSCP 0', () => {
    const arp = Buffer.concat([hex('ffffffffffff c26a9be5398d 0806'), Buffer.alloc(28, 0xff)]);
    expect(encapTos(TOS_INHERIT, ...at(arp, 0, arp.length))).toBe(0);
    expect(encapTos(0x10, ...at(arp, 0, arp.length))).toBe(0x10);
    const tagged = tag(arp, '8100 0063');
    expect(encapTos(TOS_INHERIT, ...at(tagged, 0, tagged.length))).toBe(0);
  });
  // The kernel since 7074732c8fae (2022) reads the inner header past 802.1Q / 802.1ad tags (skb_protocol(skb,
  // true)) for tos inherit, ECN and ttl inherit, as l2_tos_ttl_inherit.sh's VLAN 99 cases check.
  it('inherits DSCP and ECN through an 802.1Q tag, a QinQ pair (802.1ad + 802.1Q), at a non-zero offset', () => {
    for (const tags of ['8100 0063', '88a8 0064 8100 0063']) {
      for (let inner = 0; inner < 4; inner++) {
        const want = [NOT_ECT, ECT1, ECT0, ECT0][inner]!;
        const f4 = Buffer.concat([Buffer.alloc(3, 0xa5), tag(v4Frame(inner), tags)]);
        const f6 = Buffer.concat([Buffer.alloc(3, 0xa5), tag(v6Frame(inner), tags)]);
        expect(encapTos(TOS_INHERIT, ...at(f4, 3, f4.length - 3)), `${tags} v4 ${NAMES[inner]}`).toBe(0x88 | want);
        expect(encapTos(TOS_INHERIT, ...at(f6, 3, f6.length - 3)), `${tags} v6 ${NAMES[inner]}`).toBe(0x88 | want);
        expect(encapTos(0x20, ...at(f4, 3, f4.length - 3))).toBe(0x20 | want);
      }
    }
  });
  it('a tagged frame cut short inside its tags or its IP header inherits nothing', () => {
    const t = tag(v4Frame(ECT0), '8100 0063');
    expect(encapTos(TOS_INHERIT, ...at(t, 0, 16))).toBe(0);
    expect(encapTos(TOS_INHERIT, ...at(t, 0, 19))).toBe(0);
    expect(innerHopLimit(...at(t, 0, 18 + 19))).toBe(0);
  });
});

/** `frame` with `tags` (hex, 4 bytes each) inserted after its MAC addresses. */
function tag(frame: Buffer, tags: string): Buffer {
  return Buffer.concat([frame.subarray(0, 12), hex(tags), frame.subarray(12)]);
}

describe('innerHopLimit (--ttl inherit, ip_tunnel_get_ttl)', () => {
  it('is the inner IPv4 TTL / IPv6 hop limit, also past VLAN tags; 0 for ARP and non-IP', () => {
    const f4 = v4Frame(0); // TTL 0x40
    f4[14 + 8] = 37;
    const f6 = v6Frame(0); // hop limit 0x40
    f6[14 + 7] = 201;
    expect(innerHopLimit(...at(f4, 0, f4.length))).toBe(37);
    expect(innerHopLimit(...at(f6, 0, f6.length))).toBe(201);
    for (const tags of ['8100 0063', '88a8 0064 8100 0063', '8100 0063 8100 0064 8100 0065']) {
      expect(innerHopLimit(...at(tag(f4, tags), 0, f4.length + tags.replaceAll(' ', '').length / 2))).toBe(37);
      expect(innerHopLimit(...at(tag(f6, tags), 0, f6.length + tags.replaceAll(' ', '').length / 2))).toBe(201);
    }
    const arp = Buffer.concat([hex('ffffffffffff c26a9be5398d 0806'), Buffer.alloc(28, 0xff)]);
    expect(innerHopLimit(...at(arp, 0, arp.length))).toBe(0);
    expect(innerHopLimit(...at(tag(arp, '8100 0063'), 0, arp.length + 4))).toBe(0);
    // An Ethernet type that says IPv4 over bytes that are not (version 6): nothing inherited.
    const liar = Buffer.concat([ETH4, v6Frame(0).subarray(14)]);
    expect(innerHopLimit(...at(liar, 0, liar.length))).toBe(0);
  });
});

describe('TtlInheritBind: an IP_TTL per datagram from the inner packet', () => {
  it('gives each sendmmsg entry the TTL of its inner frame (0 for ARP), a GSO train that of its first frame', () => {
    const udp = new FakeUdpBind('192.168.0.21', 4789);
    udp.setDestination(0, '192.168.0.31', 4789);
    const bind = new TtlInheritBind(udp);
    const vx = hex('08000000 00271100');
    const f4 = v4Frame(0);
    f4[22] = 9;
    const f6 = v6Frame(0);
    f6[21] = 99;
    const arp = Buffer.concat([hex('ffffffffffff c26a9be5398d 0806'), Buffer.alloc(28, 0xff)]);
    const datagrams = [f4, tag(f6, '8100 0063'), arp].map((f) => Buffer.concat([vx, f]));
    const buf = Buffer.concat([Buffer.alloc(5), ...datagrams, Buffer.concat([vx, f4]), Buffer.concat([vx, f4])]);
    const offs = new Uint32Array([5, 5 + datagrams[0]!.length, 5 + datagrams[0]!.length + datagrams[1]!.length, 0]);
    offs[3] = offs[2]! + datagrams[2]!.length;
    const lens = new Uint32Array([datagrams[0]!.length, datagrams[1]!.length, datagrams[2]!.length, 2 * (8 + f4.length)]);
    const gso = new Uint16Array([0, 0, 0, 8 + f4.length]);
    const result = new Int32Array(4);
    expect(bind.sendBatch(buf, offs, lens, new Uint32Array(4), 4, result, gso)).toBe(4);
    expect(udp.sent.map((d) => d.ttl)).toEqual([9, 99, 0, 9, 9]);
  });
  it('refuses a bind without per-datagram control messages', () => {
    const dgramLike = Object.assign(Object.create(FakeUdpBind.prototype) as FakeUdpBind, { perPacketTos: false });
    expect(() => new TtlInheritBind(dgramLike)).toThrow(/needs per-datagram control messages/);
  });
});

describe('INET_ECN_decapsulate: all 16 cases', () => {
  for (let outer = 0; outer < 4; outer++) {
    for (let inner = 0; inner < 4; inner++) {
      const want = DECAP[outer]![inner]!;
      it(`outer ${NAMES[outer]} over inner ${NAMES[inner]} → ${want === 'drop' ? 'drop' : NAMES[want]}`, () => {
        // IPv4 at a non-zero offset in a bigger buffer (pooled-slot layout).
        const f4 = v4Frame(inner);
        const b4 = Buffer.concat([Buffer.alloc(16, 0xa5), f4]);
        const r4 = decapEcn(...at(b4, 16, f4.length), 0x40 | outer);
        const f6 = v6Frame(inner);
        const b6 = Buffer.concat([Buffer.alloc(16, 0xa5), f6]);
        const r6 = decapEcn(...at(b6, 16, f6.length), 0x40 | outer);
        if (want === 'drop') {
          expect(r4).toBe(ECN_DROP);
          expect(r6).toBe(ECN_DROP);
          return;
        }
        expect(r4).toBe(ECN_DELIVER);
        expect(r6).toBe(ECN_DELIVER);
        const o4 = b4.subarray(16);
        expect(v4Ecn(o4)).toBe(want);
        expect(o4[15]! & 0xfc).toBe(0x88); // DSCP untouched
        expect(o4.readUInt16BE(24)).toBe(ipv4Checksum(o4.subarray(14, 34))); // header checksum fixed
        // Nothing else changed.
        const e4 = v4Frame(want);
        expect(o4.toString('hex')).toBe(e4.toString('hex'));
        const o6 = b6.subarray(16);
        expect(v6Ecn(o6)).toBe(want);
        expect(o6.toString('hex')).toBe(v6Frame(want).toString('hex')); // flow label, DSCP intact
        expect(b4.subarray(0, 16).equals(Buffer.alloc(16, 0xa5))).toBe(true);
      });
    }
  }
  it('delivers non-IP and truncated IP frames untouched under outer CE', () => {
    const arp = Buffer.concat([hex('ffffffffffff c26a9be5398d 0806'), Buffer.alloc(28)]);
    expect(decapEcn(...at(arp, 0, arp.length), CE)).toBe(ECN_DELIVER);
    const short = v4Frame(NOT_ECT).subarray(0, 30);
    expect(decapEcn(...at(Buffer.from(short), 0, short.length), CE)).toBe(ECN_DELIVER);
  });
});

describe('Vtep wiring (fake platform)', () => {
  const OWN = 0xc26a9be5398d;
  const PEER = 0x7a3afe45a376;
  function make(o: { tos?: number; gso?: boolean } = {}) {
    const tap = new FakeTap('vx0', true);
    const udp = new FakeUdpBind('192.168.0.21', 4789);
    udp.gso = o.gso ?? false;
    const vtep = new Vtep(tap, udp, {
      vni: 1, ownMac: OWN, maxUdpPayload: 1472, maxFrame: 1518, dstport: 4789, udpGso: o.gso ?? false,
      ...(o.tos === undefined ? {} : { tos: o.tos }),
    });
    vtep.fdb.append(PEER, '192.168.0.31');
    vtep.start();
    return { tap, udp, vtep };
  }
  it('sends each datagram with its outer TOS', () => {
    const { tap, udp } = make({ tos: 0xb8 });
    for (const e of [NOT_ECT, ECT1, ECT0, CE]) tap.inject(v4Frame(e));
    tap.wake();
    expect(udp.sent.map((d) => d.tos)).toEqual([0xb8, 0xb9, 0xba, 0xba]);
  });
  it('--tos inherit copies the inner DSCP', () => {
    const { tap, udp } = make({ tos: TOS_INHERIT });
    tap.inject(v6Frame(CE));
    tap.wake();
    expect(udp.sent[0]!.tos).toBe(0x8a);
  });
  it('breaks a UDP GSO train where the TOS changes', () => {
    const { tap, udp } = make({ gso: true });
    for (const e of [ECT0, ECT0, NOT_ECT, NOT_ECT]) tap.inject(v4Frame(e));
    tap.wake();
    expect(udp.sent.map((d) => d.tos)).toEqual([2, 2, 0, 0]);
    expect(udp.gsoSends).toBe(2); // two trains of two, not one of four
  });
  it('marks CE on receive and drops outer CE over Not-ECT, counted', () => {
    const { udp, tap, vtep } = make();
    const vx = hex('08000000 00000100');
    const dg = (f: Buffer) => Buffer.concat([vx, Buffer.from(f).fill(0, 0, 0)]);
    // frames from the peer to us: swap MACs
    const fromPeer = (f: Buffer) => {
      const c = Buffer.from(f);
      hex('c26a9be5398d 7a3afe45a376').copy(c, 0);
      return c;
    };
    udp.inject(dg(fromPeer(v4Frame(ECT0))), '192.168.0.31', 4789, CE);
    udp.inject(dg(fromPeer(v4Frame(NOT_ECT))), '192.168.0.31', 4789, CE);
    udp.inject(dg(fromPeer(v4Frame(NOT_ECT))), '192.168.0.31', 4789, ECT0);
    udp.wake();
    const out = tap.frames();
    expect(out).toHaveLength(2);
    expect(v4Ecn(out[0]!)).toBe(CE);
    expect(out[0]!.readUInt16BE(24)).toBe(ipv4Checksum(out[0]!.subarray(14, 34)));
    expect(v4Ecn(out[1]!)).toBe(NOT_ECT);
    expect(vtep.counters.get('rx_ecn_not_ect')).toBe(1);
    expect(vtep.counters.get('rx_packets')).toBe(2);
    expect(vtep.counters.get('rx_datagrams')).toBe(3);
  });
});
