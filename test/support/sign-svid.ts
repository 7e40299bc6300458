/** Signs an SVID the way the CA does (SvidEncoder), for tests that need a certificate the API would not issue. */
import type { SvidFacts } from '../../src/x509/profiles.js';
import type { Signer } from '../../src/x509/signer.js';
import { SvidEncoder } from '../../src/x509/svid-encoder.js';

export function signSvid(facts: SvidFacts, signer: Signer): Promise<Buffer> {
  return new SvidEncoder(facts.issuer, signer.algorithm).sign(facts, signer);
}
