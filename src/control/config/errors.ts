/**
 * Errors of the control plane and CLI. Each has a stable `code` (scripts and tests match on it) and a
 * message that is one sentence a user can act on, with the limit or the offending value in it.
 * The dataplane never throws these: it counts drops instead (see dataplane/counters.ts).
 */
export type ErrorCode =
  | 'EUSAGE' // unknown option, missing value, malformed flag
  | 'ECONFIG' // a value out of range or inconsistent with another one
  | 'EPRIV' // missing privilege (CAP_NET_ADMIN)
  | 'EDENIED' // the running instance refused a change from this client (no CAP_NET_ADMIN over its netns)
  | 'EINUSE' // UDP port or device already in use
  | 'EHOST' // the host refused a change (ip link/addr/route failed)
  | 'ERUNTIME'; // anything that goes wrong after start

export class VxlanUserError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'VxlanUserError';
    this.code = code;
  }
  /** Exit status for the CLI: 2 for bad usage or refused configuration, 1 for runtime failures, 4 for a change the instance refused to this client (access.ts). */
  get exitCode(): number {
    return this.code === 'ERUNTIME' ? 1 : this.code === 'EDENIED' ? 4 : 2;
  }
}

export class UsageError extends VxlanUserError {
  constructor(message: string) {
    super('EUSAGE', message);
    this.name = 'UsageError';
  }
}

export class ConfigError extends VxlanUserError {
  constructor(message: string) {
    super('ECONFIG', message);
    this.name = 'ConfigError';
  }
}
