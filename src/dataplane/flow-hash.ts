/**
 * Flow hash of an inner Ethernet frame, for the outer UDP source port (`--srcport`, RFC 7348 §5: "a hash of
 * fields from the inner packet"; the kernel uses skb_get_hash → udp_flow_src_port). The 5-tuple (addresses,
 * protocol, ports) when the frame carries IPv4/IPv6 TCP or UDP (first fragment or unfragmented), the addresses
 * and protocol for other IP packets, else the two MACs. One flow always hashes alike (no reordering); distinct
 * flows spread. Zero allocation: integer mixing (a murmur3-style finaliser) over 32-bit words.
 */
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';

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
  return h >>> 0;
}

const isPorts = (proto: number): boolean => proto === 6 || proto === 17;

/** The flow hash (uint32) of the frame at `buf[fo .. fo+flen)`. */
export function flowHash(buf: Buffer, fo: number, flen: number): number {
  const l3 = fo + ETH_HLEN;
  const et = flen >= ETH_HLEN ? buf.readUInt16BE(fo + 12) : 0;
  if (et === ETHERTYPE_IPV4 && flen >= ETH_HLEN + 20 && buf[l3]! >> 4 === 4) {
    const ihl = (buf[l3]! & 0x0f) * 4;
    const proto = buf[l3 + 9]!;
    let h = mix(mix(mix(0x9747b28c, buf.readUInt32BE(l3 + 12)), buf.readUInt32BE(l3 + 16)), proto);
    const fragOff = buf.readUInt16BE(l3 + 6) & 0x1fff;
    if (isPorts(proto) && fragOff === 0 && (buf.readUInt16BE(l3 + 6) & 0x2000) === 0 && flen >= ETH_HLEN + ihl + 4) {
      h = mix(h, buf.readUInt32BE(l3 + ihl));
    }
    return finish(h);
  }
  if (et === ETHERTYPE_IPV6 && flen >= ETH_HLEN + 40 && buf[l3]! >> 4 === 6) {
    const nh = buf[l3 + 6]!;
    let h = 0x9747b28c;
    for (let i = 8; i < 40; i += 4) h = mix(h, buf.readUInt32BE(l3 + i));
    h = mix(h, nh);
    if (isPorts(nh) && flen >= ETH_HLEN + 44) h = mix(h, buf.readUInt32BE(l3 + 40));
    return finish(h);
  }
  if (flen < 12) return 0;
  return finish(mix(mix(mix(0x9747b28c, buf.readUInt32BE(fo)), buf.readUInt32BE(fo + 4)), buf.readUInt32BE(fo + 8)));
}
