/**
 * Group commit: writes that arrive while the previous batch is being written
 * (or in the same turn of the event loop) share one transaction — one fsync —
 * and each caller's promise settles only after that transaction commits. One
 * commit per issuance would cap throughput at the disk's commit rate.
 *
 * An item's wait runs from its submit, not from its batch's start: one that
 * queued behind a batch which waited long for a lock has waited as long
 * itself. Its batch is told when its oldest item was submitted, and an item
 * whose wait is over before its batch is tried is refused without it: when
 * the wait ends, even while the batch ahead is still being written (a disk
 * that stalls a commit for minutes), not only once that batch is done.
 */
import { performance } from 'node:perf_hooks';
import { StoreBusyError } from '../errors.js';
import { NotAttemptedError } from './unavailable.js';

/** setTimeout's longest delay; a longer one fires at once. */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** How long an item may wait, and by which clock: the datastore's (WriteQueue, for SQLite). */
export interface ItemWait {
  /** Monotonic milliseconds. */
  now(): number;
  /** How long an item may wait for its batch to be tried, from its submit, in milliseconds of `now`. */
  readonly waitMs: number;
  /** What an item whose wait is over is refused with. */
  refusal(): unknown;
}

/** No limit here: the datastore's own timeouts bound each commit (PostgreSQL's). */
const UNBOUNDED: ItemWait = { now: () => performance.now(), waitMs: Number.POSITIVE_INFINITY, refusal: () => undefined };

interface Pending<T> {
  readonly item: T;
  /** When it was submitted, by ItemWait.now. */
  readonly since: number;
  resolve(): void;
  reject(err: unknown): void;
}

export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private running = false;
  /** Set while items queue behind a batch being written: refuses them when their wait ends. */
  private watch: NodeJS.Timeout | undefined;

  /**
   * `writeBatch` writes the items in one transaction, and throws (or rejects)
   * if it did not commit; `since` is when the oldest of them was submitted,
   * for its wait to count from then. `storeUnavailable` tells a datastore
   * that cannot take any change now (its disk full, its server gone or not
   * answering) from a failure of the items themselves; `wait` refuses an item
   * that waited too long for its batch.
   */
  constructor(
    private readonly writeBatch: (items: readonly T[], since: number) => void | Promise<void>,
    private readonly maxBatch = 512,
    private readonly storeUnavailable: (err: unknown) => boolean = () => false,
    private readonly wait: ItemWait = UNBOUNDED,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, since: this.wait.now(), resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      } else {
        this.watchQueued();
      }
    });
  }

  /** Refuses what queued behind the batch being written once its wait is over, whenever that batch ends. */
  private watchQueued(): void {
    const oldest = this.pending[0];
    if (this.watch !== undefined || oldest === undefined) return;
    const left = oldest.since + this.wait.waitMs - this.wait.now();
    // Beyond setTimeout's longest delay (which would fire at once): no limit to keep.
    if (left > LONGEST_TIMER_MS) return;
    this.watch = setTimeout(() => {
      this.watch = undefined;
      while (this.pending[0] && this.refusedOverdue(this.pending[0])) this.pending.shift();
      this.watchQueued();
    }, Math.max(0, left));
    // Nothing to do once the process is otherwise done: what is queued is settled by the drain, or refused here.
    this.watch.unref();
  }

  private async drain(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch).filter((p) => !this.refusedOverdue(p));
      if (batch.length === 0) continue;
      try {
        // Submitted in order, by a monotonic clock: the first is the oldest.
        await this.writeBatch(batch.map((p) => p.item), batch[0]!.since);
        for (const p of batch) p.resolve();
      } catch (err) {
        // Retried one by one, each would fail the same way after as long again (a query timeout, for
        // a PostgreSQL server that stopped answering), the last caller waiting for all of them. What
        // queued behind the failed commit fails with it, unattempted, rather than wait as long again.
        if (this.storeUnavailable(err)) {
          for (const p of batch) p.reject(err);
          this.refuseUnattempted([], err);
          continue;
        }
        // One bad item must not fail its neighbours: retry each alone, until the datastore itself fails one.
        for (const [i, p] of batch.entries()) {
          if (this.refusedOverdue(p)) continue;
          try {
            await this.writeBatch([p.item], p.since);
            p.resolve();
          } catch (err) {
            p.reject(err);
            if (this.storeUnavailable(err)) {
              this.refuseUnattempted(batch.slice(i + 1), err);
              break;
            }
          }
        }
      }
    }
    this.running = false;
  }

  /** Refuses `p` if its wait is over, and says whether it did. */
  private refusedOverdue(p: Pending<T>): boolean {
    const overdue = this.wait.now() - p.since >= this.wait.waitMs;
    if (overdue) p.reject(this.wait.refusal());
    return overdue;
  }

  /** Fails `rest` of a batch, and all that queued behind it, unattempted, with the commit that failed for the datastore. */
  private refuseUnattempted(rest: readonly Pending<T>[], err: unknown): void {
    const unattempted = [...rest, ...this.pending.splice(0)];
    if (unattempted.length === 0) return;
    // A lock another connection held past the wait holds them off as much: as retryable, and as soon (Retry-After).
    const notAttempted = err instanceof StoreBusyError ? err : new NotAttemptedError(err);
    for (const p of unattempted) p.reject(notAttempted);
  }
}
