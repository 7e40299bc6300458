/**
 * An operator's or auditor's own renewal of the admin credential it presents,
 * as `step ca renew` renews a certificate with itself: a new certificate for
 * the same role and name (both read from the credential, never from the
 * request), for the key of the CSR sent. The old credential stays valid to
 * its end, as an agent's renewed SVID does; revoking by SPIFFE ID
 * (`cert revoke --spiffe-id`) takes a role away with all its renewals.
 * Authentication has already refused a credential that is expired, revoked or
 * not this CA's; one revoked while the renewal is signed is caught after
 * (as standing-after-issuance.ts does for agents), and what it got revoked.
 */
import { callerLabel } from './caller.js';
import { presentedRevoked } from './client-standing.js';
import { adminSpiffeId, type AdminRole } from '../identity/meshca-identity.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import type { WrittenDuration } from '../time/duration.js';
import type { VerifiedCsr } from '../x509/csr.js';
import type { RegistrationStore } from './registration-ports.js';
import type { Revoke } from './standing-after-issuance.js';
import type { IssuedSvid, SvidIssuer } from './svid-issuer.js';

/** The holder of an admin credential, as authentication read it from the certificate presented. */
export interface CredentialHolder {
  readonly role: AdminRole;
  readonly name: string;
  /** The serial of the credential presented, which the renewal replaces. */
  readonly serial: string;
}

export class AdminRenewal {
  constructor(
    private readonly deps: { readonly issuer: Pick<SvidIssuer, 'issue'>; readonly store: Pick<RegistrationStore, 'credential'>; readonly revoke: Revoke },
    private readonly settings: { readonly trustDomain: TrustDomain },
  ) {}

  async renew(holder: CredentialHolder, csr: VerifiedCsr, ttl?: WrittenDuration): Promise<IssuedSvid> {
    const label = callerLabel(holder);
    const svid = await this.deps.issuer.issue({
      csr,
      spiffeId: adminSpiffeId(this.settings.trustDomain, holder.role, holder.name),
      ...(ttl ? { ttl } : {}),
      kind: 'admin',
      requestedBy: label,
      // The holder is also the actor here; renewalOf links the new credential to the one it replaces.
      eventFacts: { holder: label, renewalOf: holder.serial },
    });
    const presented = await this.deps.store.credential(holder.serial);
    if (presented?.revocation) {
      await this.deps.revoke({ serial: svid.serial }, presented.revocation);
      throw presentedRevoked(presented.revocation);
    }
    return svid;
  }
}
