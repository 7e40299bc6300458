/** Options every administrative command shares. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { ConfigError } from '../config/options.js';
import { parseServerUrl } from '../config/parsers.js';
import { systemClock } from '../time/clock.js';
import { DURATION_SYNTAX, DurationSyntaxError, parseDuration } from '../time/duration.js';
import { AdminClient } from './admin-client.js';
import { localEndpoint } from './local-endpoint.js';
import { remoteEndpoint } from './remote-endpoint.js';
import { fileErrorText } from '../platform/file-error-text.js';

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
    .argParser(nonEmpty((v: string) => resolve(v)));
}

/**
 * An empty flag (`--data-dir ''`, a variable expanded to nothing) names no
 * directory: refused, not taken as the current one. Empty variables never get
 * here: they are unset before parsing (empty-variables.ts).
 */
const nonEmpty = <T>(parse: (v: string) => T) => (v: string): T => {
  if (v === '') throw new InvalidArgumentError('It is empty.');
  return parse(v);
};

/** --server (MESHCA_SERVER): a CA on another host, reached over HTTPS with --credential (chooseCa settles which CA). */
export function serverOption(): Option {
  return new Option('--server <url>', 'administer the CA at this https:// address instead, with --credential')
    .env('MESHCA_SERVER')
    .argParser(
      nonEmpty((v: string) => {
        try {
          return parseServerUrl(v);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      }),
    );
}

/** --credential (MESHCA_CREDENTIAL): the directory `meshca admin credential --out` wrote, for --server. */
export function credentialOption(): Option {
  return new Option('--credential <dir>', 'operator or auditor credential for --server (svid.pem, svid_key.pem, bundle.pem)')
    .env('MESHCA_CREDENTIAL')
    .argParser(nonEmpty((v: string) => resolve(v)));
}

/**
 * Settles, before a command runs, which CA it administers: the one on this
 * host (--data-dir) or the one at --server. A flag wins over the other way's
 * environment variable (a container image that sets MESHCA_DATA_DIR can still
 * be given --server); two flags, or two variables, naming both ways are
 * refused rather than one of them silently winning, since which CA a command
 * changes is never a guess. Refusals name what the operator set: the flag, or
 * the variable.
 */
export function chooseCa(command: Command): void {
  if (!command.options.some((option) => option.attributeName() === 'server')) return;
  const o = command.opts<CommonOptions>();
  const source = (key: keyof CommonOptions) => command.getOptionValueSource(key);
  const named = (key: 'server' | 'credential' | 'dataDir') =>
    source(key) === 'env' ? { server: 'MESHCA_SERVER', credential: 'MESHCA_CREDENTIAL', dataDir: 'MESHCA_DATA_DIR' }[key] : `--${key === 'dataDir' ? 'data-dir' : key}`;
  let remote = o.server !== undefined;
  if (remote && source('dataDir') !== 'default') {
    if (source('server') === source('dataDir')) refuseFlags(`${named('server')} and ${named('dataDir')} name two CAs: give one`);
    remote = source('server') === 'cli';
  }
  if (!remote) {
    if (o.credential !== undefined && source('credential') === 'cli') {
      refuseFlags(`--credential is for a CA reached with --server; the CA on this host is reached through ${named('dataDir')}`);
    }
    if (o.credential !== undefined && source('dataDir') === 'default' && o.server === undefined) {
      refuseFlags(`${named('credential')} is set, but no --server (or MESHCA_SERVER) says which CA to use it with`);
    }
    command.setOptionValue('server', undefined);
    command.setOptionValue('credential', undefined);
    return;
  }
  if (o.credential === undefined) {
    refuseFlags(`${named('server')} ${o.server!.origin} needs --credential DIR (\`meshca admin credential --out DIR\` on the CA host writes one)`);
  }
}

/** The CA a command administers, as chooseCa settled it: the one on this host by its socket, or the one at --server. */
export function adminClient(o: CommonOptions): AdminClient {
  return new AdminClient(o.server === undefined ? localEndpoint(o.dataDir) : remoteEndpoint(o.server, o.credential!, systemClock));
}

/**
 * Refuses what the operator typed before the CA is asked: a ConfigError exits
 * 78 naming the flag (meshca.ts), as the README's exit codes have it for a
 * flag the command could not accept, where a refusal by the CA exits 1.
 */
export function refuseFlags(...problems: string[]): never {
  throw new ConfigError(problems);
}

/** Why a file a flag names could not be read, in the words refusals use: `cannot read it: no such file (ENOENT)`. */
export function cannotRead(err: unknown): string {
  return `cannot read it: ${fileErrorText(err)}`;
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
