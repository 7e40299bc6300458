/**
 * What the reconcile loop is given — its collaborators, its settings — and the
 * few shapes every part of it shares. Kept apart from sidecar.ts so that the
 * parts can import these without importing the loop that composes them.
 */
import type { Clock } from '../time/clock.js';
import type { KeyType } from '../x509/keys.js';
import type { RandomSource } from '../random/random-source.js';
import type { CaApi } from './ca-api.js';
import type { PublishedFile } from './installer.js';
import type { StateStore } from './state-store.js';
import type { BackoffPolicy } from './timing.js';

export interface SidecarLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SidecarDeps {
  readonly client: CaApi;
  readonly publish: (files: readonly PublishedFile[]) => Promise<unknown>;
  /** What the last publication left in --out (a previous run's, at start), if anything. */
  readonly readPublished?: (() => Promise<readonly PublishedFile[] | undefined>) | undefined;
  /**
   * What --out no longer holds of the last publication (or of the files kept
   * from it at start), each naming the file (installed-files.ts); without it,
   * --out is not looked at after a publication.
   */
  readonly checkPublished?: (() => Promise<readonly string[]>) | undefined;
  /** Reloads the proxy; undefined when there is nothing to reload (no --reload-cmd or --pid-file: the proxy watches the files, as Envoy does, or is restarted by someone else). */
  readonly reload?: (() => Promise<void>) | undefined;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly log: SidecarLogger;
  readonly state?: StateStore | undefined;
  /** Reads --join-token-file again, as it is; without it, the token given at start is the only one the agent will have. */
  readonly readJoinToken?: (() => Promise<string | undefined>) | undefined;
  /** Reads --trust-bundle again, while the CA cannot be reached or used: an operator may have added the root it moved to. */
  readonly readTrustBundle?: (() => Promise<string>) | undefined;
}

export interface SidecarSettings {
  readonly joinToken?: string | undefined;
  readonly spiffeId?: string | undefined;
  readonly keyType: KeyType;
  readonly syncIntervalMs: number;
  readonly combined: boolean;
  readonly backoff?: BackoffPolicy;
  /** A single step (--once): nothing is retried, so no log may say it will be. */
  readonly once?: boolean;
}

/** Settings the agent cannot work with; raised to the caller (the process exits). */
export class SidecarConfigurationError extends Error {}

export type SidecarCounterName = 'renewals' | 'renewalFailures' | 'reloads' | 'reloadFailures' | 'syncs' | 'syncFailures' | 'outRepairs' | 'outWriteFailures' | 'stateWriteFailures';

/** One mutable tally shared by the parts of the loop; status() hands out a copy. */
export type SidecarCounters = Record<SidecarCounterName, number>;

export function newCounters(): SidecarCounters {
  return { renewals: 0, renewalFailures: 0, reloads: 0, reloadFailures: 0, syncs: 0, syncFailures: 0, outRepairs: 0, outWriteFailures: 0, stateWriteFailures: 0 };
}

/** The end of a log line's "… failed": no promise of a retry in a --once run, which makes none. */
export function retryNote(settings: Pick<SidecarSettings, 'once'>): string {
  return settings.once ? '' : '; will retry';
}

/**
 * Reads a file the operator may change under a running agent (the join token,
 * the trust bundle): what it holds, or undefined when it cannot be read, which
 * is warned of once, and again only when the reason changes.
 */
export class RereadFile<T> {
  private problem: string | undefined;

  constructor(
    private readonly log: SidecarLogger,
    private readonly what: string,
  ) {}

  async read(read: () => Promise<T>): Promise<T | undefined> {
    try {
      const value = await read();
      this.problem = undefined;
      return value;
    } catch (err) {
      const problem = describeError(err);
      if (problem !== this.problem) this.log.warn({ err: problem }, `could not read ${this.what}`);
      this.problem = problem;
      return undefined;
    }
  }
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
