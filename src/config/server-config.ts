/** `meshca server` settings: defaults, sources, and the checks across settings. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseDnsName, type DnsName } from '../identity/dns-name.js';
import { looksLikeIpAddress, parseIpAddress, type IpAddress } from '../x509/ip-address.js';
import { resolve } from 'node:path';
import { formatDuration, seconds, type Duration } from '../time/duration.js';
import { ConfigError, resolveOptions, settingLabel, type ConfigSources, type OptionTable, type Origins, type Spellings } from './options.js';
import {
  parseDurationValue, parseListenAddress, parseLogLevel, parseNonEmpty, parsePositiveInt, parseTrustDomain, LOG_LEVELS,
} from './parsers.js';
import { parseCron } from './cron-schedule.js';
import { fileErrorText } from '../platform/file-error-text.js';

const absolutePath = (v: string) => resolve(parseNonEmpty(v));

export interface ServingNames {
  readonly dnsNames: readonly DnsName[];
  readonly ipAddresses: readonly IpAddress[];
}

/** Each name once, as what it will be on the certificate; an IP address that is malformed is refused, not taken for a DNS name. */
function parseServingNames(raw: string): ServingNames {
  const names = raw.split(',').map((n) => n.trim()).filter(Boolean);
  return {
    ipAddresses: names.filter(looksLikeIpAddress).map(parseIpAddress),
    dnsNames: names.filter((n) => !looksLikeIpAddress(n)).map((n) => {
      try {
        return parseDnsName(n);
      } catch {
        throw new Error(`"${n}" is neither a DNS name nor an IP address`);
      }
    }),
  };
}

function parseWorkerCount(raw: string): number {
  if (raw === 'auto') return availableParallelism();
  if (!/^[0-9]{1,2}$/.test(raw)) throw new Error(`"${raw}" is not auto or a number of workers`);
  return Number(raw);
}

/** Where the embedded datastore commits issuances: a thread of its own, so fsync never stalls HTTP, or the main thread. */
function parseSqliteWriter(raw: string): 'thread' | 'main' {
  if (raw === 'thread' || raw === 'main') return raw;
  throw new Error(`"${raw}" is neither thread nor main`);
}

/** A datastore URL from a file (a mounted secret), read like a passphrase file. */
export function readDatastoreFile(path: string): DatastoreChoice {
  return parseDatastore(readPassphraseFile(path));
}

