/**
 * The first start's PKI: a root and an intermediate meshca generates, an
 * imported root with an intermediate meshca mints under it, or an imported
 * intermediate signing under an organisation's roots whose keys meshca never holds.
 */
import { CaIntegrityError } from '../errors.js';
import { checkImport, importAuthority, takeIntoCustody, upstreamRoot, type ImportedAuthority } from './authority-factory.js';
import { created } from './authority-transitions.js';
import { refuseOutlivingParents } from './intermediate-import.js';
import { SELF } from './caller.js';
import { mintIntermediate, mintRoot, type LifecycleContext } from './lifecycle-context.js';

/** How the first start gets its PKI when meshca is not to generate it ("bring your own CA"). */
export type InitialPki =
  | { readonly kind: 'generate' }
  | { readonly kind: 'root'; readonly root: ImportedAuthority }
  | { readonly kind: 'intermediate'; readonly intermediate: ImportedAuthority; readonly rootsDer: readonly Buffer[] };

/** Commits the first authorities, as bundle sequence 1, into a journal that holds none. */
export async function createPki(ctx: LifecycleContext, now: number, initial: InitialPki): Promise<void> {
  const { custody } = ctx.factory;
  const { trustDomain } = ctx.settings;
  if (initial.kind === 'intermediate') {
    const roots = initial.rootsDer.map((der) => upstreamRoot(der, now));
    const checked = checkImport(initial.intermediate, 'intermediate', now, roots.map((r) => r.facts), trustDomain);
    if (!checked.key) throw new CaIntegrityError('the imported intermediate needs its key: meshca signs SVIDs with it');
    refuseOutlivingParents(checked, roots);
    const intermediate = await takeIntoCustody(custody, checked, 'active', now);
    await ctx.commit([...roots, intermediate], 1, [...roots.map((r) => created(r, SELF)), created(intermediate, SELF)]);
    ctx.log.info({ intermediate: intermediate.record.id }, 'using the imported intermediate; meshca holds no root key and cannot rotate it');
    return;
  }
  const root = initial.kind === 'root' ? await importAuthority(custody, initial.root, 'root', 'active', now, [], trustDomain) : await mintRoot(ctx, 'active', now);
  if (!root.signer) throw new CaIntegrityError('the imported root needs its key to sign intermediates');
  const intermediate = await mintIntermediate(ctx, 'active', now, root);
  await ctx.commit([root, intermediate], 1, [created(root, SELF), created(intermediate, SELF)]);
  ctx.log.info({ root: root.record.id, intermediate: intermediate.record.id }, initial.kind === 'root' ? 'using the imported root' : 'created a new PKI');
}
