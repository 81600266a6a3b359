/**
 * Flow hash of an inner Ethernet frame, for the outer UDP source port (`--srcport`, RFC 7348 §5: "a hash of
 * fields from the inner packet"; the kernel uses skb_get_hash → udp_flow_src_port). The 5-tuple (addresses,
 * protocol, ports) when the frame carries IPv4/IPv6 TCP or UDP (first fragment or unfragmented), the addresses
 * and protocol for other IP packets, else the two MACs. One flow always hashes alike (no reordering); distinct
 * flows spread. Zero allocation: integer mixing (a murmur3-style finaliser) over 32-bit words. The hash is
 * returned as an int32, not a uint32: a uint32 above 2^31 is no small integer to V8, so returning one from a
 * call it does not inline boxes it (16 bytes a frame, measured by test/unit/alloc.test.ts).
 */
import { FRAG_NONE, type InnerFrame } from '../wire/inner-frame.js';
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC } from '../wire/ipv4.js';
import { IPV6_HLEN, IPV6_SRC } from '../wire/ipv6.js';

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

const isPorts = (proto: number): boolean => proto === IPPROTO_TCP || proto === IPPROTO_UDP;

/** The flow hash (int32; `>>> 0` gives its 32 bits unsigned) of the frame `v` (parsed from `buf`). */
export function flowHash(buf: Buffer, v: InnerFrame): number {
  const l3 = v.l3;
  // On the EtherType after the MACs: a tagged frame hashes by its MACs.
  if (v.tags === 0 && v.ipVersion === 4) {
    let h = mix(mix(mix(0x9747b28c, buf.readUInt32BE(l3 + IPV4_SRC)), buf.readUInt32BE(l3 + IPV4_DST)), v.proto);
    // Ports from the header length as written: enough to keep one flow on one port, whatever it is worth.
    if (isPorts(v.proto) && v.frag === FRAG_NONE && v.l4 + 4 <= v.end) h = mix(h, buf.readUInt32BE(v.l4));
    return finish(h);
  }
  if (v.tags === 0 && v.ipVersion === 6) {
    let h = 0x9747b28c;
    for (let i = IPV6_SRC; i < IPV6_HLEN; i += 4) h = mix(h, buf.readUInt32BE(l3 + i));
    h = mix(h, v.proto);
    if (isPorts(v.proto) && v.l4 + 4 <= v.end) h = mix(h, buf.readUInt32BE(v.l4));
    return finish(h);
  }
  const fo = v.fo;
  if (v.end - fo < 12) return 0;
  return finish(mix(mix(mix(0x9747b28c, buf.readUInt32BE(fo)), buf.readUInt32BE(fo + 4)), buf.readUInt32BE(fo + 8)));
}
