/**
 * The pieces every lifecycle step is built from: an authority moved to a new
 * state, and the audit events that record a creation or a move. Steps commit
 * both together, so the journal never holds a transition without its event.
 */
import { ACTIVATED_AT, CREATED_AT, RETIRED_AT } from './audit-authorities.js';
import type { LoadedAuthority } from './authority-set.js';
import { CERTIFICATE_HASH, sha256Hex } from './issuance-event.js';
import type { AuditEvent, AuthorityRecord, AuthorityState } from './model.js';

/** The authority in `state` from `now`; stamps activatedAt or retiredAt and keeps the other as it was. */
export function transition(a: LoadedAuthority, state: AuthorityState, now: number): LoadedAuthority {
  return {
    ...a,
    record: {
      ...a.record,
      state,
      activatedAt: state === 'active' ? now : a.record.activatedAt,
      retiredAt: state === 'retired' ? now : a.record.retiredAt,
    },
  };
}

export function created(a: LoadedAuthority, actor: string): AuditEvent {
  const r = a.record;
  return {
    type: 'authority.created',
    actor,
    data: {
      id: r.id,
      kind: r.kind,
      state: r.state,
      parent: r.parentId,
      notBefore: r.notBefore,
      notAfter: r.notAfter,
      keyHeld: r.keyRef !== null,
      [CREATED_AT]: r.createdAt,
      // Created active (the first PKI, an import, a replacement), it was activated then.
      ...(r.activatedAt !== null ? { [ACTIVATED_AT]: r.activatedAt } : {}),
      // Binds the certificate itself: without it, another could be recorded under the same id (events of earlier builds have none).
      [CERTIFICATE_HASH]: sha256Hex(r.certDer),
    },
  };
}

/** The move of `a`, as transition() left it, to `to`: with the time it stamped. */
export function moved(a: LoadedAuthority, to: AuthorityState, actor: string, extra: Record<string, unknown> = {}): AuditEvent {
  return { type: `authority.${to === 'active' ? 'activated' : to}`, actor, data: { id: a.record.id, kind: a.record.kind, ...stampOf(a.record, to), ...extra } };
}

/** The time a move to `state` stamped into the record (none for a state no move reaches). */
export function stampOf(r: AuthorityRecord, state: AuthorityState): Record<string, number | null> {
  if (state === 'active') return { [ACTIVATED_AT]: r.activatedAt };
  if (state === 'retired') return { [RETIRED_AT]: r.retiredAt };
  return {};
}
