import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import { TIMING_SENSITIVE } from './timing-sensitive.js';

/**
 * Everything but the tests whose pass depends on timing, which run afterwards
 * (run-timing-sensitive.sh). Two files at a time: vitest's default is one
 * fewer than the cores, a single file on this two-core machine.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...TIMING_SENSITIVE, '**/node_modules/**'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
