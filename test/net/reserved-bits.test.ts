// --reserved-bits on the real instance (issue 12; the kernel's vxlan_reserved.sh): a small Python sender in
// another namespace writes crafted VXLAN datagrams over real UDP, one per reserved header bit, plus clean ones.
// The counters of the running vxlan-user say which were dropped and which reached the TAP.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { netTestGate, type Topology } from '../../src/testbed/index.js';
import { N1, N2 } from './seed-nodes.js';
import { assertBuilt, NetSession } from './vtep-process.js';

const gate = netTestGate();
const net = new NetSession();

/**
 * Sends from `from` to N1's UDP port 4789: one datagram per reserved bit (numbered as the selftest: 0 is the
 * top bit of header byte 0; I is 4, the VNI 32..55), then `clean` unmangled ones. The inner frame is an ICMP
 * echo to N1's overlay address, to N1's TAP MAC.
 */
async function sendMangled(t: Topology, clean: number): Promise<void> {
  const ipHex = (a: string): string => Buffer.from(a.split('.').map(Number)).toString('hex');
  const inner = `${N1.mac.replaceAll(':', '')}001122334455` + `0800` + `4500001c9983400040010000${ipHex('179.17.1.99')}${ipHex(N1.overlay)}` + `0800f7fe1f6a0001`;
  const py = `
import socket
vni = 10001
inner = bytes.fromhex('${inner}')
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def header(bit):
    h = bytearray([0x08, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0])
    if bit is not None:
        h[bit >> 3] |= 0x80 >> (bit & 7)
    return bytes(h)
for bit in [b for b in range(64) if b != 4 and not 32 <= b < 56]:
    s.sendto(header(bit) + inner, ('${N1.underlay}', 4789))
for _ in range(${clean}):
    s.sendto(header(None) + inner, ('${N1.underlay}', 4789))
`;
  await t.exec(N2.name, 'python3', ['-c', py]);
}

describe.skipIf(gate.skip)('--reserved-bits on real UDP (vxlan_reserved.sh)', () => {
  beforeAll(() => {
    gate.assert();
    assertBuilt();
  });
  afterEach(() => net.cleanup());

  const base = ['--vni', '10001', '--name', 'vxlan-test', '--local', N1.underlay, '--mac', N1.mac, '--addr', `${N1.overlay}/24`, '--quiet'];
  for (const [what, extra, dropped, delivered] of [
    ['default: all 39 mangled headers dropped, the clean ones delivered', [], 39, 10],
    // allow bit 10 (byte 1, 0x20): 0xf7dfffff000000ff, the selftest's reserved_10_test
    ['reserved_bits allowing bit 10: that one passes, 38 dropped', ['--reserved-bits', '0xf7dfffff000000ff'], 38, 11],
    // allow bit 63 (byte 7, 0x01): 0xf7ffffff000000fe
    ['reserved_bits allowing bit 63: that one passes, 38 dropped', ['--reserved-bits', '0xf7ffffff000000fe'], 38, 11],
  ] as const) {
    it(what, async () => {
      const t = await net.topology('resbits', [N1, N2], { ipv6: false });
      const v = await net.up(t, N1, [...base, ...extra]);
      await sendMangled(t, 10);
      let c: Record<string, number> = {};
      for (let i = 0; i < 50; i++) {
        c = await v.counters();
        if ((c.rx_datagrams ?? 0) >= 49) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(c.rx_datagrams).toBe(49);
      expect(c.rx_reserved_bits).toBe(dropped);
      expect(c.rx_packets).toBe(delivered);
      expect(c.rx_bad_flags ?? 0).toBe(0);
    });
  }
});
