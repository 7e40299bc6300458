/** Writing an SVID, its key and the bundle to a directory, as `meshca mint` and `meshca admin credential` do. */
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { makeDirectory, writeFileAtomic } from '../platform/atomic-file.js';

export const SVID_FILE = 'svid.pem';
export const KEY_FILE = 'svid_key.pem';
export const BUNDLE_FILE = 'bundle.pem';

/** The key first: once svid.pem appears, its key is already in place. */
export async function writeCredentialFiles(dir: string, key: KeyObject, chainPem: string, bundlePem: string): Promise<void> {
  await makeDirectory(dir, 0o700);
  await writeFileAtomic(join(dir, KEY_FILE), key.export({ type: 'pkcs8', format: 'pem' }), 0o600);
  await writeFileAtomic(join(dir, SVID_FILE), chainPem, 0o644);
  await writeFileAtomic(join(dir, BUNDLE_FILE), bundlePem, 0o644);
}
