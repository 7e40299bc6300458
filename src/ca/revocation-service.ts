/**
 * Revoking certificates: by serial, identity or agent, and tainting an
 * intermediate (it stops signing at once and everything it signed is revoked,
 * so agents re-issue under the next one). Every revocation refreshes the CRLs.
 */
import { NotFoundError, UnavailableError } from '../errors.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { RevocationReason } from '../x509/crl.js';
import type { AuthorityManager } from './authority-manager.js';
import type { LoadedAuthority } from './authority-set.js';
import type { CertificateCatalog, RevocationSelector, RevocationStore, RevokedSerials } from './certificate-query.js';
import type { CrlService } from './crl-service.js';
import { REVOCATION_EVENT } from './audit-certificates.js';
import { REVOKED_AT } from './audit-revocations.js';
import { THROUGH_NOT_AFTER } from './expiry.js';
import type { AuditEvent } from './model.js';

/** Why evicting or banning an agent revokes every live certificate issued to or through it. */
export const AGENT_REVOCATION_REASON: RevocationReason = 'cessationOfOperation';

/** Why a forced root retirement revokes what still chained to the root. */
const ROOT_RETIREMENT_REASON: RevocationReason = 'cessationOfOperation';

/**
 * The audit event of a revocation: what it selected, why, when (the time
 * stamped into the records, `at`), that it applied to records through their
 * notAfter second, and how many certificates it revoked.
 * `audit verify` holds the records to it: each one the selector matched,
 * unexpired then (notAfter at or after `at`), must be revoked by then
 * (audit-certificates.ts), and each record it revoked must carry its time
 * and reason (audit-revocations.ts).
 */
export function revocationEvent(
  selector: Readonly<Record<string, string | boolean>>, reason: RevocationReason, by: string, count: number, at: number,
): AuditEvent {
  return { type: REVOCATION_EVENT, actor: by, data: { ...selector, reason, count, [REVOKED_AT]: at, [THROUGH_NOT_AFTER]: true } };
}

/**
 * What an eviction or ban revoked, appended by the datastore in the same
 * transaction as the status change and the revocation; the same event as
 * `cert revoke --agent`, so the verifier needs nothing new to check it.
 */
export function agentRevocationEvent(agent: string, by: string, count: number, at: number): AuditEvent {
  return revocationEvent({ agent }, AGENT_REVOCATION_REASON, by, count, at);
}

/**
 * What an attestation under a name already active revokes: the agent SVIDs
 * held under that name before, each its own event (as `cert revoke --serial`
 * records it), so a re-provisioned node's old credential stops working.
 */
export function supersededAgentSvidEvent(serial: string, agent: string, at: number): AuditEvent {
  return revocationEvent({ serial }, 'superseded', `agent:${agent}`, 1, at);
}

export class RevocationService {
  private readonly revokedListeners: Array<() => void> = [];

  constructor(
    private readonly deps: { store: RevocationStore & Pick<CertificateCatalog, 'listCertificates'>; crls: CrlService; manager: AuthorityManager; clock: Clock },
  ) {}

  /**
   * Revokes what the selector matches and returns the serials it revoked. A
   * serial the CA has no record of is refused (NotFoundError, nothing changed
   * or audited): a mistyped serial must not look like a revocation. A known
   * serial already revoked or expired revokes none (idempotent). Selectors by
   * SPIFFE ID, agent or issuer that match nothing are not refused: they name
   * a set, and an empty one is a valid answer (revoked 0).
   */
  async revoke(selector: RevocationSelector, reason: RevocationReason, by: string): Promise<RevokedSerials> {
    return this.revokeListing(selector, reason, by, 'always');
  }

  /** Called after every revocation that revoked something: the CA's own serving certificate may be among it. */
  onRevoked(listener: () => void): void {
    this.revokedListeners.push(listener);
  }

  /** `quietWhenNone`: an automatic sweep that revoked nothing appends no event (it would on every start). */
  private async revokeRecording(selector: RevocationSelector, reason: RevocationReason, by: string, record: 'always' | 'quietWhenNone'): Promise<number> {
    return (await this.revokeListing(selector, reason, by, record)).length;
  }

  private async revokeListing(selector: RevocationSelector, reason: RevocationReason, by: string, record: 'always' | 'quietWhenNone'): Promise<RevokedSerials> {
    if ('serial' in selector && (await this.deps.store.listCertificates({ serial: selector.serial }, null, 1)).items[0]?.serial !== selector.serial) {
      throw new NotFoundError(`certificate with serial ${selector.serial}`);
    }
    const at = nowSeconds(this.deps.clock);
    const described = Object.fromEntries(Object.entries(selector).map(([k, v]) => [k, typeof v === 'boolean' ? v : String(v)]));
    const serials = await this.deps.store.revoke(selector, at, reason, (n) =>
      n === 0 && record === 'quietWhenNone' ? undefined : revocationEvent(described, reason, by, n, at),
    );
    this.deps.crls.invalidate();
    if (serials.length > 0) for (const listener of this.revokedListeners) listener();
    return serials;
  }

  /**
   * Retires the intermediate now (activating the next one), has its parent's
   * CRL revoke it, and revokes every SVID it signed. Agents keep their own SVID
   * long enough to renew it under the next intermediate: the CA matches every
   * agent certificate to its issuance record, so one forged with the tainted key
   * is refused anyway.
   */
  async taint(intermediateId: string, by: string): Promise<number> {
    const { already } = await this.deps.manager.retireIntermediateNow(intermediateId, by);
    // Tainted again (a retry after a failure midway, say): only what is left to revoke is, and recorded if any.
    return this.revokeWhatTaintedSigned(intermediateId, by, already ? 'quietWhenNone' : 'always');
  }

