/**
 * Whether the CRLs a sync brought should replace those held. Replicas of the
 * CA each sign their own copy of the same CRLs (an ECDSA signature differs
 * every time), so comparing bytes would republish crl.pem, and reload the
 * proxy, at every sync that reaches another replica. CRLs are compared by
 * what they say instead, and replaced only by newer ones: a replica still
 * serving CRLs from before a revocation must not undo it on agents that
 * already have it.
 */
import { decodePemBlocks } from '../x509/pem.js';
import { readCrlContent, type CrlContent } from '../x509/crl.js';

/** True when `next` should replace `held` at `nowSeconds`. */
export function worthReplacing(held: string | undefined, next: string, nowSeconds: number): boolean {
  if (held === undefined) return true;
  if (held === next) return false;
  const before = contentByIssuer(held);
  const after = contentByIssuer(next);
  if (!before || !after || before.size !== after.size) return true;
  for (const [issuer, now] of after) {
    const was = before.get(issuer);
    // Another set of issuers: an authority came or went.
    if (!was) return true;
    if (now.thisUpdate > was.thisUpdate && (!sameSerials(was, now) || pastHalfLife(was, nowSeconds))) return true;
  }
  return false;
}

function contentByIssuer(pem: string): Map<string, CrlContent> | undefined {
  const byIssuer = new Map<string, CrlContent>();
  try {
    for (const block of decodePemBlocks(pem)) {
      const content = block.label === 'X509 CRL' ? readCrlContent(block.der) : undefined;
      if (!content || byIssuer.has(content.issuer)) return undefined;
      byIssuer.set(content.issuer, content);
    }
  } catch {
    return undefined;
  }
  return byIssuer;
}

function sameSerials(a: CrlContent, b: CrlContent): boolean {
  return a.serials.length === b.serials.length && a.serials.every((s, i) => s === b.serials[i]);
}

/** Past half of its validity, as the CA renews them: a proxy must never hold one past nextUpdate. */
function pastHalfLife(crl: CrlContent, nowSeconds: number): boolean {
  return crl.nextUpdate === undefined || nowSeconds >= crl.thisUpdate + (crl.nextUpdate - crl.thisUpdate) / 2;
}
