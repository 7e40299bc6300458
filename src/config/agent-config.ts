/** `meshca-agent` settings: flags, MESHCA_AGENT_* variables and a JSON config file. */
import { X509Certificate } from 'node:crypto';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { splitCommand } from '../agent/command-line.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import { NotRegularFileError, readRegularFileSync } from '../platform/regular-file.js';
import { parseDuration, type Duration } from '../time/duration.js';
import { isKeyType, KEY_TYPES, type KeyType } from '../x509/keys.js';
import { decodeCertificates } from '../x509/pem.js';
import { ConfigError, envName, resolveOptions, type ConfigSources, type OptionTable } from './options.js';
import { parseListenAddress, parseLogLevel, parseNonEmpty, parseServerUrl, LOG_LEVELS, type ListenAddress } from './parsers.js';
import { fileErrorText } from '../platform/file-error-text.js';

function parseKeyType(raw: string): KeyType {
  if (!isKeyType(raw)) throw new Error(`"${raw}" is not a key type`);
  return raw;
}

function parseSignal(raw: string): NodeJS.Signals {
  const name = raw.toUpperCase().startsWith('SIG') ? raw.toUpperCase() : `SIG${raw.toUpperCase()}`;
  // Checked against this platform's signals: a misspelt one would fail only at the first reload.
  if (!(name in constants.signals)) throw new Error(`"${raw}" is not a signal name`);
  return name as NodeJS.Signals;
}

function parseBoolean(raw: string): boolean {
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw new Error(`"${raw}" is not true or false`);
}

/** A join token is some 50 characters; a file near this size holds no token. */
export const MAX_TOKEN_FILE_BYTES = 4096;
/** Some hundreds of roots; a bundle file larger than this is no trust bundle. */
export const MAX_TRUST_BUNDLE_BYTES = 1024 * 1024;

/**
 * A file read at start and again while the agent runs, by the same rules: a
 * regular file, or a link to one (a Secret's or ConfigMap's key is a link),
 * within `maxBytes`. A FIFO put there must not hang the agent before it has
 * said anything, nor a huge file fill its memory.
 */
function readAtStart(path: string, maxBytes: number): string {
  return readRegularFileSync(path, maxBytes, true).data;
}

/** Why `flag`'s file could not be read, as a configuration problem. */
function unreadable(flag: string, path: string, err: unknown): string {
  if (err instanceof NotRegularFileError) return `--${flag}: ${err.message}`;
  return `--${flag}: cannot read ${path}: ${fileErrorText(err)}`;
}

const DURATION = 'a whole number with s, m, h or d, e.g. 30s';
const path = (v: string) => resolve(parseNonEmpty(v));

export const AGENT_OPTIONS = {
  server: { name: 'server', expected: 'an https:// URL', parse: parseServerUrl, describe: 'the CA, e.g. https://ca.example:8443 (required)' },
  trustBundle: { name: 'trust-bundle', expected: 'a PEM file', parse: path,
    describe: 'roots to trust the CA by at first contact; afterwards the agent keeps its bundle current itself, and reads this file again, for roots added to it, only while the CA cannot be reached or used (required)' },
  joinToken: { name: 'join-token', expected: 'a join token', parse: parseNonEmpty,
    describe: 'single-use token from `meshca token create`; not needed while a saved agent SVID is valid' },
  joinTokenFile: { name: 'join-token-file', expected: 'a file path', parse: path, describe: 'read the join token from this file, again at each step while the agent has no agent SVID: a new token written there needs no restart' },
  out: { name: 'out', expected: 'a directory path', parse: path,
    describe: 'where svid.pem, svid_key.pem, bundle.pem and crl.pem are published for the proxy (required)' },
  spiffeId: { name: 'spiffe-id', expected: 'a SPIFFE ID', parse: (v: string) => SpiffeId.parse(v),
    describe: 'which identity to install when the agent has several entries' },
  // Split at start: a command line it cannot split (an unterminated quote) is a configuration error, exit 78, not a failure at the first reload.
  reloadCmd: { name: 'reload-cmd', expected: 'a command line', parse: (v: string) => splitCommand(parseNonEmpty(v)),
    describe: 'run after each installation, split into words without a shell' },
  pidFile: { name: 'pid-file', expected: 'a file path', parse: path, describe: 'signal the PID in this file after each installation' },
  reloadSignal: { name: 'reload-signal', default: 'SIGHUP', expected: 'a signal name', parse: parseSignal,
    describe: 'the signal sent to the PID in --pid-file' },
  stateDir: { name: 'state-dir', expected: 'a directory path', parse: path,
    describe: 'keep the agent SVID (0600) here so a restart needs no new token' },
  keyType: { name: 'key-type', default: 'ec-p256', expected: KEY_TYPES.join(', '), parse: parseKeyType,
    describe: 'type of the workload keys the agent generates' },
  healthListen: { name: 'health-listen', expected: 'host:port', parse: parseListenAddress,
    describe: 'serve /healthz, /readyz and /metrics on this address' },
  syncInterval: { name: 'sync-interval', default: '30s', expected: DURATION, parse: (v: string) => parseDuration(v),
    describe: 'how often entries, bundle and CRL are re-synced' },
  once: { name: 'once', default: 'false', expected: 'true or false', parse: parseBoolean, switch: true,
    describe: 'one step, then exit: 0 once a valid SVID is installed (a new one, or one kept from --out, even due, while the CA gives none) and the proxy reloaded, 1 otherwise (init containers, scripts)' },
  combined: { name: 'combined', default: 'false', expected: 'true or false', parse: parseBoolean, switch: true,
    describe: 'also write combined.pem: the key, then the chain, for single-read consumers' },
  logLevel: { name: 'log-level', default: 'info', expected: LOG_LEVELS.join(', '), parse: parseLogLevel, describe: 'log verbosity' },
} satisfies OptionTable;

