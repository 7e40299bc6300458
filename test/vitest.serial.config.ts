import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/** Tests whose pass depends on timing (handshakes through rotations): one file at a time, nothing else running. */
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  test: {
    include: ['test/rotation/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
