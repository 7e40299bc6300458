/**
 * The operator's taint of an intermediate (its key is suspected compromised):
 * it stops signing at once and is marked tainted, so its parent's CRL revokes
 * it and other replicas stop signing with it as soon as they adopt the change.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import { nowSeconds } from '../time/clock.js';
import { TAINTED_AT } from './audit-authorities.js';
import type { LoadedAuthority } from './authority-set.js';
import { created, moved, stampOf, transition } from './authority-transitions.js';
import { mintIntermediate, type LifecycleContext } from './lifecycle-context.js';
import type { AuditEvent } from './model.js';
import { isValidAt } from './rotation.js';

/**
 * Taints an intermediate: it stops signing at once (an active one is replaced
 * by the prepared next one or a new one) and its parent's CRL revokes it. The
 * caller revokes the SVIDs it signed. One already tainted is left as it is.
 */
export async function taintIntermediate(ctx: LifecycleContext, id: string, by: string): Promise<{ readonly tainted: LoadedAuthority; readonly already: boolean }> {
  const set = ctx.current();
  const target = set.byId(id);
  if (!target || target.record.kind !== 'intermediate') throw new NotFoundError(`intermediate ${id}`);
  // Tainted once, for good: a second taint keeps the date its parent's CRL revokes it from, and records nothing new.
  if (target.record.taintedAt !== null) return { tainted: target, already: true };
  const now = nowSeconds(ctx.clock);
  const changes: LoadedAuthority[] = [];
  const events: AuditEvent[] = [];
  if (target.record.state === 'active') {
    const root = set.signingRoot();
    const waiting = set.preparedIntermediateUnder(root);
    const prepared = waiting && isValidAt(waiting.record, now) ? waiting : undefined;
    if (!prepared && !root?.signer) {
      // A plug-in CA: its organisation issues the replacement, and the one it replaces, retired, can then be tainted.
      throw new ConflictError(
        'precondition_failed',
        `intermediate ${id} is the one that signs, and meshca holds no root key to make its replacement: ` +
          'import a renewed one your organisation issued (meshca authority intermediate import), which retires this one at once, then taint this one',
      );
    }
    const next = prepared ? transition(prepared, 'active', now) : await mintIntermediate(ctx, 'active', now, root);
    changes.push(next);
    events.push(prepared ? moved(next, 'active', by) : created(next, by));
  }
  const tainted = transition(target, 'retired', now);
  const record = { ...tainted.record, retiredAt: target.record.retiredAt ?? now, taintedAt: now };
  changes.push({ ...tainted, record });
  // The retirement time too: a retired intermediate's taint keeps the one its retirement stamped.
  events.push({ type: 'authority.tainted', actor: by, data: { id, kind: 'intermediate', wasState: target.record.state, [TAINTED_AT]: now, ...stampOf(record, 'retired') } });
  await ctx.commit(changes, set.bundleSequence, events);
  return { tainted: ctx.current().byId(id)!, already: false };
}
