/**
 * Linux sockaddr_in / sockaddr_in6 in the layout recvmmsg fills (family in host byte order — little-endian on
 * the machines we run on — then the port in network order), for the implementations that are not the addon
 * (the dgram fallback and the fake) so the dataplane reads the same bytes from every UdpBind. Not hot path.
 */
import ipaddr from 'ipaddr.js';
import { SOCKADDR_SLOT } from './types.js';

const AF_INET = 2;
const AF_INET6 = 10;

/** Writes `ip`:`port` as a sockaddr into `out` at `off` (SOCKADDR_SLOT bytes, zero-filled first). */
export function writeSockaddr(out: Buffer, off: number, ip: string, port: number): void {
  out.fill(0, off, off + SOCKADDR_SLOT);
  const bytes = ipaddr.parse(ip).toByteArray();
  const v6 = bytes.length === 16;
  out.writeUInt16LE(v6 ? AF_INET6 : AF_INET, off);
  out.writeUInt16BE(port, off + 2);
  Buffer.from(bytes).copy(out, off + (v6 ? 8 : 4));
}

/** The 16 bytes of an IPv6 address in hex (no separators), as Buffer.toString('hex') of sin6_addr gives. */
export function ipv6Hex(ip: string): string {
  return Buffer.from(ipaddr.parse(ip).toByteArray()).toString('hex');
}
