/**
 * The operator's root rotation, in three commands: prepare (the new root joins
 * the trust bundle, unused), activate (it signs the intermediates, once agents
 * have had time to install it) and retire (the old root leaves the bundle, once
 * nothing live chains to it). Each refuses with a ConflictError saying what
 * to do first.
 */
import { ConflictError } from '../errors.js';
import { nowSeconds } from '../time/clock.js';
import { formatDuration, type Duration } from '../time/duration.js';
import { checkImport, takeIntoCustody, upstreamRoot, type ImportedAuthority } from './authority-factory.js';
import type { AuthoritySet, LoadedAuthority } from './authority-set.js';
import { created, moved, transition } from './authority-transitions.js';
import { mintIntermediate, mintRoot, type LifecycleContext } from './lifecycle-context.js';
import type { AgentRecord } from './model.js';
import { canTakeOver, isValidAt, validityText } from './rotation.js';

/**
 * Adds a new root to the trust bundle, next to the current one, without
 * using it yet, with the intermediate that will sign under it. Made now, the
 * intermediate's CRL is published with the bundle through the propagation
 * wait: proxies that check CRLs (nginx ssl_crl, HAProxy crl-file) want one
 * from every CA of a chain, and one first seen at activation would make them
 * refuse every SVID it signs until their agents next sync.
 */
export async function prepareRoot(ctx: LifecycleContext, by: string, imported?: ImportedAuthority): Promise<LoadedAuthority> {
  const set = ctx.current();
  const now = nowSeconds(ctx.clock);
  const existing = set.ofKind('root', 'prepared')[0];
  if (existing && now < existing.record.notAfter) {
    throw new ConflictError('precondition_failed', `root ${existing.record.id} is already prepared; activate it first, or withdraw it (meshca authority root withdraw)`);
  }
  // One that expired while it waited can never be activated: it leaves the bundle, with what waited under it, for the new one.
  const discarded = existing ? withPreparedUnder(set, existing).map((a) => transition(a, 'retired', now)) : [];
  const root = !imported
    ? await mintRoot(ctx, 'prepared', now)
    : imported.keyPem === undefined
      ? keylessRoot(set, imported, now)
      : await importRoot(ctx, set, imported, now);
  // Under a root without its key, the organisation issues the intermediate, and importing it activates the root.
  const first = root.signer ? [await mintIntermediate(ctx, 'prepared', now, root)] : [];
  await ctx.commit([...discarded, root, ...first], set.bundleSequence + 1, [
    ...discarded.map((a) => moved(a, 'retired', by, { expired: true })),
    ...[root, ...first].map((a) => created(a, by)),
  ]);
  ctx.log.info({ root: root.record.id }, 'prepared a new root; it is now in the trust bundle');
  return root;
}

/**
 * An operator's root, refused before its key goes into custody when its id
 * (the key identifier in its certificate) is already this CA's: custody would
 * otherwise be asked to store a key under that authority's name.
 */
async function importRoot(ctx: LifecycleContext, set: AuthoritySet, imported: ImportedAuthority, now: number): Promise<LoadedAuthority> {
  const checked = checkImport(imported, 'root', now, [], ctx.settings.trustDomain);
  const id = checked.facts.keyId.toString('hex');
  refuseKnownRoot(set, id);
  return takeIntoCustody(ctx.factory.custody, checked, 'prepared', now);
}

/**
 * Takes the prepared root out of the trust bundle before it has signed
 * anything, with the intermediates prepared under it: one prepared by
 * mistake (the wrong certificate, or one whose key holder should not be
 * trusted) must not stay trusted by every agent until it expires.
 */
export async function withdrawPreparedRoot(ctx: LifecycleContext, by: string): Promise<LoadedAuthority> {
  const set = ctx.current();
  const prepared = set.ofKind('root', 'prepared')[0];
  if (!prepared) throw new ConflictError('precondition_failed', 'no prepared root to withdraw');
  const now = nowSeconds(ctx.clock);
  const withdrawn = withPreparedUnder(set, prepared).map((a) => transition(a, 'retired', now));
  await ctx.commit(withdrawn, set.bundleSequence + 1, withdrawn.map((a) => moved(a, 'retired', by, { withdrawn: true })));
  ctx.log.info({ root: prepared.record.id }, 'withdrew the prepared root; it is no longer in the trust bundle');
  return withdrawn[0]!;
}

