/**
 * An operator's or auditor's credential, as `meshca admin credential --out
 * DIR` wrote it (svid.pem, svid_key.pem, bundle.pem), read for the CLI's
 * --credential. What would only fail at the CA, or fail there without saying
 * why (an expired certificate is refused at authentication), is refused here
 * first, naming the file and what to do.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../config/options.js';
import { adminIdentityOf } from '../identity/meshca-identity.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { readCertificate, type CertificateFacts } from '../x509/certificate-reader.js';
import { decodeCertificates } from '../x509/pem.js';
import { BUNDLE_FILE, KEY_FILE, SVID_FILE } from './credential-files.js';
import { modeText } from '../platform/mode-text.js';
import { fileErrorText } from '../platform/file-error-text.js';

export interface AdminCredential {
  readonly keyPem: string;
  /** The client certificate, leaf first. */
  readonly chainPem: string;
  /** The roots the CA's serving certificate must chain to. */
  readonly bundlePem: string;
  /** The credential's own trust domain: the CA's serving certificate must be that trust domain's. */
  readonly trustDomain: TrustDomain;
}

const REISSUE = 'an operator issues a new one with `meshca admin credential` on the CA host';

function refuse(dir: string, problem: string): never {
  throw new ConfigError([`--credential ${dir}: ${problem}`]);
}

async function readPart(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    refuse(dir, code === 'ENOENT' ? `no ${file} (\`meshca admin credential --out ${dir}\` writes one)` : `cannot read ${file}: ${fileErrorText(err)}`);
  }
}

/**
 * DIR itself first: a path that is not there, or the svid.pem inside rather
 * than its directory (an easy slip), is named as such rather than as a file
 * missing from it.
 */
async function checkDirectory(dir: string): Promise<void> {
  const found = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') refuse(dir, `does not exist (\`meshca admin credential --out ${dir}\` on the CA host writes a credential there)`);
    return undefined; // what else stops it is said naming the file it stops
  });
  if (found && !found.isDirectory()) {
    refuse(dir, `is a file, not a directory: give the directory holding ${SVID_FILE}, ${KEY_FILE} and ${BUNDLE_FILE}`);
  }
}

export async function loadAdminCredential(dir: string, clock: Clock): Promise<AdminCredential> {
  await checkDirectory(dir);
  const [keyPem, chainPem, bundlePem] = await Promise.all([readPart(dir, KEY_FILE), readPart(dir, SVID_FILE), readPart(dir, BUNDLE_FILE)]);
  // As ssh does with its keys: a key others can read grants whatever this credential's role does to whoever read it.
  const mode = (await stat(join(dir, KEY_FILE))).mode & 0o777;
  if (mode & 0o077) refuse(dir, `${KEY_FILE} can be read by others (mode ${modeText(mode)}): \`chmod 600\` it`);
  const [leafDer] = decodeCertificates(chainPem);
  if (!leafDer) refuse(dir, `${SVID_FILE} holds no certificate`);
  if (decodeCertificates(bundlePem).length === 0) refuse(dir, `${BUNDLE_FILE} holds no certificate`);
  const leaf = readLeaf(leafDer) ?? refuse(dir, `${SVID_FILE} holds a certificate that cannot be read`);
  const id = adminIdOf(leaf.uris);
  if (!id) refuse(dir, `${SVID_FILE} is not an operator's or auditor's credential (spiffe://<td>/meshca/admin/<role>/<name>): it is for ${leaf.uris.map((u) => `URI:${u}`).join(', ') || 'no SPIFFE ID'}`);
  const key = parseKey(keyPem) ?? refuse(dir, `${KEY_FILE} holds no private key that can be read`);
  if (!leaf.x509.checkPrivateKey(key)) refuse(dir, `${KEY_FILE} is not the key of ${SVID_FILE} (files from two credentials?)`);
  const now = nowSeconds(clock);
  if (leaf.notAfter <= now) refuse(dir, `${SVID_FILE} expired at ${new Date(leaf.notAfter * 1000).toISOString()}; ${REISSUE}`);
  if (leaf.notBefore > now) refuse(dir, `${SVID_FILE} is not valid until ${new Date(leaf.notBefore * 1000).toISOString()}: is this host's clock right?`);
  return { keyPem, chainPem, bundlePem, trustDomain: id.trustDomain };
}

/** The certificate read by meshca's own parser, whose URIs are exactly as encoded (Node's text joins names with ", "). */
function readLeaf(der: Buffer): CertificateFacts | undefined {
  try {
    return readCertificate(der);
  } catch {
    return undefined;
  }
}

/** The certificate's one SPIFFE ID when it is an administrator's. */
function adminIdOf(uris: readonly string[]): SpiffeId | undefined {
  if (uris.length !== 1) return undefined;
  try {
    const id = SpiffeId.parse(uris[0]!);
    return adminIdentityOf(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

function parseKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}
