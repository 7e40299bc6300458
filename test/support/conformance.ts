/**
 * Runs ../shared/conformance/svid-check.py (pyca/cryptography + openssl verify -x509_strict) on a
 * directory. MESHCA_SVID_CHECK points at the script when the checkout is not next to `shared/`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const SCRIPT =
  process.env.MESHCA_SVID_CHECK ?? resolve(import.meta.dirname, '../../../shared/conformance/svid-check.py');

let found: string | undefined;

/** A python3 that can import cryptography: the PATH one, else Debian's (python3-cryptography). Looked for once per test file. */
function python(): string {
  found ??= findPython();
  return found;
}

function findPython(): string {
  for (const candidate of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(candidate, ['-c', 'import cryptography'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error('no python3 with the cryptography package; install python3-cryptography (.ci/run does)');
}

export interface CheckResult {
  readonly ok: boolean;
  readonly output: string;
}

export function svidCheck(dir: string, args: string[] = []): CheckResult {
  return runChecker([dir, ...args]);
}

/** The checker on files that are not one directory's (a key kept apart from its certificate, as `mint --csr` leaves it). */
export function svidCheckFiles(files: { cert: string; key: string; bundle: string }, args: string[] = []): CheckResult {
  return runChecker(['--cert', files.cert, '--key', files.key, '--bundle', files.bundle, ...args]);
}

function runChecker(args: string[]): CheckResult {
  if (!existsSync(SCRIPT)) throw new Error(`conformance checker not found at ${SCRIPT}`);
  const run = spawnSync(python(), [SCRIPT, ...args], { encoding: 'utf8' });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}
