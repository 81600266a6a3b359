// Real frames captured with `tcpdump -xx -vv` on Linux 6.x, in throwaway network namespaces:
//
//   ns wa: veth va 02:00:00:00:0a:01  10.0.0.1/24  fd00::1/64
//   ns wb: veth vb 02:00:00:00:0b:01  10.0.0.2/24  fd00::2/64
//   (TX checksum offload switched off on both veths via ETHTOOL_STXCSUM, so every checksum below is
//   complete; tcpdump -vv reported each of them as correct / "udp sum ok".)
//   kernel VXLAN: vx0  id 42    dstport 4789 udpcsum, 02:42:c0:a8:64:0{1,2}, 192.168.100.{1,2}/24, over IPv4
//                 vx6  id 10001 dstport 4899 udpcsum, 02:42:c0:a8:65:0{1,2}, 192.168.101.{1,2}/24, over IPv6
//
// `ping -c1 192.168.100.2`, `ping -c1 -s 7 192.168.101.2`, `printf hello | socat - TCP4:10.0.0.2:5000`,
// `printf 'hello, ipv6' | socat - UDP6-SENDTO:[fd00::2]:5001`.
// Each constant is a whole Ethernet frame as captured (no FCS).

import { hex } from './helpers.js';

/** On vx0 (inner frame): who-has 192.168.100.2 tell 192.168.100.1, broadcast. 42 bytes. */
export const ARP_REQUEST = hex(`
  ffff ffff ffff 0242 c0a8 6401 0806 0001
  0800 0604 0001 0242 c0a8 6401 c0a8 6401
  0000 0000 0000 c0a8 6402`);

/** On vx0: 192.168.100.2 is-at 02:42:c0:a8:64:02, the kernel's answer to ARP_REQUEST. 42 bytes. */
export const ARP_REPLY = hex(`
  0242 c0a8 6401 0242 c0a8 6402 0806 0001
  0800 0604 0002 0242 c0a8 6402 c0a8 6402
  0242 c0a8 6401 c0a8 6401`);

/**
 * On vx0: ICMP echo request 192.168.100.1 > .2, id 0x10c2 seq 1, 56 data bytes, IP id 0x9d83, DF,
 * IP checksum 0x53d1, ICMP checksum 0xb82c. 98 bytes.
 */
export const ICMP_ECHO_REQUEST = hex(`
  0242 c0a8 6402 0242 c0a8 6401 0800 4500
  0054 9d83 4000 4001 53d1 c0a8 6401 c0a8
  6402 0800 b82c 10c2 0001 ff8e 026b 0000
  0000 6a43 0400 0000 0000 1011 1213 1415
  1617 1819 1a1b 1c1d 1e1f 2021 2223 2425
  2627 2829 2a2b 2c2d 2e2f 3031 3233 3435
  3637`);

/** On vx0: the echo reply to ICMP_ECHO_REQUEST, IP id 0xb43a, no DF, IP csum 0x7d1a, ICMP csum 0xc02c. */
export const ICMP_ECHO_REPLY = hex(`
  0242 c0a8 6401 0242 c0a8 6402 0800 4500
  0054 b43a 0000 4001 7d1a c0a8 6402 c0a8
  6401 0000 c02c 10c2 0001 ff8e 026b 0000
  0000 6a43 0400 0000 0000 1011 1213 1415
  1617 1819 1a1b 1c1d 1e1f 2021 2223 2425
  2627 2829 2a2b 2c2d 2e2f 3031 3233 3435
  3637`);

/**
 * On va (underlay): ARP_REQUEST encapsulated by the kernel. 10.0.0.1:49240 > 10.0.0.2:4789, IP id 0xa174,
 * IP csum 0xc528, UDP length 58, UDP csum 0x3930, VXLAN flags 0x08 VNI 42. 92 bytes.
 */
export const VXLAN4_ARP_REQUEST = hex(`
  0200 0000 0b01 0200 0000 0a01 0800 4500
  004e a174 0000 4011 c528 0a00 0001 0a00
  0002 c058 12b5 003a 3930 0800 0000 0000
  2a00 ffff ffff ffff 0242 c0a8 6401 0806
  0001 0800 0604 0001 0242 c0a8 6401 c0a8
  6401 0000 0000 0000 c0a8 6402`);

/** On va: ARP_REPLY encapsulated by the peer kernel. UDP csum 0xeb54. 92 bytes. */
export const VXLAN4_ARP_REPLY = hex(`
  0200 0000 0a01 0200 0000 0b01 0800 4500
  004e 63a5 0000 4011 02f8 0a00 0002 0a00
  0001 c058 12b5 003a eb54 0800 0000 0000
  2a00 0242 c0a8 6401 0242 c0a8 6402 0806
  0001 0800 0604 0002 0242 c0a8 6402 c0a8
  6402 0242 c0a8 6401 c0a8 6401`);

