/** What the control plane tells its supervisor; no-op methods when there is none. */
export interface Notifier {
  /** READY=1, with a new STATUS= line when given (else systemd keeps the last one). */
  ready(status?: string): void;
  reloading(): void;
  stopping(): void;
}
