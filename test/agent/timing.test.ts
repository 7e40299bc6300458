/** The agent's retry policy, which decides both recovery speed and how a fleet loads the CA after an outage. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, retryDelay, WITHOUT_SVID_MAX_RETRY_MS } from '../../src/agent/timing.js';
import { seededRandom } from '../support/seeded-random.js';

const MINUTE = 60_000;

describe('retryDelay', () => {
  it.each([
    ['no valid SVID, first retry', 1, 0, 500, 1000],
    ['no valid SVID, fifth retry: capped at a few seconds', 5, 0, 2500, WITHOUT_SVID_MAX_RETRY_MS],
    ['an SVID with 40 minutes left: up to the ten-minute cap', 1, 40 * MINUTE, 250, 10 * MINUTE],
    ['an SVID with 4 minutes left: a quarter of that', 3, 4 * MINUTE, 250, MINUTE],
    ['an SVID with 2 seconds left: never below a quarter of a second', 1, 2000, 250, 500],
  ])('%s', (_name, attempt, remaining, min, max) => {
    const random = seededRandom(`${attempt}-${remaining}`);
    const delays = Array.from({ length: 500 }, () => retryDelay(attempt, remaining, DEFAULT_BACKOFF, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(min);
    expect(Math.max(...delays)).toBeLessThanOrEqual(max);
  });

  it('spreads retries over the whole window while an SVID is valid', () => {
    const random = seededRandom('spread');
    const delays = Array.from({ length: 2000 }, () => retryDelay(1, 40 * MINUTE, DEFAULT_BACKOFF, random));
    const quarters = [0, 1, 2, 3].map((q) => delays.filter((d) => d >= q * 2.5 * MINUTE && d < (q + 1) * 2.5 * MINUTE).length);
    for (const n of quarters) expect(n).toBeGreaterThan(400);
  });
});
