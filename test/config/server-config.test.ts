/**
 * `meshca server` configuration: every setting from a flag, MESHCA_* variable
 * or JSON config file (keys are the flag names), in that order over its
 * default; every problem reported at once, naming where the value came from.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFileOption } from '../../src/config/options.js';
import { isLoopbackHost } from '../../src/config/parsers.js';
import { loadServerConfig, type ServerConfig } from '../../src/config/server-config.js';
import { SpiffeIdProblem } from '../../src/identity/errors.js';
import { tempDir } from '../support/temp-dir.js';
import { problemsOf } from '../support/config-problems.js';

const EXPECTED_DURATION = '(expected a whole number with s, m, h or d, e.g. 30s, 10m, 1h, 365d)';
const EXPECTED_LISTEN = '(expected host:port, e.g. 127.0.0.1:8443)';
const EXPECTED_TRUST_DOMAIN = '(expected a trust domain name of [a-z0-9._-])';
const DNS_SYNTAX = 'labels of a-z, 0-9 and inner hyphens, at most 253 characters, optional leading "*."; an internationalised name in its xn-- form';
const notADuration = (raw: string): string =>
  `"${raw}" is not a duration`;

interface Sources {
  /** Flag values by flag name ("svid-ttl"), converted to commander's camelCase here. */
  readonly flags?: Record<string, string>;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to a JSON config file when given. */
  readonly file?: unknown;
}

