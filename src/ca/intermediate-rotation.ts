/**
 * The scheduled rotation of intermediates, driven by the clock alone: the
 * signing one is replaced on the schedule rotation.ts predicts, and one is
 * kept waiting under a root the operator has prepared. Each step commits one
 * transition, so a restart between steps resumes at the next.
 */
import { seconds } from '../time/duration.js';
import type { LoadedAuthority } from './authority-set.js';
import { created, moved, transition } from './authority-transitions.js';
import { SELF } from './caller.js';
import { mintIntermediate, type LifecycleContext } from './lifecycle-context.js';
import { activateRoot } from './root-rotation.js';
import { canTakeOver, isValidAt, shouldActivateNext, shouldPrepareNext } from './rotation.js';

/**
 * Makes every transition the clock calls for, one after another: a CA back
 * after downtime past both the prepare and the activate points must do both
 * now, not leave the old intermediate signing until the next tick.
 */
export async function rotateIntermediate(ctx: LifecycleContext, now: number): Promise<void> {
  await takeOverFromExpiredRoot(ctx, now);
  // At most three transitions are ever due at once (catch up, prepare, activate); the bound only guards against a loop.
  for (let step = 0; step < 4; step++) {
    if (!(await rotateIntermediateStep(ctx, now))) break;
  }
  for (let step = 0; step < 3; step++) {
    if (!(await keepIntermediateWaiting(ctx, now))) return;
  }
}

/**
 * Keeps an intermediate ready under a prepared root, on the schedule the
 * signing one follows: a successor is prepared at half of the waiting one's
 * life, and a waiting one retires when a sixth of its life remains and a
 * younger one waits. However long the operator waits before activating the
 * root, the one promoted then has had its CRL out for at least a third of
 * an intermediate's life (or since the prepare), and is not due for
 * replacement at once by one whose CRL no proxy has.
 */
async function keepIntermediateWaiting(ctx: LifecycleContext, now: number): Promise<boolean> {
  const set = ctx.current();
  const root = set.ofKind('root', 'prepared')[0];
  if (!root?.signer || !isValidAt(root.record, now)) return false; // an expired prepared root only waits to be replaced
  const waiting = set.preparedIntermediatesUnder(root);
  const newest = waiting.at(-1);
  if (!newest || shouldPrepareNext(newest.record, now)) {
    const next = await mintIntermediate(ctx, 'prepared', now, root);
    await ctx.commit([next], set.bundleSequence, [created(next, SELF)]);
    ctx.log.info({ root: root.record.id, prepared: next.record.id }, 'prepared the next intermediate to wait under the prepared root');
    return true;
  }
  const spent = waiting.filter((w) => w !== newest && !canTakeOver(w.record, now)).map((w) => transition(w, 'retired', now));
  if (spent.length === 0) return false;
  await ctx.commit(spent, set.bundleSequence, spent.map((r) => moved(r, 'retired', SELF)));
  return true;
}

/**
 * Once the signing root has expired, nothing can be signed under it again:
 * a prepared root that can sign takes over at once, as a forced activation
 * would, rather than leave the CA unable to issue, and, after a restart,
 * unable to start (which left no way to run the activation at all). Agents
 * that synced since the prepare trust it; the others could trust nothing
 * this CA signs anyway.
 */
async function takeOverFromExpiredRoot(ctx: LifecycleContext, now: number): Promise<void> {
  const set = ctx.current();
  const expired = set.signingRoot();
  const prepared = set.ofKind('root', 'prepared')[0];
  // Only past notAfter: a clock set back before a root's notBefore is no reason to replace it.
  if (!expired || now < expired.record.notAfter || !prepared?.signer || !isValidAt(prepared.record, now)) return;
  ctx.log.error(
    { expired: expired.record.id, root: prepared.record.id },
    'the signing root has expired: the prepared root signs from now on, without waiting for --root-propagation (activate before the old root expires)',
  );
  // Forced: neither the propagation wait nor the agents not seen since are looked at.
  await activateRoot(ctx, SELF, seconds(1), true, async () => []);
}

/** The next transition due at `now`, if any; true when it made one. */
async function rotateIntermediateStep(ctx: LifecycleContext, now: number): Promise<boolean> {
  const set = ctx.current();
  const root = set.signingRoot();
  if (!root?.signer) return false; // an imported intermediate: rotation is the operator's (meshca doctor warns)
  if (!isValidAt(root.record, now)) {
    // Whatever it signed now would be born invalid: only a root the operator activates can sign again.
    ctx.log.error({ root: root.record.id }, 'the signing root is not valid now; no intermediate can be made under it: activate a new root (meshca authority root prepare, then activate)');
    return false;
  }
  const active = set.activeIntermediate();
  // Not one prepared under a prepared root: that one waits for its root's activation.
  const prepared = set.preparedIntermediateUnder(root);

  if (!active || !isValidAt(active.record, now)) {
    // Catching up (first tick after downtime, or the active one is gone): promote or mint at once.
    const promoted = prepared && isValidAt(prepared.record, now) ? prepared : undefined;
    const next = promoted ? transition(promoted, 'active', now) : await mintIntermediate(ctx, 'active', now, root);
    const retired = [active, prepared]
      .filter((a): a is LoadedAuthority => a !== undefined && a !== promoted)
      .map((a) => transition(a, 'retired', now));
    await ctx.commit([next, ...retired], set.bundleSequence, [
      promoted ? moved(next, 'active', SELF) : created(next, SELF),
      ...retired.map((r) => moved(r, 'retired', SELF)),
    ]);
    ctx.log.warn({ intermediate: next.record.id }, 'no valid signing intermediate: activated the next one at once');
    return true;
  }
  if (prepared && shouldActivateNext(active.record, now)) {
    const next = transition(prepared, 'active', now);
    const old = transition(active, 'retired', now);
    await ctx.commit([next, old], set.bundleSequence, [moved(next, 'active', SELF), moved(old, 'retired', SELF)]);
    ctx.log.info({ active: next.record.id, retired: old.record.id }, 'rotated the signing intermediate');
    return true;
  }
  if (!prepared && shouldPrepareNext(active.record, now)) {
    const next = await mintIntermediate(ctx, 'prepared', now, root);
    await ctx.commit([next], set.bundleSequence, [created(next, SELF)]);
    ctx.log.info({ prepared: next.record.id }, 'prepared the next signing intermediate');
    return true;
  }
  return false;
}
