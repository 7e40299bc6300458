/** A start for another trust domain is refused, naming the setting as the embedding calls it: the core knows no command line. */
import { describe, expect, it } from 'vitest';
import { refuseChangedTrustDomain } from '../../src/ca/authority-integrity.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';

describe('refuseChangedTrustDomain', () => {
  const configured = TrustDomain.parse('new.example');

  it.each([
    ['a first start (none recorded)', undefined],
    ['the trust domain started with before', 'new.example'],
  ])('pass/%s', (_name, started) => {
    expect(() => refuseChangedTrustDomain(started, configured, 'trustDomain in ca.yaml')).not.toThrow();
  });

  it('fail/another trust domain than the last start: tells to keep it by the setting name given', () => {
    expect(() => refuseChangedTrustDomain('old.example', configured, 'trustDomain in ca.yaml')).toThrow(
      'this CA was last started for trust domain old.example, not the configured new.example: ' +
        'a trust domain cannot change in place; keep trustDomain in ca.yaml old.example, or start a new CA in a new data directory and re-register the workloads',
    );
  });
});
