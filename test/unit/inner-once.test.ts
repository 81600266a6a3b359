// Issue 13: the inner frame's headers are parsed once per frame on the way out and once per datagram on the way
// in, however many helpers (ECN, flow hash, df inherit, flow MSS, coalescing, checksum hints) look at them.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TOS_INHERIT } from '../../src/dataplane/ecn.js';
import { SourcePorts } from '../../src/dataplane/source-ports.js';
import { Vtep } from '../../src/dataplane/vtep.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import { InnerFrame } from '../../src/wire/inner-frame.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');
const OWN_MAC = 0xc26a9be5398d;
const PEER_MAC = 0x7a3afe45a376;
/** IPv4 TCP SYN 10.0.0.1:32968 → 10.0.0.2:5000 with an MSS option (data offset 6), DF. */
const TCP_SYN = hex('4500 002c 0bb2 4000 4006 0000 0a000001 0a000002 80c8 1388 7e050f6d 00000000 6002 faf0 0000 0000 0204 05b4');

function make() {
  const tap = new FakeTap('vx0', true);
  const udp = new FakeUdpBind('192.168.0.21', 4899);
  // Everything that reads the inner headers on: per-packet TOS (ECN, --tos inherit), a source-port pool
  // (flow hash), --df inherit, receive coalescing.
  const sourcePorts = new SourcePorts({ min: 40000, max: 40999, dfTwins: true, fallback: udp, open: (port) => new FakeUdpBind('192.168.0.21', port, udp) });
  const vtep = new Vtep(tap, udp, {
    vni: 10001, ownMac: OWN_MAC, maxUdpPayload: 1472, maxFrame: 1468, dstport: 4899, tos: TOS_INHERIT, sourcePorts, df: 'inherit', rxCoalesce: true,
  });
  vtep.fdb.append(PEER_MAC, '192.168.0.31');
  vtep.start();
  return { tap, udp, vtep };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('one parse of the inner headers', () => {
  it('per frame read from the TAP, per datagram received', () => {
    const { tap, udp, vtep } = make();
    const parse = vi.spyOn(InnerFrame.prototype, 'parse');
    for (let i = 0; i < 5; i++) tap.inject(Buffer.concat([hex('7a3afe45a376 c26a9be5398d 0800'), TCP_SYN]));
    tap.wake();
    expect(vtep.counters.get('tx_packets')).toBe(5);
    expect(parse).toHaveBeenCalledTimes(5);
    parse.mockClear();
    for (let i = 0; i < 3; i++) udp.inject(Buffer.concat([hex('08000000 00271100 c26a9be5398d 7a3afe45a376 0800'), TCP_SYN]), '192.168.0.31', 4899);
    udp.wake();
    expect(vtep.counters.get('rx_packets')).toBe(3);
    expect(parse).toHaveBeenCalledTimes(3);
  });
});
