/** What the HTTP layer needs from the rest of meshca; the composition root provides it. */
import type { AuthoritySet } from '../ca/authority-set.js';
import type { SvidIssuer } from '../ca/svid-issuer.js';
import type { Clock } from '../time/clock.js';
import type { Duration } from '../time/duration.js';

export interface ServerServices {
  readonly clock: Clock;
  readonly authorities: { current(): AuthoritySet };
  readonly issuer: SvidIssuer;
  readonly bundleRefreshHint: Duration;
}