/** The passphrase is the file's content without one trailing newline. */
export function readPassphraseFile(path: string): string {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${fileErrorText(err)}`);
  }
  const passphrase = content.replace(/\r?\n$/, '');
  if (!passphrase) throw new Error(`${path} is empty`);
  return passphrase;
}

/**
 * The deployment files ship placeholders that start with REPLACE-ME; CA keys
 * encrypted with one would be encrypted with a string anyone can read.
 */
export function placeholderPassphraseProblem(passphrase: string | undefined): string | undefined {
  return passphrase?.startsWith('REPLACE-ME')
    ? 'the key passphrase is still the placeholder from the deployment files (REPLACE-ME…): set a long random one, and keep a copy'
    : undefined;
}

const DURATION = 'a whole number with s, m, h or d, e.g. 30s, 10m, 1h, 365d';

/** The longest a join token may live, whatever `token create --ttl` or --join-token-ttl ask. */
export const JOIN_TOKEN_MAX_TTL = seconds(30 * 86400);

const CRON = 'a cron expression of 5 or 6 fields';
const ADDRESS = 'host:port, e.g. 127.0.0.1:8443';
const FILE = 'a file path';

export const SERVER_OPTIONS = {
  datastore: { name: 'datastore', default: 'embedded', expected: 'embedded, or a postgres:// URL', parse: parseDatastore,
    describe: 'embedded SQLite in --data-dir, or a PostgreSQL database that several replicas share' },
  dataDir: { name: 'data-dir', default: './data', expected: 'a directory path', parse: (v: string) => resolve(parseNonEmpty(v)),
    describe: 'where the datastore, CA keys and operator socket live' },
  listen: { name: 'listen', default: '127.0.0.1:8443', expected: ADDRESS, parse: parseListenAddress,
    describe: 'address of the mutual-TLS HTTPS listener' },
  servingNames: { name: 'serving-names', default: '', expected: 'comma-separated DNS names and IP addresses', parse: parseServingNames, list: true,
    describe: 'names clients dial the CA by, added to its serving certificate (e.g. meshca.meshca.svc)' },
  trustDomain: { name: 'trust-domain', default: 'example.org', expected: 'a trust domain name of [a-z0-9._-]', parse: parseTrustDomain,
    describe: 'the SPIFFE trust domain this CA issues for' },
  rootTtl: { name: 'root-ttl', default: '365d', expected: DURATION, parse: parseDurationValue, describe: 'lifetime of a root meshca creates' },
  intermediateTtl: { name: 'intermediate-ttl', default: '24h', expected: DURATION, parse: parseDurationValue,
    describe: 'lifetime of a signing intermediate; the next is prepared at half and activated at a sixth remaining' },
  svidTtl: { name: 'svid-ttl', default: '1h', expected: DURATION, parse: parseDurationValue,
    describe: 'lifetime of an SVID whose request or entry names none' },
  svidMaxTtl: { name: 'svid-max-ttl', default: '4h', expected: DURATION, parse: parseDurationValue,
    describe: 'longest SVID lifetime a request or entry may ask for; at most --intermediate-ttl / 6' },
  agentSvidTtl: { name: 'agent-svid-ttl', expected: DURATION, parse: parseDurationValue,
    describe: 'lifetime of agents\' own SVIDs, at attestation and renewal (default: --svid-ttl); at most --svid-max-ttl' },
  bundleRefreshHint: { name: 'bundle-refresh-hint', default: '5m', expected: DURATION, parse: parseDurationValue,
    describe: 'spiffe_refresh_hint published in the trust bundle' },
  joinTokenTtl: { name: 'join-token-ttl', default: '10m', expected: DURATION, parse: parseDurationValue,
    describe: 'lifetime of a join token when `token create` names none' },
  agentRateLimit: { name: 'agent-rate-limit', default: '50', expected: 'a positive integer', parse: parsePositiveInt,
    describe: 'CSRs per second each agent may send (bursts up to four times that)' },
  attestRateLimit: { name: 'attest-rate-limit', default: '30', expected: 'a positive integer', parse: parsePositiveInt,
    describe: 'attestation attempts per minute from one address' },
  rotationSchedule: { name: 'rotation-schedule', default: '* * * * *', expected: CRON, parse: parseCron,
    describe: 'when the idempotent lifecycle check runs (rotation, serving certificate, expiry warnings)' },
  checkpointSchedule: { name: 'checkpoint-schedule', default: '*/5 * * * *', expected: CRON, parse: parseCron,
    describe: 'when a signed checkpoint of the audit log head is made' },
  pruneSchedule: { name: 'prune-schedule', default: '17 3 * * *', expected: CRON, parse: parseCron,
    describe: 'when expired certificate records older than --retention are pruned' },
  retention: { name: 'retention', default: '90d', expected: DURATION, parse: parseDurationValue,
    describe: 'how long records of expired certificates are kept' },
  metricsListen: { name: 'metrics-listen', expected: ADDRESS, parse: parseListenAddress,
    describe: 'also serve /metrics without authentication on this address (a warning is logged when it is not loopback)' },
  rootPropagation: { name: 'root-propagation', default: '1h', expected: DURATION, parse: parseDurationValue,
    describe: 'how long a prepared root must be in the bundle before `authority root activate` (without --force)' },
  rootExpiryHorizon: { name: 'root-expiry-horizon', default: '60d', expected: DURATION, parse: parseDurationValue,
    describe: 'warn, and fail `doctor`, when a root expires within this' },
  crlValidity: { name: 'crl-validity', default: '24h', expected: DURATION, parse: parseDurationValue,
    describe: 'CRL nextUpdate distance; CRLs are regenerated at half of it and on every change' },
  requestTimeout: { name: 'request-timeout', default: '30s', expected: DURATION, parse: parseDurationValue,
    describe: "a TLS handshake, and a request's headers and body, must arrive within this; a slower request gets 408, and either way the connection is closed" },
  maxConnections: { name: 'max-connections', default: '10000', expected: 'a positive integer', parse: parsePositiveInt,
    describe: 'connections the TLS listener holds at once; more are closed as they arrive, keeping file descriptors for the datastore and the local socket' },
  importRootCert: { name: 'import-root-cert', expected: FILE, parse: absolutePath,
    describe: 'first start only: use this PEM root (with --import-root-key) instead of generating one' },
  importRootKey: { name: 'import-root-key', expected: FILE, parse: absolutePath, describe: 'the PEM key of --import-root-cert' },
  importIntermediateCert: { name: 'import-intermediate-cert', expected: FILE, parse: absolutePath,
    describe: "first start only: sign SVIDs with this intermediate from your organisation's CA (no root key needed); later, only to replace an imported one that expired" },
  importIntermediateKey: { name: 'import-intermediate-key', expected: FILE, parse: absolutePath,
    describe: 'the PEM key of --import-intermediate-cert' },
  importIntermediateChain: { name: 'import-intermediate-chain', expected: FILE, parse: absolutePath,
    describe: 'PEM certificates between the imported intermediate and the root, if any' },
  importTrustBundle: { name: 'import-trust-bundle', expected: FILE, parse: absolutePath,
    describe: 'PEM roots the imported intermediate chains to; they become the trust bundle' },
  signingWorkers: { name: 'signing-workers', default: 'auto', expected: 'auto or a whole number (0: sign in the main thread)',
    parse: parseWorkerCount, describe: 'worker threads that verify CSRs and sign SVIDs; auto is one per core' },
  sqliteWriter: { name: 'sqlite-writer', default: 'thread', expected: 'thread or main', parse: parseSqliteWriter,
    describe: 'embedded datastore: commit issuances on a writer thread (main: in the main thread)' },
  datastoreFile: { name: 'datastore-file', expected: 'a readable file holding a postgres:// URL', parse: readDatastoreFile,
    describe: 'read --datastore from this file, so a URL with a password is in neither the process list nor the environment' },
  keyPassphraseFile: { name: 'key-passphrase-file', expected: 'a readable file holding the passphrase', parse: readPassphraseFile,
    describe: 'encrypt CA keys at rest with the passphrase in this file (or set MESHCA_KEY_PASSPHRASE)' },
  logLevel: { name: 'log-level', default: 'info', expected: LOG_LEVELS.join(', '), parse: parseLogLevel, describe: 'log verbosity' },
} satisfies OptionTable;

/** Where the CA keeps its state: embedded SQLite in the data directory, or a shared PostgreSQL. */
export type DatastoreChoice = { readonly kind: 'embedded' } | { readonly kind: 'postgres'; readonly url: string };

/**
 * node-postgres's own timeout, which the datastore URL may set in
 * milliseconds. node-postgres takes any text for it: "0", "-1" or a word give
 * up on every query at once, and an empty value removes the limit meshca
 * sets. (Server settings in the URL, such as
 * idle_in_transaction_session_timeout, are checked by PostgreSQL.)
 */
function checkQueryTimeout(url: URL): void {
  const values = url.searchParams.getAll('query_timeout');
  if (values.length > 1 || (values.length === 1 && !/^[1-9][0-9]{0,8}$/.test(values[0]!))) {
    throw new Error(`gives query_timeout as ${values.map((v) => `"${v}"`).join(' and ')}; it takes one whole number of milliseconds, 1 or more`);
  }
}

export function parseDatastore(raw: string): DatastoreChoice {
  if (raw === 'embedded' || raw === 'sqlite') return { kind: 'embedded' };
  if (/^postgres(ql)?:\/\//.test(raw)) {
    let url;
    try {
      url = new URL(raw);
    } catch {
      throw new Error('is not a valid postgres:// URL');
    }
    checkQueryTimeout(url);
    return { kind: 'postgres', url: raw };
  }
  // Only what comes before a first ":" is repeated: anything after it (a URL of another scheme, libpq's key=value form) may hold a password.
  throw new Error(`"${/^[a-z][a-z0-9+.-]{0,19}:/i.exec(raw)?.[0] ?? ''}…" is neither embedded nor a postgres:// URL`);
}

