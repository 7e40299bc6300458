/**
 * The agent's own SVID, its credential towards the CA: attesting once with
 * the join token, renewing at half-life over mutual TLS, and dropping a
 * credential the CA refuses (evicted, banned, revoked) so that a new token
 * can replace it. A revocation is recorded in --state-dir and stands, across
 * restarts, until an attestation succeeds. Neither the token nor an SVID the
 * CA merely no longer accepts (expired, not yet valid) is given up on a clock
 * that disagrees with the CA's (clock-skew.ts).
 */
import { agentNameOf } from '../identity/meshca-identity.js';
import { checkedBundle, checkIssued } from './ca-answers.js';
import { CaRequestError, type SvidWire } from './ca-api.js';
import { MAX_CLOCK_SKEW_MS, type CaClockCheck, type ClockSkewError } from './clock-skew.js';
import { holdCertificate, newKeyWithCsr, type HeldCertificate } from './credentials.js';
import { describeError, RereadFile, type SidecarDeps } from './sidecar-deps.js';
import type { AgentCredential, AgentRefusal } from './state-store.js';
import { renewalAfterReceipt, renewalFromOwnLife } from './timing.js';
import type { TrustMaterial } from './trust-material.js';

/**
 * Refusals that revoke what the agent holds: its own SVID and, for an eviction
 * or a ban, the workload SVIDs it obtained. Only these are recorded in
 * --state-dir; every other refusal of the credential is judged by clocks first.
 */
const REVOCATIONS: ReadonlySet<string> = new Set(['agent_evicted', 'agent_banned', 'certificate_revoked', 'certificate_superseded']);

export interface AgentSvid extends HeldCertificate {
  readonly renewAtMs: number;
}

export class AgentIdentity {
  private held: AgentSvid | undefined;
  /**
   * The held SVID looked expired by this host's clock the moment the CA issued
   * it: proof that the clocks disagree, whatever a comparison says (a lifetime
   * shorter than MAX_CLOCK_SKEW_MS). Held, and raised, until the clock is set right.
   */
  private expiredOnArrival: ClockSkewError | undefined;
  /** Join tokens the CA has spent or refused: a token is good for one attestation at most. */
  private readonly spentTokens = new Set<string>();
  private readonly tokenFile: RereadFile<string | undefined>;
  /** The last attestation was refused for the agent's standing (banned), not for its token. */
  private attestRefused = false;
  /** The CA refused the agent's own credential (evicted, banned, revoked) and no new one has been had since. */
  private refusedByCa = false;
  /** See attestedSinceRefusal. */
  private unsyncedSinceRefusal = false;
  /**
   * The held credential, until --state-dir has it: a save that failed (a full
   * or read-only disk) is tried again at every step, while the agent goes on
   * with the credential it holds rather than throw it and the token away.
   */
  private unsaved: AgentCredential | undefined;
  /** A refusal --state-dir has not taken yet (recordRefusal). */
  private unrecordedRefusal: { readonly code: string; readonly serial: string | undefined; readonly atMs: number } | undefined;
  /** --state-dir records a refusal that a new credential supersedes once it is saved beside it. */
  private supersededRefusal = false;
  /** The CA has answered an attestation, and the SVID it bought is being checked and saved. */
  private settling = false;
  /** The agent's SPIFFE ID as of its last agent SVID, kept after the SVID is dropped: a new token may be another agent's. */
  private lastIdentity: string | undefined;

  constructor(
    private readonly deps: Pick<SidecarDeps, 'client' | 'state' | 'log' | 'clock' | 'random' | 'readJoinToken'>,
    private joinToken: string | undefined,
    private readonly trust: TrustMaterial,
    private readonly clockCheck: CaClockCheck,
  ) {
    this.tokenFile = new RereadFile(deps.log, '--join-token-file again for a new join token');
  }

  get svid(): AgentSvid | undefined {
    return this.held;
  }

  get refused(): boolean {
    return this.refusedByCa;
  }

