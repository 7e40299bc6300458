/** Writing an SVID, its key and the bundle to a directory, as `meshca mint` and `meshca admin credential` do. */
import type { KeyObject } from 'node:crypto';
import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicDirectoryPublisher } from '../agent/installer.js';
import { ConfigError } from '../config/options.js';
import { makeDirectory } from '../platform/atomic-file.js';
import { fileErrorText } from '../platform/file-error-text.js';
import { checkDirectoriesCanBeMade } from '../platform/missing-directories.js';
import type { SvidJson } from '../server/svid-response.js';
import { systemClock } from '../time/clock.js';

export const SVID_FILE = 'svid.pem';
export const KEY_FILE = 'svid_key.pem';
export const BUNDLE_FILE = 'bundle.pem';

/**
 * Refuses (ConfigError, exit 78) an --out the files could not be written to,
 * before the CA is asked: a credential it issued is recorded there, and would
 * otherwise exist with nowhere to show for it. --out must be a directory, or
 * absent, and then made with its missing parents (a path through a file fails
 * here with ENOTDIR; one where no directory can be made, under /proc say, as
 * making its first missing directory says); never a symbolic link, which the
 * publisher refuses rather than write where the link happens to point.
 * `flag` names it in a refusal: `admin renew` writes over its --credential.
 * The agent checks its --state-dir here too, before it attests, with `links`
 * 'follow': that one may be a link (to a volume, say), as it always could.
 */
export async function checkOutDirectory(out: string, flag = '--out', links: 'refuse' | 'follow' = 'refuse'): Promise<void> {
  if (out === '') refuseOut(`${flag} must not be empty`);
  // Without trailing slashes: lstat of "link/" follows the link.
  const look = links === 'refuse' ? lstat(out.replace(/(.)\/+$/, '$1')) : stat(out);
  const found = await look.catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    refuseOut(err.code === 'ENOTDIR' ? `${flag} ${out}: part of the path is a file, so no directory can be made there` : `${flag} ${out}: cannot be used: ${fileErrorText(err)}`);
  });
  if (found?.isSymbolicLink()) refuseOut(`${flag} ${out} is a symbolic link; give the directory itself`);
  if (found && !found.isDirectory()) refuseOut(`${flag} ${out} is not a directory: give a directory (a missing one is made)`);
  // Absent: made only once the CA has answered, so tried now (a path under /proc, a read-only file system).
  if (!found) await checkDirectoriesCanBeMade(out).catch((err: Error) => refuseOut(`${flag} ${out} cannot be made: ${err.message}`));
}

function refuseOut(problem: string): never {
  throw new ConfigError([problem]);
}

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

/**
 * An SVID whose key is not ours (`meshca mint --csr`): svid.pem and bundle.pem,
 * published as one unit in the same layout. The caller refuses a DIR that
 * holds a key already (holdsKey), which would sit beside a certificate for
 * another key.
 */
export async function writeCertificateFiles(dir: string, chainPem: string, bundlePem: string): Promise<void> {
  await makeDirectory(dir, 0o700);
  await new AtomicDirectoryPublisher(dir, systemClock, { keepSuperseded: false }).publish([
    { name: SVID_FILE, data: chainPem, mode: 0o644 },
    { name: BUNDLE_FILE, data: bundlePem, mode: 0o644 },
  ]);
}

/** Whether DIR holds a key under the name a proxy reads it by (a file, or the link a publication made). */
export async function holdsKey(dir: string): Promise<boolean> {
  return (await lstat(join(dir, KEY_FILE)).catch(() => undefined)) !== undefined;
}

/** What `--json` prints of an SVID or credential written (its serial, to revoke it; its times, to renew it): the chain itself is in the directory. */
export function issuedDetailsJson(svid: SvidJson): string {
  const { svid: _chain, ...details } = svid;
  return JSON.stringify(details);
}