/** A root already recorded cannot be prepared again; one retired or withdrawn has left the bundle for good. */
function refuseKnownRoot(set: AuthoritySet, id: string): void {
  const known = set.byId(id);
  if (!known) return;
  throw new ConflictError(
    'already_exists',
    known.record.state === 'retired'
      ? `root ${id} was retired (or withdrawn) and cannot return to the trust bundle: a root leaves it for good`
      : `root ${id} is already known`,
  );
}

/** A prepared root and the intermediates prepared under it, which leave together. */
function withPreparedUnder(set: AuthoritySet, root: LoadedAuthority): LoadedAuthority[] {
  return [root, ...set.preparedIntermediatesUnder(root)];
}

/**
 * An organisation's new root for a CA that signs with an imported
 * intermediate (plug-in mode), without its key: the organisation will issue
 * the intermediate that signs under it. A CA that makes its own intermediates
 * needs the key; without it, the root would never sign anything.
 */
function keylessRoot(set: AuthoritySet, imported: ImportedAuthority, now: number): LoadedAuthority {
  const signing = set.signingRoot();
  if (signing?.signer) {
    throw new ConflictError(
      'precondition_failed',
      `this CA makes its own intermediates under root ${signing.record.id}: a new root needs its key (--import-key) to sign them`,
    );
  }
  const { facts } = checkImport(imported, 'root', now, [], undefined);
  const id = facts.keyId.toString('hex');
  refuseKnownRoot(set, id);
  return upstreamRoot(imported.certDer, now, 'prepared');
}

/**
 * Active agents that have not reached the CA since `since`, though their
 * agent SVIDs are still valid `now`: they cannot have the bundle of that
 * time, and would come back to a CA whose serving certificate they do not
 * trust. (Agents whose SVIDs expired need a new token anyway.)
 */
export function agentsNotSeenSince(agents: readonly AgentRecord[], since: number, now: number): string[] {
  return agents
    .filter((a) => a.status === 'active' && a.svidNotAfter !== null && a.svidNotAfter > now && (a.lastSeen ?? a.attestedAt) < since)
    .map((a) => a.name);
}

/**
 * Makes the prepared root the one that signs: the intermediate prepared
 * under it (or, if that one is gone, a new one) becomes active at once, the
 * old intermediates retire (keeping their SVIDs valid), and the old root
 * stays in the bundle until retired. Refused until
 * the new root has been in the bundle for `propagation`, and while agents
 * that have not been seen since it was put there (`unseenSince`) hold valid
 * SVIDs, unless forced.
 */
