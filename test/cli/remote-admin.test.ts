/**
 * The admin commands run from another host: `--server URL --credential DIR`
 * against a real `meshca server`, with credentials `meshca admin credential`
 * made. Each command acts with the credential's role and name (the audit log
 * records operator:alice, not the host's operator), an auditor is refused
 * what an auditor may not do, and what would reach the wrong CA, or none, is
 * refused before anything is sent.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeshca, type CliResult } from '../support/cli.js';
import { svidCheck } from '../support/conformance.js';
import { opensslOk, selfSigned, signedCa } from '../support/openssl-pki.js';
import { isRunning, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;
const EX_UNAVAILABLE = 69;

describe('meshca admin commands with --server and --credential', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;
  let operator: string;
  let auditor: string;
  /** A command against the CA over HTTPS, as `who`. */
  const remote = (who: string, ...args: string[]): Promise<CliResult> => runMeshca([...args, '--server', server!.url, '--credential', who]);

  beforeAll(async () => {
    dataDir = tempDir();
    server = await startServer(['--data-dir', dataDir, '--trust-domain', 'example.org']);
    const home = tempDir();
    [operator, auditor] = [join(home, 'alice'), join(home, 'bob')];
    for (const [role, name, out] of [['operator', 'alice', operator], ['auditor', 'bob', auditor]] as const) {
      const made = await runMeshca(['admin', 'credential', '--role', role, '--name', name, '--out', out!, '--data-dir', dataDir]);
      expect(made.code, made.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    if (!server) return;
    expect(await server.stop()).toBe(0);
    expect(isRunning(server.pid)).toBe(false);
  });

  it('an operator\'s changes are made, and recorded, in the credential\'s name', async () => {
    const created = await remote(operator, 'token', 'create', '--agent', 'node-1', '--json');
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };

    const listed = await remote(auditor, 'token', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ id, agent: 'node-1', createdBy: 'operator:alice' }));

    const events = await remote(auditor, 'audit', 'export');
    expect(events.code, events.stderr).toBe(0);
    const made = events.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; actor: string; data: { tokenHash?: string } });
    expect(made.find((e) => e.type === 'token.created' && e.data.tokenHash === id)?.actor).toBe('operator:alice');
  });

  it('an operator mints an SVID remotely: the key is made on this host, and the files pass the SPIFFE checker', async () => {
    const out = join(tempDir(), 'minted');
    const spiffeId = 'spiffe://example.org/ns/remote/sa/web';
    const minted = await remote(operator, 'mint', '--spiffe-id', spiffeId, '--out', out, '--ttl', '10m');
    expect(minted.code, minted.stderr).toBe(0);
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', spiffeId, '--max-ttl', '600']);
    expect(check.ok, check.output).toBe(true);
  });

  it('a credential issued for the key its holder made (--csr): the operator writes only svid.pem and bundle.pem, and the holder, the key beside them, acts in its own name', async () => {
    const holder = tempDir();
    const [key, csr, out] = [join(holder, 'svid_key.pem'), join(holder, 'dave.csr'), join(tempDir(), 'for-dave')];
    opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=dave']);
    const issued = await runMeshca(['admin', 'credential', '--role', 'auditor', '--name', 'dave', '--csr', csr, '--out', out, '--data-dir', dataDir]);
    expect(issued.code, issued.stderr).toBe(0);
    expect({ key: existsSync(join(out, 'svid_key.pem')), svid: existsSync(join(out, 'svid.pem')), bundle: existsSync(join(out, 'bundle.pem')) }).toEqual({ key: false, svid: true, bundle: true });
    const leaf = new X509Certificate(readFileSync(join(out, 'svid.pem')));
    expect(leaf.publicKey.equals(createPublicKey(readFileSync(key)))).toBe(true);

    for (const file of ['svid.pem', 'bundle.pem']) copyFileSync(join(out, file), join(holder, file));
    chmodSync(key, 0o600);
    const listed = await remote(holder, 'cert', 'list', '--json');
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ spiffeId: 'spiffe://example.org/meshca/admin/auditor/dave', holder: 'auditor:dave' }));
  });

  it.each([
    { name: 'a --csr file that holds the private key too', csr: (key: string, request: string) => readFileSync(key, 'utf8') + readFileSync(request, 'utf8'), keyInOut: false, says: 'a private key is never sent' },
    { name: 'an --out that holds a key', csr: (_key: string, request: string) => readFileSync(request, 'utf8'), keyInOut: true, says: 'holds svid_key.pem, which would sit beside a certificate for another key' },
  ])('fail/admin credential --csr with $name: refused before asking (exit 78)', async ({ csr, keyInOut, says }) => {
    const work = tempDir();
    const [key, request, out] = [join(work, 'key.pem'), join(work, 'request.csr'), join(work, 'out')];
    opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', request, '-subj', '/CN=x']);
    const given = join(work, 'given.csr');
    writeFileSync(given, csr(key, request));
    if (keyInOut) {
      const made = await runMeshca(['admin', 'credential', '--role', 'auditor', '--name', 'erin', '--out', out, '--data-dir', dataDir]);
      expect(made.code, made.stderr).toBe(0);
    }
    const res = await runMeshca(['admin', 'credential', '--role', 'auditor', '--name', 'frank', '--csr', given, '--out', out, '--data-dir', dataDir]);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
    expect(res.stderr).toContain(says);
  });

  it('--json for scripts: admin credential and admin renew print the credential\'s details, audit checkpoint the head it signed', async () => {
    const out = join(tempDir(), 'gina');
    const made = await runMeshca(['admin', 'credential', '--role', 'auditor', '--name', 'gina', '--out', out, '--json', '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    const issued = JSON.parse(made.stdout) as Record<string, string>;
    const leaf = new X509Certificate(readFileSync(join(out, 'svid.pem')));
    expect(issued).toEqual({
      spiffeId: 'spiffe://example.org/meshca/admin/auditor/gina',
      serial: leaf.serialNumber.toLowerCase(),
      notBefore: expect.any(String),
      notAfter: new Date(leaf.validTo).toISOString(),
      renewAfter: expect.any(String),
    });

    const renewed = await remote(out, 'admin', 'renew', '--json');
    expect(renewed.code, renewed.stderr).toBe(0);
    const again = JSON.parse(renewed.stdout) as Record<string, string>;
    expect({ spiffeId: again.spiffeId, serial: again.serial }).toEqual({ spiffeId: issued.spiffeId, serial: new X509Certificate(readFileSync(join(out, 'svid.pem'))).serialNumber.toLowerCase() });
    expect(again.serial).not.toBe(issued.serial);

    const checkpoint = await runMeshca(['audit', 'checkpoint', '--json', '--data-dir', dataDir]);
    expect(checkpoint.code, checkpoint.stderr).toBe(0);
    expect(JSON.parse(checkpoint.stdout)).toEqual({ seq: expect.any(Number), hash: expect.stringMatching(/^[0-9a-f]{64}$/), signerId: expect.stringMatching(/^[0-9a-f]{40}$/) });
  });

  it('an auditor verifies the log remotely', async () => {
    const verified = await remote(auditor, 'audit', 'verify');
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^audit log verified: \d+ events/);
  });

  it.each([
    { name: 'an auditor creating a token', who: () => auditor, args: ['token', 'create', '--agent', 'node-2'], says: "a caller with role auditor may not token create: it takes an operator's credential (forbidden, HTTP 403)" },
    { name: 'an auditor registering a workload', who: () => auditor, args: ['entry', 'create', '--agent', 'node-2', '--spiffe-id', 'spiffe://example.org/ns/x'], says: '(forbidden, HTTP 403)' },
  ])('refuses $name (exit 1)', async ({ who, args, says }) => {
    const res = await remote(who(), ...args);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 1, stdout: '' });
    expect(res.stderr).toContain(says);
  });

  it('an auditor may see what `entry apply` would change, and not apply it', async () => {
    const file = join(tempDir(), 'entries.json');
    writeFileSync(file, JSON.stringify([{ agent: 'node-4', spiffeId: 'spiffe://example.org/ns/planned' }]));
    const planned = await remote(auditor, 'entry', 'apply', file, '--dry-run');
    expect(planned.code, planned.stderr).toBe(0);
    expect(planned.stdout).toContain('would create node-4 spiffe://example.org/ns/planned');
    // The CA's own checks are dry runs of each write, which take the operator role: the auditor is told they were not run.
    expect(planned.stdout).toContain("(the CA's own checks, of its trust domain and longest lifetime, were not run: they ask for the operator role)");
    const applied = await remote(auditor, 'entry', 'apply', file);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain("creating node-4 spiffe://example.org/ns/planned: a caller with role auditor may not entry write: it takes an operator's credential (nothing was changed) (forbidden, HTTP 403)");
    const entries = await remote(auditor, 'entry', 'list', '--agent', 'node-4', '--json');
    expect(JSON.parse(entries.stdout)).toEqual([]);
  });

  it.each([
    { name: '--server without --credential', args: () => ['token', 'list', '--server', server!.url], says: 'needs --credential DIR (`meshca admin credential --out DIR` on the CA host writes one)' },
    { name: '--credential without --server', args: () => ['token', 'list', '--credential', operator], says: '--credential is for a CA reached with --server' },
    { name: '--server with --data-dir', args: () => ['token', 'list', '--server', server!.url, '--credential', operator, '--data-dir', dataDir], says: '--server and --data-dir name two CAs: give one' },
    { name: 'an http:// --server', args: () => ['token', 'list', '--server', server!.url.replace('https:', 'http:'), '--credential', operator], says: 'must be an https:// URL' },
    {
      name: 'a root to import from files, which the CA would read on its own host',
      args: () => ['authority', 'root', 'prepare', '--import-cert', '/etc/hostname', '--server', server!.url, '--credential', operator],
      says: '--import-cert and --import-key name files the CA reads on its own host',
    },
    {
      name: 'audit verify of a datastore file with --server',
      args: () => ['audit', 'verify', '--db', join(dataDir, 'meshca.db'), '--server', server!.url, '--credential', auditor],
      says: '--db verifies a datastore file on this host, without asking any CA',
    },
    // An empty flag names nothing: not the current directory, not a CA to reach.
    ...(['--data-dir', '--server', '--credential'] as const).map((flag) => ({ name: `an empty ${flag}`, args: () => ['token', 'list', flag, ''], says: `argument '' is invalid. It is empty.` })),
  ])('refuses $name before asking any CA (exit 78)', async ({ args, says }) => {
    const res = await runMeshca(args());
    expect(res.code, res.stderr).toBe(EX_CONFIG);
    expect(res.stderr).toContain(says);
  });

  // Which CA a command administers, when flags and variables name it: a flag wins over the other way's variable; two of a kind are refused.
  it.each([
    { name: 'MESHCA_DATA_DIR set, --server given (a container image sets the variable)', env: () => ({ MESHCA_DATA_DIR: '/nonexistent' }), args: () => ['--server', server!.url, '--credential', auditor], reaches: 'remote' },
    { name: 'MESHCA_SERVER and MESHCA_CREDENTIAL set, --data-dir given', env: () => ({ MESHCA_SERVER: 'https://127.0.0.1:1', MESHCA_CREDENTIAL: auditor }), args: () => ['--data-dir', dataDir], reaches: 'local' },
    { name: 'MESHCA_SERVER and MESHCA_CREDENTIAL set, nothing given', env: () => ({ MESHCA_SERVER: server!.url, MESHCA_CREDENTIAL: auditor }), args: () => [], reaches: 'remote' },
    { name: 'MESHCA_SERVER set empty, --data-dir given', env: () => ({ MESHCA_SERVER: '', MESHCA_CREDENTIAL: '' }), args: () => ['--data-dir', dataDir], reaches: 'local' },
    // An empty variable is unset (README): not a CA to reach, not the current directory.
    { name: 'MESHCA_SERVER set empty, MESHCA_DATA_DIR set', env: () => ({ MESHCA_SERVER: '', MESHCA_CREDENTIAL: '', MESHCA_DATA_DIR: dataDir }), args: () => [], reaches: 'local' },
    { name: 'MESHCA_DATA_DIR set empty, MESHCA_SERVER and MESHCA_CREDENTIAL set', env: () => ({ MESHCA_DATA_DIR: '', MESHCA_SERVER: server!.url, MESHCA_CREDENTIAL: auditor }), args: () => [], reaches: 'remote' },
    {
      name: 'MESHCA_SERVER and MESHCA_DATA_DIR both set',
      env: () => ({ MESHCA_SERVER: server!.url, MESHCA_CREDENTIAL: auditor, MESHCA_DATA_DIR: dataDir }),
      args: () => [],
      refused: 'MESHCA_SERVER and MESHCA_DATA_DIR name two CAs: give one',
    },
    { name: 'MESHCA_CREDENTIAL set alone', env: () => ({ MESHCA_CREDENTIAL: auditor }), args: () => [], refused: 'MESHCA_CREDENTIAL is set, but no --server (or MESHCA_SERVER) says which CA to use it with' },
    { name: 'MESHCA_SERVER set alone', env: () => ({ MESHCA_SERVER: server!.url }), args: () => [], refused: 'needs --credential DIR' },
  ])('$name', async ({ env, args, reaches, refused }) => {
    const res = await runMeshca(['audit', 'checkpoint', ...args()], env());
    if (refused !== undefined) {
      expect(res.code).toBe(EX_CONFIG);
      expect(res.stderr).toContain(refused);
      return;
    }
    // An auditor may not sign a checkpoint; the local socket's operator may: the answer tells which CA was asked.
    if (reaches === 'remote') {
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('a caller with role auditor may not');
    } else {
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^checkpoint: head \d+:/);
    }
  });

  it('refuses `authority intermediate import` while MESHCA_SERVER names another host\'s CA, rather than import into this host\'s', async () => {
    const res = await runMeshca(['authority', 'intermediate', 'import', '--cert', '/etc/hostname', '--key', '/etc/hostname', '--data-dir', dataDir], { MESHCA_SERVER: server!.url });
    expect(res.code).toBe(EX_CONFIG);
    expect(res.stderr).toContain('MESHCA_SERVER names a CA on another host, but this command has the CA read files on its own host');
  });

  it('a credential a remote operator issues ends no later than the operator\'s own, so revoking it bounds every one it issued', async () => {
    const issuer = new X509Certificate(readFileSync(join(operator, 'svid.pem')));
    for (const [name, ttl] of [['alice-2', '3h'], ['dave', undefined]] as const) {
      const out = join(tempDir(), name);
      const made = await remote(operator, 'admin', 'credential', '--role', 'operator', '--name', name, '--out', out, ...(ttl ? ['--ttl', ttl] : []));
      expect(made.code, made.stderr).toBe(0);
      const issued = new X509Certificate(readFileSync(join(out, 'svid.pem')));
      expect(issued.validTo, `${name} --ttl ${ttl}`).toBe(issuer.validTo);
    }
    // The CA host's operator is bound by nothing but the maximum.
    const local = join(tempDir(), 'erin');
    const made = await runMeshca(['admin', 'credential', '--role', 'operator', '--name', 'erin', '--out', local, '--ttl', '3h', '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    expect(Date.parse(new X509Certificate(readFileSync(join(local, 'svid.pem'))).validTo)).toBeGreaterThan(Date.parse(issuer.validTo));
  });

  it('refuses a credential whose key others can read, before sending anything (exit 78)', async () => {
    const exposed = join(tempDir(), 'exposed');
    const made = await runMeshca(['admin', 'credential', '--role', 'operator', '--name', 'carol', '--out', exposed, '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    chmodSync(join(exposed, 'svid_key.pem'), 0o644);
    const res = await remote(exposed, 'token', 'create', '--agent', 'node-3');
    expect(res.code).toBe(EX_CONFIG);
    expect(res.stderr).toContain('svid_key.pem can be read by others (mode 0644)');
    const listed = await remote(auditor, 'token', 'list', '--agent', 'node-3', '--json');
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });

  it('a --server where no CA answers exits 69, as a missing local CA does', async () => {
    const closed = new URL(server!.url);
    closed.port = '1';
    const res = await runMeshca(['token', 'list', '--server', closed.origin, '--credential', auditor]);
    expect(res.code).toBe(EX_UNAVAILABLE);
    expect(res.stderr).toContain(`no CA answers at ${closed.origin} (ECONNREFUSED)`);
  });
});

/**
 * Starts a CA with `serverArgs` (and a data directory of its own), and has
 * an auditor list its tokens over --server: the remote CLI's CRL check must
 * let the real CA through.
 */
async function auditorListsTokens(serverArgs: readonly string[]): Promise<void> {
  const dataDir = tempDir();
  const server = await startServer(['--data-dir', dataDir, ...serverArgs]);
  try {
    const auditor = join(tempDir(), 'bob');
    const made = await runMeshca(['admin', 'credential', '--role', 'auditor', '--name', 'bob', '--out', auditor, '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    const listed = await runMeshca(['token', 'list', '--json', '--server', server.url, '--credential', auditor]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  } finally {
    expect(await server.stop()).toBe(0);
  }
}

/**
 * A CA signing with an intermediate imported from an organisation's PKI
 * publishes CRLs of its own keys only: the remote CLI asks its CRLs for the
 * chain it shows, and must not ask for the organisation root's, which meshca
 * cannot sign.
 */
describe('meshca admin commands with --server on a CA with an imported intermediate', () => {
  it('pass/an auditor lists tokens: the chain is held to the imported intermediate\'s CRL, and the organisation root\'s is not asked for', async () => {
    const pki = tempDir();
    const orgRoot = selfSigned(pki, 'org-root', { days: 3650 });
    const orgIntermediate = signedCa(pki, 'org-intermediate', orgRoot, { days: 6 });
    await auditorListsTokens(['--import-intermediate-cert', orgIntermediate.cert, '--import-intermediate-key', orgIntermediate.key, '--import-trust-bundle', orgRoot.cert]);
  });
});

/**
 * A CA on a root imported with its key signs that root's CRL as its own, and
 * the remote CLI asks for it: the root's name is the organisation's, but the
 * intermediate under it is one meshca made.
 */
describe('meshca admin commands with --server on a CA whose root was imported with its key', () => {
  it("pass/an auditor lists tokens: the chain is held to the intermediate's CRL and the imported root's, both sent", async () => {
    const byoRoot = selfSigned(tempDir(), 'byo-root', { days: 3650 });
    await auditorListsTokens(['--import-root-cert', byoRoot.cert, '--import-root-key', byoRoot.key]);
  });
});
