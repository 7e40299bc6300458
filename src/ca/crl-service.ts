/**
 * CRLs, one per authority meshca holds a key for: each lists the revoked,
 * unexpired certificates that authority issued (a root's lists intermediates,
 * an intermediate's lists SVIDs), because TLS stacks such as OpenSSL look for
 * a CRL from each certificate's own issuer. They are regenerated when a
 * revocation or an authority change invalidates them, and at half of their
 * validity, well before nextUpdate.
 */
import { nowSeconds, type Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';
import { signCrl } from '../x509/crl.js';
import { encodePem } from '../x509/pem.js';
import type { AuthoritySet } from './authority-set.js';
import type { RevocationStore } from './certificate-query.js';

export interface CrlSet {
  /** DER CRL per authority id. */
  readonly byIssuer: ReadonlyMap<string, Buffer>;
  /** Every CRL, as PEM, for crl.pem. */
  readonly pem: string;
  readonly thisUpdate: number;
}

export class CrlService {
  private current: CrlSet | undefined;
  private building: Promise<CrlSet> | undefined;

  constructor(
    private readonly deps: { authorities: { current(): AuthoritySet }; store: RevocationStore; clock: Clock },
    private readonly validity: Duration,
  ) {}

  /** Marks the CRLs stale; the next request regenerates them. */
  invalidate(): void {
    this.current = undefined;
  }

  async crls(): Promise<CrlSet> {
    const now = nowSeconds(this.deps.clock);
    if (this.current && now < this.current.thisUpdate + Math.floor(this.validity / 2)) return this.current;
    // Concurrent requests share one generation.
    this.building ??= this.generate(now).finally(() => (this.building = undefined));
    const generated = await this.building;
    this.current = generated;
    return generated;
  }

  private async generate(now: number): Promise<CrlSet> {
    const set = this.deps.authorities.current();
    const byIssuer = new Map<string, Buffer>();
    const crlNumber = await this.deps.store.nextCrlNumber();
    for (const a of set.authorities) {
      if (!a.signer || a.record.notAfter <= now) continue;
      byIssuer.set(
        a.record.id,
        await signCrl(
          {
            issuerName: a.facts.subjectName,
            issuerKeyId: a.facts.keyId,
            thisUpdate: now,
            nextUpdate: Math.min(now + this.validity, a.record.notAfter),
            crlNumber,
            revoked: await this.deps.store.revokedUnexpired(a.record.id, now),
          },
          a.signer,
        ),
      );
    }
    const pem = [...byIssuer.values()].map((der) => encodePem('X509 CRL', der)).join('');
    return { byIssuer, pem, thisUpdate: now };
  }
}