/** On va: ICMP_ECHO_REQUEST encapsulated. 10.0.0.1:58187 > 10.0.0.2:4789, UDP length 114, csum 0x6d2d. */
export const VXLAN4_ICMP = hex(`
  0200 0000 0b01 0200 0000 0a01 0800 4500
  0086 a175 0000 4011 c4ef 0a00 0001 0a00
  0002 e34b 12b5 0072 6d2d 0800 0000 0000
  2a00 0242 c0a8 6402 0242 c0a8 6401 0800
  4500 0054 9d83 4000 4001 53d1 c0a8 6401
  c0a8 6402 0800 b82c 10c2 0001 ff8e 026b
  0000 0000 6a43 0400 0000 0000 1011 1213
  1415 1617 1819 1a1b 1c1d 1e1f 2021 2223
  2425 2627 2829 2a2b 2c2d 2e2f 3031 3233
  3435 3637`);

/**
 * On va: VXLAN over IPv6, fd00::1:51702 > fd00::2:4899, VNI 10001, hop limit 64, UDP length 65 (odd),
 * UDP csum 0xb74d; inner: 7-byte ping 192.168.101.1 > .2 (IP csum 0x7469, ICMP csum 0xd980). 119 bytes.
 */
export const VXLAN6_ICMP = hex(`
  0200 0000 0b01 0200 0000 0a01 86dd 6000
  0000 0041 1140 fd00 0000 0000 0000 0000
  0000 0000 0001 fd00 0000 0000 0000 0000
  0000 0000 0002 c9f6 1323 0041 b74d 0800
  0000 0027 1100 0242 c0a8 6502 0242 c0a8
  6501 0800 4500 0023 7b1c 4000 4001 7469
  c0a8 6501 c0a8 6502 0800 d980 1275 0001
  0001 0203 0405 06`);

/** On va: VXLAN over IPv6, ARP request for 192.168.101.2, UDP length 58, UDP csum 0x6799. 112 bytes. */
export const VXLAN6_ARP_REQUEST = hex(`
  0200 0000 0b01 0200 0000 0a01 86dd 6000
  0000 003a 1140 fd00 0000 0000 0000 0000
  0000 0000 0001 fd00 0000 0000 0000 0000
  0000 0000 0002 c058 1323 003a 6799 0800
  0000 0027 1100 ffff ffff ffff 0242 c0a8
  6501 0806 0001 0800 0604 0001 0242 c0a8
  6501 c0a8 6501 0000 0000 0000 c0a8 6502`);

/**
 * On va: TCP SYN 10.0.0.1:32968 > 10.0.0.2:5000, seq 2114260845, win 64240, options mss 1460, sackOK,
 * TS val 1058280218 ecr 0, nop, wscale 10 (data offset 10). IP id 0x0bb2 DF, IP csum 0x1b08,
 * TCP csum 0xc518. 74 bytes.
 */
export const TCP4_SYN = hex(`
  0200 0000 0b01 0200 0000 0a01 0800 4500
  003c 0bb2 4000 4006 1b08 0a00 0001 0a00
  0002 80c8 1388 7e05 0f6d 0000 0000 a002
  faf0 c518 0000 0204 05b4 0402 080a 3f14
  131a 0000 0000 0103 030a`);

/**
 * On va: TCP [P.] carrying "hello" (5 bytes: an odd L4 length), seq 2114260846, ack 1195929921, win 63,
 * options nop nop TS. IP csum 0x1b09, TCP csum 0x282c. 71 bytes.
 */
export const TCP4_HELLO = hex(`
  0200 0000 0b01 0200 0000 0a01 0800 4500
  0039 0bb4 4000 4006 1b09 0a00 0001 0a00
  0002 80c8 1388 7e05 0f6e 4748 7141 8018
  003f 282c 0000 0101 080a 3f14 131a ff0a
  cae9 6865 6c6c 6f`);

/**
 * On va: UDP over IPv6, fd00::1:33651 > fd00::2:5001, flow label 0xebf78, payload "hello, ipv6"
 * (11 bytes: odd), UDP length 19, UDP csum 0x63e9. 73 bytes.
 */
export const UDP6_HELLO = hex(`
  0200 0000 0b01 0200 0000 0a01 86dd 600e
  bf78 0013 1140 fd00 0000 0000 0000 0000
  0000 0000 0001 fd00 0000 0000 0000 0000
  0000 0000 0002 8373 1389 0013 63e9 6865
  6c6c 6f2c 2069 7076 36`);

// Offsets within the frames above.
export const L3 = 14;
export const L4_V4 = 34;
export const L4_V6 = 54;
/** VXLAN header inside the VXLAN4_* frames (after outer Ethernet, IPv4, UDP). */
export const VX4 = 42;
/** VXLAN header inside the VXLAN6_* frames (after outer Ethernet, IPv6, UDP). */
export const VX6 = 62;