/**
 * Variables holding secrets the agent reads: kept from the processes it runs
 * (--reload-cmd), which need none of them. The join token is the only one;
 * --join-token-file and --config name files, which the agent does not hand on.
 */
export const AGENT_SECRET_VARIABLES: readonly string[] = [envName('MESHCA_AGENT', AGENT_OPTIONS.joinToken.name)];

export interface AgentConfig {
  readonly server: URL;
  readonly trustBundlePem: string;
  /** Read again while the CA cannot be reached or used, for roots added since the start. */
  readonly trustBundleFile: string;
  /** Never logged. */
  readonly joinToken: string | undefined;
  /** Read again while the agent has no agent SVID: a new token written there is used without a restart. */
  readonly joinTokenFile: string | undefined;
  readonly out: string;
  readonly spiffeId: SpiffeId | undefined;
  /** --reload-cmd split into the program and its arguments (command-line.ts). */
  readonly reloadCmd: readonly string[] | undefined;
  readonly pidFile: string | undefined;
  readonly reloadSignal: NodeJS.Signals;
  readonly stateDir: string | undefined;
  readonly keyType: KeyType;
  readonly healthListen: ListenAddress | undefined;
  readonly syncInterval: Duration;
  readonly once: boolean;
  readonly combined: boolean;
  readonly logLevel: ReturnType<typeof parseLogLevel>;
}

export function loadAgentConfig(sources: ConfigSources): AgentConfig {
  const problems: string[] = [];
  const o = resolveOptions(AGENT_OPTIONS, 'MESHCA_AGENT', sources, problems);
  for (const [key, flag] of [['server', 'server'], ['trustBundle', 'trust-bundle'], ['out', 'out']] as const) {
    if (o[key] === undefined && !problems.some((p) => p.includes(`--${flag}`))) problems.push(`--${flag} is required`);
  }
  let trustBundlePem = '';
  if (o.trustBundle) {
    try {
      trustBundlePem = readAtStart(o.trustBundle, MAX_TRUST_BUNDLE_BYTES);
      const problem = bundleProblem(trustBundlePem);
      if (problem) problems.push(`--trust-bundle: ${o.trustBundle} ${problem}`);
    } catch (err) {
      problems.push(unreadable('trust-bundle', o.trustBundle, err));
    }
  }
  let joinToken = o.joinToken;
  if (o.joinTokenFile) {
    try {
      // An empty file means no token (systemd's fallback credential once the token is spent), not an empty one.
      const fromFile = readAtStart(o.joinTokenFile, MAX_TOKEN_FILE_BYTES).trim();
      if (fromFile && o.joinToken) problems.push('give either --join-token or --join-token-file, not both');
      joinToken = fromFile || o.joinToken;
    } catch (err) {
      problems.push(unreadable('join-token-file', o.joinTokenFile, err));
    }
  }
  if (o.reloadCmd && o.pidFile) problems.push('give either --reload-cmd or --pid-file, not both');
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze({
    server: o.server!,
    trustBundlePem,
    trustBundleFile: o.trustBundle!,
    joinToken,
    joinTokenFile: o.joinTokenFile,
    out: o.out!,
    spiffeId: o.spiffeId,
    reloadCmd: o.reloadCmd,
    pidFile: o.pidFile,
    reloadSignal: o.reloadSignal,
    stateDir: o.stateDir,
    keyType: o.keyType,
    healthListen: o.healthListen,
    syncInterval: o.syncInterval,
    once: o.once,
    combined: o.combined,
    logLevel: o.logLevel,
  });
}

/** Why a --trust-bundle cannot be trusted from, if it cannot: it holds PEM certificates only, at least one, each readable. */
function bundleProblem(pem: string): string | undefined {
  try {
    const certificates = decodeCertificates(pem);
    if (certificates.length === 0) return 'holds no PEM certificate';
    for (const der of certificates) new X509Certificate(der);
    return undefined;
  } catch (err) {
    return `holds something other than PEM certificates (${err instanceof Error ? err.message : String(err)})`;
  }
}
