/**
 * Who is calling over mutual TLS. The handshake verified the chain against the
 * bundle of that moment; on every request we also check expiry against the
 * clock and the caller's standing (revocation, agent status), so a connection
 * kept alive does not outlive a credential.
 */
import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import type { Caller } from '../ca/caller.js';
import type { PresentedCredential } from '../ca/registration-ports.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { adminIdentityOf, RESERVED_SEGMENT } from '../identity/meshca-identity.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import type { Clock } from '../time/clock.js';
import type { Authenticator } from './access-control.js';
import type { Authentication } from './request-context.js';

/** Decides whether an authenticated caller is still in good standing; throws a 401/403 error if not (403: the caller is who it says). */
type StandingCheck = (caller: Caller, presented: PresentedCredential) => Promise<void>;

/** Whether a certificate, byte for byte, is one this CA issued and has since revoked. */
type RevokedCheck = (presented: PresentedCredential) => Promise<boolean>;

interface PeerIdentity {
  readonly caller: Caller;
  /** Serial and the certificate itself, matched against the issuance record. */
  readonly presented: PresentedCredential;
  readonly notAfterMs: number;
}

/**
 * A certificate the handshake could not chain to the bundle. A forced root
 * retirement takes the root out of the bundle and revokes what chained to it:
 * its agents are told they were revoked, so they attest again, rather than
 * that they are untrusted, which they take for a clock problem and wait out.
 */
interface UnchainedPeer {
  readonly untrusted: UnauthenticatedError;
  readonly presented: PresentedCredential;
  revoked?: Promise<boolean>;
}

/** Maps an SVID's SPIFFE ID to a meshca role by its reserved path. */
function callerForSpiffeId(id: SpiffeId, serial: string): Caller {
  const [first, second, third, fourth] = id.segments;
  if (first === RESERVED_SEGMENT && second === 'agent' && third && fourth === undefined) return { role: 'agent', name: third, spiffeId: id, serial };
  const admin = adminIdentityOf(id);
  if (admin) return admin.role === 'operator' ? { role: 'operator', name: admin.name, via: 'mtls', serial } : { role: 'auditor', name: admin.name, serial };
  return { role: 'workload', name: id.toString(), spiffeId: id };
}

function anonymous(failure: UnauthenticatedError): Authentication {
  return { caller: { role: 'anonymous' }, failure };
}

export function tlsAuthenticator(deps: { trustDomain: TrustDomain; clock: Clock; standing: StandingCheck; revoked: RevokedCheck }): Authenticator {
  const peers = new WeakMap<TLSSocket, PeerIdentity | UnchainedPeer | UnauthenticatedError>();

  function identify(socket: TLSSocket): PeerIdentity | UnchainedPeer | UnauthenticatedError | undefined {
    const cached = peers.get(socket);
    if (cached) return cached;
    const cert: X509Certificate | undefined = socket.getPeerX509Certificate?.();
    if (!cert) return undefined;
    const result = classify(socket, cert, deps.trustDomain);
    peers.set(socket, result);
    return result;
  }

  return async (request: FastifyRequest): Promise<Authentication> => {
    const socket = request.raw.socket as TLSSocket;
    if (typeof socket.getPeerX509Certificate !== 'function') return { caller: { role: 'anonymous' } };
    const peer = identify(socket);
    if (peer === undefined) return { caller: { role: 'anonymous' } };
    if (peer instanceof UnauthenticatedError) return anonymous(peer);
    if ('untrusted' in peer) {
      // Asked once per connection (a revocation is final), unless the datastore could not answer.
      peer.revoked ??= deps.revoked(peer.presented).catch((err: unknown) => {
        peer.revoked = undefined;
        throw err;
      });
      return anonymous((await peer.revoked) ? new UnauthenticatedError('certificate_revoked', 'the client certificate was revoked') : peer.untrusted);
    }
    if (deps.clock.nowMs() >= peer.notAfterMs) {
      return anonymous(new UnauthenticatedError('certificate_expired', 'the client certificate has expired'));
    }
    try {
      await deps.standing(peer.caller, peer.presented);
    } catch (err) {
      // Known, and refused for its standing (evicted, banned): named in the refusal's audit event and log line.
      if (err instanceof ForbiddenError) return { caller: peer.caller, failure: err };
      throw err;
    }
    return { caller: peer.caller };
  };
}

function classify(socket: TLSSocket, cert: X509Certificate, trustDomain: TrustDomain): PeerIdentity | UnchainedPeer | UnauthenticatedError {
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? 'unknown');
    if (reason === 'CERT_HAS_EXPIRED') return new UnauthenticatedError('certificate_expired', 'the client certificate has expired');
    return {
      untrusted: new UnauthenticatedError('certificate_untrusted', `the client certificate is not trusted (${reason})`),
      presented: { serial: serialOf(cert), certificateDer: cert.raw },
    };
  }
  const uris = (cert.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('URI:'));
  if (uris.length !== 1) return new UnauthenticatedError('certificate_untrusted', 'the client certificate is not an SVID (one URI SAN)');
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(uris[0]!.slice(4));
  } catch {
    return new UnauthenticatedError('certificate_untrusted', 'the client certificate URI SAN is not a SPIFFE ID');
  }
  if (!id.memberOf(trustDomain)) {
    return new UnauthenticatedError('certificate_untrusted', `the client certificate is from trust domain ${id.trustDomain.name}`);
  }
  const serial = serialOf(cert);
  return { caller: callerForSpiffeId(id, serial), presented: { serial, certificateDer: cert.raw }, notAfterMs: Date.parse(cert.validTo) };
}

/** The serial as the issuance record keeps it: lower-case hex, without leading zero bytes. */
function serialOf(cert: X509Certificate): string {
  return cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
}
