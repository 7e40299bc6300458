/**
 * What a remote operator makes (credentials, minted SVIDs, join tokens) ends
 * no later than the credential it made it with, as a Vault child token ends
 * with its parent. Its join tokens also record that credential's serial, and
 * admit no agent once it is revoked; the credentials and SVIDs it issued stay
 * valid up to their end (the README's runbook revokes them by hand). Only the
 * CA host's operator, on the local socket, is bound by the CA's maximums alone.
 */
import type { FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import type { Caller } from '../ca/caller.js';
import type { MakerCredential } from '../ca/join-token-service.js';

/** The notAfter (epoch seconds) of a remote operator's credential, which authentication found valid; undefined for any other caller. */
export function operatorCeiling(request: FastifyRequest, caller: Caller): number | undefined {
  return operatorCredential(request, caller)?.notAfter;
}

/** A remote operator's credential: its serial, as authentication recorded it, and its notAfter; undefined for any other caller. */
export function operatorCredential(request: FastifyRequest, caller: Caller): MakerCredential | undefined {
  if (caller.role !== 'operator' || caller.via !== 'mtls') return undefined;
  const cert = (request.raw.socket as TLSSocket).getPeerX509Certificate?.();
  if (!cert) throw new Error('an operator authenticated over mutual TLS presented no certificate');
  return { serial: caller.serial, notAfter: Math.floor(Date.parse(cert.validTo) / 1000) };
}
