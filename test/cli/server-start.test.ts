/**
 * Starting `meshca server` as a process: what survives a restart, and every way
 * a start must stop early with a message naming the problem (damaged or
 * missing key files, a missing passphrase, bad settings, a second server on
 * the same data directory).
 */
import Database from 'better-sqlite3';
import { cpSync, existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { runMeshca } from '../support/cli.js';
import { callHttps, getOverSocket } from '../support/http-client.js';
import { isRunning, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;
const PASSPHRASE = 'correct horse battery staple';
const UNENCRYPTED_KEYS = 'CA keys are stored unencrypted';
const WARN = 40; // pino's level number

/** Starts a server that is stopped (and must exit cleanly) when the test ends. */
async function serverForTest(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const server = await startServer(args, env);
  onTestFinished(async () => {
    expect(await server.stop()).toBe(0);
    expect(isRunning(server.pid)).toBe(false);
  });
  return server;
}

interface Pki {
  readonly root: string;
  readonly intermediate: string;
}

/** A data directory with a PKI, made once by a server that was then stopped; copied for each test that damages it. */
interface Template {
  readonly dir: string;
  readonly pki: Pki;
  readonly bundlePem: string;
}

async function makeTemplate(env: NodeJS.ProcessEnv = {}): Promise<Template> {
  const dir = tempDir();
  const server = await startServer(['--data-dir', dir], env);
  try {
    const created = server.logLines().find((l) => l.msg === 'created a new PKI');
    const bundlePem = (await getOverSocket(server.socketPath, '/v1/bundle.pem')).body;
    return { dir, pki: { root: String(created?.root), intermediate: String(created?.intermediate) }, bundlePem };
  } finally {
    expect(await server.stop()).toBe(0);
  }
}

/** A private copy of a template's data directory (without a socket a stopped server might have left). */
function copyOf(template: Template): string {
  const dir = tempDir();
  cpSync(template.dir, dir, { recursive: true, filter: (src) => !src.endsWith('.sock') });
  return dir;
}

const keyFile = (dataDir: string, id: string) => join(dataDir, 'keys', `${id}.key.pem`);

function counts(dataDir: string): { audit: number; certificates: number } {
  const db = new Database(join(dataDir, 'meshca.db'), { readonly: true });
  try {
    return {
      // Checkpoints are signed on the wall clock's 5-minute marks, whenever a test runs across one.
      audit: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_events WHERE type <> 'audit.checkpoint'").get()!.n,
      certificates: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM certificates').get()!.n,
    };
  } finally {
    db.close();
  }
}

describe('meshca server restarts', () => {
  it('pass/a restart on the same data directory keeps the root; SIGTERM stops it cleanly; unencrypted keys get a warning', async () => {
    const dataDir = tempDir();
    const first = await startServer(['--data-dir', dataDir], { MESHCA_KEY_PASSPHRASE: '' });
    onTestFinished(() => first.stop().then(() => undefined, () => undefined)); // stopped even if an assertion below fails
    const before = (await getOverSocket(first.socketPath, '/v1/bundle.pem')).body;
    expect(before).toContain('-----BEGIN CERTIFICATE-----');
    expect(await first.stop()).toBe(0);
    expect(isRunning(first.pid)).toBe(false);
    expect(first.logLines().some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM')).toBe(true);
    expect(first.logLines().filter((l) => l.level === WARN && String(l.msg).startsWith(UNENCRYPTED_KEYS))).toHaveLength(1);

    const second = await serverForTest(['--data-dir', dataDir]);
    expect(second.logLines().some((l) => l.msg === 'created a new PKI')).toBe(false);
    // Trusting only the first bundle, HTTPS to the restarted server works: its serving SVID chains to the same root.
    const after = await callHttps(second.url, { path: '/v1/bundle.pem', ca: before });
    expect(after.status).toBe(200);
    expect(after.body).toBe(before);
  });
});

describe('meshca server refuses to start on damaged CA keys', () => {
  let template: Template;
  beforeAll(async () => {
    template = await makeTemplate();
  });

  it.each([
    { name: 'fail/root key overwritten with garbage', key: 'root', damage: 'garbage', problem: 'is corrupt: it is not a PKCS#8 private key' },
    { name: 'fail/intermediate key truncated', key: 'intermediate', damage: 'truncate', problem: 'is corrupt: it is not a PKCS#8 private key' },
    { name: 'fail/root key deleted', key: 'root', damage: 'delete', problem: 'is missing' },
  ] as const)('$name → exit 78 naming the file', async ({ key, damage, problem }) => {
    const dataDir = copyOf(template);
    const path = keyFile(dataDir, template.pki[key]);
    const pem = readFileSync(path, 'utf8');
    if (damage === 'garbage') writeFileSync(path, 'not a key at all\n');
    if (damage === 'truncate') writeFileSync(path, pem.slice(0, pem.length / 2));
    if (damage === 'delete') unlinkSync(path);
    const keysBefore = readdirSync(join(dataDir, 'keys')).sort();
    const before = counts(dataDir);

    const res = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn']);
    expect(res.code, res.stderr).toBe(EX_CONFIG);
    expect(res.stderr).toContain(`meshca: CA key file ${path} ${problem}`);
    // Nothing was replaced or recorded: the refused start changed nothing.
    expect(readdirSync(join(dataDir, 'keys')).sort()).toEqual(keysBefore);
    expect(counts(dataDir)).toEqual(before);
    expect(existsSync(join(dataDir, 'meshca.sock'))).toBe(false);
  });

  it('fail/a restart with another --trust-domain → exit 78: the CA\'s certificates name the first, and a flag cannot move them', async () => {
    const dataDir = copyOf(template);
    const before = counts(dataDir);
    const res = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--trust-domain', 'other.org']);
    expect(res.code, res.stderr).toBe(EX_CONFIG);
    expect(res.stderr).toMatch(/was last started for trust domain example\.org, not the configured other\.org: a trust domain cannot change in place; keep --trust-domain example\.org/);
    expect(counts(dataDir)).toEqual(before);
  });
});

describe('meshca server with encrypted CA keys', () => {
  let template: Template;
  beforeAll(async () => {
    template = await makeTemplate({ MESHCA_KEY_PASSPHRASE: PASSPHRASE });
  });

  it('pass/key files are ENCRYPTED PRIVATE KEY, mode 0600, in a 0700 directory', () => {
    const keys = join(template.dir, 'keys');
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    const files = readdirSync(keys);
    expect(files.sort()).toEqual([`${template.pki.intermediate}.key.pem`, `${template.pki.root}.key.pem`].sort());
    for (const file of files) {
      const pem = readFileSync(join(keys, file), 'utf8');
      expect(pem).toMatch(/^meshca-key-kdf: scrypt N=32768 r=8 p=1 salt=\S+\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
      expect(pem).not.toContain('BEGIN PRIVATE KEY');
      expect(statSync(join(keys, file)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(join(template.dir, 'meshca.db')).mode & 0o777).toBe(0o600);
  });

  it.each([
    { name: 'fail/restart without the passphrase', env: {}, problem: 'is encrypted; set MESHCA_KEY_PASSPHRASE or --key-passphrase-file' },
    { name: 'fail/restart with a wrong passphrase', env: { MESHCA_KEY_PASSPHRASE: 'wrong' }, problem: 'is corrupt or the passphrase is wrong' },
  ])('$name → exit 78 naming the key file', async ({ env, problem }) => {
    const dataDir = copyOf(template);
    const res = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], { MESHCA_KEY_PASSPHRASE: '', ...env });
    expect(res.code, res.stderr).toBe(EX_CONFIG);
    expect(res.stderr).toMatch(new RegExp(`meshca: CA key file ${join(dataDir, 'keys')}/[0-9a-f]+\\.key\\.pem ${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(res.stderr + res.stdout).not.toContain(PASSPHRASE);
    // The keys are encrypted: a warning that they are not would contradict the refusal.
    expect(res.stdout).not.toContain(UNENCRYPTED_KEYS);
  });

  it('pass/restart with --key-passphrase-file keeps the root and never logs the passphrase', async () => {
    const dataDir = copyOf(template);
    const passphraseFile = join(tempDir(), 'passphrase');
    writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const server = await serverForTest(['--data-dir', dataDir, '--key-passphrase-file', passphraseFile], { MESHCA_KEY_PASSPHRASE: '' });
    const res = await callHttps(server.url, { path: '/v1/bundle.pem', ca: template.bundlePem });
    expect(res.body).toBe(template.bundlePem);
    expect(server.output()).not.toContain(PASSPHRASE);
    expect(server.output()).not.toContain(UNENCRYPTED_KEYS);
  });
});

// Each rule is unit-tested in test/config/server-config.test.ts; here, what the command does with a bad configuration.
describe('meshca server refuses a bad configuration, listing every problem at once', () => {
  it.each([
    {
      name: 'fail/bad listen address and bad duration',
      args: ['--listen', 'nope', '--svid-ttl', '5x'],
      env: {},
      problems: ['--listen: "nope" is not host:port', '--svid-ttl: "5x" is not a duration'],
    },
    {
      name: 'fail/bad values from flags and environment',
      args: ['--trust-domain', 'Example.ORG', '--root-ttl', '1y'],
      env: { MESHCA_LOG_LEVEL: 'loud' },
      problems: ['--trust-domain: ', '--root-ttl: "1y" is not a duration', 'MESHCA_LOG_LEVEL: "loud" is not a log level'],
    },
    {
      name: 'fail/svid-max-ttl 5h above a sixth of the default 24h intermediate',
      args: ['--svid-max-ttl', '5h'],
      env: {},
      problems: ["--svid-max-ttl 5h is longer than the intermediate's activation window (--intermediate-ttl 24h (the default) / 6 = 4h): an SVID could outlive its issuer"],
    },
    {
      name: 'fail/a bad value and a lifetime that does not nest',
      args: ['--listen', 'nope', '--svid-max-ttl', '5h'],
      env: {},
      problems: ['--listen: "nope" is not host:port', "--svid-max-ttl 5h is longer than the intermediate's activation window"],
    },
    // Each had started: a flag typed empty fell back to its default, and a --listen host that is no address failed after the PKI was made (exit 1, restarted by systemd).
    {
      name: 'fail/an empty --trust-domain and a --listen host of 300.1.1.1',
      args: ['--trust-domain', '', '--listen', '300.1.1.1:47141'],
      env: { MESHCA_CONFIG: '', MESHCA_DATA_DIR: '' },
      problems: ['--trust-domain: must not be empty', '--listen: "300.1.1.1" is not an IPv4 or IPv6 address'],
    },
    {
      name: 'fail/a --listen host of 0, an empty --key-passphrase-file and an empty --config',
      args: ['--listen', '0:47143', '--key-passphrase-file', '', '--config', ''],
      env: {},
      problems: ['--config: must not be empty', '--listen: "0" is not an IPv4 or IPv6 address', '--key-passphrase-file: must not be empty'],
    },
  ])('$name → exit 78, nothing created', async ({ args, env, problems }) => {
    const dataDir = join(tempDir(), 'data');
    const res = await runMeshca(['server', '--data-dir', dataDir, ...args], env);
    expect(res.code, res.stderr).toBe(EX_CONFIG);
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('meshca: invalid configuration:');
    const listed = lines.slice(1);
    expect(listed, res.stderr).toHaveLength(problems.length);
    for (const problem of problems) expect(listed.some((l) => l.startsWith(`  - ${problem}`)), `${problem}\n${res.stderr}`).toBe(true);
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('a second meshca server on the same data directory', () => {
  it('fail/is refused (socket in use), leaves the first serving and the datastore untouched', async () => {
    const dataDir = tempDir();
    const first = await serverForTest(['--data-dir', dataDir]);
    const before = counts(dataDir);

    const second = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`meshca: another meshca server is already running on ${join(dataDir, 'meshca.sock')}`);

    expect(isRunning(first.pid)).toBe(true);
    expect((await getOverSocket(first.socketPath, '/healthz')).status).toBe(200);
    // A refused start is not a start: no "ca.started" event, no serving certificate issued.
    expect(counts(dataDir)).toEqual(before);
  });
});

describe('a first start on an address another process holds', () => {
  it.each([
    { flag: '--listen', args: (busy: string) => ['--listen', busy] },
    { flag: '--metrics-listen', args: (busy: string) => ['--listen', '127.0.0.1:0', '--metrics-listen', busy] },
  ])('fail/$flag in use: exits 1 naming it, and makes no CA (a later start may give another trust domain)', async ({ flag, args }) => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const busy = `127.0.0.1:${(holder.address() as AddressInfo).port}`;
    const dataDir = tempDir();

    const res = await runMeshca(['server', '--data-dir', dataDir, ...args(busy)]);
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 1, stderr: `meshca: ${flag} ${busy} cannot be listened on (EADDRINUSE): another process listens there (\`ss -ltnp\` names it): stop it, or give another port; no CA was started or created\n` });
    expect(readdirSync(dataDir).filter((name) => name !== 'meshca.flock')).toEqual([]);

    // Nothing holds the start that comes next to the trust domain of the one that failed.
    const next = await serverForTest(['--data-dir', dataDir, '--trust-domain', 'prod.example.com']);
    expect((await getOverSocket(next.socketPath, '/readyz')).status).toBe(200);
  });

  it('fail/a first start that made the data directory (and a parent) removes them, leaving the operator\'s directory above as it was', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const operators = tempDir();

    const res = await runMeshca(['server', '--data-dir', join(operators, 'ca', 'data'), '--listen', `127.0.0.1:${(holder.address() as AddressInfo).port}`]);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain('cannot be listened on (EADDRINUSE)');
    expect(readdirSync(operators)).toEqual([]);
  });
});
