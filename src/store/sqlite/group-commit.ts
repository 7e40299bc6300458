/**
 * Group commit: writes that arrive in the same turn of the event loop share
 * one transaction (one fsync), and each caller's promise settles only after
 * that transaction commits. One fsync per issuance would cap throughput at the
 * disk's commit rate.
 */
interface Pending<T> {
  readonly item: T;
  resolve(): void;
  reject(err: unknown): void;
}

export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private scheduled = false;

  /** `writeBatch` runs the items in one transaction and throws if it did not commit. */
  constructor(
    private readonly writeBatch: (items: readonly T[]) => void,
    private readonly maxBatch = 512,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        this.writeBatch(batch.map((p) => p.item));
        for (const p of batch) p.resolve();
      } catch {
        // One bad item must not fail its neighbours: retry each alone.
        for (const p of batch) {
          try {
            this.writeBatch([p.item]);
            p.resolve();
          } catch (err) {
            p.reject(err);
          }
        }
      }
    }
  }
}
