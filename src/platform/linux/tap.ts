/**
 * A Linux TAP device over the native addon: IFF_TAP | IFF_NO_PI, optionally IFF_VNET_HDR, opened
 * non-blocking and close-on-exec, never persistent (it disappears with the process, even after kill -9).
 * Readiness comes from a uv_poll on Node's event loop; each wakeup drains the device in batches.
 */
import type { OffloadTap } from '../types.js';
import { native, PolledFd } from './native.js';

export class LinuxTap extends PolledFd implements OffloadTap {
  readonly name: string;
  readonly vnetHdr: boolean;

  /** Throws an Error with `code` = errno name (EPERM without CAP_NET_ADMIN, EBUSY when the name is taken...). */
  constructor(name: string, opts: { vnetHdr: boolean }) {
    const [fd, actual] = native().tapOpen(name, opts.vnetHdr, false);
    super(fd);
    this.name = actual;
    this.vnetHdr = opts.vnetHdr;
  }

  /** TUNSETOFFLOAD with TUN_F_* flags; returns 0 or -errno (the caller falls back and says so). */
  setOffload(flags: number): number {
    return native().tapSetOffload(this.fd, flags);
  }

  /** TUNSETVNETHDRSZ (24 for UDP-tunnel GSO writes); returns 0 or -errno. */
  setVnetHdrSize(size: number): number {
    return native().tapSetVnetHdrSize(this.fd, size);
  }

  readBatch(buf: Buffer, offsets: Uint32Array, maxLen: number, count: number, lens: Int32Array): number {
    return native().readBatch(this.fd, buf, offsets, maxLen, count, lens);
  }

  write(buf: Buffer, off: number, len: number): number {
    return native().writeFrame(this.fd, buf, off, len);
  }
}
