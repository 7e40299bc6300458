/** The agent's retry policy, which decides both recovery speed and how a fleet loads the CA after an outage. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, retryDelay, WITHOUT_SVID_MAX_RETRY_MS } from '../../src/agent/timing.js';
import { seededRandom } from '../support/seeded-random.js';

const MINUTE = 60_000;

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
