/** Writing an SVID, its key and the bundle to a directory, as `meshca mint` and `meshca admin credential` do. */
import type { KeyObject } from 'node:crypto';
import { AtomicDirectoryPublisher } from '../agent/installer.js';
import { makeDirectory } from '../platform/atomic-file.js';
import { systemClock } from '../time/clock.js';

export const SVID_FILE = 'svid.pem';
export const KEY_FILE = 'svid_key.pem';
export const BUNDLE_FILE = 'bundle.pem';

/**
 * Published as one unit, in the agent's layout (svid.pem and the others are
 * links into ..data): a process killed midway leaves the old pair or the new
 * one, never a new key beside the old certificate. Readers open the same
 * names as before, and a DIR an older version filled with plain files is
 * taken over without a moment of mismatch (AtomicDirectoryPublisher).
 */
export async function writeCredentialFiles(dir: string, key: KeyObject, chainPem: string, bundlePem: string): Promise<void> {
  // Made here, as before, so that DIR is 0700 rather than the publisher's 0755 for a proxy's --out.
  await makeDirectory(dir, 0o700);
  await new AtomicDirectoryPublisher(dir, systemClock, { keepSuperseded: false }).publish([
    { name: KEY_FILE, data: key.export({ type: 'pkcs8', format: 'pem' }) as string, mode: 0o600 },
    { name: SVID_FILE, data: chainPem, mode: 0o644 },
    { name: BUNDLE_FILE, data: bundlePem, mode: 0o644 },
  ]);
}