  /**
   * Retires the superseded root: refused while live certificates chain to it,
   * unless forced — and then everything still live under it is revoked. Peers
   * stopped trusting it with the bundle; the CA must too, also on connections
   * opened before (it checks revocation per request, while the handshake's
   * chain check happened once). Says how many it revoked.
   */
  async retireRoot(by: string, force: boolean): Promise<{ root: LoadedAuthority; revoked: number }> {
    // A forced retirement that failed after its root left the bundle is finished first: the root is no longer
    // "superseded", so retiring would find nothing to retire, and what chains to it would stay unrevoked.
    const unfinished = force ? await this.unfinishedRetirement() : undefined;
    if (unfinished) return { root: unfinished, revoked: await this.revokeAfterRetirement(unfinished, by, 'quietWhenNone') };
    const root = await this.deps.manager.retireRoot(by, (ids) => this.deps.store.liveUnder(ids, nowSeconds(this.deps.clock)), force);
    const revoked = force ? await this.revokeAfterRetirement(root, by, 'always') : 0;
    return { root, revoked };
  }

  /** A retired root that live certificates still chain to: what an interrupted forced retirement leaves. */
  private async unfinishedRetirement(): Promise<LoadedAuthority | undefined> {
    for (const a of this.deps.manager.current().authorities) if (await this.retiredWithLiveUnder(a)) return a;
    return undefined;
  }

  private async retiredWithLiveUnder(a: LoadedAuthority): Promise<boolean> {
    if (a.record.kind !== 'root' || a.record.state !== 'retired') return false;
    return (await this.deps.store.liveUnder(this.intermediatesUnder(a), nowSeconds(this.deps.clock))) > 0;
  }

  /**
   * The revocations of a forced retirement, whose root has already left the
   * bundle: a failure here must not read as "nothing was changed".
   */
  private async revokeAfterRetirement(root: LoadedAuthority, by: string, record: 'always' | 'quietWhenNone'): Promise<number> {
    try {
      return await this.revokeUnderRetiredRoot(root, by, record);
    } catch (err) {
      throw new UnavailableError(
        'store_unavailable',
        `root ${root.record.id} is retired and out of the trust bundle, but revoking what still chains to it failed (the datastore cannot take changes now); ` +
          'run `meshca authority root retire --force` again once it can, which finishes it (so does the next start)',
        { cause: err },
      );
    }
  }

  private async revokeUnderRetiredRoot(root: LoadedAuthority, by: string, record: 'always' | 'quietWhenNone'): Promise<number> {
    let revoked = 0;
    for (const id of this.intermediatesUnder(root)) revoked += await this.revokeRecording({ issuerId: id }, ROOT_RETIREMENT_REASON, by, record);
    return revoked;
  }

  private intermediatesUnder(root: LoadedAuthority): string[] {
    const set = this.deps.manager.current();
    return set.authorities.filter((a) => a.record.kind === 'intermediate' && set.rootOf(a)?.record.id === root.record.id).map((a) => a.record.id);
  }

  /**
   * What this replica signed with an intermediate another replica tainted,
   * before it adopted the taint: revoked too, as the taint revoked the rest.
   */
  revokeSignedBy(intermediateId: string, by: string): Promise<number> {
    return this.revokeWhatTaintedSigned(intermediateId, by, 'quietWhenNone');
  }

  /**
   * What an issuer signed after it was withdrawn, found once recorded
   * (SvidIssuer.confirm): revoked as its taint, or its root's retirement,
   * revoked the rest.
   */
  revokeWithdrawn(issuerId: string, why: 'taint' | 'root-retired', by: string): Promise<number> {
    return why === 'taint' ? this.revokeSignedBy(issuerId, by) : this.revokeRecording({ issuerId }, ROOT_RETIREMENT_REASON, by, 'quietWhenNone');
  }

  /** Everything a tainted intermediate signed but agents' own SVIDs (see taint). */
  private revokeWhatTaintedSigned(intermediateId: string, by: string, record: 'always' | 'quietWhenNone'): Promise<number> {
    return this.revokeRecording({ issuerId: intermediateId, exceptAgentSvids: true }, 'cACompromise', by, record);
  }

  /**
   * Finishes every taint: a taint retires the intermediate in one transaction
   * and revokes what it signed in the next, so a server killed in between
   * would leave the tainted key's SVIDs valid for good. Run at start; what is
   * already revoked is left alone and logs nothing.
   */
  async finishTaints(by: string): Promise<number> {
    let revoked = 0;
    for (const a of this.deps.manager.current().authorities) {
      if (a.record.taintedAt !== null) revoked += await this.revokeSignedBy(a.record.id, by);
    }
    return revoked;
  }

  /**
   * Finishes every forced root retirement, for the same reason: the root is
   * retired in one transaction and what still chained to it revoked in the
   * next ones. An unforced retirement is refused while anything that counts
   * (liveUnder) chains to the root, so anything that does under a retired
   * root is what an interrupted forced one left: it is revoked as the forced
   * retirement would have. Run at start; logs nothing when none is left.
   */
  async finishRootRetirements(by: string): Promise<number> {
    let revoked = 0;
    for (const a of this.deps.manager.current().authorities) {
      if (await this.retiredWithLiveUnder(a)) revoked += await this.revokeUnderRetiredRoot(a, by, 'quietWhenNone');
    }
    return revoked;
  }
}
