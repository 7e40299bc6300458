import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Everything but the long rotation-under-traffic runs, which measure timing
 * and so run on their own afterwards (vitest.serial.config.ts).
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/rotation/**', '**/node_modules/**'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
