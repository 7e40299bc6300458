/**
 * CRLs, one per authority meshca holds a key for: each lists the revoked,
 * unexpired certificates that authority issued (a root's lists intermediates,
 * an intermediate's lists SVIDs), because TLS stacks such as OpenSSL look for
 * a CRL from each certificate's own issuer. They are regenerated when a
 * revocation or an authority change invalidates them, and at half of their
 * validity, well before nextUpdate. A revocation committed by another replica
 * sharing the datastore cannot invalidate them here, so the store's count of
 * revocations is compared, at most once a second, before a cached set is served.
 */
import { UnavailableError } from '../errors.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';
import { signCrl, type RevokedEntry } from '../x509/crl.js';
import type { Signer } from '../x509/signer.js';
import { certificatesToPem, encodePem } from '../x509/pem.js';
import type { AuthoritySet, LoadedAuthority } from './authority-set.js';
import type { RevocationStore } from './certificate-query.js';
import { unexpiredAt } from './expiry.js';
import { backdateFor } from './validity.js';

export interface CrlSet {
  /** DER CRL per authority id. */
  readonly byIssuer: ReadonlyMap<string, Buffer>;
  /** Every CRL, as PEM, for crl.pem. */
  readonly pem: string;
  /**
   * The certificates of the authorities that signed them, each with what
   * links it to the bundle (an imported intermediate's upstream chain), PEM:
   * what an agent needs to check every CRL's signature before a proxy reads it.
   */
  readonly issuersPem: string;
  /**
   * The authorities they were made from: whoever sends these CRLs sends the
   * bundle of this snapshot with them, which vouches for every signer, even
   * when a root was retired (or prepared) while they were being made.
   */
  readonly authorities: AuthoritySet;
  readonly thisUpdate: number;
  /** The earliest nextUpdate of its CRLs: past it, OpenSSL refuses them. */
  readonly nextUpdate: number;
  /** The datastore's revocation count when the set was generated. */
  readonly revocations: number;
}

/** One authority's revocation list, before it is signed. */
interface CrlList {
  readonly authority: LoadedAuthority & { readonly signer: Signer };
  readonly revoked: RevokedEntry[];
}

/**
 * How long a set renewed for its age alone waits for a datastore's write lock
 * another connection holds (a backup, an operator's sqlite3 shell) before the
 * set held is served instead: as long as readiness's write probe, far under a
 * proxy's or an agent's timeout, where the usual 5 s is not.
 */
export const RENEWAL_LOCK_WAIT_MS = 250;

export class CrlService {
  private current: CrlSet | undefined;
  private building: { readonly generation: number; readonly set: Promise<CrlSet> } | undefined;
  /** Bumped by every invalidation: a set built under an older generation is never cached or shared. */
  private generation = 0;
  /** The second in which the revocation count was last compared. */
  private comparedAt = -1;

  constructor(
    private readonly deps: {
      authorities: { current(): AuthoritySet; adoptRecentChanges?(now: number): Promise<void> };
      store: RevocationStore;
      clock: Clock;
      /** Whether an error the store raised as it is (SQLite's SQLITE_FULL, a PostgreSQL SQLSTATE) means it cannot take changes now: the datastore's `unavailable`. */
      storeUnavailable?: (err: unknown) => boolean;
    },
    private readonly validity: Duration,
  ) {}

  /** Marks the CRLs stale; the next request regenerates them. */
  invalidate(): void {
    this.generation++;
    this.current = undefined;
  }

  async crls(): Promise<CrlSet> {
    const now = nowSeconds(this.deps.clock);
    // Another replica's taint or rotation (adopted at most once a second) invalidates the cached set here too: CRLs
    // made from a stale view would lack a tainted intermediate, numbered above the other replica's that list it.
    await this.deps.authorities.adoptRecentChanges?.(now);
    const cached = this.current;
    if (cached && now < cached.thisUpdate + Math.floor(this.validity / 2) && !(await this.revokedElsewhere(cached, now))) return cached;
    const generation = this.generation;
    // Concurrent requests share one generation, unless a revocation came in since it started.
    if (this.building?.generation !== generation) {
      // Only a renewal with a set to serve if the store refuses may give up early; one without (a revocation since) waits its turn.
      const set = this.generate(now, this.servableWhileStoreUnavailable(cached, now) ? RENEWAL_LOCK_WAIT_MS : undefined);
      this.building = { generation, set };
      void set.finally(() => {
        if (this.building?.set === set) this.building = undefined;
      }).catch(() => undefined);
    }
    let generated: CrlSet;
    try {
      generated = await this.building.set;
    } catch (err) {
      if (this.servesWhileStoreUnavailable(err, cached, now)) return cached!;
      throw err;
    }
    if (this.generation === generation) this.current = generated;
    return generated;
  }