/** Writes `content` (JSON-encoded unless already a string) to a file in a fresh temp dir. */
function writeTemp(name: string, content: unknown): string {
  const path = join(tempDir(), name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function load(s: Sources = {}): ServerConfig {
  const flags = Object.fromEntries(
    Object.entries(s.flags ?? {}).map(([name, v]) => [name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
  );
  return loadServerConfig({ flags, env: s.env ?? {}, file: s.file === undefined ? undefined : writeTemp('meshca.json', s.file) });
}

describe('loadServerConfig defaults', () => {
  it('resolves the defaults to typed values (the README test checks every default as text)', () => {
    const config = load();
    expect(config.dataDir).toBe(resolve('./data'));
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8443 });
    expect(config.trustDomain.name).toBe('example.org');
    expect(config.rootTtl).toBe(365 * 86400);
    expect(config.intermediateTtl).toBe(24 * 3600);
    expect(config.svidTtl).toBe(3600);
    expect(config.svidMaxTtl).toBe(4 * 3600);
    expect(config.bundleRefreshHint).toBe(300);
    expect(config.logLevel).toBe('info');
    expect(config.keyPassphrase).toBeUndefined();
    expect(config.sqliteWriter).toBe('thread');
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(load())).toBe(true);
  });
});

describe('loadServerConfig sources', () => {
  type Setting = readonly [name: string, raw: string, read: (c: ServerConfig) => unknown, expected: unknown];
  const SETTINGS: readonly Setting[] = [
    ['data-dir', 'some/dir', (c) => c.dataDir, resolve('some/dir')],
    ['listen', '[::1]:9443', (c) => c.listen, { host: '::1', port: 9443 }],
    ['trust-domain', 'prod.example.com', (c) => c.trustDomain.name, 'prod.example.com'],
    ['root-ttl', '30d', (c) => c.rootTtl, 30 * 86400],
    ['intermediate-ttl', '48h', (c) => c.intermediateTtl, 48 * 3600],
    ['svid-ttl', '30m', (c) => c.svidTtl, 1800],
    ['svid-max-ttl', '2h', (c) => c.svidMaxTtl, 7200],
    ['agent-svid-ttl', '3h', (c) => c.agentSvidTtl, 3 * 3600],
    ['bundle-refresh-hint', '1m', (c) => c.bundleRefreshHint, 60],
    ['log-level', 'debug', (c) => c.logLevel, 'debug'],
    ['sqlite-writer', 'main', (c) => c.sqliteWriter, 'main'],
  ];
  const envOf = (name: string): string => `MESHCA_${name.toUpperCase().replace(/-/g, '_')}`;

  it.each(SETTINGS)('--%s from a flag', (name, raw, read, expected) => {
    expect(read(load({ flags: { [name]: raw } }))).toEqual(expected);
  });

  it.each(SETTINGS)('%s from its MESHCA_* variable', (name, raw, read, expected) => {
    expect(read(load({ env: { [envOf(name)]: raw } }))).toEqual(expected);
  });

  it.each(SETTINGS)('%s from the config file', (name, raw, read, expected) => {
    expect(read(load({ file: { [name]: raw } }))).toEqual(expected);
  });

  it.each<[string, Sources, number]>([
    ['flag over env and file', { flags: { 'svid-ttl': '20m' }, env: { MESHCA_SVID_TTL: '30m' }, file: { 'svid-ttl': '40m' } }, 1200],
    ['env over file', { env: { MESHCA_SVID_TTL: '30m' }, file: { 'svid-ttl': '40m' } }, 1800],
    ['flag over file', { flags: { 'svid-ttl': '20m' }, file: { 'svid-ttl': '40m' } }, 1200],
    ['file over default', { file: { 'svid-ttl': '40m' } }, 2400],
    ['default when no source sets it', { env: { MESHCA_SVID_MAX_TTL: '3h' } }, 3600],
    ['an empty variable counts as unset', { env: { MESHCA_SVID_TTL: '' }, file: { 'svid-ttl': '40m' } }, 2400],
  ])('precedence: %s', (_name, sources, expected) => {
    expect(load(sources).svidTtl).toBe(expected);
  });

  it('ignores a bad value in a source that a higher one overrides', () => {
    expect(load({ flags: { listen: '127.0.0.1:1' }, env: { MESHCA_LISTEN: 'bad' }, file: { listen: 'worse' } }).listen).toEqual({
      host: '127.0.0.1',
      port: 1,
    });
  });
});

describe('loadServerConfig problems', () => {
  it('lists every bad value at once, each naming its source and what was expected', () => {
    expect(problemsOf(() => load({ flags: { listen: 'nowhere', 'svid-ttl': '1x', 'trust-domain': 'Example.org' } }))).toEqual([
      `--listen: "nowhere" is not host:port ${EXPECTED_LISTEN}`,
      `--trust-domain: trust domain "Example.org" ${SpiffeIdProblem.badTrustDomainChar} ${EXPECTED_TRUST_DOMAIN}`,
      `--svid-ttl: ${notADuration('1x')} ${EXPECTED_DURATION}`,
    ]);
  });

  it('names the variable or the file a bad value came from', () => {
    const file = writeTemp('meshca.json', { 'svid-ttl': '1.5h' });
    const problems = problemsOf(() =>
      loadServerConfig({ flags: { trustDomain: 'a b' }, env: { MESHCA_LISTEN: '127.0.0.1:99999' }, file }),
    );
    expect(problems).toEqual([
      `MESHCA_LISTEN: "127.0.0.1:99999" is not host:port ${EXPECTED_LISTEN}`,
      `--trust-domain: trust domain "a b" ${SpiffeIdProblem.badTrustDomainChar} ${EXPECTED_TRUST_DOMAIN}`,
      `"svid-ttl" in ${file}: ${notADuration('1.5h')} ${EXPECTED_DURATION}`,
    ]);
  });

  it.each<[string, string, string]>([
    ['a bare host', 'localhost', '"localhost" is not host:port'],
    ['a port above 65535', '127.0.0.1:65536', '"127.0.0.1:65536" is not host:port'],
    ['a missing port', '127.0.0.1:', '"127.0.0.1:" is not host:port'],
    ['an unbracketed IPv6 address', '::1:8443', '"::1:8443" is not host:port'],
    ['a bracketed IPv4 address', '[127.0.0.1]:8443', '"127.0.0.1" is not an IPv6 address'],
    // The host is read as the serving certificate reads it: a malformed address had passed, and failed the start after the PKI was made.
    ['an IPv4 octet above 255', '300.1.1.1:47141', '"300.1.1.1" is not an IPv4 or IPv6 address'],
    ['a bare 0', '0:47143', '"0" is not an IPv4 or IPv6 address'],
    ['a bracketed IPv6 address with two "::"', '[1::2::3]:8443', '"1::2::3" is not an IPv4 or IPv6 address'],
    ['a name with an underscore', 'ca_1.example:8443', `"ca_1.example" is not a DNS name (${DNS_SYNTAX})`],
    ['a name whose last label is a number', 'ca.1x.5:8443', '"ca.1x.5" is not a DNS name (its last label is a number, so it reads as an IP address, which no verifier matches against a DNS name)'],
    ['a wildcard', '*.example.org:8443', '"*.example.org" is a wildcard, which names no one host to listen on'],
  ])('refuses --listen with %s', (_name, raw, message) => {
    expect(problemsOf(() => load({ flags: { listen: raw } }))).toEqual([`--listen: ${message} ${EXPECTED_LISTEN}`]);
  });

  it.each<[string, { host: string; port: number }]>([
    ['0.0.0.0:443', { host: '0.0.0.0', port: 443 }],
    ['localhost:8443', { host: 'localhost', port: 8443 }],
    ['[::]:8443', { host: '::', port: 8443 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['ca.example.org:8443', { host: 'ca.example.org', port: 8443 }],
    ['[::ffff:10.0.0.1]:8443', { host: '::ffff:10.0.0.1', port: 8443 }],
  ])('accepts --listen %s', (raw, expected) => {
    expect(load({ flags: { listen: raw } }).listen).toEqual(expected);
  });

  // Text with a colon, or of digits and dots only, is meant as an IP address (RFC 1123 2.1: host names
  // never take the dotted-decimal form), so a malformed one is refused rather than becoming a DNS name.
  it.each<[string, string]>([
    ['an IPv4 octet above 255', '10.0.0.256'],
    ['three IPv4 octets', '10.0.1'],
    ['an IPv4 octet with a leading zero (octal to some parsers)', '10.0.0.010'],
    ['two "::" in one IPv6 address', '1::2::3'],
    ['nine IPv6 groups', '1:2:3:4:5:6:7:8:9'],
    ['"::" standing for no group', '1:2:3:4:5:6:7:8::'],
    ['an IPv6 group of five digits', '12345::1'],
    ['an IPv6 zone (no place for it in a SAN)', 'fe80::1%eth0'],
    ['dotted IPv4 before the end of an IPv6 address', '1.2.3.4::1'],
    ['dotted IPv4 making nine IPv6 groups', '1:2:3:4:5:6:7:1.2.3.4'],
    ['a truncated embedded IPv4', '::ffff:10.0.1'],
    ['a bracketed IPv6 address', '[::1]'],
  ])('fail/--serving-names with %s', (_name, address) => {
    expect(problemsOf(() => load({ flags: { 'serving-names': `ok.example, ${address}` } }))).toEqual([
      `--serving-names: ${JSON.stringify(address)} is not an IPv4 or IPv6 address (expected comma-separated DNS names and IP addresses)`,
    ]);
  });

  it('pass/--serving-names become typed DNS names and IP addresses once, at load', () => {
    const { dnsNames, ipAddresses } = load({ flags: { 'serving-names': 'CA.example, 10.0.0.1, ::ffff:10.0.0.1' } }).servingNames;
    expect(dnsNames).toEqual(['ca.example']);
    expect(ipAddresses.map((ip) => [ip.text, ip.octets.toString('hex')])).toEqual([
      ['10.0.0.1', '0a000001'],
      ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ]);
  });

  it('pass/"serving-names" in a config file as a JSON list of strings, as the comma-separated line the flag takes', () => {
    const { dnsNames, ipAddresses } = load({ file: { 'serving-names': ['meshca.meshca.svc', '10.0.0.7'] } }).servingNames;
    expect({ dnsNames, ips: ipAddresses.map((ip) => ip.text) }).toEqual({ dnsNames: ['meshca.meshca.svc'], ips: ['10.0.0.7'] });
  });

  it('refuses a --sqlite-writer other than thread or main', () => {
    expect(problemsOf(() => load({ flags: { 'sqlite-writer': 'fast' } }))).toEqual(['--sqlite-writer: "fast" is neither thread nor main (expected thread or main)']);
  });

  it('refuses an unknown log level', () => {
    expect(problemsOf(() => load({ env: { MESHCA_LOG_LEVEL: 'verbose' } }))).toEqual([
      'MESHCA_LOG_LEVEL: "verbose" is not a log level (expected trace, debug, info, warn, error, fatal, silent)',
    ]);
  });

  // An empty flag or file value had fallen back to the default: `--data-dir ''` made a new PKI in ./data.
  it.each<[string, string]>([
    ['data-dir', 'a directory path'],
    ['trust-domain', 'a trust domain name of [a-z0-9._-]'],
    ['listen', 'host:port, e.g. 127.0.0.1:8443'],
    ['key-passphrase-file', 'a readable file holding the passphrase'],
  ])('refuses an empty --%s, given as the flag or in the config file', (name, expected) => {
    expect(problemsOf(() => load({ flags: { [name]: '' } }))).toEqual([`--${name}: must not be empty (expected ${expected})`]);
    const file = writeTemp('meshca.json', { [name]: '' });
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }))).toEqual([`"${name}" in ${file}: must not be empty (expected ${expected})`]);
  });

  it.each<[string, string, string, string | undefined]>([
    ['an empty --config is kept, to be refused', '', 'cli', ''],
    ['an empty MESHCA_CONFIG is unset', '', 'env', undefined],
    ['a file named by the variable is read', 'meshca.json', 'env', 'meshca.json'],
  ])('configFileOption: %s', (_name, value, source, expected) => {
    expect(configFileOption(value, source)).toBe(expected);
  });

  it('refuses an empty --config rather than reading no file', () => {
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: {}, file: '' }))).toEqual(['--config: must not be empty (expected a JSON file of settings)']);
  });

  it('reads an empty variable as unset, since container images set variables to empty', () => {
    const config = load({ env: { MESHCA_DATA_DIR: '', MESHCA_TRUST_DOMAIN: '', MESHCA_LISTEN: '', MESHCA_KEY_PASSPHRASE_FILE: '' } });
    expect(config).toMatchObject({ dataDir: resolve('./data'), listen: { host: '127.0.0.1', port: 8443 }, keyPassphrase: undefined });
    expect(config.trustDomain.name).toBe('example.org');
  });

  it('takes an empty --serving-names, whose default is empty, as no extra names', () => {
    for (const sources of [{ flags: { 'serving-names': '' } }, { file: { 'serving-names': '' } }, { file: { 'serving-names': [] } }]) {
      expect(load(sources).servingNames).toEqual({ dnsNames: [], ipAddresses: [] });
    }
  });

  it('refuses a --metrics-listen host as it does a --listen one', () => {
    expect(problemsOf(() => load({ flags: { 'metrics-listen': '300.1.1.1:9090' } }))).toEqual([
      `--metrics-listen: "300.1.1.1" is not an IPv4 or IPv6 address ${EXPECTED_LISTEN}`,
    ]);
  });

  it('refuses a blank data directory', () => {
    expect(problemsOf(() => load({ flags: { 'data-dir': '  ' } }))).toEqual(['--data-dir: must not be empty (expected a directory path)']);
  });

  it('reports unknown config-file keys, including camelCase spellings of known ones', () => {
    const file = writeTemp('meshca.json', { 'svid-ttl': '30m', svidMaxTtl: '2h', bogus: true });
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }))).toEqual([
      `config file ${file}: unknown setting "svidMaxTtl"`,
      `config file ${file}: unknown setting "bogus"`,
    ]);
  });

  it.each<[string, string, (path: string) => RegExp]>([
    ['not JSON', '{ "svid-ttl": ', (p) => new RegExp(`^config file ${p}: .*JSON`)],
    ['a JSON array', '["svid-ttl"]', (p) => new RegExp(`^config file ${p}: expected a JSON object of settings$`)],
    ['JSON null', 'null', (p) => new RegExp(`^config file ${p}: expected a JSON object of settings$`)],
  ])('refuses a config file that is %s', (_name, content, pattern) => {
    const file = writeTemp('meshca.json', content);
    const problems = problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(pattern(file));
  });

  it('refuses a config file that does not exist', () => {
    const file = join(tempDir(), 'missing.json');
    const problems = problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^config file ${file}: ENOENT`));
  });

  it('refuses a non-string config-file value that does not parse', () => {
    const file = writeTemp('meshca.json', { 'svid-ttl': 3600 });
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }))).toEqual([
      `"svid-ttl" in ${file}: ${notADuration('3600')} ${EXPECTED_DURATION}`,
    ]);
  });

  it.each<[string, unknown, string]>([
    ['a list', ['2h'], 'a list'],
    ['an object', { value: '2h' }, 'an object'],
    ['null', null, 'null'],
  ])('refuses a config-file value that is %s, rather than read its text', (_name, value, what) => {
    const file = writeTemp('meshca.json', { 'svid-ttl': value });
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }))).toEqual([
      `"svid-ttl" in ${file}: expected a string (a whole number with s, m, h or d, e.g. 30s, 10m, 1h, 365d), not ${what}`,
    ]);
  });

  it.each<[string, unknown[], string]>([
    ['a number', ['ca.example', 5], 'item 1 is 5'],
    ['null', [null], 'item 0 is null'],
    ['a nested list', ['ca.example', 'ca2.example', ['x']], 'item 2 is ["x"]'],
  ])('refuses a list setting whose item is %s, naming that item (lists are allowed)', (_name, value, says) => {
    const file = writeTemp('meshca.json', { 'serving-names': value });
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }))).toEqual([
      `"serving-names" in ${file}: expected a list of strings or a string (comma-separated DNS names and IP addresses), but ${says}`,
    ]);
  });

  it('refuses a config file that is not JSON without quoting it (it may hold a secret)', () => {
    const file = writeTemp('meshca.json', '{ "key-passphrase": SECRET-PASSPHRASE }');
    const problems = problemsOf(() => loadServerConfig({ flags: {}, env: {}, file }));
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^config file ${file}: not valid JSON`))]);
    expect(problems[0]).not.toContain('SECRET');
  });
});

