/**
 * Whether the CRLs a sync brought should replace those held. Replicas of the
 * CA each sign their own copy of the same CRLs (an ECDSA signature differs
 * every time), so comparing bytes would republish crl.pem, and reload the
 * proxy, at every sync that reaches another replica. CRLs are compared by
 * what they say instead, and replaced only by newer ones, by cRLNumber, which
 * the CA draws from its datastore's shared sequence: a replica still serving
 * CRLs from before a revocation must not undo it on agents that already have
 * it, and two lists made in the same second are still told apart.
 */
import { decodePemBlocks } from '../x509/pem.js';
import { readCrlContent, type CrlContent } from '../x509/crl-reader.js';

/**
 * True when `next` should replace `held` at `nowSeconds`. Never while one of
 * its CRLs is not valid yet by this host's clock (made by a replica whose
 * clock runs ahead): OpenSSL, in nginx and HAProxy, refuses such a CRL and
 * with it every client its issuer vouches for, first sync and a new set of
 * issuers included. CaSync syncs again once it is valid (validFrom).
 */
export function worthReplacing(held: string | undefined, next: string, nowSeconds: number): boolean {
  if (held === next) return false;
  const after = contentByIssuer(next);
  if (after && validFrom(after, nowSeconds) !== undefined) return false;
  if (held === undefined) return true;
  const before = contentByIssuer(held);
  // OpenSSL refuses every client of an issuer whose CRL has expired: a replica whose CRLs went stale must not take a valid one's place.
  if (before && after && someExpired(after, nowSeconds) && !someExpired(before, nowSeconds)) return false;
  if (!before || !after || before.size !== after.size) return true;
  for (const [issuer, offered] of after) {
    const kept = before.get(issuer);
    // Another set of issuers: an authority came or went.
    if (!kept || replaces(offered, kept, nowSeconds)) return true;
  }
  return false;
}

/** When the CRLs of `pem` are all valid by this host's clock, in seconds, if one is not yet; undefined otherwise. */
export function crlsValidFrom(pem: string, nowSeconds: number): number | undefined {
  const content = contentByIssuer(pem);
  return content && validFrom(content, nowSeconds);
}

/**
 * When the first of the CRLs of `pem` expires (its nextUpdate), in seconds:
 * from then on OpenSSL, in nginx and HAProxy, refuses every client its issuer
 * vouches for. Undefined when none says, or they cannot be read.
 */
export function crlsNextUpdate(pem: string): number | undefined {
  const times = [...(contentByIssuer(pem)?.values() ?? [])].flatMap((crl) => (crl.nextUpdate === undefined ? [] : [crl.nextUpdate]));
  return times.length ? Math.min(...times) : undefined;
}

function validFrom(crls: ReadonlyMap<string, CrlContent>, nowSeconds: number): number | undefined {
  const early = [...crls.values()].filter((crl) => notYetValid(crl, nowSeconds));
  return early.length ? Math.max(...early.map((crl) => crl.thisUpdate)) : undefined;
}

function replaces(offered: CrlContent, kept: CrlContent, now: number): boolean {
  // One installed before it was valid here (by an earlier build) is replaced by any that is.
  if (notYetValid(kept, now)) return true;
  if (newer(offered, kept) && (!sameSerials(offered, kept) || pastHalfLife(kept, now))) return true;
  // Whatever the numbers say (a datastore restored from a backup of a build that numbered from 1), a fresher list replaces one due for renewal.
  return pastHalfLife(kept, now) && offered.thisUpdate > kept.thisUpdate;
}

function newer(a: CrlContent, b: CrlContent): boolean {
  return a.crlNumber !== undefined && b.crlNumber !== undefined ? a.crlNumber > b.crlNumber : a.thisUpdate > b.thisUpdate;
}

/** Past its nextUpdate by this host's clock, which OpenSSL holds it to ("CRL has expired"). */
function someExpired(crls: ReadonlyMap<string, CrlContent>, nowSeconds: number): boolean {
  return [...crls.values()].some((crl) => crl.nextUpdate !== undefined && crl.nextUpdate < nowSeconds);
}

/** OpenSSL refuses a CRL whose thisUpdate is later than now, with no allowance: the next sync offers it again. */
function notYetValid(crl: CrlContent, nowSeconds: number): boolean {
  return crl.thisUpdate > nowSeconds;
}

/**
 * What the last few CRL texts said. A sync almost always brings the text it
 * brought last time (or, with replicas, one of a few), and reading a CRL of
 * many entries takes long, the more so in the agent's interpreter-only V8
 * (agent-v8-flags.ts): about 0.8 s a sync for 50,000 entries, read again for
 * nothing at every sync, where a comparison of the text now settles it.
 */
const recentlyRead: Array<{ readonly pem: string; readonly content: Map<string, CrlContent> | undefined }> = [];
const RECENT_TEXTS = 3;

function contentByIssuer(pem: string): Map<string, CrlContent> | undefined {
  const known = recentlyRead.find((r) => r.pem === pem);
  if (known) return known.content;
  const content = readContentByIssuer(pem);
  recentlyRead.unshift({ pem, content });
  recentlyRead.length = Math.min(recentlyRead.length, RECENT_TEXTS);
  return content;
}

function readContentByIssuer(pem: string): Map<string, CrlContent> | undefined {
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
