/**
 * GroupCommit: writes submitted in the same turn share one batch (one
 * transaction, one fsync); each promise settles only after its batch was
 * written; a failing batch is retried item by item so only the bad item fails,
 * unless the datastore itself cannot take changes; then what queued behind it
 * fails too, unattempted.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/store/group-commit.js';
import { NotAttemptedError } from '../../src/store/unavailable.js';

/** A writeBatch that records every call and fails any batch holding an item listed in `bad`. */
function recorder(bad: readonly string[] = []) {
  const batches: string[][] = [];
  const writeBatch = (items: readonly string[]): void => {
    batches.push([...items]);
    const failing = items.find((i) => bad.includes(i));
    if (failing) throw new Error(`cannot write ${failing}`);
  };
  return { batches, writeBatch };
}

/** Settles to "ok" or the rejection's message, so outcomes compare as plain values. */
const outcome = (p: Promise<void>): Promise<string> => p.then(() => 'ok', (err: Error) => `rejected: ${err.message}`);

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What a datastore that cannot take any change throws (here: a server that stopped answering). */
const outage = Object.assign(new Error('Query read timeout'), { outage: true });

/** A GroupCommit over a store where `write` decides the fate of each batch (its call number given), and `outage` means the store is unavailable. */
function storeWithOutages(write: (items: readonly string[], call: number) => void | Promise<void>) {
  const batches: string[][] = [];
  const group = new GroupCommit<string>(
    async (items) => {
      batches.push([...items]);
      await write(items, batches.length);
    },
    512,
    (err) => err === outage,
  );
  return { batches, group };
}

