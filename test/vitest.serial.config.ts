import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import { ALONE, LANES, TIMING_SENSITIVE } from './timing-sensitive.js';

/**
 * Tests whose pass depends on timing (see timing-sensitive.ts), one file at a
 * time: with MESHCA_TEST_LANE=alone the one that needs the machine to itself,
 * with 1 or 2 that lane (run-timing-sensitive.sh runs the two side by side),
 * and without it all of them.
 */
const lane = process.env.MESHCA_TEST_LANE;
const include = lane === undefined ? TIMING_SENSITIVE : lane === 'alone' ? ALONE : LANES[Number(lane) - 1];
if (!include) throw new Error(`MESHCA_TEST_LANE must be alone, 1 or 2, not ${lane}`);

export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  test: {
    include,
    exclude: lane === undefined || lane === 'alone' ? [] : ALONE,
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
