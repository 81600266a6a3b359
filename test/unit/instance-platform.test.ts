// The runtime opens devices and sockets only through the Platform it is given (src/cli/up.ts passes the Linux
// one): a refusal from it becomes the runtime's one-sentence error, and what was opened before is closed.
import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../src/control/config/config.js';
import { startInstance } from '../../src/control/runtime/instance.js';
import { FakeTap, FakeUdpBind } from '../../src/platform/fake/fake.js';
import type { OffloadTap, Platform, TunableUdpBind } from '../../src/platform/types.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN } from '../../src/wire/virtio-net.js';
import { native } from '../../src/platform/linux/native.js';

const errno = (code: string): Error => Object.assign(new Error(code), { code });
// A name no device of this namespace has (the runtime checks that first, read-only).
const NAME = `vxut-${process.pid % 100000}-pf`;
const config = (...extra: string[]) => parseUpArgs(['--vni', '42', '--name', NAME, '--remote', '192.0.2.1', ...extra]).config!;

function recordingPlatform(fail: { tap?: string; udp?: string }) {
  const calls: string[] = [];
  let closed = 0;
  const platform: Platform = {
    openTap(name) {
      calls.push(`tap ${name}`);
      if (fail.tap) throw errno(fail.tap);
      const tap = new FakeTap(name) as FakeTap & OffloadTap;
      return Object.assign(tap, { setOffload: () => 0, setVnetHdrSize: () => 0, close: () => void closed++ });
    },
    openUdp(o) {
      calls.push(`udp ${o.address}:${o.port}`);
      if (fail.udp) throw errno(fail.udp);
      return Object.assign(new FakeUdpBind(o.address, o.port), { setIpOption: () => 0 }) as TunableUdpBind;
    },
    async openDgramUdp(o) {
      calls.push(`dgram ${o.address}:${o.port}`);
      throw errno(fail.udp ?? 'EACCES');
    },
  };
  return { platform, calls, closed: () => closed };
}

describe('startInstance opens through the Platform it is given', () => {
  it('a TAP refused with EPERM is the runtime\'s sentence, and no socket is opened', async () => {
    const p = recordingPlatform({ tap: 'EPERM' });
    await expect(startInstance(config(), () => {}, p.platform)).rejects.toThrow(
      `cannot create TAP device ${NAME}: permission denied; vxlan-user up needs root or CAP_NET_ADMIN`,
    );
    expect(p.calls).toEqual([`tap ${NAME}`]);
  });

  it('a UDP port in use is refused after the TAP opened, and the TAP is closed again (undo)', async () => {
    const p = recordingPlatform({ udp: 'EADDRINUSE' });
    await expect(startInstance(config(), () => {}, p.platform)).rejects.toThrow('UDP port 4789 on 0.0.0.0 is already in use');
    expect(p.calls).toEqual([`tap ${NAME}`, 'udp 0.0.0.0:4789']);
    expect(p.closed()).toBe(1);
  });

  it('--io dgram asks for the fallback socket, not the native one', async () => {
    const p = recordingPlatform({ udp: 'EACCES' });
    await expect(startInstance(config('--io', 'dgram'), () => {}, p.platform)).rejects.toThrow('cannot bind UDP port 4789: permission denied');
    expect(p.calls).toEqual([`tap ${NAME}`, 'dgram 0.0.0.0:4789']);
  });

  it("the TUNSETOFFLOAD flags the runtime asks for are the kernel's (src/wire/virtio-net.ts = linux/if_tun.h via the addon)", () => {
    const c = native().constants;
    expect([TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN]).toEqual([c.TUN_F_CSUM, c.TUN_F_TSO4, c.TUN_F_TSO6, c.TUN_F_TSO_ECN]);
  });
});
