/**
 * Proxy-ARP: ARP requests for an address in the static neighbour table are answered on the TAP by vxlan-user
 * itself and never leave the host — the userspace twin of the kernel's vxlan `proxy` option with permanent
 * neighbours (`arp -s IP MAC` / `ip neigh add ... nud permanent`). Requests for other addresses are not ours
 * to answer: they are forwarded like any broadcast (flooded to the default destinations).
 */
import { ETH_HLEN } from '../wire/ethernet.js';
import { macRead, macWrite } from '../wire/mac.js';
import { ARP_LEN, ARP_OP_REQUEST, arpCheck, arpOp, arpSenderIp, arpTargetIp, arpWriteReply, ARP_SHA } from '../wire/arp.js';

/** An Ethernet frame carrying an ARP reply, without padding. */
export const ARP_FRAME_LEN = ETH_HLEN + ARP_LEN;

/**
 * If the frame at `fo` is an ARP request for an IPv4 address in `neigh`, rewrites it in place into the reply
 * (Ethernet and ARP) and returns true; the caller writes ARP_FRAME_LEN bytes back to the TAP.
 */
export function answerArp(buf: Buffer, fo: number, flen: number, neigh: ReadonlyMap<number, number>): boolean {
  const ao = fo + ETH_HLEN;
  if (flen < ARP_FRAME_LEN || arpCheck(buf, ao, flen - ETH_HLEN) !== 0) return false;
  if (arpOp(buf, ao) !== ARP_OP_REQUEST) return false;
  const targetIp = arpTargetIp(buf, ao);
  const senderIp = arpSenderIp(buf, ao);
  // A gratuitous ARP (sender = target) announces, it does not ask.
  if (targetIp === senderIp) return false;
  const mac = neigh.get(targetIp);
  if (mac === undefined) return false;
  const requester = macRead(buf, ao + ARP_SHA);
  macWrite(buf, fo, requester); // Ethernet destination: the asker
  macWrite(buf, fo + 6, mac); // Ethernet source: the neighbour we answer for
  arpWriteReply(buf, ao, mac, targetIp, requester, senderIp);
  return true;
}