describe('GroupCommit', () => {
  it('writes the items submitted in one turn as one batch, in order', async () => {
    const { batches, writeBatch } = recorder();
    const group = new GroupCommit(writeBatch);
    await Promise.all(['a', 'b', 'c'].map((i) => group.submit(i)));
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('writes nothing until the current turn ends', async () => {
    const { batches, writeBatch } = recorder();
    const group = new GroupCommit(writeBatch);
    const done = group.submit('a');
    await Promise.resolve();
    expect(batches).toEqual([]);
    await done;
    expect(batches).toEqual([['a']]);
  });

  it('writes items of later turns as later batches', async () => {
    const { batches, writeBatch } = recorder();
    const group = new GroupCommit(writeBatch);
    const first = group.submit('a');
    await nextTurn();
    const second = group.submit('b');
    await Promise.all([first, second]);
    expect(batches).toEqual([['a'], ['b']]);
  });

  it('settles each promise only after writeBatch has returned', async () => {
    const events: string[] = [];
    const group = new GroupCommit<string>((items) => {
      events.push(`write start ${items.join(',')}`);
      events.push(`write end ${items.join(',')}`);
    });
    const settled = ['a', 'b'].map((i) => group.submit(i).then(() => events.push(`resolved ${i}`)));
    await Promise.all(settled);
    expect(events).toEqual(['write start a,b', 'write end a,b', 'resolved a', 'resolved b']);
  });

  it('does not settle any promise while the batch is being written', async () => {
    const settled = new Set<string>();
    const seenDuringWrite: number[] = [];
    const group = new GroupCommit<string>(() => {
      seenDuringWrite.push(settled.size);
    });
    await Promise.all(['a', 'b', 'c'].map((i) => group.submit(i).then(() => settled.add(i))));
    expect(seenDuringWrite).toEqual([0]);
    expect(settled.size).toBe(3);
  });

  it('retries a failed batch one item at a time, so only the bad item rejects', async () => {
    const { batches, writeBatch } = recorder(['bad']);
    const group = new GroupCommit(writeBatch);
    const outcomes = await Promise.all(['a', 'bad', 'c'].map((i) => outcome(group.submit(i))));
    expect(outcomes).toEqual(['ok', 'rejected: cannot write bad', 'ok']);
    expect(batches).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('rejects the whole batch at once, without retrying each item, when the datastore cannot take any change', async () => {
    const { batches, group } = storeWithOutages(() => {
      throw outage;
    });
    const outcomes = await Promise.all(['a', 'b', 'c'].map((i) => outcome(group.submit(i))));
    expect(outcomes).toEqual(['rejected: Query read timeout', 'rejected: Query read timeout', 'rejected: Query read timeout']);
    expect(batches).toEqual([['a', 'b', 'c']]);
  });

  it('rejects what queued behind a commit the datastore failed, unattempted, and writes what comes after', async () => {
    let failFirst!: () => void;
    const { batches, group } = storeWithOutages(async (_items, call) => {
      if (call > 1) return;
      // The first commit hangs until the test lets it time out.
      await new Promise<void>((resolve) => (failFirst = resolve));
      throw outage;
    });
    const first = outcome(group.submit('a'));
    await nextTurn();
    const queued = ['b', 'c'].map((i) => group.submit(i));
    failFirst();
    expect(await first).toBe('rejected: Query read timeout');
    for (const q of queued) {
      const err = await q.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(NotAttemptedError);
      expect((err as NotAttemptedError).cause).toBe(outage);
    }
    await group.submit('d');
    expect(batches).toEqual([['a'], ['d']]);
  });

  it('stops retrying item by item once the datastore fails one: the rest of the batch is rejected unattempted, not waited for one by one', async () => {
    const { batches, group } = storeWithOutages((items, call) => {
      // One bad item fails the batch; the datastore then stops answering while the items are retried alone.
      if (items.includes('bad')) throw new Error('cannot write bad');
      if (call > 2) throw outage;
    });
    const outcomes = await Promise.all(['a', 'bad', 'c', 'd', 'e'].map((i) => group.submit(i).then(() => 'ok', (err: unknown) => err)));
    expect(outcomes.slice(0, 3)).toEqual(['ok', new Error('cannot write bad'), outage]);
    for (const unattempted of outcomes.slice(3)) expect(unattempted).toBeInstanceOf(NotAttemptedError);
    expect(batches).toEqual([['a', 'bad', 'c', 'd', 'e'], ['a'], ['bad'], ['c']]);
  });

  it('rejects every item with its own error when each fails alone', async () => {
    const { writeBatch } = recorder(['x', 'y']);
    const group = new GroupCommit(writeBatch);
    const outcomes = await Promise.all(['x', 'y'].map((i) => outcome(group.submit(i))));
    expect(outcomes).toEqual(['rejected: cannot write x', 'rejected: cannot write y']);
  });

  it('splits a turn larger than maxBatch into batches of at most maxBatch', async () => {
    const { batches, writeBatch } = recorder();
    const group = new GroupCommit(writeBatch, 2);
    await Promise.all(['1', '2', '3', '4', '5'].map((i) => group.submit(i)));
    expect(batches).toEqual([['1', '2'], ['3', '4'], ['5']]);
  });

  it('keeps a failure inside its own batch of a split turn', async () => {
    const { batches, writeBatch } = recorder(['3']);
    const group = new GroupCommit(writeBatch, 2);
    const outcomes = await Promise.all(['1', '2', '3', '4'].map((i) => outcome(group.submit(i))));
    expect(outcomes).toEqual(['ok', 'ok', 'rejected: cannot write 3', 'ok']);
    expect(batches).toEqual([['1', '2'], ['3', '4'], ['3'], ['4']]);
  });

  it('accepts new items after a failure', async () => {
    const { batches, writeBatch } = recorder(['bad']);
    const group = new GroupCommit(writeBatch);
    expect(await outcome(group.submit('bad'))).toBe('rejected: cannot write bad');
    await group.submit('good');
    expect(batches.at(-1)).toEqual(['good']);
  });

  describe('with a limit on how long an item may wait, counted from its submit', () => {
    /** A monotonic clock the test moves, and items that may wait 1000 ms of it. */
    function waiting() {
      const clock = { ms: 0 };
      const wait = { now: () => clock.ms, waitMs: 1000, refusal: () => new Error('waited too long') };
      return { clock, wait };
    }

    it('refuses, unwritten, an item whose wait ran out while the batch before it was written, and tells the next batch when its oldest item was submitted', async () => {
      const { clock, wait } = waiting();
      const written: Array<{ items: string[]; since: number }> = [];
      let finishFirst!: () => void;
      const group = new GroupCommit<string>(async (items, since) => {
        written.push({ items: [...items], since });
        if (items.includes('a')) await new Promise<void>((resolve) => (finishFirst = resolve));
      }, 512, undefined, wait);
      const a = outcome(group.submit('a'));
      await nextTurn();
      clock.ms = 100;
      const b = outcome(group.submit('b'));
      clock.ms = 600;
      const c = outcome(group.submit('c'));
      clock.ms = 1150;
      finishFirst();
      expect(await Promise.all([a, b, c])).toEqual(['ok', 'rejected: waited too long', 'ok']);
      expect(written).toEqual([{ items: ['a'], since: 0 }, { items: ['c'], since: 600 }]);
    });

    it('retries each item of a failed batch with the time it was submitted, refusing one whose wait ran out meanwhile', async () => {
      const { clock, wait } = waiting();
      const written: Array<{ items: string[]; since: number }> = [];
      const group = new GroupCommit<string>((items, since) => {
        written.push({ items: [...items], since });
        clock.ms += 400;
        if (items.includes('bad')) throw new Error('cannot write bad');
      }, 512, undefined, wait);
      const outcomes = Promise.all(['bad', 'b'].map((i) => outcome(group.submit(i))));
      clock.ms = 200;
      const c = outcome(group.submit('c'));
      expect([...(await outcomes), await c]).toEqual(['rejected: cannot write bad', 'rejected: waited too long', 'ok']);
      expect(written).toEqual([{ items: ['bad', 'b', 'c'], since: 0 }, { items: ['bad'], since: 0 }, { items: ['c'], since: 200 }]);
    });

    it('refuses what queued behind a batch still being written once its wait is over, not when that batch ends (a stalled disk)', async () => {
      const waitMs = 100;
      let finishFirst!: () => void;
      const group = new GroupCommit<string>(async (items) => {
        if (items.includes('a')) await new Promise<void>((resolve) => (finishFirst = resolve));
      }, 512, undefined, { now: () => performance.now(), waitMs, refusal: () => new Error('waited too long') });
      const a = outcome(group.submit('a'));
      await nextTurn();
      const b = outcome(group.submit('b'));
      const stillWaiting = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10 * waitMs));
      expect(await Promise.race([b, stillWaiting])).toBe('rejected: waited too long');
      finishFirst();
      expect(await a).toBe('ok');
    });
  });

  it('batches items submitted from settled callbacks in a new turn', async () => {
    const { batches, writeBatch } = recorder();
    const group = new GroupCommit(writeBatch);
    let follow: Promise<void> | undefined;
    await group.submit('a').then(() => {
      follow = group.submit('b');
    });
    await follow;
    expect(batches).toEqual([['a'], ['b']]);
  });
});
