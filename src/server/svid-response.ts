/** The JSON shape of an issued SVID in every response. */
import type { IssuedSvid } from '../ca/svid-issuer.js';
import { certificatesToPem } from '../x509/pem.js';
import { isoTime } from './edge.js';

export interface SvidJson {
  readonly spiffeId: string;
  readonly serial: string;
  readonly svid: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Half of the lifetime: when a client should renew (agents add their own jitter). */
  readonly renewAfter: string;
}

export function svidJson(svid: IssuedSvid): SvidJson {
  return {
    spiffeId: svid.spiffeId.toString(),
    serial: svid.serial,
    svid: certificatesToPem(svid.chainDer),
    notBefore: isoTime(svid.notBefore),
    notAfter: isoTime(svid.notAfter),
    renewAfter: isoTime(svid.notBefore + Math.floor((svid.notAfter - svid.notBefore) / 2)),
  };
}
