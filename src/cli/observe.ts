/**
 * `--trace` and `--pcap FILE` for `vxlan-user up`: builds the packet observers for a started instance and
 * installs them on its Vtep (vtep.observer). Without either flag nothing is installed and the dataplane
 * pays one field read per packet.
 */
import { readFileSync } from 'node:fs';
import type { UpConfig } from '../control/config/config-types.js';
import { ConfigError } from '../control/config/errors.js';
import { deviceOfAddress } from '../control/runtime/host.js';
import type { Device, Instance, Logger } from '../control/runtime/instance.js';
import { PcapWriter } from '../dataplane/pcap.js';
import { combineObservers, TracePrinter, TRACE_BURST, TRACE_RATE_PER_S } from '../dataplane/trace.js';
import type { PacketObserver } from '../dataplane/vtep.js';
import { macParse } from '../wire/mac.js';
import { VXLAN_PORT_IANA } from '../wire/vxlan.js';

/** The port to give tshark's `-d udp.port==P,vxlan` (it decodes only 4789 as VXLAN by itself). */
export function tsharkHint(file: string, port: number): string {
  return port === VXLAN_PORT_IANA ? `tshark -r ${file}` : `tshark -r ${file} -d udp.port==${port},vxlan`;
}

/**
 * Ethernet addresses of underlay IPs, for the synthesised outer headers: ours from sysfs, peers' from the
 * kernel's ARP cache (/proc/net/arp). A miss is retried at most every 50 ms (the first datagram to a peer
 * is often what makes the kernel resolve it, so its own outer frame may show zeros).
 */
function underlayMacs(localIp: string): (ip: string) => number | undefined {
  const known = new Map<string, number>();
  let lastRead = 0;
  const dev = deviceOfAddress(localIp)?.ifname;
  if (dev !== undefined) {
    try {
      const m = macParse(readFileSync(`/sys/class/net/${dev}/address`, 'utf8').trim());
      if (m !== undefined) known.set(localIp, m);
    } catch {
      // No sysfs view of it: zeros.
    }
  }
  return (ip) => {
    const m = known.get(ip);
    if (m !== undefined) return m;
    const now = Date.now();
    if (now - lastRead < 50) return undefined;
    lastRead = now;
    try {
      for (const line of readFileSync('/proc/net/arp', 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        const mac = f[3] !== undefined ? macParse(f[3]) : undefined;
        if (f[0] !== undefined && mac !== undefined && mac !== 0) known.set(f[0], mac);
      }
    } catch {
      // Not Linux-like: zeros.
    }
    return known.get(ip);
  };
}

/** Installs the observers the config asks for; returns what closes them (flushes the pcap file). */
export function installObservers(inst: Instance, cfg: UpConfig, log: Logger): () => void {
  const closers: (() => void)[] = [];
  const localIp = inst.localAddress;
  const perDevice = new Map<Device, PacketObserver[]>(inst.devices.map((d) => [d, []]));
  if (cfg.trace === true) {
    // One printer per device: each line names its device's VNI; a device a reload adds gets its own.
    const printer = (d: Device): TracePrinter =>
      new TracePrinter({ vni: d.config.vni, tapName: d.tapName, localIp, localPort: inst.localPort }, (line) => process.stderr.write(`${line}\n`));
    for (const [d, list] of perDevice) list.push(printer(d));
    inst.observeNewDevices(printer);
    // A vnis: process: the datagrams no device takes are the socket's, and its printer names every VNI.
    if (inst.stray !== undefined)
      inst.observeStrays(
        new TracePrinter(
          { vni: cfg.vni, tapName: 'socket', localIp, localPort: inst.localPort, ourVnis: () => inst.devices.map((d) => d.config.vni) },
          (line) => process.stderr.write(`${line}\n`),
        ),
      );
    log(`--trace: one line per packet on stderr, at most ${TRACE_RATE_PER_S}/s after a burst of ${TRACE_BURST}`);
  }
  if (cfg.pcap !== undefined) {
    let opened: ReturnType<typeof PcapWriter.open>;
    try {
      opened = PcapWriter.open(cfg.pcap, {
      vni: cfg.vni,
      tapName: inst.tapName,
      localIp,
      localPort: inst.localPort,
      underlayName: deviceOfAddress(localIp)?.ifname ?? 'underlay',
      macOf: underlayMacs(localIp),
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ConfigError(`cannot write --pcap ${cfg.pcap}: ${err.code === 'ENOENT' ? 'no such directory' : err.code === 'EACCES' ? 'permission denied' : err.message}`);
    }
    const { writer, close } = opened;
    closers.push(close);
    // The pcap file has one TAP interface: the first device's (config refuses --pcap with several devices).
    perDevice.get(inst.devices[0]!)!.push(writer);
    log(`--pcap: writing pcapng to ${cfg.pcap}; read it with: ${tsharkHint(cfg.pcap, cfg.dstport)}`);
  }
  for (const [d, list] of perDevice) d.vtep.observer = combineObservers(list);
  return () => {
    for (const d of inst.devices) d.vtep.observer = undefined;
    inst.observeStrays(undefined);
    inst.observeNewDevices(undefined);
    for (const c of closers) c();
  };
}
