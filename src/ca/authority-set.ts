/**
 * An immutable snapshot of the CA's authorities with their signers loaded.
 * The keyring swaps whole snapshots, so a request always sees one consistent
 * view (an active intermediate together with the roots of that moment).
 */
import { X509Certificate } from 'node:crypto';
import { UnavailableError } from '../errors.js';
import type { CertificateFacts } from '../x509/certificate-reader.js';
import { issuedBy } from '../x509/issued-by.js';
import type { Signer } from '../x509/signer.js';
import type { AuthorityRecord, CertificateKind } from './model.js';

export interface LoadedAuthority {
  readonly record: AuthorityRecord;
  readonly facts: CertificateFacts;
  /** Null when meshca does not hold the key (an upstream root) or the authority is retired. */
  readonly signer: Signer | null;
}

export class AuthoritySet {
  /** The root each intermediate journaled without a parent (an imported one) chains to, by its id. */
  private readonly upstreamParents: ReadonlyMap<string, LoadedAuthority>;

  constructor(
    readonly authorities: readonly LoadedAuthority[],
    readonly bundleSequence: number,
  ) {
    this.upstreamParents = upstreamParents(authorities);
  }

  byId(id: string): LoadedAuthority | undefined {
    return this.authorities.find((a) => a.record.id === id);
  }

  ofKind(kind: AuthorityRecord['kind'], state?: AuthorityRecord['state']): LoadedAuthority[] {
    return this.authorities.filter((a) => a.record.kind === kind && (state === undefined || a.record.state === state));
  }

  /**
   * The root that signs new intermediates: the root the active intermediate
   * chains to (else the most recently activated active root). During a root
   * rotation the previous root stays active (trusted, in the bundle) until it is
   * retired, but no longer signs.
   */
  signingRoot(): LoadedAuthority | undefined {
    const roots = this.ofKind('root', 'active');
    // Exact even when two roots were activated in the same second, as every root of an imported bundle is.
    const active = this.activeIntermediate();
    const parent = active && this.rootOf(active);
    if (parent && roots.includes(parent)) return parent;
    return roots.sort((a, b) => (b.record.activatedAt ?? 0) - (a.record.activatedAt ?? 0))[0];
  }

  /**
   * Active roots other than the signing one that no active or prepared
   * intermediate chains to: superseded, still trusted until retired. None when
   * such an intermediate chains to no root meshca knows, since any root might
   * be the one peers need to verify what it signs.
   */
  supersededRoots(): LoadedAuthority[] {
    const inUse = this.ofKind('intermediate').filter((i) => i.record.state !== 'retired').map((i) => this.rootOf(i));
    if (inUse.includes(undefined)) return [];
    const signing = this.signingRoot();
    return this.ofKind('root', 'active').filter((r) => r !== signing && !inUse.includes(r));
  }

  /**
   * Why a certificate of `kind` that `issuerId` signed must not be handed out
   * any more, if it must not: its issuer was tainted (agents' own SVIDs
   * excepted, as a taint keeps them), or the root it chains to was retired.
   */
  withdrawal(issuerId: string, kind: CertificateKind): 'taint' | 'root-retired' | undefined {
    const issuer = this.byId(issuerId);
    if (!issuer) return undefined;
    if (issuer.record.taintedAt !== null && kind !== 'agent') return 'taint';
    return this.rootOf(issuer)?.record.state === 'retired' ? 'root-retired' : undefined;
  }

  /** The root an authority chains to (itself for a root), if meshca knows it. */
  rootOf(a: LoadedAuthority): LoadedAuthority | undefined {
    let current: LoadedAuthority | undefined = a;
    for (let depth = 0; current && depth < 8; depth++) {
      if (current.record.kind === 'root') return current;
      current = this.parentOf(current);
    }
    return undefined;
  }

  /** The recorded parent, else, for an imported intermediate, the root its chain was verified against. */
  private parentOf(a: LoadedAuthority): LoadedAuthority | undefined {
    return a.record.parentId !== null ? this.byId(a.record.parentId) : this.upstreamParents.get(a.record.id);
  }

  /**
   * The intermediate prepared under `root`, if any: under the signing root,
   * the next in the scheduled rotation; under a prepared root, the first to
   * sign once that root is activated.
   */
  preparedIntermediateUnder(root: LoadedAuthority | undefined): LoadedAuthority | undefined {
    return this.preparedIntermediatesUnder(root)[0];
  }

  /** Every intermediate prepared under `root`, oldest first. */
  preparedIntermediatesUnder(root: LoadedAuthority | undefined): LoadedAuthority[] {
    if (!root) return [];
    return this.ofKind('intermediate', 'prepared')
      .filter((i) => this.rootOf(i) === root)
      .sort((a, b) => a.record.createdAt - b.record.createdAt);
  }

  activeIntermediate(): LoadedAuthority | undefined {
    return this.ofKind('intermediate', 'active')[0];
  }

  /** The intermediate that signs now, or 503 when there is none valid at `now`. */
  signingIntermediate(now: number): LoadedAuthority & { signer: Signer } {
    const active = this.activeIntermediate();
    if (!active?.signer || now >= active.record.notAfter || now < active.record.notBefore) {
      throw new UnavailableError('ca_unavailable', 'the CA has no valid signing intermediate right now');
    }
    return active as LoadedAuthority & { signer: Signer };
  }

  /** Roots peers must trust: every root that is not retired (prepared roots are published ahead of use). */
  bundleRoots(): LoadedAuthority[] {
    return this.ofKind('root').filter((a) => a.record.state !== 'retired');
  }

  /** Certificates between an authority and a root of the bundle (the authority itself first). */
  chainFor(authority: LoadedAuthority): Buffer[] {
    return [authority.record.certDer, ...authority.record.upstreamChainDer];
  }

  withChange(upserts: readonly LoadedAuthority[], bundleSequence: number): AuthoritySet {
    const replaced = new Map(upserts.map((a) => [a.record.id, a]));
    const kept = this.authorities.map((a) => replaced.get(a.record.id) ?? a);
    const added = upserts.filter((a) => !this.byId(a.record.id));
    return new AuthoritySet([...kept, ...added], bundleSequence);
  }
}

/**
 * For each intermediate journaled without a parent, the root of the set that
 * signed the top of its chain. An imported intermediate gets no parent in the
 * journal (meshca did not sign it; its issuer may be a certificate of the
 * upstream chain, not a root), so this is read from the certificates on every
 * snapshot, which also covers data directories written by earlier builds.
 */
function upstreamParents(authorities: readonly LoadedAuthority[]): Map<string, LoadedAuthority> {
  // Trusted roots first: should an organisation re-issue its root on the same key, the one in the bundle is the one that counts.
  const roots = authorities
    .filter((a) => a.record.kind === 'root')
    .sort((a, b) => Number(a.record.state === 'retired') - Number(b.record.state === 'retired'));
  const parents = new Map<string, LoadedAuthority>();
  for (const a of authorities) {
    if (a.record.kind === 'root' || a.record.parentId !== null) continue;
    const top = topOfChain(a);
    const root = top && roots.find((r) => issuedBy(top, r.facts.x509));
    if (root) parents.set(a.record.id, root);
  }
  return parents;
}

/** The certificate a root must have signed: the last of the upstream chain, or the authority itself without one. */
function topOfChain(a: LoadedAuthority): X509Certificate | undefined {
  const top = a.record.upstreamChainDer.at(-1);
  if (!top) return a.facts.x509;
  try {
    return new X509Certificate(top);
  } catch {
    return undefined; // an unreadable chain reaches no root: nothing is superseded, and doctor fails
  }
}