describe('loadServerConfig lifetimes', () => {
  const window = (intermediate: string, sixth: string): string => `(--intermediate-ttl ${intermediate} / 6 = ${sixth})`;
  const byDefault = (setting: string) => `${setting} (the default)`;

  it.each<[string, Record<string, string>]>([
    ['the defaults (svid-max-ttl exactly intermediate-ttl / 6)', {}],
    ['svid-ttl equal to svid-max-ttl', { 'svid-ttl': '4h' }],
    ['agent-svid-ttl equal to svid-max-ttl', { 'agent-svid-ttl': '4h' }],
    ['intermediate-ttl equal to root-ttl', { 'root-ttl': '24h' }],
    ['a short chain', { 'root-ttl': '1h', 'intermediate-ttl': '1h', 'svid-max-ttl': '10m', 'svid-ttl': '5m' }],
  ])('accepts %s', (_name, flags) => {
    expect(() => load({ flags })).not.toThrow();
  });

  it.each<[string, Record<string, string>, string[]]>([
    ['svid-max-ttl above intermediate-ttl / 6', { 'svid-max-ttl': '241m' }, [
      `--svid-max-ttl 241m is longer than the intermediate's activation window ${window(byDefault('24h'), '4h')}: an SVID could outlive its issuer`,
    ]],
    ['an intermediate-ttl too short for the default svid-max-ttl', { 'intermediate-ttl': '23h' }, [
      `${byDefault('--svid-max-ttl 4h')} is longer than the intermediate's activation window ${window('23h', '230m')}: an SVID could outlive its issuer`,
    ]],
    ['svid-ttl above svid-max-ttl', { 'svid-ttl': '5h' }, [`--svid-ttl 5h is longer than ${byDefault('--svid-max-ttl 4h')}`]],
    ['agent-svid-ttl above svid-max-ttl', { 'agent-svid-ttl': '5h', 'svid-max-ttl': '3h' }, ['--agent-svid-ttl 5h is longer than --svid-max-ttl 3h']],
    ['intermediate-ttl above root-ttl', { 'root-ttl': '12h' }, [`${byDefault('--intermediate-ttl 24h')} is longer than --root-ttl 12h`]],
    ['all three at once', { 'root-ttl': '1h', 'intermediate-ttl': '6h', 'svid-ttl': '5h' }, [
      `${byDefault('--svid-max-ttl 4h')} is longer than the intermediate's activation window ${window('6h', '1h')}: an SVID could outlive its issuer`,
      `--svid-ttl 5h is longer than ${byDefault('--svid-max-ttl 4h')}`,
      '--intermediate-ttl 6h is longer than --root-ttl 1h',
    ]],
  ])('refuses %s', (_name, flags, problems) => {
    expect(problemsOf(() => load({ flags }))).toEqual(problems);
  });

  it.each<[string, Record<string, string>, Record<string, string>, string]>([
    ['lifetimes typed as flags', { 'intermediate-ttl': '24h', 'root-ttl': '720m' }, {}, '--intermediate-ttl 24h is longer than --root-ttl 720m'],
    ['lifetimes from environment variables', {}, { MESHCA_INTERMEDIATE_TTL: '1440m', MESHCA_ROOT_TTL: '12h' },
      '--intermediate-ttl 1440m (from MESHCA_INTERMEDIATE_TTL) is longer than --root-ttl 12h (from MESHCA_ROOT_TTL)'],
    ['the intermediate-ttl whose sixth is the window', { 'intermediate-ttl': '1440m', 'svid-max-ttl': '300m' }, {},
      `--svid-max-ttl 300m is longer than the intermediate's activation window ${window('1440m', '4h')}: an SVID could outlive its issuer`],
    ['a join-token lifetime', { 'join-token-ttl': '744h' }, {}, '--join-token-ttl 744h is longer than the 30d a join token may live'],
  ])('quotes %s as written, not rewritten', (_name, flags, env, problem) => {
    expect(problemsOf(() => load({ flags, env }))).toEqual([problem]);
  });

  it('refuses a default join-token lifetime longer than a join token may live (30 days)', () => {
    expect(problemsOf(() => load({ flags: { 'join-token-ttl': '31d' } }))).toEqual(['--join-token-ttl 31d is longer than the 30d a join token may live']);
  });

  it('reports a lifetime problem together with an unrelated bad value', () => {
    expect(problemsOf(() => load({ flags: { listen: 'x', 'svid-ttl': '5h' } }))).toEqual([
      `--listen: "x" is not host:port ${EXPECTED_LISTEN}`,
      `--svid-ttl 5h is longer than ${byDefault('--svid-max-ttl 4h')}`,
    ]);
  });

  it('compares the lifetimes that were read when another one could not be', () => {
    expect(problemsOf(() => load({ flags: { 'root-ttl': '', 'svid-max-ttl': '1h', 'svid-ttl': '2h', 'intermediate-ttl': '5h' } }))).toEqual([
      '--root-ttl: must not be empty (expected a whole number with s, m, h or d, e.g. 30s, 10m, 1h, 365d)',
      `--svid-max-ttl 1h is longer than the intermediate's activation window ${window('5h', '50m')}: an SVID could outlive its issuer`,
      '--svid-ttl 2h is longer than --svid-max-ttl 1h',
    ]);
  });

  it('names where each compared value came from when it was not typed as a flag', () => {
    const file = writeTemp('meshca.json', { 'svid-max-ttl': '1h' });
    expect(problemsOf(() => loadServerConfig({ flags: {}, env: { MESHCA_SVID_TTL: '2h' }, file }))).toEqual([
      `--svid-ttl 2h (from MESHCA_SVID_TTL) is longer than --svid-max-ttl 1h (from "svid-max-ttl" in ${file})`,
    ]);
  });
});

