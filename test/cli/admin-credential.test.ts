/**
 * The CLI's --credential, read before anything is sent to a remote CA: a
 * credential that the CA would refuse, or that others could have read, is
 * refused here, naming the file and what to do about it.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadAdminCredential } from '../../src/cli/admin-credential.js';
import { writeCredentialFiles } from '../../src/cli/credential-files.js';
import { ConfigError } from '../../src/config/options.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { FakeClock } from '../support/fake-clock.js';
import { MiniCa } from '../support/mini-ca.js';
import { tempDir } from '../support/temp-dir.js';

const TTL_SECONDS = 3600;
const OPERATOR = 'spiffe://example.org/meshca/admin/operator/alice';

async function refusal(dir: string, clock: FakeClock): Promise<string> {
  const err = await loadAdminCredential(dir, clock).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).problems.join('\n');
}

describe('loadAdminCredential', () => {
  let clock: FakeClock;
  let dir: string;
  let issuedAtMs: number;

  beforeEach(async () => {
    clock = new FakeClock();
    issuedAtMs = clock.nowMs();
    const ca = await MiniCa.create(clock);
    const keys = await generateKeyPair('ec-p256');
    const svid = await ca.issue(await createCsr(keys.privateKey, keys.publicKey), OPERATOR, TTL_SECONDS);
    dir = join(tempDir(), 'cred');
    await writeCredentialFiles(dir, keys.privateKey, svid.chainPem, ca.bundlePem);
  });

  it('reads the key, the chain and the bundle `meshca admin credential` wrote', async () => {
    const credential = await loadAdminCredential(dir, clock);
    expect(credential.keyPem).toContain('BEGIN PRIVATE KEY');
    expect(credential.chainPem).toContain('BEGIN CERTIFICATE');
    expect(credential.bundlePem).toContain('BEGIN CERTIFICATE');
  });

  it.each([
    { name: 'at its last second', afterIssueSeconds: TTL_SECONDS - 1, says: undefined },
    { name: 'once it has expired', afterIssueSeconds: TTL_SECONDS, says: /svid\.pem expired at .*meshca admin credential/ },
    { name: 'before it is valid (this host\'s clock behind)', afterIssueSeconds: -60, says: /svid\.pem is not valid until .*clock/ },
  ])('checks the certificate\'s validity $name', async ({ afterIssueSeconds, says }) => {
    clock.set(issuedAtMs + afterIssueSeconds * 1000);
    if (says === undefined) {
      await expect(loadAdminCredential(dir, clock)).resolves.toBeDefined();
    } else {
      expect(await refusal(dir, clock)).toMatch(says);
    }
  });

  it.each([0o644, 0o640, 0o604])('refuses a key others can read (mode %o), as ssh does', async (mode) => {
    chmodSync(join(dir, 'svid_key.pem'), mode);
    expect(await refusal(dir, clock)).toContain(`svid_key.pem can be read by others (mode 0${mode.toString(8)}): \`chmod 600\` it`);
  });

  it.each(['svid.pem', 'svid_key.pem', 'bundle.pem'])('names a missing %s and the command that writes one', async (file) => {
    rmSync(join(dir, file));
    expect(await refusal(dir, clock)).toBe(`--credential ${dir}: no ${file} (\`meshca admin credential --out ${dir}\` writes one)`);
  });

  it.each([
    { name: 'a directory that does not exist', path: (d: string) => join(d, 'missing'), says: (p: string) => `--credential ${p}: does not exist (\`meshca admin credential --out ${p}\` on the CA host writes a credential there)` },
    { name: 'the svid.pem inside rather than its directory', path: (d: string) => join(d, 'svid.pem'), says: (p: string) => `--credential ${p}: is a file, not a directory: give the directory holding svid.pem, svid_key.pem and bundle.pem` },
  ])('refuses $name, naming it as such rather than a file missing from it', async ({ path, says }) => {
    expect(await refusal(path(dir), clock)).toBe(says(path(dir)));
  });

  it('refuses a key that cannot be read, naming the file rather than OpenSSL\'s decoder', async () => {
    rmSync(join(dir, 'svid_key.pem'));
    writeFileSync(join(dir, 'svid_key.pem'), 'not a key\n', { mode: 0o600 });
    expect(await refusal(dir, clock)).toBe(`--credential ${dir}: svid_key.pem holds no private key that can be read`);
  });

  it('refuses a key from another credential', async () => {
    const other = await generateKeyPair('ec-p256');
    rmSync(join(dir, 'svid_key.pem'));
    writeFileSync(join(dir, 'svid_key.pem'), other.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    expect(await refusal(dir, clock)).toBe(`--credential ${dir}: svid_key.pem is not the key of svid.pem (files from two credentials?)`);
  });

  it.each([
    'spiffe://example.org/ns/web',
    'spiffe://example.org/meshca/agent/node-1',
    'spiffe://example.org/meshca/admin/root/alice',
  ])('refuses an SVID for %s, which is no operator\'s or auditor\'s', async (spiffeId) => {
    const ca = await MiniCa.create(clock);
    const keys = await generateKeyPair('ec-p256');
    const svid = await ca.issue(await createCsr(keys.privateKey, keys.publicKey), spiffeId, TTL_SECONDS);
    const workload = join(tempDir(), 'cred');
    await writeCredentialFiles(workload, keys.privateKey, svid.chainPem, ca.bundlePem);
    expect(await refusal(workload, clock)).toContain(`svid.pem is not an operator's or auditor's credential (spiffe://<td>/meshca/admin/<role>/<name>): it is for URI:${spiffeId}`);
  });

  it('gives the credential\'s trust domain, which the CA must be in', async () => {
    expect((await loadAdminCredential(dir, clock)).trustDomain.name).toBe('example.org');
  });

  it.each(['svid.pem', 'bundle.pem'])('refuses a %s that holds no certificate', async (file) => {
    rmSync(join(dir, file));
    writeFileSync(join(dir, file), 'not a certificate\n');
    expect(await refusal(dir, clock)).toBe(`--credential ${dir}: ${file} holds no certificate`);
  });
});