export interface ServerConfig {
  readonly datastore: DatastoreChoice;
  readonly dataDir: string;
  readonly listen: ReturnType<typeof parseListenAddress>;
  readonly trustDomain: ReturnType<typeof parseTrustDomain>;
  readonly servingNames: ServingNames;
  readonly rootTtl: Duration;
  readonly intermediateTtl: Duration;
  readonly svidTtl: Duration;
  readonly svidMaxTtl: Duration;
  /** Lifetime of agent SVIDs; undefined: --svid-ttl, like any SVID that names none. */
  readonly agentSvidTtl: Duration | undefined;
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
  /** How long a TLS handshake, and a request's headers and body, may take to arrive. */
  readonly requestTimeout: Duration;
  /** Connections the TLS listener holds at once. */
  readonly maxConnections: number;
  /** Signing worker threads; 0 signs in the main thread. */
  readonly signingWorkers: number;
  /** Where the embedded datastore commits issuances. */
  readonly sqliteWriter: 'thread' | 'main';
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
  const origins: Origins = {};
  const spellings: Spellings = {};
  const o = resolveOptions(SERVER_OPTIONS, 'MESHCA', sources, problems, origins, spellings);
  const keyPassphrase = o.keyPassphraseFile ?? (sources.env.MESHCA_KEY_PASSPHRASE || undefined);
  // Each pair of lifetimes is compared once both were read: one unreadable lifetime hides no other pair's problem.
  const { rootTtl, intermediateTtl, svidTtl, svidMaxTtl, agentSvidTtl } = o;
  problems.push(...lifetimeProblems({ rootTtl, intermediateTtl, svidTtl, svidMaxTtl, agentSvidTtl }, origins, spellings));
  problems.push(...importProblems(o));
  const placeholder = placeholderPassphraseProblem(keyPassphrase);
  if (placeholder) problems.push(placeholder);
  if (o.joinTokenTtl && o.joinTokenTtl > JOIN_TOKEN_MAX_TTL) {
    problems.push(`${settingLabel('join-token-ttl', spellings['join-token-ttl']!, origins)} is longer than the ${formatDuration(JOIN_TOKEN_MAX_TTL)} a join token may live`);
  }
  if (o.datastoreFile && origins['datastore'] !== 'default') {
    problems.push(`give the datastore in --datastore-file or in ${origins['datastore']}, not both`);
  }
  const datastore = o.datastoreFile ?? o.datastore;
  if (datastore?.kind === 'postgres' && !keyPassphrase) {
    problems.push('a PostgreSQL datastore keeps the CA keys in the database, encrypted: set MESHCA_KEY_PASSPHRASE or --key-passphrase-file');
  }
  if (problems.length) throw new ConfigError(problems);
  const { keyPassphraseFile: _passphraseFile, datastoreFile: _datastoreFile, ...settings } = o;
  return Object.freeze({ ...settings, datastore: datastore!, keyPassphrase, listen: Object.freeze({ ...o.listen }) });
}

