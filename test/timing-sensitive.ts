/**
 * Test files whose pass depends on wall-clock timing: real proxies and agents
 * renewing short-lived SVIDs, CA outages, rotations under traffic. They run
 * (vitest.serial.config.ts) after the rest, which runs two files at a time
 * (vitest.config.ts) to keep both cores of a two-core machine busy.
 *
 * Rotation under traffic runs with the machine to itself: its agents must
 * renew 8-second SVIDs across a CA restart, which a second busy test can
 * slow past their expiry. The others wait on real time far more than they
 * compute, and run in two lanes side by side (run-timing-sensitive.sh), one
 * file at a time in each; they were measured to pass even beside rotation
 * under traffic. The lanes are balanced by duration (about 100 s each here).
 */
export const ALONE = ['test/rotation/under-traffic.test.ts'];

/** Every other rotation test (the PostgreSQL replicas, taints across them) goes in the first lane, whichever is added. */
export const LANES = [
  ['test/rotation/**/*.test.ts', 'test/demo/demo.test.ts', 'test/agent/haproxy.test.ts'],
  ['test/agent/ca-outage.test.ts', 'test/agent/nginx.test.ts', 'test/agent/atomic-install.test.ts'],
];

export const TIMING_SENSITIVE = [...ALONE, ...LANES.flat()];
