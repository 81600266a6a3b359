// virtio-net headers: byte fixtures written out from include/uapi/linux/virtio_net.h's layout (little-endian),
// into buffers pre-filled with 0xa5 so unwritten bytes show.
import { describe, expect, it } from 'vitest';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4,
  vnetClear,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
  vnetTunnelWrite,
  vnetWrite,
} from '../../src/wire/virtio-net.js';
import { hex } from './helpers.js';

describe('virtio_net_hdr (10 bytes)', () => {
  // A TSO super-frame as a TAP hands it over: NEEDS_CSUM, GSO TCPV4|ECN, hdr_len 66, gso_size 1398,
  // csum_start 34, csum_offset 16.
  const fixture = hex('01 81 4200 7605 2200 1000');

  it('reads the fields', () => {
    const b = Buffer.concat([Buffer.alloc(3, 0xa5), fixture]);
    expect(vnetFlags(b, 3)).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    expect(vnetGsoType(b, 3)).toBe(VIRTIO_NET_HDR_GSO_TCPV4); // the ECN bit masked off
    expect(b[4]! & VIRTIO_NET_HDR_GSO_ECN).toBe(VIRTIO_NET_HDR_GSO_ECN);
    expect(vnetGsoSize(b, 3)).toBe(1398);
    expect(vnetCsumStart(b, 3)).toBe(34);
    expect(vnetCsumOffset(b, 3)).toBe(16);
  });

  it('writes exactly 10 bytes at an odd offset', () => {
    const b = Buffer.alloc(15, 0xa5);
    vnetWrite(b, 3, 1, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 66, 1398, 34, 16);
    expect(b.toString('hex')).toBe('a5a5a5' + fixture.toString('hex') + 'a5a5');
  });

  it('clears exactly 10 bytes at an odd offset (a plain frame)', () => {
    const b = Buffer.alloc(15, 0xa5);
    vnetClear(b, 3);
    expect(b.toString('hex')).toBe('a5a5a5' + '00'.repeat(10) + 'a5a5');
  });
});

describe('virtio_net_hdr_v1_hash_tunnel (24 bytes)', () => {
  it('writes the UDP-tunnel GSO header of notes/tunnel-gso.md: offsets 34 and 64, hash fields zero', () => {
    const b = Buffer.alloc(26, 0xa5);
    vnetTunnelWrite(b, 1, VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4, 104, 1398, 84, 16, 34, 64);
    expect(b.toString('hex')).toBe('a5' + '09 21 6800 7605 5400 1000 0000 00000000 0000 0000 2200 4000'.replace(/ /g, '') + 'a5');
  });
});
