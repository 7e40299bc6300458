/** Options every administrative command shares. */
import { InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../config/options.js';
import { parseServerUrl } from '../config/parsers.js';
import { systemClock } from '../time/clock.js';
import { DURATION_SYNTAX, DurationSyntaxError, parseDuration } from '../time/duration.js';
import { AdminClient } from './admin-client.js';
import { localEndpoint } from './local-endpoint.js';
import { remoteEndpoint } from './remote-endpoint.js';

export interface CommonOptions {
  dataDir: string;
  server?: URL;
  credential?: string;
}

/** --data-dir (MESHCA_DATA_DIR): which CA to administer, found by its socket in that directory. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'data directory of the CA to administer')
    .env('MESHCA_DATA_DIR')
    .default(resolve('./data'), './data')
    .argParser((v: string) => resolve(v));
}

/**
 * --server (MESHCA_SERVER): a CA on another host, reached over HTTPS with
 * --credential. Given with --data-dir it is refused rather than one of them
 * silently winning: which CA a command changes is never a guess.
 */
export function serverOption(): Option {
  return new Option('--server <url>', 'administer the CA at this https:// address instead, with --credential')
    .env('MESHCA_SERVER')
    .conflicts('dataDir')
    .argParser((v: string) => {
      try {
        return parseServerUrl(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    });
}

/** --credential (MESHCA_CREDENTIAL): the directory `meshca admin credential --out` wrote, for --server. */
export function credentialOption(): Option {
  return new Option('--credential <dir>', 'operator or auditor credential for --server (svid.pem, svid_key.pem, bundle.pem)')
    .env('MESHCA_CREDENTIAL')
    .argParser((v: string) => resolve(v));
}

/** The CA a command administers: the one on this host by its socket, or the one at --server. */
export function adminClient(o: CommonOptions): AdminClient {
  if (o.server === undefined) {
    if (o.credential !== undefined) refuseFlags('--credential is for a CA reached with --server; the CA on this host is reached through --data-dir');
    return new AdminClient(localEndpoint(o.dataDir));
  }
  if (o.credential === undefined) refuseFlags(`--server ${o.server.origin} needs --credential DIR (\`meshca admin credential --out DIR\` on the CA host writes one)`);
  return new AdminClient(remoteEndpoint(o.server, o.credential, systemClock));
}

/** For a repeatable flag; `previous` is undefined the first time when the flag has no default (entry update --dns). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Refuses what the operator typed before the CA is asked: a ConfigError exits
 * 78 naming the flag (meshca.ts), as the README's exit codes have it for a
 * flag the command could not accept, where a refusal by the CA exits 1.
 */
export function refuseFlags(...problems: string[]): never {
  throw new ConfigError(problems);
}

/** A flag that takes one of a few words (--format, --role, --key-type). */
export function checkChoice<T extends string>(flag: string, value: string, choices: readonly T[]): asserts value is T {
  if (!(choices as readonly string[]).includes(value)) refuseFlags(`--${flag}: ${JSON.stringify(value)} is not one of ${choices.join(', ')}`);
}

/**
 * Duration flags the operator typed (`--ttl`, `--root-horizon`, …, keyed by
 * flag name without the dashes), all checked at once, so that a typo exits 78
 * naming the flag rather than coming back as a refusal in the API's words.
 */
export function checkDurations(flags: Readonly<Record<string, string | undefined>>): void {
  const problems = Object.entries(flags).flatMap(([flag, value]) => {
    if (value === undefined) return [];
    try {
      parseDuration(value);
      return [];
    } catch (err) {
      if (!(err instanceof DurationSyntaxError)) throw err;
      return [`--${flag}: ${err.message}${err.malformed ? ` (${DURATION_SYNTAX})` : ''}`];
    }
  });
  if (problems.length) refuseFlags(...problems);
}
