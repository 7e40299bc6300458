/** `meshca server` settings: defaults, sources, and the checks across settings. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatDuration, type Duration } from '../time/duration.js';
import { ConfigError, resolveOptions, type ConfigSources, type OptionTable } from './options.js';
import {
  parseCron, parseDurationValue, parseListenAddress, parseLogLevel, parseNonEmpty, parsePositiveInt, parseTrustDomain, LOG_LEVELS,
} from './parsers.js';

const absolutePath = (v: string) => resolve(parseNonEmpty(v));

/** The passphrase is the file's content without one trailing newline. */
function readPassphraseFile(path: string): string {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
  const passphrase = content.replace(/\r?\n$/, '');
  if (!passphrase) throw new Error(`${path} is empty`);
  return passphrase;
}

const DURATION = 'a whole number with s, m, h or d, e.g. 30s, 10m, 1h, 365d';

export const SERVER_OPTIONS = {
  dataDir: { name: 'data-dir', default: './data', expected: 'a directory path', parse: (v: string) => resolve(parseNonEmpty(v)) },
  listen: { name: 'listen', default: '127.0.0.1:8443', expected: 'host:port, e.g. 127.0.0.1:8443', parse: parseListenAddress },
  trustDomain: {
    name: 'trust-domain', default: 'example.org', expected: 'a trust domain name of [a-z0-9._-]', parse: parseTrustDomain,
  },
  rootTtl: { name: 'root-ttl', default: '365d', expected: DURATION, parse: parseDurationValue },
  intermediateTtl: { name: 'intermediate-ttl', default: '24h', expected: DURATION, parse: parseDurationValue },
  svidTtl: { name: 'svid-ttl', default: '1h', expected: DURATION, parse: parseDurationValue },
  svidMaxTtl: { name: 'svid-max-ttl', default: '4h', expected: DURATION, parse: parseDurationValue },
  bundleRefreshHint: { name: 'bundle-refresh-hint', default: '5m', expected: DURATION, parse: parseDurationValue },
  joinTokenTtl: { name: 'join-token-ttl', default: '10m', expected: DURATION, parse: parseDurationValue },
  agentRateLimit: {
    name: 'agent-rate-limit', default: '50', expected: 'CSRs per second per agent, a positive integer', parse: parsePositiveInt,
  },
  attestRateLimit: {
    name: 'attest-rate-limit', default: '30', expected: 'attestation attempts per minute per address, a positive integer',
    parse: parsePositiveInt,
  },
  rotationSchedule: { name: 'rotation-schedule', default: '* * * * *', expected: 'a cron expression (5 or 6 fields)', parse: parseCron },
  checkpointSchedule: { name: 'checkpoint-schedule', default: '*/5 * * * *', expected: 'a cron expression (5 or 6 fields)', parse: parseCron },
  pruneSchedule: { name: 'prune-schedule', default: '17 3 * * *', expected: 'a cron expression (5 or 6 fields)', parse: parseCron },
  retention: { name: 'retention', default: '90d', expected: DURATION, parse: parseDurationValue },
  metricsListen: { name: 'metrics-listen', expected: 'host:port for an unauthenticated local /metrics listener', parse: parseListenAddress },
  rootPropagation: {
    name: 'root-propagation', default: '1h', expected: DURATION, parse: parseDurationValue,
  },
  rootExpiryHorizon: { name: 'root-expiry-horizon', default: '60d', expected: DURATION, parse: parseDurationValue },
  crlValidity: { name: 'crl-validity', default: '24h', expected: DURATION, parse: parseDurationValue },
  importRootCert: { name: 'import-root-cert', expected: 'a PEM root certificate to use on first start', parse: absolutePath },
  importRootKey: { name: 'import-root-key', expected: 'the PEM key of --import-root-cert', parse: absolutePath },
  importIntermediateCert: {
    name: 'import-intermediate-cert', expected: 'a PEM intermediate signed by your root, to sign SVIDs with', parse: absolutePath,
  },
  importIntermediateKey: { name: 'import-intermediate-key', expected: 'the PEM key of --import-intermediate-cert', parse: absolutePath },
  importIntermediateChain: {
    name: 'import-intermediate-chain', expected: 'PEM certificates between the intermediate and the root, if any', parse: absolutePath,
  },
  importTrustBundle: { name: 'import-trust-bundle', expected: 'PEM roots the imported intermediate chains to', parse: absolutePath },
  keyPassphraseFile: { name: 'key-passphrase-file', expected: 'a readable file holding the passphrase', parse: readPassphraseFile },
  logLevel: { name: 'log-level', default: 'info', expected: LOG_LEVELS.join(', '), parse: parseLogLevel },
} satisfies OptionTable;

