/** The agent's retry policy, which decides both recovery speed and how a fleet loads the CA after an outage. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, retryDelay, waitUntilDue, WITHOUT_SVID_MAX_RETRY_MS } from '../../src/agent/timing.js';
import { seededRandom } from '../support/seeded-random.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe('retryDelay', () => {
  it.each([
    ['no valid SVID, first retry', 1, 0, 500, 1000],
    ['no valid SVID, fifth retry: capped at a few seconds', 5, 0, 2500, WITHOUT_SVID_MAX_RETRY_MS],
    ['an SVID with 60 minutes left: up to the twenty-minute cap', 1, 60 * MINUTE, 250, 20 * MINUTE],
    ['an SVID with 30 minutes left: half of that', 1, 30 * MINUTE, 250, 15 * MINUTE],
    ['an SVID with 4 minutes left: half of that', 3, 4 * MINUTE, 250, 2 * MINUTE],
    ['an SVID with 2 seconds left: never below a quarter of a second', 1, 2000, 250, 1000],
  ])('%s', (_name, attempt, remaining, min, max) => {
    const random = seededRandom(`${attempt}-${remaining}`);
    const delays = Array.from({ length: 500 }, () => retryDelay(attempt, remaining, DEFAULT_BACKOFF, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(min);
    expect(Math.max(...delays)).toBeLessThanOrEqual(max);
  });

  it('spreads retries over the whole window while an SVID is valid', () => {
    const random = seededRandom('spread');
    const delays = Array.from({ length: 2000 }, () => retryDelay(1, 40 * MINUTE, DEFAULT_BACKOFF, random));
    const quarters = [0, 1, 2, 3].map((q) => delays.filter((d) => d >= q * 5 * MINUTE && d < (q + 1) * 5 * MINUTE).length);
    for (const n of quarters) expect(n).toBeGreaterThan(400);
  });
});

describe('waitUntilDue', () => {
  const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
  const nothingElse = { agentRenewalMs: undefined, workloadRenewalMs: undefined, caRetryMs: undefined, installedNotAfterMs: undefined, reloadRetryMs: undefined };

  // setTimeout fires after 1 ms when asked for more than 2^31 - 1 ms: a longer wait must be waited in parts, not spun through.
  it.each([
    ['a sync 30 seconds away', 30_000, 30_000, 30_000],
    ['a sync due now: at least 50 ms', 0, 30_000, 50],
    ['a sync 20 days away', 20 * DAY, 30 * DAY, 20 * DAY],
    ['a sync 30 days away (--sync-interval 30d): the longest a timer keeps', 30 * DAY, 30 * DAY, 2 ** 31 - 1],
    ['a sync a century away', 36_500 * DAY, 36_500 * DAY, 2 ** 31 - 1],
  ])('%s', (_name, syncInMs, maxWaitMs, wait) => {
    expect(waitUntilDue(NOW, { nextSyncMs: NOW + syncInMs, ...nothingElse }, maxWaitMs)).toBe(wait);
  });
});
