import { describe, expect, it } from 'vitest';
import { coalescedTask } from '../../src/platform/coalesced-task.js';

/** A task whose runs are counted and end only when the test says, each with the outcome given. */
function heldTask() {
  const runs: Array<{ finish(error?: Error): void }> = [];
  const task = () =>
    new Promise<void>((resolve, reject) => {
      runs.push({ finish: (error) => (error ? reject(error) : resolve()) });
    });
  return { runs, task };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('coalescedTask', () => {
  it('fail/a call while a run is under way gets a run of its own, started after that one ends, shared by every call meanwhile', async () => {
    const { runs, task } = heldTask();
    const run = coalescedTask(task);
    const first = run();
    const [second, third] = [run(), run()];
    await settled();
    expect(runs).toHaveLength(1);
    runs[0]!.finish();
    await first;
    await settled();
    expect(runs).toHaveLength(2);
    runs[1]!.finish();
    await Promise.all([second, third]);
    expect(runs).toHaveLength(2);
  });

  it('fail/the run asked for meanwhile happens also when the one under way fails, and each caller hears its own run\'s outcome', async () => {
    const { runs, task } = heldTask();
    const run = coalescedTask(task);
    const first = run();
    const second = run();
    runs[0]!.finish(new Error('the intermediate was tainted meanwhile'));
    await expect(first).rejects.toThrow('the intermediate was tainted meanwhile');
    await settled();
    expect(runs).toHaveLength(2);
    runs[1]!.finish();
    await expect(second).resolves.toBeUndefined();
  });

  it('pass/calls once the task is idle each start a run at once', async () => {
    const { runs, task } = heldTask();
    const run = coalescedTask(task);
    const first = run();
    runs[0]!.finish();
    await first;
    const second = run();
    expect(runs).toHaveLength(2);
    runs[1]!.finish();
    await second;
  });
});
