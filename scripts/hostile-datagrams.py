#!/usr/bin/python3
# Hostile VXLAN datagrams from a tool we did not write: scapy's fuzz() (python3-scapy from Debian; run with
# /usr/bin/python3). Sends COUNT UDP datagrams to HOST:PORT as fast as the socket takes them, and prints one
# JSON line: {"sent": N, "templates": T, "seconds": S}.
#
# scapy builds ~200 packets/s here, far too slow for 10^6, so it builds TEMPLATES distinct datagrams once
# (fuzz() over VXLAN / Ethernet / IPv4 / IPv6 / TCP / UDP / ARP / neighbour solicitation / 802.1Q, plus byte
# mutations of the real captured datagrams in --capture, a pcap), and each send takes a random template and
# flips 0-3 random bytes of it; 10 % of the sends are truncated to a random length.
import argparse, json, random, socket, sys, time
from scapy.all import Ether, IP, IPv6, TCP, UDP, ARP, Dot1Q, ICMPv6ND_NS, fuzz, raw, rdpcap, conf
from scapy.layers.vxlan import VXLAN

conf.verb = 0
p = argparse.ArgumentParser()
p.add_argument('--host', required=True)
p.add_argument('--port', type=int, required=True)
p.add_argument('--vni', type=int, required=True)
p.add_argument('--count', type=int, default=1_000_000)
p.add_argument('--templates', type=int, default=3000)
p.add_argument('--capture', help='pcap of real VXLAN datagrams (Ethernet/IP/UDP) to mutate')
p.add_argument('--seed', type=int, default=1)
a = p.parse_args()
random.seed(a.seed)

good = lambda: VXLAN(flags=0x08, vni=a.vni)
kinds = [
    lambda: good() / fuzz(Ether() / IP() / TCP()),
    lambda: good() / fuzz(Ether() / IP() / UDP()),
    lambda: good() / fuzz(Ether() / ARP(pdst='179.17.1.21')),
    lambda: good() / fuzz(Ether() / IPv6() / ICMPv6ND_NS()),
    lambda: good() / fuzz(Ether() / Dot1Q() / IP() / UDP()),
    lambda: good() / Ether(src='02:00:00:00:00:99') / fuzz(IPv6() / TCP()),
    lambda: fuzz(VXLAN()) / fuzz(Ether() / IP() / UDP()),
    lambda: fuzz(VXLAN()) / Ether() / IP() / TCP(),
]
templates = [raw(kinds[i % len(kinds)]()) for i in range(a.templates)]
real = []
if a.capture:
    for pkt in rdpcap(a.capture):
        if UDP in pkt:
            real.append(raw(pkt[UDP].payload))
templates += real * max(1, a.templates // max(1, 4 * len(real))) if real else []

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
dst = (a.host, a.port)
rnd = random.random
rint = random.randrange
n = len(templates)
t0 = time.time()
sent = 0
for i in range(a.count):
    b = bytearray(templates[rint(n)])
    for _ in range(rint(4)):
        if b:
            b[rint(len(b))] = rint(256)
    if rnd() < 0.1:
        b = b[: rint(len(b) + 1)]
    try:
        s.sendto(b, dst)
        sent += 1
    except (BlockingIOError, OSError):
        pass  # a full socket buffer or an ICMP error: the datagram did not leave, it is not counted
    if i % 4096 == 0:
        time.sleep(0)  # let the receiver's CPU share through on a busy machine
print(json.dumps({"sent": sent, "templates": n, "real": len(real), "seconds": round(time.time() - t0, 1)}), flush=True)
