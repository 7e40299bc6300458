/** The trust bundle in the SPIFFE Trust Domain and Bundle format (a JWK set of X.509 roots). */
import type { AuthoritySet } from './authority-set.js';

export interface SpiffeBundleDocument {
  readonly keys: ReadonlyArray<Record<string, unknown>>;
  readonly spiffe_sequence: number;
  readonly spiffe_refresh_hint: number;
}

export function spiffeBundle(set: AuthoritySet, refreshHintSeconds: number): SpiffeBundleDocument {
  return {
    keys: set.bundleRoots().map((root) => ({
      ...(root.facts.x509.publicKey.export({ format: 'jwk' }) as Record<string, unknown>),
      use: 'x509-svid',
      x5c: [root.record.certDer.toString('base64')],
    })),
    spiffe_sequence: set.bundleSequence,
    spiffe_refresh_hint: refreshHintSeconds,
  };
}

export function bundleRootsDer(set: AuthoritySet): Buffer[] {
  return set.bundleRoots().map((r) => r.record.certDer);
}

/**
 * The CA's intermediates (each with the upstream chain of an imported one)
 * that a client's chain may be completed with when it sends its leaf alone:
 * those that sign or have signed, are not tainted, and chain to a root of the
 * bundle. Material to build a chain from, not trust anchors: a chain built
 * with them must still reach a root of the bundle.
 */
export function chainIntermediatesDer(set: AuthoritySet): Buffer[] {
  const roots = set.bundleRoots();
  return set
    .ofKind('intermediate')
    .filter((i) => i.record.state !== 'prepared' && i.record.taintedAt === null && roots.some((r) => r === set.rootOf(i)))
    .flatMap((i) => set.chainFor(i));
}
