/** Options every administrative command shares. */
import { Option } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../config/options.js';
import { DURATION_SYNTAX, parseDuration } from '../time/duration.js';

export interface CommonOptions {
  dataDir: string;
}

/** --data-dir (MESHCA_DATA_DIR): which CA to administer, found by its socket in that directory. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'data directory of the CA to administer')
    .env('MESHCA_DATA_DIR')
    .default(resolve('./data'), './data')
    .argParser((v: string) => resolve(v));
}

/** For a repeatable flag; `previous` is undefined the first time when the flag has no default (entry update --dns). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Duration flags the operator typed (`--ttl`, `--root-horizon`, …, keyed by
 * flag name without the dashes), checked before the CA is asked, so that a
 * typo exits 78 naming the flag, as the README's exit codes have it, rather
 * than coming back as a refusal in the API's words.
 */
export function checkDurations(flags: Readonly<Record<string, string | undefined>>): void {
  const problems = Object.entries(flags).flatMap(([flag, value]) => {
    if (value === undefined) return [];
    try {
      parseDuration(value);
      return [];
    } catch {
      return [`--${flag}: ${JSON.stringify(value)} is not a duration (${DURATION_SYNTAX})`];
    }
  });
  if (problems.length) throw new ConfigError(problems);
}
