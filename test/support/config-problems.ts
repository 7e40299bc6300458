/** The problems a configuration loader reports, for tests of its refusals. */
import { expect } from 'vitest';
import { ConfigError } from '../../src/config/options.js';

/** The problems of the ConfigError `make` throws (and its message lists every one). */
export function problemsOf(make: () => unknown): readonly string[] {
  try {
    make();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect((err as ConfigError).message).toBe(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return problems;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}