describe('loadServerConfig key passphrase', () => {
  it('reads MESHCA_KEY_PASSPHRASE', () => {
    expect(load({ env: { MESHCA_KEY_PASSPHRASE: 'correct horse' } }).keyPassphrase).toBe('correct horse');
  });

  it('refuses the deployment files\' placeholder passphrase', () => {
    expect(problemsOf(() => load({ env: { MESHCA_KEY_PASSPHRASE: 'REPLACE-ME-with-a-long-random-passphrase' } }))).toEqual([
      'the key passphrase is still the placeholder from the deployment files (REPLACE-ME…): set a long random one, and keep a copy',
    ]);
  });

  it('treats an empty MESHCA_KEY_PASSPHRASE as none', () => {
    expect(load({ env: { MESHCA_KEY_PASSPHRASE: '' } }).keyPassphrase).toBeUndefined();
  });

  it.each<[string, string, string]>([
    ['without a final newline', 'battery staple', 'battery staple'],
    ['with a final LF', 'battery staple\n', 'battery staple'],
    ['with a final CRLF', 'battery staple\r\n', 'battery staple'],
    ['with inner spaces and newlines kept', ' two\nlines ', ' two\nlines '],
  ])('reads --key-passphrase-file %s', (_name, content, expected) => {
    const file = writeTemp('passphrase', content);
    expect(load({ flags: { 'key-passphrase-file': file } }).keyPassphrase).toBe(expected);
  });

  it('reads the file named by MESHCA_KEY_PASSPHRASE_FILE', () => {
    const file = writeTemp('passphrase', 'from env file\n');
    expect(load({ env: { MESHCA_KEY_PASSPHRASE_FILE: file } }).keyPassphrase).toBe('from env file');
  });

  it('prefers the passphrase file over MESHCA_KEY_PASSPHRASE', () => {
    const file = writeTemp('passphrase', 'from file\n');
    expect(load({ flags: { 'key-passphrase-file': file }, env: { MESHCA_KEY_PASSPHRASE: 'from env' } }).keyPassphrase).toBe('from file');
  });

  it.each<[string, string]>([
    ['empty', ''],
    ['a lone newline', '\n'],
  ])('refuses a passphrase file that is %s', (_name, content) => {
    const file = writeTemp('passphrase', content);
    expect(problemsOf(() => load({ flags: { 'key-passphrase-file': file } }))).toEqual([
      `--key-passphrase-file: ${file} is empty (expected a readable file holding the passphrase)`,
    ]);
  });

  it('refuses a passphrase file that cannot be read, alongside other problems', () => {
    const file = join(tempDir(), 'missing');
    expect(problemsOf(() => load({ flags: { 'key-passphrase-file': file, listen: 'x' } }))).toEqual([
      `--listen: "x" is not host:port ${EXPECTED_LISTEN}`,
      `--key-passphrase-file: cannot read ${file}: no such file (ENOENT) (expected a readable file holding the passphrase)`,
    ]);
  });

  it('names MESHCA_KEY_PASSPHRASE_FILE when that is where an unreadable file came from', () => {
    const file = join(tempDir(), 'missing');
    expect(problemsOf(() => load({ env: { MESHCA_KEY_PASSPHRASE_FILE: file } }))).toEqual([
      `MESHCA_KEY_PASSPHRASE_FILE: cannot read ${file}: no such file (ENOENT) (expected a readable file holding the passphrase)`,
    ]);
  });

  it('never puts the passphrase in an error', () => {
    const problems = problemsOf(() => load({ flags: { listen: 'x' }, env: { MESHCA_KEY_PASSPHRASE: 'hunter2' } }));
    expect(problems.join('\n')).not.toContain('hunter2');
  });
});

