/**
 * Group commit: writes that arrive while the previous batch is being written
 * (or in the same turn of the event loop) share one transaction — one fsync —
 * and each caller's promise settles only after that transaction commits. One
 * commit per issuance would cap throughput at the disk's commit rate.
 */
import { StoreBusyError } from '../errors.js';
import { NotAttemptedError } from './unavailable.js';

interface Pending<T> {
  readonly item: T;
  resolve(): void;
  reject(err: unknown): void;
}

export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private running = false;

  /**
   * `writeBatch` writes the items in one transaction, and throws (or rejects)
   * if it did not commit; `storeUnavailable` tells a datastore that cannot
   * take any change now (its disk full, its server gone or not answering)
   * from a failure of the items themselves.
   */
  constructor(
    private readonly writeBatch: (items: readonly T[]) => void | Promise<void>,
    private readonly maxBatch = 512,
    private readonly storeUnavailable: (err: unknown) => boolean = () => false,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.writeBatch(batch.map((p) => p.item));
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
          try {
            await this.writeBatch([p.item]);
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

  /** Fails `rest` of a batch, and all that queued behind it, unattempted, with the commit that failed for the datastore. */
  private refuseUnattempted(rest: readonly Pending<T>[], err: unknown): void {
    const unattempted = [...rest, ...this.pending.splice(0)];
    if (unattempted.length === 0) return;
    // A lock another connection held past the wait holds them off as much: as retryable, and as soon (Retry-After).
    const notAttempted = err instanceof StoreBusyError ? err : new NotAttemptedError(err);
    for (const p of unattempted) p.reject(notAttempted);
  }
}
