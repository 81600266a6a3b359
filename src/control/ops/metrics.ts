/**
 * `--metrics ADDR:PORT`: Prometheus metrics over HTTP (GET /metrics), with prom-client.
 *
 * Nothing here is on the packet path: every value is read from the dataplane's counters and tables when a
 * scrape arrives (the metrics' collect() callbacks), so the cost between scrapes is zero. Names follow the
 * Prometheus conventions (`_total` counters, base units); the label values of `reason` are the canonical counter
 * names of dataplane/counters.ts, the same words `vxlan-user stats` prints.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { DROP_REASONS, type CounterName } from '../../dataplane/counters.js';
import { VxlanUserError } from '../config/errors.js';
import type { Runtime } from '../runtime/reload.js';
import type { Device } from '../runtime/instance.js';

export interface MetricsServer {
  /** `host:port` (IPv6 in brackets) where it listens. */
  readonly address: string;
  close(): void;
}

/**
 * Builds the registry of one instance. Exported for tests that read it without HTTP. A single-VNI process
 * labels every series with `device` (a default label); a `vnis:` process labels each device's series with
 * `device` and `vni`, and counts the datagrams that belong to no device in vxlan_user_socket_drops_total.
 */
export function buildRegistry(rt: Runtime): Registry {
  const reg = new Registry();
  const inst = rt.inst;
  const multi = inst.stray !== undefined;
  if (!multi) reg.setDefaultLabels({ device: inst.tapName });
  const perDevice: readonly string[] = multi ? ['device', 'vni'] : [];
  /** Calls `each` once per device with its labels and counters (live: a reload may add or remove devices). */
  const devices = (each: (labels: Record<string, string>, d: Device) => void): void => {
    for (const d of inst.devices) each(multi ? { device: d.tapName, vni: String(d.config.vni) } : {}, d);
  };

  // A counter whose value is owned by the dataplane: reset and set it from the snapshot at scrape time.
  const mirror = (name: string, help: string, labelNames: readonly string[], read: (set: (labels: Record<string, string>, d: Device, v: number) => void) => void): void => {
    new Counter({
      name,
      help,
      labelNames: [...labelNames, ...perDevice],
      registers: [reg],
      collect() {
        this.reset();
        read((labels, _d, v) => this.inc(labels, v));
      },
    });
  };
  /** A counter mirrored per device from one counter per label value. */
  const perDeviceCounter = (name: string, help: string, label: string | undefined, values: readonly (readonly [string, CounterName])[]): void =>
    mirror(name, help, label === undefined ? [] : [label], (set) =>
      devices((labels, d) => {
        for (const [value, counter] of values) set(label === undefined ? labels : { [label]: value, ...labels }, d, d.vtep.counters.get(counter));
      }),
    );
  const gauge = (name: string, help: string, read: (d: Device) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: perDevice,
      registers: [reg],
      collect() {
        this.reset();
        devices((labels, d) => this.set(labels, read(d)));
      },
    });
  };

  perDeviceCounter('vxlan_user_packets_total', 'Packets delivered: tx = VXLAN datagrams sent to the underlay, rx = inner frames written to the TAP.', 'direction', [['tx', 'tx_packets'], ['rx', 'rx_packets']]);
  perDeviceCounter('vxlan_user_bytes_total', 'Bytes delivered: tx = UDP payload bytes sent, rx = inner frame bytes written to the TAP.', 'direction', [['tx', 'tx_bytes'], ['rx', 'rx_bytes']]);
  perDeviceCounter('vxlan_user_input_total', 'Inputs taken in: tx = frames read from the TAP, rx = datagrams received on the VXLAN socket.', 'direction', [['tx', 'tx_frames'], ['rx', 'rx_datagrams']]);
  perDeviceCounter('vxlan_user_drops_total', 'Frames and datagrams dropped, by reason (the canonical counter names).', 'reason', DROP_REASONS.map((r) => [r, r] as const));
  perDeviceCounter('vxlan_user_flood_frames_total', 'Frames sent to the default destinations (broadcast, multicast, unknown unicast).', undefined, [['', 'tx_flood_frames']]);
  perDeviceCounter('vxlan_user_flood_copies_total', 'Datagrams produced by flooding (head-end replication: one per default destination).', undefined, [['', 'tx_flood_copies']]);
  perDeviceCounter('vxlan_user_arp_proxied_total', 'ARP requests answered locally from the static neighbour table.', undefined, [['', 'arp_proxied']]);
  perDeviceCounter('vxlan_user_ndp_proxied_total', 'IPv6 neighbour solicitations answered locally from the static neighbour table.', undefined, [['', 'ndp_proxied']]);
  const stray = inst.stray;
  if (stray !== undefined) {
    new Counter({
      name: 'vxlan_user_socket_drops_total',
      help: 'Datagrams that belong to no device of this process (an unknown VNI, a bad header), by reason.',
      labelNames: ['reason'],
      registers: [reg],
      collect() {
        this.reset();
        for (const r of DROP_REASONS) this.inc({ reason: r }, stray.get(r));
      },
    });
  }

  gauge('vxlan_user_fdb_entries', 'FDB entries (MACs), the default-destination entry included.', (d) => d.vtep.fdb.size);
  gauge('vxlan_user_fdb_remotes', 'Remotes over all FDB entries.', (d) => d.vtep.fdb.all().reduce((n, e) => n + e.remotes.length, 0));
  gauge('vxlan_user_default_destinations', 'Default destinations (remotes of the all-zeros entry).', (d) => d.vtep.fdb.defaults?.remotes.length ?? 0);
  gauge('vxlan_user_fdb_learned_entries', 'FDB entries learned from traffic (0 while learning is off: every entry is static).', (d) => d.vtep.fdb.all().filter((e) => !e.static).length);
  gauge('vxlan_user_neighbours', 'Static neighbours answered by proxy-ARP.', (d) => d.vtep.neigh.size);
  gauge('vxlan_user_routes', 'Routes installed through the device.', (d) => d.routes.size);
  new Gauge({
    name: 'vxlan_user_uptime_seconds',
    help: 'Seconds since the instance became ready.',
    registers: [reg],
    collect() {
      this.set((Date.now() - inst.startedAt) / 1000);
    },
  });
  // etcd mode (control/flannel/): membership is read when a scrape arrives, like everything else here.
  const etcd = rt.membership;
  if (etcd) {
    // etcd mode runs one device: these are process-wide.
    const processGauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers: [reg], collect() { this.set(read()); } });
    };
    processGauge('vxlan_user_etcd_reachable', '1 while etcd answers, 0 while it does not (forwarding goes on with the last known state).', () => (etcd().reachable ? 1 : 0));
    processGauge('vxlan_user_etcd_leases', 'Remote subnet leases programmed (neighbour, FDB entry, route each).', () => etcd().leases.length);
    processGauge('vxlan_user_etcd_skipped_entries', 'Bad entries in etcd skipped so far (each distinct bad value once).', () => etcd().skipped);
    processGauge('vxlan_user_etcd_relists', 'Full re-lists after a broken watch (an outage, a compaction).', () => etcd().resyncs);
  }
  new Counter({
    name: 'vxlan_user_reloads_total',
    help: 'Accepted configuration reloads.',
    registers: [reg],
    collect() {
      this.reset();
      this.inc(rt.reloads);
    },
  });
  new Gauge({
    name: 'vxlan_user_info',
    help: 'Constant 1, labelled with the instance configuration.',
    labelNames: ['vni', 'dstport', 'io_path', 'tx_path', ...(multi ? ['device'] : [])],
    registers: [reg],
    collect() {
      this.reset();
      for (const d of inst.devices)
        this.set({ vni: String(d.config.vni), dstport: String(inst.localPort), io_path: inst.ioPath, tx_path: inst.txPath, ...(multi ? { device: d.tapName } : {}) }, 1);
    },
  });
  collectDefaultMetrics({ register: reg, prefix: 'vxlan_user_' });
  return reg;
}

/** Starts the HTTP endpoint; rejects with a VxlanUserError (exit 2) when the address cannot be bound. */
export async function startMetricsServer(rt: Runtime, host: string, port: number): Promise<MetricsServer> {
  const reg = buildRegistry(rt);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('vxlan-user: metrics are at /metrics\n');
      return;
    }
    reg.metrics().then(
      (body) => res.writeHead(200, { 'content-type': reg.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'EADDRINUSE' ? 'the port is already in use' : e.code === 'EADDRNOTAVAIL' ? 'not an address of this host' : e.message;
      reject(new VxlanUserError(e.code === 'EADDRINUSE' ? 'EINUSE' : 'ECONFIG', `--metrics ${host}:${port}: cannot listen: ${why}`));
    });
    server.listen(port, host, () => resolve());
  });
  // Scrapers must never keep the process alive on their own, nor make a stop wait for them.
  server.unref();
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  return {
    address: host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`,
    close(): void {
      server.closeAllConnections();
      server.close();
    },
  };
}
