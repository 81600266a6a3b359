// The send queue (src/dataplane/send-queue.ts): entries from several sockets (--srcport, --df inherit) go out
// in one sendmmsg per socket, each socket's entries in queue order; the counters count every datagram once.
import { describe, expect, it } from 'vitest';
import { C } from '../../src/dataplane/counters.js';
import { SendQueue } from '../../src/dataplane/send-queue.js';
import { FakeUdpBind } from '../../src/platform/fake/fake.js';

/** A fake socket that also records how many sendBatch calls it saw. */
class CountingUdp extends FakeUdpBind {
  calls = 0;
  override sendBatch(...a: Parameters<FakeUdpBind['sendBatch']>): number {
    this.calls++;
    return super.sendBatch(...a);
  }
}

function rig(): { q: SendQueue; a: CountingUdp; b: CountingUdp; v: Float64Array; buf: Buffer } {
  const v = new Float64Array(64);
  const a = new CountingUdp('192.0.2.1', 40000);
  const b = new CountingUdp('192.0.2.1', 40001);
  for (const s of [a, b]) s.setDestination(0, '192.0.2.9', 4789);
  const q = new SendQueue({ stageBytes: 1 << 16, udp: a, udpGso: false, counters: v });
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < 8; i++) buf.fill(i + 1, i * 100, i * 100 + 50);
  return { q, a, b, v, buf };
}

describe('SendQueue with several sockets', () => {
  it('sends interleaved flows in one call per socket, each socket in queue order', () => {
    const { q, a, b, v, buf } = rig();
    // a b a b a b a b: eight datagrams, two sockets.
    for (let i = 0; i < 8; i++) {
      q.via = i % 2 === 0 ? a : b;
      q.queue(buf, i * 100, 50, 0, 0, 1, 0);
    }
    q.flush();
    expect(a.calls).toBe(1);
    expect(b.calls).toBe(1);
    expect(a.sent.map((d) => d.data[0])).toEqual([1, 3, 5, 7]);
    expect(b.sent.map((d) => d.data[0])).toEqual([2, 4, 6, 8]);
    expect(v[C.tx_packets]).toBe(8);
    expect(v[C.tx_bytes]).toBe(400);
  });

  it('one socket: one call, as before', () => {
    const { q, a, b, buf } = rig();
    q.via = b;
    for (let i = 0; i < 4; i++) q.queue(buf, i * 100, 50, 0, 0, 1, 0);
    q.flush();
    expect([a.calls, b.calls]).toEqual([0, 1]);
    expect(b.sent).toHaveLength(4);
  });

  it('a full socket buffer counts that socket\'s datagrams as tx_sock_full, the others as sent', () => {
    const { q, a, b, v, buf } = rig();
    b.failNextFull = 4;
    for (let i = 0; i < 8; i++) {
      q.via = i % 2 === 0 ? a : b;
      q.queue(buf, i * 100, 50, 0, 0, 1, 0);
    }
    q.flush();
    expect(v[C.tx_packets]).toBe(4);
    expect(v[C.tx_sock_full]).toBe(4);
    expect(a.sent).toHaveLength(4);
  });
});
