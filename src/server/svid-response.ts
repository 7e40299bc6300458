/** The JSON shape of an issued SVID in every response. */
import type { IssuedSvid } from '../ca/svid-issuer.js';
import { caCertificatesToPem, encodePem } from '../x509/pem.js';
import { isoTime } from './edge.js';

export interface SvidJson {
  readonly spiffeId: string;
  readonly serial: string;
  readonly svid: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** When the client should renew: around half-life, at a second the CA chose to spread renewals evenly. */
  readonly renewAfter: string;
}

export function svidJson(svid: IssuedSvid): SvidJson {
  return {
    spiffeId: svid.spiffeId.toString(),
    serial: svid.serial,
    svid: encodePem('CERTIFICATE', svid.chainDer[0]!) + caCertificatesToPem(svid.chainDer.slice(1)),
    notBefore: isoTime(svid.notBefore),
    notAfter: isoTime(svid.notAfter),
    renewAfter: isoTime(svid.renewAfter),
  };
}