export interface ServerConfig {
  readonly dataDir: string;
  readonly listen: ReturnType<typeof parseListenAddress>;
  readonly trustDomain: ReturnType<typeof parseTrustDomain>;
  readonly rootTtl: Duration;
  readonly intermediateTtl: Duration;
  readonly svidTtl: Duration;
  readonly svidMaxTtl: Duration;
  readonly bundleRefreshHint: Duration;
  readonly joinTokenTtl: Duration;
  readonly rotationSchedule: string;
  readonly checkpointSchedule: string;
  readonly pruneSchedule: string;
  /** Records of certificates expired longer than this are pruned. */
  readonly retention: Duration;
  readonly metricsListen: ReturnType<typeof parseListenAddress> | undefined;
  readonly rootPropagation: Duration;
  readonly rootExpiryHorizon: Duration;
  readonly crlValidity: Duration;
  /** First-start "bring your own CA" files; see ImportFiles. */
  readonly importRootCert: string | undefined;
  readonly importRootKey: string | undefined;
  readonly importIntermediateCert: string | undefined;
  readonly importIntermediateKey: string | undefined;
  readonly importIntermediateChain: string | undefined;
  readonly importTrustBundle: string | undefined;
  readonly agentRateLimit: number;
  readonly attestRateLimit: number;
  /** Encrypts CA keys at rest; from MESHCA_KEY_PASSPHRASE or the passphrase file. Never logged. */
  readonly keyPassphrase: string | undefined;
  readonly logLevel: ReturnType<typeof parseLogLevel>;
}

export function loadServerConfig(sources: ConfigSources): ServerConfig {
  const problems: string[] = [];
  const o = resolveOptions(SERVER_OPTIONS, 'MESHCA', sources, problems);
  const keyPassphrase = o.keyPassphraseFile ?? (sources.env.MESHCA_KEY_PASSPHRASE || undefined);
  // Lifetimes can be compared only when all four were read; other problems do not hide theirs.
  const { rootTtl, intermediateTtl, svidTtl, svidMaxTtl } = o;
  if (rootTtl && intermediateTtl && svidTtl && svidMaxTtl) problems.push(...lifetimeProblems({ rootTtl, intermediateTtl, svidTtl, svidMaxTtl }));
  problems.push(...importProblems(o));
  if (problems.length) throw new ConfigError(problems);
  const { keyPassphraseFile: _file, ...settings } = o;
  return Object.freeze({ ...settings, keyPassphrase, listen: Object.freeze({ ...o.listen }) });
}

/**
 * Lifetimes must nest: an SVID may live at most a sixth of the intermediate's
 * life (the window the next intermediate is active before the old one expires),
 * and an intermediate no longer than its root.
 */
function lifetimeProblems(o: { rootTtl: Duration; intermediateTtl: Duration; svidTtl: Duration; svidMaxTtl: Duration }): string[] {
  const problems: string[] = [];
  const window = Math.floor(o.intermediateTtl / 6);
  if (o.svidMaxTtl > window) {
    problems.push(
      `--svid-max-ttl ${formatDuration(o.svidMaxTtl)} is longer than the intermediate's activation window ` +
        `(--intermediate-ttl ${formatDuration(o.intermediateTtl)} / 6 = ${window}s): an SVID could outlive its issuer`,
    );
  }
  if (o.svidTtl > o.svidMaxTtl) {
    problems.push(`--svid-ttl ${formatDuration(o.svidTtl)} is longer than --svid-max-ttl ${formatDuration(o.svidMaxTtl)}`);
  }
  if (o.intermediateTtl > o.rootTtl) {
    problems.push(`--intermediate-ttl ${formatDuration(o.intermediateTtl)} is longer than --root-ttl ${formatDuration(o.rootTtl)}`);
  }
  return problems;
}

/** The two ways to bring your own CA are exclusive, and each needs its files together. */
function importProblems(o: {
  importRootCert?: string | undefined; importRootKey?: string | undefined; importIntermediateCert?: string | undefined;
  importIntermediateKey?: string | undefined; importIntermediateChain?: string | undefined; importTrustBundle?: string | undefined;
}): string[] {
  const problems: string[] = [];
  const root = [o.importRootCert, o.importRootKey];
  const intermediate = [o.importIntermediateCert, o.importIntermediateKey, o.importTrustBundle];
  if (root.some(Boolean) && !root.every(Boolean)) problems.push('--import-root-cert and --import-root-key go together');
  if ((intermediate.some(Boolean) || o.importIntermediateChain) && !intermediate.every(Boolean)) {
    problems.push('--import-intermediate-cert, --import-intermediate-key and --import-trust-bundle go together');
  }
  if (root.some(Boolean) && intermediate.some(Boolean)) problems.push('import either a root or an intermediate, not both');
  return problems;
}