  /**
   * The agent has attested again since the CA refused it, and no sync has
   * been taken in since (synced): the revocations that came with the
   * refusal (an eviction or ban revokes the workload SVIDs too) are not
   * known yet.
   */
  get attestedSinceRefusal(): boolean {
    return this.unsyncedSinceRefusal;
  }

  /** A sync's answer was taken in: the CRLs held are the CA's of now. */
  synced(): void {
    this.unsyncedSinceRefusal = false;
  }

  /** An attestation's answer is being taken in: stopped now, the SVID the spent token bought would be lost. */
  get settlingAttestation(): boolean {
    return this.settling;
  }

  /** No agent SVID and no unused join token: nothing the CA could answer helps until a new token is given. */
  get needsNewToken(): boolean {
    return !this.held && !this.tokenUsable();
  }

  /** No agent SVID, and an unused join token can get one at once (not one the CA has just refused). */
  get canAttest(): boolean {
    return !this.held && this.tokenUsable() && !this.attestRefused;
  }

  /**
   * Without an agent SVID, reads --join-token-file again: a token written
   * there since (a Kubernetes Secret updated in place, a file an operator
   * replaced) takes the place of the one the agent started with, so that an
   * agent the CA refused is let in again without a restart. True when there
   * is such a token, unused: worth an attempt at once, whatever the backoff.
   */
  async takeNewToken(): Promise<boolean> {
    const read = this.deps.readJoinToken;
    if (this.held || !read) return false;
    // An empty file means no token, as at start (systemd's fallback credential once the token is spent).
    const token = (await this.tokenFile.read(read))?.trim();
    if (!token || token === this.joinToken || this.spentTokens.has(token)) return false;
    this.joinToken = token;
    // A ban refused the last attempt; a new token says the operator has let the agent in again.
    this.attestRefused = false;
    this.deps.log.info({}, 'found a new join token in --join-token-file');
    return true;
  }

  /**
   * Takes the credential a previous run saved, due when its own life says
   * however often the agent restarts (at once if that is past). One that
   * looks expired is held too: only a clock that agrees with the CA's may
   * declare it so (ensure), and a clock set right later makes it usable again.
   *
   * A refusal a previous run recorded stands: a credential saved beside it is
   * the refused one (that run was killed before forgetting it), unless its
   * serial says it came after (killed before removing the record).
   */
  async restore(saved: AgentCredential | undefined, refusal: AgentRefusal | undefined): Promise<void> {
    const held = saved && holdCertificate(saved.keyPem, saved.chainPem);
    this.lastIdentity = held ? held.spiffeId : undefined;
    if (refusal) {
      if (!held || refusal.serial === undefined || held.serial === refusal.serial) {
        this.refusedByCa = true;
        const refusedAt = refusal.atMs === undefined ? undefined : new Date(refusal.atMs).toISOString();
        this.deps.log.error({ code: refusal.code, refusedAt }, 'the CA refused this agent in an earlier run (--state-dir); the agent must attest again with a new join token');
        if (saved) await this.tidyState('forget the refused agent credential', (state) => state.forgetCredential());
        return;
      }
      await this.tidyState('remove the record of an earlier refusal', (state) => state.clearRefusal());
    }
    if (!held) return;
    this.held = { ...held, renewAtMs: renewalFromOwnLife(held, this.deps.random) };
    this.expiredOnArrival = undefined;
    if (held.notAfterMs > this.deps.clock.nowMs()) {
      this.deps.log.info({ spiffeId: held.spiffeId, notAfter: new Date(held.notAfterMs).toISOString() }, 'reusing the agent SVID from the state directory');
    }
  }

