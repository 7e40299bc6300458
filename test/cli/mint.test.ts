/**
 * `meshca mint` against a real `meshca server` process: for every key type the
 * files it writes pass the independent SPIFFE checker (pyca/cryptography and
 * openssl verify -x509_strict), and the key stays private.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_TYPES, type KeyType } from '../../src/x509/keys.js';
import { runMeshca } from '../support/cli.js';
import { svidCheck, svidCheckFiles } from '../support/conformance.js';
import { getOverSocket } from '../support/http-client.js';
import { opensslOk } from '../support/openssl-pki.js';
import { isRunning, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const TTL = '10m';
const TTL_SECONDS = 600;

/** What node:crypto reports for the key of each --key-type. */
const KEY_SHAPES: Record<KeyType, { type: string; details: Record<string, unknown> }> = {
  'ec-p256': { type: 'ec', details: { namedCurve: 'prime256v1' } },
  'ec-p384': { type: 'ec', details: { namedCurve: 'secp384r1' } },
  'rsa-2048': { type: 'rsa', details: { modulusLength: 2048 } },
  'rsa-3072': { type: 'rsa', details: { modulusLength: 3072 } },
  ed25519: { type: 'ed25519', details: {} },
};

describe('meshca mint', () => {
  let dataDir: string;
  let server: ServerProcess | undefined;
  let bundlePem: string;

  beforeAll(async () => {
    dataDir = tempDir();
    server = await startServer(['--data-dir', dataDir, '--trust-domain', 'example.org']);
    bundlePem = (await getOverSocket(server.socketPath, '/v1/bundle.pem')).body;
  });

  afterAll(async () => {
    if (!server) return;
    expect(await server.stop()).toBe(0);
    expect(isRunning(server.pid)).toBe(false);
  });

  // Concurrent: each key type is a separate CLI process; outputs go to separate directories under dataDir.
  it.concurrent.for(KEY_TYPES)('pass/%s key: files pass the SPIFFE conformance checker', async (keyType, { expect }) => {
    const out = join(dataDir, `out-${keyType}`);
    const spiffeId = `spiffe://example.org/ns/cli/sa/${keyType}`;
    const res = await runMeshca([
      'mint', '--spiffe-id', spiffeId, '--out', out, '--ttl', TTL, '--dns', 'web.example.org', '--key-type', keyType,
      '--data-dir', dataDir, '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const details = JSON.parse(res.stdout) as Record<string, string>;
    expect(details).toMatchObject({ spiffeId });
    expect(Date.parse(details.notAfter!) - Date.parse(details.notBefore!)).toBe((TTL_SECONDS + 30) * 1000);

    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', spiffeId, '--max-ttl', String(TTL_SECONDS)]);
    expect(check.ok, check.output).toBe(true);

    expect(statSync(join(out, 'svid_key.pem')).mode & 0o777).toBe(0o600);
    const key = createPrivateKey(readFileSync(join(out, 'svid_key.pem')));
    expect(key.asymmetricKeyType).toBe(KEY_SHAPES[keyType].type);
    expect(key.asymmetricKeyDetails).toMatchObject(KEY_SHAPES[keyType].details);
    expect(readFileSync(join(out, 'bundle.pem'), 'utf8')).toBe(bundlePem);
  });

  // Every refusal code is covered through inject() in test/server/issuance.test.ts; here, how the CLI reports one (exit 1),
  // and a flag the CLI refuses itself before asking the CA (exit 78, as the README's exit codes have it).
  it.each([
    { name: 'fail/ttl above the maximum', args: ['--spiffe-id', 'spiffe://example.org/web', '--ttl', '5h'], code: 1, message: '(ttl_exceeds_max, HTTP 400)' },
    {
      name: 'fail/unknown key type',
      args: ['--spiffe-id', 'spiffe://example.org/web', '--key-type', 'dsa'],
      code: 78,
      message: `--key-type: "dsa" is not one of ${KEY_TYPES.join(', ')}`,
    },
  ])('$name: exits $code and writes nothing', async ({ args, code, message }) => {
    const out = join(tempDir(), 'out');
    const res = await runMeshca(['mint', ...args, '--out', out, '--data-dir', dataDir]);
    expect(res.code).toBe(code);
    expect(res.stderr).toContain(message);
    expect(existsSync(out)).toBe(false);
  });

  // A key made by another tool (here openssl, as an HSM or a workload's own tooling would) never meets meshca: only its CSR.
  it.each([
    { name: 'ECDSA P-256', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
    { name: 'RSA 2048', newkey: ['-newkey', 'rsa:2048'] },
  ])('pass/--csr from openssl ($name): svid.pem certifies that key, and passes the SPIFFE checker with it', async ({ newkey }) => {
    const work = tempDir();
    const [key, csr, out] = [join(work, 'key.pem'), join(work, 'request.csr'), join(work, 'out')];
    opensslOk(['req', '-new', ...newkey, '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=ignored']);
    chmodSync(key, 0o600);
    const spiffeId = 'spiffe://example.org/ns/byo/sa/batch';
    const res = await runMeshca(['mint', '--spiffe-id', spiffeId, '--csr', csr, '--out', out, '--ttl', TTL, '--data-dir', dataDir]);
    expect(res.code, res.stderr).toBe(0);

    const leaf = new X509Certificate(readFileSync(join(out, 'svid.pem')));
    const fromKey = createPrivateKey(readFileSync(key));
    expect(leaf.checkPrivateKey(fromKey)).toBe(true);
    expect(lstatSync(join(out, 'svid_key.pem'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(out, 'bundle.pem'), 'utf8')).toBe(bundlePem);
    const files = { cert: join(out, 'svid.pem'), key, bundle: join(out, 'bundle.pem') };
    const check = svidCheckFiles(files, ['--trust-domain', 'example.org', '--spiffe-id', spiffeId, '--max-ttl', String(TTL_SECONDS)]);
    expect(check.ok, check.output).toBe(true);
  });

  it.each([
    { name: '--csr with --key-type', prepare: () => undefined, args: (csr: string) => ['--csr', csr, '--key-type', 'rsa-2048'], code: 78, says: "option '--csr <file>' cannot be used with option '--key-type <type>'" },
    { name: '--csr of a file that is no CSR', prepare: (csr: string) => writeFileSync(csr, 'junk\n'), args: (csr: string) => ['--csr', csr], code: 78, says: 'holds no PEM certificate request' },
    { name: '--csr of a missing file', prepare: () => undefined, args: (csr: string) => ['--csr', `${csr}.missing`], code: 78, says: 'cannot read it: no such file (ENOENT)' },
    { name: '--csr of a directory', prepare: () => undefined, args: () => ['--csr', tempDir()], code: 78, says: 'cannot read it: it is a directory' },
    {
      name: '--csr of a file holding the private key too (openssl req -keyout and -out to one file)',
      prepare: (csr: string) => writeFileSync(csr, readFileSync(join(dirname(csr), 'key.pem'), 'utf8') + readFileSync(csr, 'utf8')),
      args: (csr: string) => ['--csr', csr],
      code: 78,
      says: 'holds a PRIVATE KEY block besides the request: a private key is never sent',
    },
    {
      // Its Proc-Type and DEK-Info headers had made the decoder pass over the block as text: the request alone was sent, and the file taken.
      name: '--csr of a file holding an encrypted traditional private key too (openssl genrsa -traditional -aes256)',
      prepare: (csr: string) => {
        const key = join(dirname(csr), 'traditional.pem');
        opensslOk(['genrsa', '-traditional', '-aes256', '-passout', 'pass:secret', '-out', key, '2048']);
        writeFileSync(csr, readFileSync(key, 'utf8') + readFileSync(csr, 'utf8'));
      },
      args: (csr: string) => ['--csr', csr],
      code: 78,
      says: 'the RSA PRIVATE KEY block is not PEM this reader takes',
    },
    { name: '--csr of a file holding two requests', prepare: (csr: string) => writeFileSync(csr, readFileSync(csr, 'utf8').repeat(2)), args: (csr: string) => ['--csr', csr], code: 78, says: 'holds 2 certificate requests, not one' },
    { name: '--out that is a file', prepare: (csr: string) => writeFileSync(join(dirname(csr), 'out'), 'x'), args: (csr: string) => ['--csr', csr], code: 78, says: 'is not a directory' },
  ])('fail/$name: exits $code and writes nothing', async ({ prepare, args, code, says }) => {
    const work = tempDir();
    const csr = join(work, 'request.csr');
    opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'key.pem'), '-out', csr, '-subj', '/CN=x']);
    prepare(csr);
    const out = join(work, 'out');
    const existed = existsSync(out);
    const res = await runMeshca(['mint', '--spiffe-id', 'spiffe://example.org/ns/byo', ...args(csr), '--out', out, '--data-dir', dataDir]);
    expect(res.code).toBe(code);
    expect(res.stderr).toContain(says);
    expect(existsSync(out)).toBe(existed);
    expect(existsSync(join(out, 'svid.pem'))).toBe(false);
  });

  it('fail/--csr into an --out that holds a key: refused before asking, the key and its certificate left as they were', async () => {
    const work = tempDir();
    const out = join(work, 'out');
    const first = await runMeshca(['mint', '--spiffe-id', 'spiffe://example.org/ns/first', '--out', out, '--data-dir', dataDir]);
    expect(first.code, first.stderr).toBe(0);
    const before = readFileSync(join(out, 'svid.pem'), 'utf8');
    const csr = join(work, 'request.csr');
    opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'key.pem'), '-out', csr, '-subj', '/CN=x']);
    const res = await runMeshca(['mint', '--spiffe-id', 'spiffe://example.org/ns/second', '--csr', csr, '--out', out, '--data-dir', dataDir]);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`--out ${out} holds svid_key.pem`);
    expect(readFileSync(join(out, 'svid.pem'), 'utf8')).toBe(before);
    expect(new X509Certificate(before).checkPrivateKey(createPrivateKey(readFileSync(join(out, 'svid_key.pem'))))).toBe(true);
  });

  it('fail/no server on the data directory: says how to start one, and exits 69 (EX_UNAVAILABLE)', async () => {
    const empty = tempDir();
    const res = await runMeshca(['mint', '--spiffe-id', 'spiffe://example.org/web', '--out', join(empty, 'out'), '--data-dir', empty]);
    expect(res.code).toBe(69);
    expect(res.stderr).toContain(`no CA socket at ${join(empty, 'meshca.sock')}`);
  });
});
