/**
 * The portable UDP path over Node's `dgram`: one syscall and one JS callback per datagram. It exists for
 * teaching, for platforms without the addon's batch calls, and as a baseline; `--io dgram` selects it.
 *
 * Ownership: dgram may still be reading a buffer after send() returns, so each outgoing datagram is copied
 * into the next slot of a bounded ring that stays busy until dgram's callback. dgram completes sends in
 * order, so one shared callback frees the oldest slot. A full ring is a drop, never growth: reported in
 * sendBatch's result as dropped-because-full (the dataplane counts it as tx_sock_full), like a full socket
 * buffer on the native path. Received datagrams queue (bounded as well) until the dataplane drains them with
 * recvBatch; what finds that queue full is counted here (`rxQueueFull`), since no result reports it.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { QueuedUdpBind } from '../types.js';
import { SOCKADDR_SLOT } from '../types.js';
import { writeSockaddr } from '../sockaddr.js';

const RING_SLOTS = 512;
const RING_SLOT_SIZE = 65536;
const RX_QUEUE = 1024;

export class DgramUdpBind implements QueuedUdpBind {
  readonly family: 4 | 6;
  readonly localAddress: string;
  readonly localPort: number;
  readonly ioPath = 'dgram (portable, one syscall per datagram)';
  /** node:dgram has no per-send TOS and no IP_RECVTOS: outer ECN stays Not-ECT and is not read on receive. */
  readonly perPacketTos = false;
  readonly destinationSlots = 4096;
  /** Received datagrams dropped because the receive queue was full. */
  rxQueueFull = 0;

  private readonly sock: dgram.Socket;
  private readonly dests: ({ ip: string; port: number } | undefined)[] = [];
  private readonly ring = Buffer.allocUnsafe(RING_SLOTS * RING_SLOT_SIZE);
  private ringHead = 0;
  private inFlight = 0;
  private readonly onSent = (): void => {
    this.inFlight--;
  };
  private readonly rxMsgs: (Buffer | undefined)[] = new Array(RX_QUEUE);
  private readonly rxInfo: (dgram.RemoteInfo | undefined)[] = new Array(RX_QUEUE);
  private rxHead = 0;
  private rxLen = 0;
  private readableCb: (() => void) | undefined;
  private scheduled = false;
  private readonly fire = (): void => {
    this.scheduled = false;
    this.readableCb?.();
  };

  private constructor(sock: dgram.Socket, address: string, port: number) {
    this.sock = sock;
    this.localAddress = address;
    this.localPort = port;
    this.family = isIPv6(address) ? 6 : 4;
    sock.on('message', (msg, rinfo) => {
      if (this.rxLen === RX_QUEUE) {
        this.rxQueueFull++;
        return;
      }
      const i = (this.rxHead + this.rxLen) % RX_QUEUE;
      this.rxMsgs[i] = msg;
      this.rxInfo[i] = rinfo;
      this.rxLen++;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.fire);
      }
    });
  }

  /** Binds; rejects with an Error whose `code` is EADDRINUSE, EADDRNOTAVAIL... */
  static open(o: { address: string; port: number; device: string }): Promise<DgramUdpBind> {
    return new Promise((resolve, reject) => {
      // ipv6Only only on an IPv6 socket: on udp4 the IPV6_V6ONLY option makes bind() fail with EINVAL.
      const sock = isIPv6(o.address) ? dgram.createSocket({ type: 'udp6', ipv6Only: true }) : dgram.createSocket({ type: 'udp4' });
      const onError = (err: Error): void => {
        sock.close();
        reject(err);
      };
      sock.once('error', onError);
      sock.bind({ address: o.address, port: o.port, exclusive: true }, () => {
        sock.off('error', onError);
        sock.on('error', () => {
          /* per-datagram send errors reach the send callback; nothing else is expected */
        });
        try {
          sock.setRecvBufferSize(4 << 20);
          sock.setSendBufferSize(4 << 20);
        } catch {
          /* capped by net.core.*mem_max: keep the default */
        }
        resolve(new DgramUdpBind(sock, o.address, sock.address().port));
      });
    });
  }

  setDestination(slot: number, ip: string, port: number): void {
    this.dests[slot] = { ip, port };
  }

  recvBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array, addrs: Buffer, _gro?: Uint16Array, tos?: Uint8Array): number {
    if (tos !== undefined) throw new Error('the dgram fallback cannot read the outer TOS (no IP_RECVTOS in node:dgram)');
    let n = 0;
    while (n < count && this.rxLen > 0) {
      const msg = this.rxMsgs[this.rxHead]!;
      const info = this.rxInfo[this.rxHead]!;
      this.rxMsgs[this.rxHead] = undefined;
      this.rxInfo[this.rxHead] = undefined;
      this.rxHead = (this.rxHead + 1) % RX_QUEUE;
      this.rxLen--;
      if (msg.length > maxLen) lens[n] = -1;
      else {
        msg.copy(buf, offsets[n]!);
        lens[n] = msg.length;
      }
      writeSockaddr(addrs, n * SOCKADDR_SLOT, info.address, info.port);
      n++;
    }
    return n;
  }

  enableOffload(_what: 'gso' | 'gro'): boolean {
    return false;
  }

  /** No GSO here: callers never pass `gso` after enableOffload('gso') returned false. */
  sendBatch(buf: Buffer, offsets: Uint32Array, lens: Uint32Array, dest: Uint32Array, count: number, result: Int32Array, _gso?: Uint16Array, tos?: Uint8Array): number {
    if (tos !== undefined) throw new Error('the dgram fallback cannot set a per-datagram TOS (no IP_TOS control message in node:dgram)');
    let sent = 0;
    let full = 0;
    let refused = 0;
    for (let i = 0; i < count; i++) {
      const d = this.dests[dest[i]!];
      const len = lens[i]!;
      if (!d || len > RING_SLOT_SIZE) {
        refused++;
        continue;
      }
      if (this.inFlight === RING_SLOTS) {
        full++; // counted once, by the dataplane, from result[1]
        continue;
      }
      const at = this.ringHead * RING_SLOT_SIZE;
      this.ringHead = (this.ringHead + 1) % RING_SLOTS;
      buf.copy(this.ring, at, offsets[i]!, offsets[i]! + len);
      this.inFlight++;
      this.sock.send(this.ring, at, len, d.port, d.ip, this.onSent);
      sent++;
    }
    result[0] = sent;
    result[1] = full;
    result[2] = refused;
    result[3] = 0;
    return sent;
  }

  onReadable(cb: () => void): void {
    this.readableCb = cb;
  }

  close(): void {
    this.readableCb = undefined;
    try {
      this.sock.close();
    } catch {
      /* already closed */
    }
  }
}