  /** Makes sure a valid agent SVID is held and due for nothing: renews it, or attests with the join token. */
  async ensure(now: number): Promise<void> {
    await this.saveHeld();
    // While the clocks were last found apart, every step looks again, so that /readyz recovers once time sync is fixed.
    const compared = this.clockCheck.skewed;
    if (compared) await this.compareClocks();
    const held = this.held;
    // While this host's clock is far from the CA's, the CA's says when the SVID is due, and whether it is still valid:
    // renewing gives up nothing, and keeps the agent going without a new join token once time sync is fixed, however
    // long that takes. (It spares neither /readyz, which says the clocks disagree, nor a credential the CA refuses.)
    const caNow = this.clockCheck.caNowMs(now);
    if (held && now < held.notAfterMs) {
      this.expiredOnArrival = undefined; // the clock has been set right
      if (now < held.renewAtMs && caNow < held.renewAtMs) return;
      if (await this.renew()) return;
    } else if (held && caNow < held.notAfterMs && caNow >= held.renewAtMs) {
      if (await this.renew()) return;
    }
    if (this.held && this.expiredOnArrival) throw this.expiredOnArrival;
    // From here on the agent gives up an SVID or spends its token, neither of which can be undone on a wrong clock.
    if (this.held || this.tokenUsable()) {
      if (!compared) await this.compareClocks();
      this.clockCheck.throwIfSkewed();
    }
    if (this.held) this.deps.log.error({ spiffeId: this.held.spiffeId }, 'the agent SVID has expired; attesting again needs a new join token');
    this.held = undefined;
    if (!this.tokenUsable()) {
      throw new Error(`no valid agent SVID and no unused join token: ${this.newTokenAdvice()}`);
    }
    await this.attest(this.joinToken!);
  }

  /** False when the CA refused the credential, which is then dropped. */
  private async renew(): Promise<boolean> {
    const { keyPem, csr } = await newKeyWithCsr('ec-p256');
    this.configureClient();
    let skew;
    try {
      const res = await this.deps.client.renew(csr);
      skew = await this.adopt(keyPem, res.svid, res.bundle);
      this.deps.log.info({ notAfter: res.svid.notAfter }, 'renewed the agent SVID');
    } catch (err) {
      if (!(err instanceof CaRequestError && err.credentialRejected)) throw err;
      if (!(await this.dropRefused(err))) throw err;
      return false;
    }
    if (skew) throw skew;
    return true;
  }

  private async attest(token: string): Promise<void> {
    const formerIdentity = this.lastIdentity;
    const { keyPem, csr } = await newKeyWithCsr('ec-p256');
    this.deps.client.configure(this.trust.bundlePem, undefined);
    let skew;
    try {
      const res = await this.deps.client.attest(token, csr);
      // The CA has spent the token, whatever becomes of its answer here.
      this.spentTokens.add(token);
      this.settling = true;
      try {
        skew = await this.adopt(keyPem, res.svid, res.bundle);
      } finally {
        this.settling = false;
      }
      this.deps.log.info({ spiffeId: res.svid.spiffeId }, 'attested with the join token');
      if (formerIdentity !== undefined && formerIdentity !== res.svid.spiffeId) {
        this.deps.log.warn(
          { spiffeId: res.svid.spiffeId, formerSpiffeId: formerIdentity },
          `attested as ${res.svid.spiffeId}, not as ${formerIdentity} as before: the join token was made for another agent name, whose entries it now serves`,
        );
      }
    } catch (err) {
      // A refused token will not become valid by retrying.
      if (err instanceof CaRequestError && err.status === 401) this.spentTokens.add(token);
      // Refused for the agent's standing (banned), not for its token: attesting again at once would only be refused
      // again, so the next attempt waits out the backoff. (A ban also voids the agent's unspent tokens at the CA.)
      this.attestRefused = err instanceof CaRequestError && err.credentialRejected;
      throw err;
    }
    this.attestRefused = false;
    if (skew) throw skew;
  }

  /**
   * The CA will never accept this credential again: forget it, here and in
   * --state-dir, where the refusal is recorded first: a run killed in between
   * leaves the record beside the refused credential, never neither, so that
   * a restart is not ready with the SVID in --out, which the refusal revoked.
   * False when it is kept after all (dropUnaccepted).
   */
  async dropRefused(err: CaRequestError): Promise<boolean> {
    if (!REVOCATIONS.has(err.code)) return this.dropUnaccepted(err);
    this.deps.log.error(
      { code: err.code },
      err.code === 'certificate_superseded'
        ? 'the CA refused the agent SVID: another agent attested under this agent\'s name since, which revoked it; the agent must attest again with a new join token'
        : 'the CA refused the agent SVID; the agent must attest again with a new join token',
    );
    const refused = this.held;
    const recorded = this.refusedByCa && !refused;
    this.held = undefined;
    this.unsaved = undefined;
    this.expiredOnArrival = undefined;
    this.refusedByCa = true;
    if (recorded) return true;
    this.unrecordedRefusal = { code: err.code, serial: refused?.serial, atMs: this.deps.clock.nowMs() };
    await this.recordRefusal();
    return true;
  }

