import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import { TIMING_SENSITIVE } from './timing-sensitive.js';

/** Tests whose pass depends on timing (see timing-sensitive.ts): one file at a time, nothing else running. */
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  test: {
    include: TIMING_SENSITIVE,
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
