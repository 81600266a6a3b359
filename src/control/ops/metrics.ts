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

export interface MetricsServer {
  /** `host:port` (IPv6 in brackets) where it listens. */
  readonly address: string;
  close(): void;
}

/** Builds the registry of one instance. Exported for tests that read it without HTTP. */
export function buildRegistry(rt: Runtime): Registry {
  const reg = new Registry();
  reg.setDefaultLabels({ device: rt.inst.tapName });
  const vtep = rt.inst.vtep;
  const get = (n: CounterName): number => vtep.counters.get(n);

  // A counter whose value is owned by the dataplane: reset and set it from the snapshot at scrape time.
  const mirror = <L extends string>(name: string, help: string, labelNames: readonly L[], read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void): void => {
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [reg],
      collect() {
        this.set(read());
      },
    });
  };

  mirror('vxlan_user_packets_total', 'Packets delivered: tx = VXLAN datagrams sent to the underlay, rx = inner frames written to the TAP.', ['direction'], (set) => {
    set({ direction: 'tx' }, get('tx_packets'));
    set({ direction: 'rx' }, get('rx_packets'));
  });
  mirror('vxlan_user_bytes_total', 'Bytes delivered: tx = UDP payload bytes sent, rx = inner frame bytes written to the TAP.', ['direction'], (set) => {
    set({ direction: 'tx' }, get('tx_bytes'));
    set({ direction: 'rx' }, get('rx_bytes'));
  });
  mirror('vxlan_user_input_total', 'Inputs taken in: tx = frames read from the TAP, rx = datagrams received on the VXLAN socket.', ['direction'], (set) => {
    set({ direction: 'tx' }, get('tx_frames'));
    set({ direction: 'rx' }, get('rx_datagrams'));
  });
  mirror('vxlan_user_drops_total', 'Frames and datagrams dropped, by reason (the canonical counter names).', ['reason'], (set) => {
    for (const r of DROP_REASONS) set({ reason: r }, get(r));
  });
  mirror('vxlan_user_flood_frames_total', 'Frames sent to the default destinations (broadcast, multicast, unknown unicast).', [], (set) => set({}, get('tx_flood_frames')));
  mirror('vxlan_user_flood_copies_total', 'Datagrams produced by flooding (head-end replication: one per default destination).', [], (set) => set({}, get('tx_flood_copies')));
  mirror('vxlan_user_arp_proxied_total', 'ARP requests answered locally from the static neighbour table.', [], (set) => set({}, get('arp_proxied')));
  mirror('vxlan_user_ndp_proxied_total', 'IPv6 neighbour solicitations answered locally from the static neighbour table.', [], (set) => set({}, get('ndp_proxied')));

  gauge('vxlan_user_fdb_entries', 'FDB entries (MACs), the default-destination entry included.', () => vtep.fdb.size);
  gauge('vxlan_user_fdb_remotes', 'Remotes over all FDB entries.', () => vtep.fdb.all().reduce((n, e) => n + e.remotes.length, 0));
  gauge('vxlan_user_default_destinations', 'Default destinations (remotes of the all-zeros entry).', () => vtep.fdb.defaults?.remotes.length ?? 0);
  gauge('vxlan_user_fdb_learned_entries', 'FDB entries learned from traffic (0 while learning is off: every entry is static).', () => vtep.fdb.all().filter((e) => !e.static).length);
  gauge('vxlan_user_neighbours', 'Static neighbours answered by proxy-ARP.', () => vtep.neigh.size);
  gauge('vxlan_user_routes', 'Routes installed through the device.', () => rt.inst.routes.size);
  gauge('vxlan_user_uptime_seconds', 'Seconds since the instance became ready.', () => (Date.now() - rt.inst.startedAt) / 1000);
  // etcd mode (control/flannel/): membership is read when a scrape arrives, like everything else here.
  const etcd = rt.membership;
  if (etcd) {
    gauge('vxlan_user_etcd_reachable', '1 while etcd answers, 0 while it does not (forwarding goes on with the last known state).', () => (etcd().reachable ? 1 : 0));
    gauge('vxlan_user_etcd_leases', 'Remote subnet leases programmed (neighbour, FDB entry, route each).', () => etcd().leases.length);
    gauge('vxlan_user_etcd_skipped_entries', 'Bad entries in etcd skipped so far (each distinct bad value once).', () => etcd().skipped);
    gauge('vxlan_user_etcd_relists', 'Full re-lists after a broken watch (an outage, a compaction).', () => etcd().resyncs);
  }
  mirror('vxlan_user_reloads_total', 'Accepted configuration reloads.', [], (set) => set({}, rt.reloads));
  new Gauge({
    name: 'vxlan_user_info',
    help: 'Constant 1, labelled with the instance configuration.',
    labelNames: ['vni', 'dstport', 'io_path', 'tx_path'],
    registers: [reg],
    collect() {
      this.reset();
      this.set({ vni: String(rt.config.vni), dstport: String(rt.inst.localPort), io_path: rt.inst.ioPath, tx_path: rt.inst.txPath }, 1);
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