  /**
   * Records the refusal in --state-dir, then forgets the credential there. A
   * disk that refuses is said at error level and tried again at each step
   * (saveHeld): until it takes the record, a restart would find the refused
   * credential and nothing saying it was refused.
   */
  private async recordRefusal(): Promise<void> {
    const refusal = this.unrecordedRefusal;
    if (!refusal || !this.deps.state) return;
    try {
      await this.deps.state.recordRefusal(refusal);
      await this.deps.state.forgetCredential();
    } catch (err) {
      this.deps.log.error(
        { err: describeError(err) },
        'could not record in the state directory that the CA refused the agent (is its disk full or read-only?); tried again at the next step',
      );
      return;
    }
    this.unrecordedRefusal = undefined;
  }

  /**
   * The CA no longer accepts the agent SVID, but has not revoked it: expired
   * or not yet valid by the CA's clock, or not a certificate it trusts. The
   * clock is the CA's, not necessarily this host's: while the two disagree
   * nothing is given up (a CA whose clock jumped, or a replica running fast,
   * must not cost a fleet its credentials). Nothing was revoked, so nothing
   * is recorded as a refusal: the workload SVID in --out stays servable while
   * it lasts. False when it is kept: see below.
   */
  private async dropUnaccepted(err: CaRequestError): Promise<boolean> {
    await this.compareClocks();
    this.clockCheck.throwIfSkewed();
    const held = this.held;
    if (held && this.deps.clock.nowMs() < held.notBeforeMs + MAX_CLOCK_SKEW_MS) {
      // Clocks within the tolerance still differ by up to 5 minutes, and notBefore is set back only 30 s: a replica
      // behind the one that issued it, or a CA whose clock was stepped back, takes it for not yet valid for a while.
      // Only time tells that apart from a credential the CA will never take, so a young one is kept until it is not.
      this.deps.log.warn(
        { code: err.code, notBefore: new Date(held.notBeforeMs).toISOString() },
        `the CA does not accept the agent SVID it issued at ${new Date(held.notBeforeMs).toISOString()} (${err.message}); kept, and tried again, until it is ${MAX_CLOCK_SKEW_MS / 60_000} minutes old, since the CA's clocks may differ by that much`,
      );
      return false;
    }
    if (this.held) {
      this.deps.log.error({ code: err.code, spiffeId: this.held.spiffeId }, `the CA no longer accepts the agent SVID (${err.message}); attesting again needs a new join token`);
    }
    this.held = undefined;
    this.unsaved = undefined;
    this.expiredOnArrival = undefined;
    await this.deps.state?.forgetCredential();
    return true;
  }

  /** Presents the agent SVID (if any) to the CA, and trusts the current bundle to verify it. */
  configureClient(): void {
    this.deps.client.configure(this.trust.bundlePem, this.held && { keyPem: this.held.keyPem, chainPem: this.held.chainPem });
  }