/**
 * Lifetimes must nest: an SVID may live at most a sixth of the intermediate's
 * life (the window the next intermediate is active before the old one expires),
 * and an intermediate no longer than its root.
 */
function lifetimeProblems(
  o: {
    rootTtl?: Duration | undefined; intermediateTtl?: Duration | undefined; svidTtl?: Duration | undefined;
    svidMaxTtl?: Duration | undefined; agentSvidTtl?: Duration | undefined;
  },
  origins: Origins,
  spellings: Spellings,
): string[] {
  const problems: string[] = [];
  // Each value as its user wrote it (or README writes the default): "24h" stays "24h", not the "1d" it equals.
  const label = (name: string, value: Duration): string => settingLabel(name, spellings[name] ?? formatDuration(value), origins);
  if (o.svidMaxTtl !== undefined && o.intermediateTtl !== undefined) {
    const window = Math.floor(o.intermediateTtl / 6);
    if (o.svidMaxTtl > window) {
      problems.push(
        `${label('svid-max-ttl', o.svidMaxTtl)} is longer than the intermediate's activation window ` +
          `(${label('intermediate-ttl', o.intermediateTtl)} / 6 = ${window > 0 ? formatDuration(window as Duration) : '0s'}): an SVID could outlive its issuer`,
      );
    }
  }
  if (o.svidMaxTtl !== undefined) {
    if (o.svidTtl !== undefined && o.svidTtl > o.svidMaxTtl) {
      problems.push(`${label('svid-ttl', o.svidTtl)} is longer than ${label('svid-max-ttl', o.svidMaxTtl)}`);
    }
    if (o.agentSvidTtl !== undefined && o.agentSvidTtl > o.svidMaxTtl) {
      problems.push(`${label('agent-svid-ttl', o.agentSvidTtl)} is longer than ${label('svid-max-ttl', o.svidMaxTtl)}`);
    }
  }
  if (o.intermediateTtl !== undefined && o.rootTtl !== undefined && o.intermediateTtl > o.rootTtl) {
    problems.push(`${label('intermediate-ttl', o.intermediateTtl)} is longer than ${label('root-ttl', o.rootTtl)}`);
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
