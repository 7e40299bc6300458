/**
 * test/interop/go/spiffe_peer.go, built with the machine's Go (Debian's
 * golang-go; .ci/run installs it): Go's crypto/x509 and crypto/tls as a judge
 * of meshca's certificates, as SPIRE and go-spiffe would judge them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './temp-dir.js';

const SOURCE = join(import.meta.dirname, '..', 'interop', 'go', 'spiffe_peer.go');

let built: string | undefined;

/**
 * Builds spiffe_peer once per test file, offline and without cgo (so no C
 * compiler is needed). Go's build cache is the user's, where there is a home
 * to hold it: the first build compiles crypto/tls and its kin (10–25 s on two
 * cores), later ones take a second. Give the hook that calls it a long timeout.
 */
export function buildGoPeer(): void {
  if (built) return;
  const dir = tempDir('go-peer');
  const cache = (process.env.GOCACHE ?? process.env.XDG_CACHE_HOME ?? process.env.HOME) ? {} : { GOCACHE: join(dir, 'cache') };
  const env = { ...process.env, ...cache, GOPATH: join(dir, 'gopath'), GOPROXY: 'off', GOFLAGS: '', CGO_ENABLED: '0' };
  const binary = join(dir, 'spiffe_peer');
  try {
    execFileSync('go', ['build', '-o', binary, SOURCE], { env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`could not build ${SOURCE} with go (Debian's golang-go; .ci/run installs it): ${(err as Error).message}`);
  }
  built = binary;
}

/** Runs spiffe_peer without blocking, so that a CA in this process answers it; resolves to what it printed (one JSON object). */
export async function goPeer(...args: string[]): Promise<Record<string, unknown>> {
  if (!built) throw new Error('buildGoPeer() first');
  const { stdout } = await promisify(execFile)(built, args, { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}
