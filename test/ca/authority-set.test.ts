/**
 * Which root an imported intermediate chains to. It is journaled without a
 * parent (meshca did not sign it, and earlier builds recorded none), so the
 * set reads it from the certificates: the bundle root that signed the top of
 * its chain. Signing and superseded roots follow from that, whatever order the
 * operator's bundle lists the roots in.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { importAuthority, upstreamRoot } from '../../src/ca/authority-factory.js';
import { AuthoritySet, type LoadedAuthority } from '../../src/ca/authority-set.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { caWithUris, memoryCustody, type TestCa } from '../support/signing-certificates.js';

const NOW = Math.floor(Date.now() / 1000);
const TRUST_DOMAIN = TrustDomain.parse('example.org');

/** The organisation's root, other roots of its bundle, a certificate in between and the intermediates meshca is given. */
const pki = {} as Record<'orgRoot' | 'otherRoot' | 'thirdRoot' | 'between' | 'direct' | 'chained', TestCa>;
beforeAll(async () => {
  pki.orgRoot = await caWithUris([], NOW);
  pki.otherRoot = await caWithUris([], NOW);
  pki.thirdRoot = await caWithUris([], NOW);
  pki.between = await caWithUris([], NOW, pki.orgRoot, { pathLen: 'unlimited' });
  pki.direct = await caWithUris(['spiffe://example.org'], NOW, pki.orgRoot);
  pki.chained = await caWithUris(['spiffe://example.org'], NOW, pki.between);
});

/** The set as the journal holds it after a first start with --import-intermediate-* and a bundle of `bundle`. */
async function importedSet(intermediate: TestCa, chain: readonly TestCa[], bundle: readonly TestCa[]) {
  const roots = bundle.map((r) => upstreamRoot(r.der, NOW));
  const imported = await importAuthority(
    memoryCustody(),
    { certDer: intermediate.der, keyPem: intermediate.keyPem, chainDer: chain.map((c) => c.der) },
    'intermediate', 'active', NOW, roots.map((r) => r.facts), TRUST_DOMAIN,
  );
  const set = new AuthoritySet([...roots, imported], 1);
  const root = (ca: TestCa) => roots.find((r) => r.record.certDer.equals(ca.der))!;
  return { set, imported, root };
}

const idOf = (a: LoadedAuthority | undefined) => a?.record.id;

describe('AuthoritySet with an imported intermediate', () => {
  it.each([
    { name: 'pass/signed by the organisation\'s root, listed last in the bundle', intermediate: 'direct', chain: [], bundle: ['otherRoot', 'orgRoot'] },
    { name: 'pass/signed by the organisation\'s root, listed first in the bundle', intermediate: 'direct', chain: [], bundle: ['orgRoot', 'otherRoot'] },
    { name: 'pass/through --import-intermediate-chain, listed last in the bundle', intermediate: 'chained', chain: ['between'], bundle: ['otherRoot', 'orgRoot'] },
  ] as const)('$name: it chains to that root, which signs and is never superseded', async ({ intermediate, chain, bundle }) => {
    const { set, imported, root } = await importedSet(pki[intermediate], chain.map((c) => pki[c]), bundle.map((r) => pki[r]));
    expect(imported.record.parentId).toBeNull();
    expect(idOf(set.rootOf(set.byId(imported.record.id)!))).toBe(idOf(root(pki.orgRoot)));
    expect(idOf(set.signingRoot())).toBe(idOf(root(pki.orgRoot)));
    expect(set.supersededRoots().map(idOf)).toEqual([idOf(root(pki.otherRoot))]);
  });

  it('fail/an intermediate that chains to no root of the set: no root is superseded, since any might be the one it needs', async () => {
    const { set, imported, root } = await importedSet(pki.direct, [], [pki.orgRoot, pki.otherRoot, pki.thirdRoot]);
    const without = new AuthoritySet(set.authorities.filter((a) => a !== root(pki.orgRoot)), 1);
    expect(without.rootOf(imported)).toBeUndefined();
    expect(without.signingRoot()).toBeDefined();
    expect(without.supersededRoots()).toEqual([]);
  });
});
