/**
 * Test files whose pass depends on wall-clock timing: real proxies and agents
 * renewing short-lived SVIDs, CA outages, rotations under traffic. They run
 * one file at a time after the rest (vitest.serial.config.ts); everything else
 * runs two files at a time (vitest.config.ts), which on a two-core machine
 * keeps both cores busy.
 */
export const TIMING_SENSITIVE = [
  'test/rotation/**/*.test.ts',
  'test/agent/nginx.test.ts',
  'test/agent/haproxy.test.ts',
  'test/agent/ca-outage.test.ts',
  'test/agent/atomic-install.test.ts',
  'test/demo/demo.test.ts',
];