describe('loadServerConfig datastore', () => {
  const URL_WITH_PASSWORD = 'postgres://meshca:s3cret@db.example.com:5432/meshca';
  const PASSPHRASE = { MESHCA_KEY_PASSPHRASE: 'a passphrase of some length' };

  // Sources are made inside each test: a file written for one is removed when it ends.
  it.each<[string, () => Sources, ServerConfig['datastore']]>([
    ['by default, embedded', () => ({}), { kind: 'embedded' }],
    ['from --datastore', () => ({ flags: { datastore: URL_WITH_PASSWORD }, env: PASSPHRASE }), { kind: 'postgres', url: URL_WITH_PASSWORD }],
    [
      'from --datastore-file, without its final newline',
      () => ({ flags: { 'datastore-file': writeTemp('datastore-url', `${URL_WITH_PASSWORD}\n`) }, env: PASSPHRASE }),
      { kind: 'postgres', url: URL_WITH_PASSWORD },
    ],
    [
      'from the file MESHCA_DATASTORE_FILE names',
      () => ({ env: { ...PASSPHRASE, MESHCA_DATASTORE_FILE: writeTemp('datastore-url', URL_WITH_PASSWORD) } }),
      { kind: 'postgres', url: URL_WITH_PASSWORD },
    ],
  ])('%s', (_name, sources, expected) => {
    expect(load(sources()).datastore).toEqual(expected);
  });

  it.each<[string, Sources['env'], string]>([
    ['--datastore', {}, '--datastore'],
    ['MESHCA_DATASTORE', { MESHCA_DATASTORE: URL_WITH_PASSWORD }, 'MESHCA_DATASTORE'],
  ])('refuses --datastore-file together with %s', (_name, env, origin) => {
    const file = writeTemp('datastore-url', URL_WITH_PASSWORD);
    const flags: Record<string, string> = { 'datastore-file': file, ...(origin === '--datastore' ? { datastore: URL_WITH_PASSWORD } : {}) };
    expect(problemsOf(() => load({ flags, env: { ...PASSPHRASE, ...env } }))).toEqual([`give the datastore in --datastore-file or in ${origin}, not both`]);
  });

  it('refuses a datastore file that holds no postgres:// URL, without repeating its password', () => {
    for (const [content, shown] of [['mysql://meshca:s3cret@db/meshca\n', 'mysql:…'], ['host=db user=meshca password=s3cret dbname=meshca', '…']]) {
      const file = writeTemp('datastore-url', content!);
      const problems = problemsOf(() => load({ flags: { 'datastore-file': file } }));
      expect(problems).toEqual([`--datastore-file: "${shown}" is neither embedded nor a postgres:// URL (expected a readable file holding a postgres:// URL)`]);
    }
  });

  it.each([
    ['query_timeout=0', 'query_timeout as "0"'],
    ['query_timeout=-1', 'query_timeout as "-1"'],
    ['query_timeout=soon', 'query_timeout as "soon"'],
    ['query_timeout=', 'query_timeout as ""'],
    ['query_timeout=1000&query_timeout=2000', 'query_timeout as "1000" and "2000"'],
  ])('refuses a datastore URL giving %s, a timeout node-postgres would misread', (parameter, says) => {
    const problems = problemsOf(() => load({ flags: { datastore: `${URL_WITH_PASSWORD}?${parameter}` }, env: PASSPHRASE }));
    expect(problems).toEqual([`--datastore: gives ${says}; it takes one whole number of milliseconds, 1 or more (expected embedded, or a postgres:// URL)`]);
  });

  it('takes a datastore URL giving query_timeout in milliseconds, and leaves the server\'s settings to the server', () => {
    const url = `${URL_WITH_PASSWORD}?query_timeout=5000&idle_in_transaction_session_timeout=20s`;
    expect(load({ flags: { datastore: url }, env: PASSPHRASE }).datastore).toEqual({ kind: 'postgres', url });
  });

  it('asks for the key passphrase when the file names PostgreSQL', () => {
    const file = writeTemp('datastore-url', URL_WITH_PASSWORD);
    expect(problemsOf(() => load({ flags: { 'datastore-file': file } }))).toEqual([
      'a PostgreSQL datastore keeps the CA keys in the database, encrypted: set MESHCA_KEY_PASSPHRASE or --key-passphrase-file',
    ]);
  });
});

describe('isLoopbackHost (whether --metrics-listen keeps the unauthenticated /metrics on this host)', () => {
  const CASES: ReadonlyArray<readonly [string, boolean]> = [
    ['127.0.0.1', true],
    ['127.0.0.0', true],
    ['127.255.255.254', true],
    ['127.10.20.30', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['LocalHost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['126.255.255.255', false],
    ['128.0.0.1', false],
    ['10.0.0.5', false],
    ['192.168.1.10', false],
    ['::2', false],
    ['fe80::1', false],
    ['::ffff:10.0.0.1', false],
    ['::ffff:0.0.0.0', false],
    ['metrics.example.org', false],
    ['localhost.example.org', false],
    ['127.0.0.1.example.org', false],
  ];
  it.each(CASES)('%s -> %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it('classifies the host of a parsed --metrics-listen, bracketed IPv6 included', () => {
    const hostOf = (raw: string) => load({ flags: { 'metrics-listen': raw } }).metricsListen!.host;
    expect(['127.0.0.1:9090', '[::1]:9090', 'localhost:9090', '0.0.0.0:9090', '[::]:9090'].map((raw) => isLoopbackHost(hostOf(raw)))).toEqual([true, true, true, false, false]);
  });
});
