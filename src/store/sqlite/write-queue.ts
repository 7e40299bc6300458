/**
 * The main thread's writes to SQLite, taken in turn, none of them waiting in
 * the event loop for a lock another connection holds.
 *
 * better-sqlite3 is synchronous: with a busy timeout, a write that meets the
 * write lock held by another connection (a backup, `meshca audit verify`, an
 * operator's sqlite3 shell) stands the whole process still until the lock is
 * free, health checks, TLS handshakes and issuance with it. Here a write asks
 * for the lock without waiting (BEGIN IMMEDIATE, busy timeout 0); refused, it
 * asks again a moment later on a timer, the event loop serving meanwhile, and
 * gives up with StoreBusyError once `waitMs` have passed. A refused BEGIN has
 * done nothing, so asking again is safe; the work runs only once the lock is
 * held, and the caller hears of it only once it has committed (fsync).
 *
 * The issuance writer thread's batches take their turn here too: a write of
 * this thread then waits for the batch in flight to answer rather than
 * polling against this process's own commits, which under load would leave
 * it no gap. Such a batch waits for another connection's lock on its own
 * thread, and only for what is left of the same wait (inTurnWithin).
 *
 * A group-committed write (an issuance, a standalone audit event) is asked
 * for when its caller submits it, not when its batch is written: it may have
 * queued behind a batch that itself waited for the lock. Its wait is counted
 * from then (`since`, by this queue's `now`), so that no caller waits longer
 * than one wait, however the batches fell.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { StoreBusyError } from '../../errors.js';
import { LONGEST_TIMER_MS } from '../group-commit.js';
import { withoutBusyWait, type Db } from './database.js';

/** As long as a write used to wait in SQLite's busy handler; now without holding the event loop. */
export const LOCK_WAIT_MS = 5000;

/** Retried at first within a commit's time (another connection's fsync), then less often: a backup holds the lock for seconds. */
export const FIRST_PAUSE_MS = 2;
export const LONGEST_PAUSE_MS = 50;

/** A refused write may be sent again at once: the lock's holder is most often brief. */
const RETRY_AFTER_SECONDS = 1;

export class WriteQueue {
  private last: Promise<unknown> = Promise.resolve();
  /** Tasks asked for and not yet settled, the one running included. */
  private inLine = 0;

  /**
   * `waitMs`: how long a write may wait for the lock, counted from when it
   * was asked for; `now`: the monotonic milliseconds that wait is told by.
   */
  constructor(
    private readonly db: Db,
    readonly waitMs = LOCK_WAIT_MS,
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Runs `work` in an IMMEDIATE transaction once this process's earlier
   * writes are done and the lock is free, and resolves with its result once
   * committed; rejects with StoreBusyError when the lock was not had within
   * `waitMs` of `since` (when it was asked for: now, unless it queued
   * elsewhere first), and with what `work` threw (rolled back) otherwise.
   */
  write<R>(work: () => R, waitMs = this.waitMs, since = this.now()): Promise<R> {
    const deadline = since + waitMs;
    return this.inTurnBy(deadline, waitMs, () => this.untilLocked(work, deadline, waitMs));
  }

  /** Runs `task` (a commit on another connection of this process) after the writes before it, and holds the next until it settles. */
  inTurn<R>(task: () => Promise<R>): Promise<R> {
    this.inLine++;
    const turn = this.last.then(task).finally(() => this.inLine--);
    this.last = turn.catch(() => undefined);
    return turn;
  }

  /**
   * As inTurn, for a commit on another connection that waits for the lock
   * itself: `task` is given what is left, when its turn comes, of the wait
   * counted from `since` (when it was asked for), so that its wait and its
   * turn here make one wait together (a duration, not a time: another
   * thread's clock may have been set differently); it is not started once
   * none is left, and a lock it was refused is StoreBusyError, as for this
   * thread's writes.
   */
  inTurnWithin<R>(task: (leftMs: number) => Promise<R>, since = this.now()): Promise<R> {
    const deadline = since + this.waitMs;
    return this.inTurnBy(deadline, this.waitMs, async () => {
      const left = deadline - this.now();
      if (left <= 0) throw this.busy();
      try {
        return await task(left);
      } catch (err) {
        throw lockHeldElsewhere(err) ? this.busy() : err;
      }
    });
  }

  /**
   * As inTurn, but a task whose turn has not come by `deadline` is refused
   * then (StoreBusyError), not once the writes before it are done: one of
   * them may be waiting seconds for another connection's lock, and a short
   * wait (readiness's probe, a CRL renewal's number) must not last as long.
   * A task so refused never runs.
   */
  private inTurnBy<R>(deadline: number, waitMs: number, task: () => Promise<R>): Promise<R> {
    const left = deadline - this.now();
    // Nothing in line (its turn is the next microtask), or a wait no timer can hold: no timer.
    if (this.inLine === 0 || left > LONGEST_TIMER_MS) return this.inTurn(task);
    return new Promise<R>((resolve, reject) => {
      let refused = false;
      const timer = setTimeout(() => {
        refused = true;
        reject(this.busy(waitMs));
      }, Math.max(0, left));
      // The turn settles it anyway (close() waits for the turns): the timer must not hold the process.
      timer.unref();
      void this.inTurn(async () => {
        clearTimeout(timer);
        if (!refused) await task().then(resolve, reject);
      });
    });
  }

  /** The refusal of a write whose wait is over before it was tried (one queued in a GroupCommit, say). */
  refusal(): StoreBusyError {
    return this.busy();
  }

  /** Settles once every write asked for so far has committed or failed: before the connection is closed under them. */
  settled(): Promise<void> {
    return this.last.then(() => undefined);
  }

  private async untilLocked<R>(work: () => R, deadline: number, waitMs: number): Promise<R> {
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(2 * pause, LONGEST_PAUSE_MS)) {
      const attempt = this.attempt(work);
      if (attempt.committed) return attempt.result;
      const left = deadline - this.now();
      if (left <= 0) throw this.busy(waitMs);
      await delay(Math.min(pause, left));
    }
  }

  private busy(waitMs = this.waitMs): StoreBusyError {
    return new StoreBusyError(RETRY_AFTER_SECONDS, waitMs);
  }

  private attempt<R>(work: () => R): { committed: true; result: R } | { committed: false } {
    let began = false;
    const transaction = this.db.transaction(() => {
      began = true;
      return work();
    });
    try {
      return { committed: true, result: withoutBusyWait(this.db, () => transaction.immediate()) };
    } catch (err) {
      if (!began && lockHeldElsewhere(err)) return { committed: false };
      throw err;
    }
  }
}

/** SQLITE_BUSY (at BEGIN IMMEDIATE: nothing was begun): another connection has the write lock. */
export function lockHeldElsewhere(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}
