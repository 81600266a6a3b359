/**
 * The rule for network tests (issue 2): they need root. Outside CI a non-root run skips them with a message;
 * in CI (CI=true) a skipped network test is a failure, so there they fail loudly instead.
 *
 * Usage in a test file:
 * ```ts
 * const gate = netTestGate();
 * describe.skipIf(gate.skip)('...', () => {
 *   beforeAll(() => gate.assert());
 *   ...
 * });
 * ```
 */
export interface NetTestGate {
  /** True only outside CI when not root: the suite may be skipped. */
  readonly skip: boolean;
  /** Why the suite cannot run as is (undefined when running as root). */
  readonly reason: string | undefined;
  /** Throws `reason` unless running as root. */
  assert(): void;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function netTestGate(): NetTestGate {
  const root = isRoot();
  const ci = process.env.CI === 'true';
  const reason = root
    ? undefined
    : ci
      ? 'network tests need root (they create network namespaces); CI=true, so they fail instead of skipping'
      : 'network tests need root (they create network namespaces): skipped; run as root to include them';
  if (!root && !ci) process.stderr.write(`${reason}\n`);
  return {
    skip: !root && !ci,
    reason,
    assert(): void {
      if (reason !== undefined) throw new Error(reason);
    },
  };
}
