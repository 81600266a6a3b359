/**
 * The etcd v3 client (the `etcd3` npm package over gRPC), set up for a control plane that may blink while the
 * dataplane must not:
 *
 *   - the `etcd3` defaults are too slow to come back: a host is shunned for 5 s after 3 failures and a watch
 *     reconnects after up to 30 s; gRPC's own channel backoff grows to 120 s. Each is capped at about 1 s here,
 *     so watch and keepalives are back within 2 s of etcd returning (issue 11);
 *   - every unary call has a deadline (ETCD_CALL_TIMEOUT_MS), so an unreachable etcd fails a call instead of
 *     hanging it; streams (watch, keepalive) have none.
 *
 * TLS (--etcd-cafile/--etcd-certfile/--etcd-keyfile) and password auth (--etcd-username/--etcd-password) map to
 * the client's credentials and auth options.
 */
import { readFileSync } from 'node:fs';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { VxlanUserError } from '../config/errors.js';

/** How long one unary etcd call may take before it counts as a failure. */
export const ETCD_CALL_TIMEOUT_MS = 2_000;
/** The longest pause between two reconnection attempts (watch stream, gRPC channel, a shunned host). */
export const ETCD_RETRY_CAP_MS = 1_000;

export interface EtcdOptions {
  readonly endpoints: readonly string[];
  readonly cafile?: string;
  readonly certfile?: string;
  readonly keyfile?: string;
  readonly username?: string;
  readonly password?: string;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new VxlanUserError('ECONFIG', `${flag} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function createEtcdClient(o: EtcdOptions): Etcd3 {
  const opts: IOptions = {
    hosts: [...o.endpoints],
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': ETCD_RETRY_CAP_MS,
      // A dead etcd behind a live TCP path (a blackholed endpoint) is found by keepalive pings.
      'grpc.keepalive_time_ms': 5_000,
      'grpc.keepalive_timeout_ms': 2_000,
    },
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: ETCD_RETRY_CAP_MS / 2, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 2 }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: ETCD_RETRY_CAP_MS }) as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'],
    },
  };
  if (o.cafile !== undefined || o.certfile !== undefined || o.keyfile !== undefined) {
    if ((o.certfile === undefined) !== (o.keyfile === undefined))
      throw new VxlanUserError('ECONFIG', '--etcd-certfile and --etcd-keyfile go together: a client certificate needs its key');
    if (o.cafile === undefined) throw new VxlanUserError('ECONFIG', '--etcd-certfile needs --etcd-cafile: the CA that signed the etcd server certificate');
    opts.credentials = {
      rootCertificate: readPem(o.cafile, '--etcd-cafile'),
      ...(o.keyfile !== undefined ? { privateKey: readPem(o.keyfile, '--etcd-keyfile') } : {}),
      ...(o.certfile !== undefined ? { certChain: readPem(o.certfile, '--etcd-certfile') } : {}),
    };
    for (const e of o.endpoints) if (!e.startsWith('https://')) throw new VxlanUserError('ECONFIG', `--etcd-endpoints ${e}: with --etcd-cafile every endpoint must be https://`);
  }
  if (o.username !== undefined || o.password !== undefined) {
    if (o.username === undefined || o.password === undefined) throw new VxlanUserError('ECONFIG', '--etcd-username and --etcd-password go together');
    opts.auth = { username: o.username, password: o.password };
  }
  return new Etcd3(opts);
}

/** A one-line description of an etcd failure for the log (gRPC's messages carry a code and a detail). */
export function etcdErrorText(e: unknown): string {
  const m = (e as Error)?.message ?? String(e);
  return m.split('\n')[0]!.slice(0, 200);
}
