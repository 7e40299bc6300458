import { InvalidSpiffeIdError, SpiffeIdProblem } from './errors.js';
import { TrustDomain, trustDomainProblem } from './trust-domain.js';

const SCHEME = 'spiffe://';
const MAX_ID_BYTES = 2048;

/** True for the bytes a path segment may hold: [A-Za-z0-9._-]. */
export function isPathChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f || c === 0x2d
  );
}

function segmentProblem(segment: string): string | undefined {
  if (segment.length === 0) return SpiffeIdProblem.emptySegment;
  if (segment === '.' || segment === '..') return SpiffeIdProblem.dotSegment;
  for (let i = 0; i < segment.length; i++) {
    if (!isPathChar(segment.charCodeAt(i))) return SpiffeIdProblem.badPathChar;
  }
  return undefined;
}

/**
 * A SPIFFE ID (spiffe://trust-domain/path), valid by construction: the only
 * ways to make one are `parse` and `fromSegments`, which apply every rule of
 * the SPIFFE-ID specification. Compare with `equals`, not by string.
 */
export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    /** "" for a trust domain ID, otherwise "/seg/seg". */
    readonly path: string,
  ) {}

  static parse(input: string): SpiffeId {
    if (input.length === 0) throw new InvalidSpiffeIdError(input, SpiffeIdProblem.empty);
    if (Buffer.byteLength(input, 'utf8') > MAX_ID_BYTES) throw new InvalidSpiffeIdError(input, SpiffeIdProblem.tooLong);
    if (!input.startsWith(SCHEME)) throw new InvalidSpiffeIdError(input, SpiffeIdProblem.wrongScheme);
    const rest = input.slice(SCHEME.length);
    const slash = rest.indexOf('/');
    const tdName = slash === -1 ? rest : rest.slice(0, slash);
    const tdProblem = trustDomainProblem(tdName);
    if (tdProblem) throw new InvalidSpiffeIdError(input, tdProblem);
    const path = slash === -1 ? '' : rest.slice(slash);
    if (path !== '') {
      for (const segment of path.slice(1).split('/')) {
        const problem = segmentProblem(segment);
        if (problem) throw new InvalidSpiffeIdError(input, problem);
      }
    }
    return new SpiffeId(TrustDomain.parse(tdName), path);
  }

  /** Builds an ID from trusted parts, e.g. fromSegments(td, 'meshca', 'agent', name); every segment is checked. */
  static fromSegments(trustDomain: TrustDomain, ...segments: string[]): SpiffeId {
    for (const segment of segments) {
      const problem = segmentProblem(segment);
      if (problem) throw new InvalidSpiffeIdError(`${trustDomain.idString()}/${segments.join('/')}`, problem);
    }
    const id = new SpiffeId(trustDomain, segments.length ? `/${segments.join('/')}` : '');
    if (Buffer.byteLength(id.toString()) > MAX_ID_BYTES) throw new InvalidSpiffeIdError(id.toString(), SpiffeIdProblem.tooLong);
    return id;
  }

  /** Parses an ID that must name a workload: it needs a path. */
  static parseWorkload(input: string): SpiffeId {
    const id = SpiffeId.parse(input);
    if (id.path === '') throw new InvalidSpiffeIdError(input, SpiffeIdProblem.noPath);
    return id;
  }

  get segments(): readonly string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }

  memberOf(trustDomain: TrustDomain): boolean {
    return this.trustDomain.equals(trustDomain);
  }

  equals(other: SpiffeId): boolean {
    return this.trustDomain.equals(other.trustDomain) && this.path === other.path;
  }

  toString(): string {
    return `${SCHEME}${this.trustDomain.name}${this.path}`;
  }

  toJSON(): string {
    return this.toString();
  }
}