export async function activateRoot(
  ctx: LifecycleContext,
  by: string,
  propagation: Duration,
  force: boolean,
  unseenSince: UnseenAgents,
): Promise<LoadedAuthority> {
  const set = ctx.current();
  const prepared = set.ofKind('root', 'prepared')[0];
  if (!prepared) throw new ConflictError('precondition_failed', 'no prepared root; run `meshca authority root prepare` first');
  if (!prepared.signer) {
    throw new ConflictError(
      'precondition_failed',
      `root ${prepared.record.id} has no key in custody; it cannot sign intermediates: import one your organisation issued under it ` +
        '(meshca authority intermediate import), which makes it the signing root',
    );
  }
  const now = nowSeconds(ctx.clock);
  // Checked before anything retires: the intermediates signing now would give way to none that verifies.
  if (!isValidAt(prepared.record, now)) {
    throw new ConflictError(
      'precondition_failed',
      `root ${prepared.record.id} is not valid now (${validityText(prepared.record)}); it cannot sign intermediates. ` +
        'Prepare another root, which takes its place (the current one keeps signing)',
    );
  }
  const published = now - prepared.record.createdAt;
  if (!force && published < propagation) {
    throw new ConflictError(
      'precondition_failed',
      `root ${prepared.record.id} has been in the trust bundle for ${published}s; wait until ${formatDuration(propagation)} have passed ` +
        'so every agent has installed it, or use --force',
    );
  }
  if (!force) await refuseWhileAgentsUnseen(prepared, now, unseenSince);
  const root = transition(prepared, 'active', now);
  // The oldest that can still take over: its CRL has been out longest.
  const waiting = set.preparedIntermediatesUnder(prepared).filter((w) => canTakeOver(w.record, now));
  const promoted = waiting[0];
  const intermediate = promoted ? transition(promoted, 'active', now) : await mintIntermediate(ctx, 'active', now, root);
  // A younger one waiting under the new root stays prepared: the scheduled rotation's next.
  const retired = [...set.ofKind('intermediate', 'active'), ...set.ofKind('intermediate', 'prepared')]
    .filter((a) => a !== promoted && !waiting.includes(a))
    .map((a) => transition(a, 'retired', now));
  await ctx.commit([root, intermediate, ...retired], set.bundleSequence, [
    moved(root, 'active', by, { force }),
    promoted ? moved(intermediate, 'active', by) : created(intermediate, by),
    ...retired.map((r) => moved(r, 'retired', by)),
  ]);
  ctx.log.info({ root: root.record.id, intermediate: intermediate.record.id }, 'activated the new root');
  return root;
}

/** Agents that are active with valid agent SVIDs but have not reached the CA since `since` (epoch seconds), by name. */
export type UnseenAgents = (since: number, now: number) => Promise<readonly string[]>;

/**
 * Refuses to make a prepared root the signing one while agents that have not
 * reached the CA since it was put in the trust bundle hold valid SVIDs: they
 * would not trust the CA once it serves under the new root. Both ways a root
 * starts signing (`root activate`, and an intermediate imported under a
 * keyless one) ask it.
 */
export async function refuseWhileAgentsUnseen(prepared: LoadedAuthority, now: number, unseenSince: UnseenAgents): Promise<void> {
  const unseen = await unseenSince(prepared.record.createdAt, now);
  if (unseen.length === 0) return;
  const named = unseen.slice(0, 5).join(', ') + (unseen.length > 5 ? `, and ${unseen.length - 5} more` : '');
  throw new ConflictError(
    'precondition_failed',
    `${unseen.length} active agent${unseen.length === 1 ? ' has' : 's have'} not reached the CA since root ${prepared.record.id} was put in the trust bundle, ` +
      `though their agent SVIDs are valid (${named}): they would not trust the CA once it serves under the new root. ` +
      'Wait until they have synced, evict those that are gone, or use --force',
  );
}

/**
 * Removes the superseded root from the bundle. Refused while unexpired,
 * unrevoked certificates still chain to it (`liveUnder` counts them), unless forced.
 */
export async function retireRoot(
  ctx: LifecycleContext,
  by: string,
  liveUnder: (ids: readonly string[]) => Promise<number>,
  force: boolean,
): Promise<LoadedAuthority> {
  const set = ctx.current();
  const old = set.supersededRoots()[0];
  if (!old) throw new ConflictError('precondition_failed', 'no superseded root to retire (activate a new root first)');
  const under = set.authorities.filter((a) => set.rootOf(a) === old).map((a) => a.record.id);
  const live = await liveUnder(under);
  if (live > 0 && !force) {
    throw new ConflictError('precondition_failed', `${live} unexpired certificates still chain to root ${old.record.id}; wait for them to expire, or use --force`);
  }
  const now = nowSeconds(ctx.clock);
  const retired = set.authorities.filter((a) => under.includes(a.record.id) && a.record.state !== 'retired').map((a) => transition(a, 'retired', now));
  await ctx.commit(retired, set.bundleSequence + 1, retired.map((r) => moved(r, 'retired', by, r.record.id === old.record.id ? { force, live } : {})));
  ctx.log.info({ root: old.record.id, live }, 'retired the old root; it is no longer in the trust bundle');
  return retired.find((r) => r.record.id === old.record.id)!;
}
