/**
 * `meshca admin renew --server URL --credential DIR`: the holder of an
 * operator's or auditor's credential renews it with itself against a real
 * `meshca server`. A new key is made here (only its CSR is sent), and the new
 * certificate, key and bundle replace the old in DIR as one unit; the CA
 * audits it as a renewal. A revoked credential is refused and DIR left as it was.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runMeshca } from '../support/cli.js';
import { cleanupLater } from '../support/cleanup.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const EX_CONFIG = 78;

describe('meshca admin renew', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;
  const credential = async (role: string, name: string): Promise<string> => {
    const out = join(tempDir(), name);
    const made = await runMeshca(['admin', 'credential', '--role', role, '--name', name, '--out', out, '--data-dir', dataDir]);
    expect(made.code, made.stderr).toBe(0);
    return out;
  };
  const filesOf = (dir: string) => ['svid.pem', 'svid_key.pem', 'bundle.pem'].map((f) => readFileSync(join(dir, f), 'utf8'));
  const serialIn = (dir: string) => new X509Certificate(readFileSync(join(dir, 'svid.pem'))).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');

  beforeAll(async () => {
    dataDir = tempDir();
    const started = await startServer(['--data-dir', dataDir, '--trust-domain', 'example.org']);
    server = started;
    // Stopped cleanly after the file's last test, by its own PID.
    cleanupLater(async () => expect(await started.stop()).toBe(0));
  });

  it('pass/writes a new certificate for the same identity and a new key over the credential, audited as its renewal', async () => {
    const dir = await credential('auditor', 'bob');
    const [oldCert, oldKey] = filesOf(dir);
    const oldSerial = serialIn(dir);
    const renewed = await runMeshca(['admin', 'renew', '--ttl', '2h', '--server', server!.url, '--credential', dir]);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(renewed.stdout).toContain(`spiffe://example.org/meshca/admin/auditor/bob renewed in ${dir} (valid until `);
    const [newCert, newKey] = filesOf(dir);
    expect(newCert).not.toBe(oldCert);
    expect(newKey).not.toBe(oldKey);
    expect(statSync(join(dir, 'svid_key.pem')).mode & 0o777).toBe(0o600);
    const leaf = new X509Certificate(newCert!);
    expect(leaf.subjectAltName).toBe('URI:spiffe://example.org/meshca/admin/auditor/bob');
    expect(Date.parse(leaf.validTo) - Date.now()).toBeGreaterThan(3600_000);

    // The renewed credential is used as the old one was; the audit log says what it renews.
    const events = await runMeshca(['audit', 'export', '--server', server!.url, '--credential', dir]);
    expect(events.code, events.stderr).toBe(0);
    const issued = events.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; actor: string; data: Record<string, unknown> })
      .find((e) => e.type === 'certificate.issued' && e.data['serial'] === serialIn(dir));
    expect(issued).toMatchObject({ actor: 'auditor:bob', data: { holder: 'auditor:bob', renewalOf: oldSerial } });
  });

  it('fail/a revoked credential is refused (exit 1), and the directory keeps what it held', async () => {
    const dir = await credential('operator', 'carol');
    const revoked = await runMeshca(['cert', 'revoke', '--serial', serialIn(dir), '--data-dir', dataDir]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const before = filesOf(dir);
    const res = await runMeshca(['admin', 'renew', '--server', server!.url, '--credential', dir]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('revoked');
    expect(filesOf(dir)).toEqual(before);
  });

  it('fail/without --server, before anything is sent (exit 78): the CA host\'s operator holds no credential', async () => {
    const res = await runMeshca(['admin', 'renew', '--data-dir', dataDir]);
    expect(res.code).toBe(EX_CONFIG);
    expect(res.stderr).toContain('give --server (or MESHCA_SERVER) and --credential DIR');
  });
});
