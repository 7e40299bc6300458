/**
 * What a remote operator makes (credentials, minted SVIDs, join tokens) ends
 * no later than the credential it made it with, as a Vault child token ends
 * with its parent. Only its end: revoking that credential leaves them valid
 * up to it, since their records name the operator, not the credential (the
 * README's runbook revokes them by hand). Only the CA host's operator, on
 * the local socket, is bound by the CA's maximums alone.
 */
import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { Caller } from '../ca/caller.js';

/** The notAfter (epoch seconds) of a remote operator's credential, which authentication found valid; undefined for any other caller. */
export function operatorCeiling(request: FastifyRequest, caller: Caller): number | undefined {
  if (caller.role !== 'operator' || caller.via !== 'mtls') return undefined;
  const cert = (request.raw.socket as TLSSocket).getPeerX509Certificate?.();
  if (!cert) throw new Error('an operator authenticated over mutual TLS presented no certificate');
  return Math.floor(Date.parse(cert.validTo) / 1000);
}
