/**
 * meshca's failure classes. Each class is one kind of failure with a closed
 * set of stable codes; the HTTP layer maps classes to statuses in exactly one
 * place (server/error-handler.ts). `message` is safe to show a caller; any
 * internal detail travels in `cause` and is only logged.
 */

export type InvalidInputCode =
  | 'invalid_request'
  | 'invalid_spiffe_id'
  | 'invalid_csr'
  | 'noncanonical_public_key'
  | 'csr_signature_invalid'
  | 'unsupported_key'
  | 'csr_requests_ca'
  | 'foreign_trust_domain'
  | 'invalid_ttl'
  | 'ttl_exceeds_max'
  | 'invalid_dns_name'
  | 'invalid_name'
  | 'reserved_spiffe_id'
  | 'reserved_dns_name'
  | 'batch_too_large';

export type UnauthenticatedCode =
  | 'unauthenticated'
  | 'invalid_token'
  | 'certificate_untrusted'
  | 'certificate_expired'
  | 'certificate_revoked'
  | 'certificate_superseded';

export type ForbiddenCode = 'forbidden' | 'agent_banned' | 'agent_evicted' | 'entry_not_granted';
export type NotFoundCode = 'not_found';
export type ConflictCode = 'already_exists' | 'precondition_failed';
export type UnavailableCode = 'ca_unavailable' | 'store_unavailable';

export type ErrorCode =
  | InvalidInputCode
  | UnauthenticatedCode
  | ForbiddenCode
  | NotFoundCode
  | ConflictCode
  | UnavailableCode
  | 'rate_limited'
  | 'payload_too_large'
  | 'http_version_not_supported'
  | 'not_implemented'
  | 'internal';

export abstract class MeshcaError<C extends ErrorCode = ErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request itself is wrong; sending it again unchanged will fail again. */
export class InvalidInputError extends MeshcaError<InvalidInputCode> {}

/** The body comes in a form meshca does not read (a content encoding such as gzip). */
export class UnsupportedMediaError extends MeshcaError<'invalid_request'> {}

/** The request line names an HTTP version other than 1.0 and 1.1, the only ones meshca's listeners speak. */
export class HttpVersionError extends MeshcaError<'http_version_not_supported'> {}

/** The request relies on an HTTP feature meshca does not implement (a transfer coding other than chunked). */
export class NotImplementedError extends MeshcaError<'not_implemented'> {}

/** The caller could not be identified (no credential, or one we do not accept). */
export class UnauthenticatedError extends MeshcaError<UnauthenticatedCode> {}

/** The caller is known but may not do this. */
export class ForbiddenError extends MeshcaError<ForbiddenCode> {}

export class NotFoundError extends MeshcaError<NotFoundCode> {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

/** The request conflicts with the current state (a duplicate, a refused transition). */
export class ConflictError extends MeshcaError<ConflictCode> {}

export class RateLimitedError extends MeshcaError<'rate_limited'> {
  constructor(
    readonly retryAfterSeconds: number,
    why = 'too many requests',
  ) {
    super('rate_limited', `${why}; retry after ${retryAfterSeconds}s`);
  }
}

/** meshca cannot serve this now (cannot sign, cannot store); retrying later may work. */
export class UnavailableError extends MeshcaError<UnavailableCode> {}

/**
 * The datastore's write lock stayed with another connection (a backup, an
 * audit verification, an operator's sqlite3 shell), or with this CA's own
 * commit before the change (a disk that stalls it), for as long as a change
 * may wait for it: nothing was changed, and the same request may succeed
 * once the lock is free, so the answer says when to come back.
 */
export class StoreBusyError extends UnavailableError {
  constructor(
    readonly retryAfterSeconds: number,
    waitedMs: number,
  ) {
    super(
      'store_unavailable',
      `the datastore's write lock was not free within ${waitedMs} ms: another connection holds it (a backup, an audit verification, a sqlite3 shell), or a commit before this change has not finished (a slow disk); nothing was changed; retry after ${retryAfterSeconds}s`,
    );
  }
}

/**
 * The CA's own keys or certificates are missing, unreadable, expired or do not
 * belong together. Stops the start; never answered to a client.
 */
export class CaIntegrityError extends Error {
  override readonly name = 'CaIntegrityError';
}