  /**
   * Holds and saves a new agent SVID, even one that looks expired by this
   * host's clock: the CA holds it valid and the token is spent. That one is
   * returned as a ClockSkewError for the caller to raise once its own
   * bookkeeping is done; one not yet valid is only reported. A save that
   * fails is local and tried again (saveHeld), never a reason to drop it.
   */
  private async adopt(keyPem: string, svid: SvidWire, bundlePem: string): Promise<ClockSkewError | undefined> {
    const held = holdCertificate(keyPem, svid.svid);
    if (!held) throw new Error('the CA answered with a certificate that does not match the key sent');
    const bundle = checkedBundle(bundlePem, this.trust.bundlePem);
    // A renewal keeps the agent's identity; an attestation gives one, which must be an agent's.
    checkIssued(held, this.held ? { spiffeId: this.held.spiffeId } : { meshcaRole: 'agent' }, bundle);
    const skew = this.clockCheck.inspectFresh(held, 'agent SVID');
    const expired = skew?.code === 'svid_expired_on_arrival';
    // Counted from receipt, one that arrived expired would be due at its expiry, too late once the clock is set right.
    const renewAtMs = expired ? renewalFromOwnLife(held, this.deps.random) : renewalAfterReceipt(held, this.deps.clock.nowMs(), this.deps.random, svid.renewAfter);
    this.held = { ...held, renewAtMs };
    this.lastIdentity = held.spiffeId;
    this.expiredOnArrival = expired ? skew : undefined;
    if (this.refusedByCa) {
      this.supersededRefusal = true;
      this.unsyncedSinceRefusal = true;
    }
    this.refusedByCa = false;
    // Recorded now, it would be a record beside a newer credential: nothing to say any more.
    this.unrecordedRefusal = undefined;
    this.unsaved = { keyPem, chainPem: svid.svid };
    await this.saveHeld();
    await this.trust.adoptBundle(bundle);
    this.configureClient();
    if (skew && !expired) this.deps.log.error(skew.logFields, skew.message);
    return expired ? skew : undefined;
  }

  /** Saves the held credential if --state-dir does not have it yet; a failure is logged, and tried again at the next step. */
  private async saveHeld(): Promise<void> {
    await this.recordRefusal();
    const credential = this.unsaved;
    if (!credential) return;
    if (this.deps.state) {
      try {
        await this.deps.state.saveCredential(credential);
      } catch (err) {
        this.deps.log.error(
          { err: describeError(err) },
          'could not save the agent SVID in the state directory (a local failure: is its disk full or read-only?); the agent goes on with it and tries again at the next step, but a restart before then needs a new join token',
        );
        return;
      }
    }
    this.unsaved = undefined;
    // Not before: until the new credential is on disk, the record is all that says the old one was refused.
    if (this.supersededRefusal) {
      this.supersededRefusal = false;
      await this.tidyState('remove the record of the refusal', (state) => state.clearRefusal());
    }
  }

  private async compareClocks(): Promise<void> {
    // The first request of a run may be this one: the client must trust the CA's certificate already.
    this.configureClient();
    await this.clockCheck.compare();
  }

  /**
   * Tidying --state-dir that may fail without harm: restore finds what is
   * left and does the same again (a record beside a newer credential is stale).
   */
  private async tidyState(what: string, work: (state: NonNullable<SidecarDeps['state']>) => Promise<void>): Promise<void> {
    if (!this.deps.state) return;
    try {
      await work(this.deps.state);
    } catch (err) {
      this.deps.log.warn({ err: describeError(err) }, `could not ${what} in the state directory; the next start tries again`);
    }
  }

  /**
   * Whether restarting this agent needs a new join token, for a refusal to
   * start that comes after attesting (the entries to choose from are only
   * known with an agent SVID): the token is spent, and the SVID it bought
   * outlives this run only in --state-dir.
   */
  restartNeeds(): string {
    if (this.deps.state) return 'the agent SVID is kept in --state-dir, so no new join token is needed';
    const name = (this.lastIdentity && agentNameOf(this.lastIdentity)) ?? 'NAME';
    return `the join token is spent and, without --state-dir, the agent SVID it bought is not kept: give a new one too (meshca token create --agent ${name})`;
  }

  /** Where a new join token goes: a --join-token-file is read again at each step; a token given otherwise only at start. */
  private newTokenAdvice(): string {
    const create = `meshca token create --agent ${(this.lastIdentity && agentNameOf(this.lastIdentity)) ?? 'NAME'}`;
    if (this.deps.readJoinToken) return `write a new one (${create}) to --join-token-file, which the agent reads again at each step`;
    return `restart the agent with a new one (${create}) in MESHCA_AGENT_JOIN_TOKEN or --join-token-file`;
  }

  private tokenUsable(): boolean {
    return this.joinToken !== undefined && this.joinToken !== '' && !this.spentTokens.has(this.joinToken);
  }
}
