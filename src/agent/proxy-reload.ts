/**
 * Reloading the proxy after an installation: retried on failure, never fatal,
 * and never forgotten — the files are installed whether or not the proxy has
 * taken them yet.
 */
import type { RandomSource } from '../random/random-source.js';
import { describeError, retryNote, type SidecarCounters, type SidecarLogger } from './sidecar-deps.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './timing.js';

/** Reloading the proxy is local and cheap: retry it often, whatever the CA backoff policy says. */
const RELOAD_MAX_RETRY_MS = 30_000;

export class ProxyReload {
  private pending = false;
  private failures = 0;
  private retryAtMs = 0;

  constructor(
    /** undefined: nothing to reload, so an installation is taken as loaded at once, and no reload is counted. */
    private readonly reload: (() => Promise<void>) | undefined,
    private readonly random: RandomSource,
    private readonly log: SidecarLogger,
    private readonly counters: SidecarCounters,
    private readonly settings: { readonly backoff?: BackoffPolicy; readonly once?: boolean },
  ) {}

  /** Files were installed and the proxy has not yet reloaded them. */
  get isPending(): boolean {
    return this.pending;
  }

  /** A reload is pending and its last attempt failed. */
  get failing(): boolean {
    return this.pending && this.failures > 0;
  }

  /** When the next attempt is due, while one is pending. */
  get nextAttemptMs(): number | undefined {
    return this.pending ? this.retryAtMs : undefined;
  }

  /** New files are in place: reload at once, with a fresh backoff. */
  markPending(): void {
    this.pending = true;
    this.failures = 0;
    this.retryAtMs = 0;
  }

  /** True when the proxy was reloaded just now (or has nothing to reload, and so holds what was just installed). */
  async runIfDue(now: number): Promise<boolean> {
    if (!this.pending) return false;
    if (this.reload === undefined) {
      this.pending = false;
      return true;
    }
    // A retry further off than the longest wait was chosen before the clock was set back: due now, not after the step.
    if (now < this.retryAtMs && this.retryAtMs - now <= RELOAD_MAX_RETRY_MS) return false;
    try {
      await this.reload();
      this.pending = false;
      this.counters.reloads++;
      return true;
    } catch (err) {
      this.failures++;
      this.counters.reloadFailures++;
      this.retryAtMs = now + Math.min(backoffDelay(this.failures, this.settings.backoff ?? DEFAULT_BACKOFF, this.random), RELOAD_MAX_RETRY_MS);
      this.log.warn({ err: describeError(err), attempt: this.failures }, `reloading the proxy failed${retryNote(this.settings)}`);
      return false;
    }
  }
}