  /**
   * Each new set draws its CRL number with a write, which a full disk or a
   * lost database refuses. A set renewed for its age alone (no revocation
   * since, here or elsewhere) still says what is true, so it is served until
   * its nextUpdate rather than leave proxies without CRLs for as long as the
   * datastore is away; one a revocation made stale is not.
   */
  private servesWhileStoreUnavailable(err: unknown, cached: CrlSet | undefined, now: number): boolean {
    // The datastores raise their engine's own errors for a disk that takes no writes; only some reach here as UnavailableError.
    const unavailable = err instanceof UnavailableError ? err.code === 'store_unavailable' : (this.deps.storeUnavailable?.(err) ?? false);
    return unavailable && this.servableWhileStoreUnavailable(cached, now);
  }

  /** A set held that nothing made stale but its age: what is served while a new one cannot be numbered. */
  private servableWhileStoreUnavailable(cached: CrlSet | undefined, now: number): cached is CrlSet {
    return cached !== undefined && this.current === cached && now < cached.nextUpdate;
  }

  /** True (and the cache dropped) when the store has seen revocations the cached set was generated before. */
  private async revokedElsewhere(cached: CrlSet, now: number): Promise<boolean> {
    if (now === this.comparedAt) return false;
    this.comparedAt = now;
    if ((await this.deps.store.revocationCount()) === cached.revocations) return false;
    if (this.current === cached) this.invalidate();
    return true;
  }

  private async generate(now: number, lockWaitMs: number | undefined): Promise<CrlSet> {
    const set = this.deps.authorities.current();
    const { lists, revocations, crlNumber } = await this.numberedLists(set, now, lockWaitMs);
    const byIssuer = new Map<string, Buffer>();
    const issuers = new Map<string, Buffer>();
    let nextUpdate = now + this.validity;
    for (const { authority: a, revoked } of lists) {
      nextUpdate = Math.min(nextUpdate, a.record.notAfter);
      byIssuer.set(
        a.record.id,
        await signCrl(
          {
            issuerName: a.facts.subjectName,
            issuerKeyId: a.facts.keyId,
            // Set back as certificates' notBefore is: OpenSSL refuses a CRL from its future, and with it every client
            // its issuer vouches for, on a proxy host whose clock is a few seconds behind the CA's.
            thisUpdate: Math.max(now - backdateFor(this.validity), a.record.notBefore),
            nextUpdate: Math.min(now + this.validity, a.record.notAfter),
            crlNumber,
            revoked,
          },
          a.signer,
        ),
      );
      for (const der of set.chainFor(a)) issuers.set(der.toString('base64'), der);
    }
    const pem = [...byIssuer.values()].map((der) => encodePem('X509 CRL', der)).join('');
    return { byIssuer, pem, issuersPem: certificatesToPem([...issuers.values()]), authorities: set, thisUpdate: now, nextUpdate, revocations };
  }

  /** The revocation lists of every authority that publishes one, and the number they go out under. */
  private async numberedLists(set: AuthoritySet, now: number, lockWaitMs: number | undefined): Promise<{ lists: CrlList[]; revocations: number; crlNumber: number }> {
    const publishing = set.authorities.flatMap((a) => {
      if (!a.signer || !unexpiredAt(a.record.notAfter, now)) return [];
      // Under a retired root nothing verifies any more: its CRLs (the root keeps its key) would be ones no agent can check.
      if (set.rootOf(a)?.record.state === 'retired') return [];
      // An authority imported before meshca refused those that may not sign CRLs: OpenSSL and agents would refuse its CRL.
      if (!a.facts.signsCrls) return [];
      return [{ ...a, signer: a.signer }];
    });
    const { crlNumber, revocations, lists } = await this.deps.store.numberedRevocations(publishing.map((a) => a.record.id), now, lockWaitMs);
    return {
      lists: publishing.map((a) => ({ authority: a, revoked: [...taintedChildren(set, a.record.id, now), ...lists.get(a.record.id)!] })),
      revocations,
      crlNumber,
    };
  }
}

/** Intermediates an authority signed that were tainted, through their notAfter second: its CRL revokes them, so nothing under them verifies. */
function taintedChildren(set: AuthoritySet, parentId: string, now: number): RevokedEntry[] {
  return set.authorities
    .filter((a) => a.record.parentId === parentId && a.record.taintedAt !== null && unexpiredAt(a.record.notAfter, now))
    .map((a) => ({ serial: a.facts.serialHex, revokedAt: a.record.taintedAt!, reason: 'cACompromise' }));
}
