/**
 * An immutable snapshot of the CA's authorities with their signers loaded.
 * The keyring swaps whole snapshots, so a request always sees one consistent
 * view (an active intermediate together with the roots of that moment).
 */
import { UnavailableError } from '../errors.js';
import type { CertificateFacts } from '../x509/certificate-reader.js';
import type { Signer } from '../x509/signer.js';
import type { AuthorityRecord } from './model.js';

export interface LoadedAuthority {
  readonly record: AuthorityRecord;
  readonly facts: CertificateFacts;
  /** Null when meshca does not hold the key (an upstream root) or the authority is retired. */
  readonly signer: Signer | null;
}

export class AuthoritySet {
  constructor(
    readonly authorities: readonly LoadedAuthority[],
    readonly bundleSequence: number,
  ) {}

  byId(id: string): LoadedAuthority | undefined {
    return this.authorities.find((a) => a.record.id === id);
  }

  ofKind(kind: AuthorityRecord['kind'], state?: AuthorityRecord['state']): LoadedAuthority[] {
    return this.authorities.filter((a) => a.record.kind === kind && (state === undefined || a.record.state === state));
  }

  /**
   * The root that signs new intermediates: the parent of the active
   * intermediate (else the most recently activated active root). During a root
   * rotation the previous root stays active (trusted, in the bundle) until it is
   * retired, but no longer signs.
   */
  signingRoot(): LoadedAuthority | undefined {
    const roots = this.ofKind('root', 'active');
    // The active intermediate's parent, when meshca made it: exact even when two roots were activated in the same second.
    const parentId = this.activeIntermediate()?.record.parentId;
    const parent = roots.find((r) => r.record.id === parentId);
    if (parent) return parent;
    return roots.sort((a, b) => (b.record.activatedAt ?? 0) - (a.record.activatedAt ?? 0))[0];
  }

  /** Active roots other than the signing one: superseded, still trusted until retired. */
  supersededRoots(): LoadedAuthority[] {
    const signing = this.signingRoot();
    return this.ofKind('root', 'active').filter((r) => r !== signing);
  }

  /** The root an authority chains to (itself for a root), if meshca knows it. */
  rootOf(a: LoadedAuthority): LoadedAuthority | undefined {
    let current: LoadedAuthority | undefined = a;
    for (let depth = 0; current && depth < 8; depth++) {
      if (current.record.kind === 'root') return current;
      current = current.record.parentId ? this.byId(current.record.parentId) : undefined;
    }
    return undefined;
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
