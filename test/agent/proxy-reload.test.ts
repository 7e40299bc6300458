/**
 * Retrying a failed proxy reload: within 30 s at most, by the clock as it is
 * now, also after the clock was set back past the retry time it chose.
 */
import { describe, expect, it } from 'vitest';
import { ProxyReload } from '../../src/agent/proxy-reload.js';
import { newCounters } from '../../src/agent/sidecar-deps.js';
import { fixedRandom } from '../support/seeded-random.js';

const T = Date.UTC(2026, 10, 27, 12, 0, 0);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A reload that fails until `working` is set. */
function failingReload() {
  const state = { working: false, attempts: 0 };
  const reload = new ProxyReload(
    async () => {
      state.attempts++;
      if (!state.working) throw new Error('nginx: [emerg] cannot load certificate');
    },
    fixedRandom(0.5),
    quiet,
    newCounters(),
    {},
  );
  return { reload, state };
}

describe('ProxyReload.runIfDue after a failure', () => {
  it.each([
    ['an hour', 3600],
    ['a day', 86_400],
  ])('fail/the clock set back %s: retried at the next step, not once the clock has caught up', async (_name, seconds) => {
    const { reload, state } = failingReload();
    reload.markPending();
    expect(await reload.runIfDue(T)).toBe(false);
    state.working = true;
    expect(await reload.runIfDue(T - seconds * 1000)).toBe(true);
    expect(state.attempts).toBe(2);
  });

  it('pass/the clock as it was: not retried before the wait it chose (30 s at most), then retried', async () => {
    const { reload, state } = failingReload();
    reload.markPending();
    expect(await reload.runIfDue(T)).toBe(false);
    state.working = true;
    const retryAt = reload.nextAttemptMs!;
    expect(retryAt - T).toBeLessThanOrEqual(30_000);
    expect(await reload.runIfDue(retryAt - 1)).toBe(false);
    expect(await reload.runIfDue(retryAt)).toBe(true);
    expect(state.attempts).toBe(2);
  });
});
