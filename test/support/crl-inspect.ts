/**
 * CRLs as openssl reads them: the fields a relying party acts on, parsed from
 * `openssl crl -text`, and `openssl crl -verify` against an issuer.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificatesToPem } from '../../src/x509/pem.js';
import { openssl, type OpensslRun } from './openssl-pki.js';
import { tempDir } from './temp-dir.js';

export interface CrlView {
  readonly issuer: string;
  readonly crlNumber: number;
  /** Seconds since the epoch. */
  readonly lastUpdate: number;
  readonly nextUpdate: number;
  /** Revoked serials, lowercase hex without leading zeros, in CRL order. */
  readonly serials: string[];
  /** Reason per serial as openssl names it ('Key Compromise'), absent when the entry carries none. */
  readonly reasons: ReadonlyMap<string, string>;
}

/** Lowercase hex without leading zeros, the form meshca records serials in. */
export function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

function crlFile(crl: Buffer | string): { path: string; form: 'DER' | 'PEM' } {
  const path = join(tempDir('crl'), Buffer.isBuffer(crl) ? 'crl.der' : 'crl.pem');
  writeFileSync(path, crl);
  return { path, form: Buffer.isBuffer(crl) ? 'DER' : 'PEM' };
}

/** Parses the first CRL of `crl` (DER, or PEM text) with `openssl crl -text`; throws when openssl does not accept it. */
export function readCrl(crl: Buffer | string): CrlView {
  const { path, form } = crlFile(crl);
  const run = openssl(['crl', '-inform', form, '-in', path, '-noout', '-text']);
  if (run.code !== 0) throw new Error(`openssl crl refused the CRL:\n${run.output}`);
  const text = run.output;
  const field = (re: RegExp) => {
    const m = re.exec(text);
    if (!m) throw new Error(`no ${re} in:\n${text}`);
    return m[1]!.trim();
  };
  const serials: string[] = [];
  const reasons = new Map<string, string>();
  const entries = text.split(/\n\s*Serial Number: /).slice(1);
  for (const entry of entries) {
    const serial = normalSerial(/^([0-9A-Fa-f]+)/.exec(entry)![1]!);
    serials.push(serial);
    const reason = /CRL Reason Code:\s*\n\s*([^\n]+)/.exec(entry);
    if (reason) reasons.set(serial, reason[1]!.trim());
  }
  return {
    issuer: field(/Issuer: ([^\n]+)/),
    crlNumber: Number(field(/CRL Number:\s*\n\s*(\d+)/)),
    lastUpdate: Date.parse(field(/Last Update: ([^\n]+)/)) / 1000,
    nextUpdate: Date.parse(field(/Next Update: ([^\n]+)/)) / 1000,
    serials,
    reasons,
  };
}

/** `openssl crl -verify -CAfile ISSUER` on the CRL. */
export function verifyCrl(crl: Buffer | string, issuerDer: Buffer): OpensslRun {
  const { path, form } = crlFile(crl);
  const issuer = join(tempDir('iss'), 'issuer.pem');
  writeFileSync(issuer, certificatesToPem([issuerDer]));
  return openssl(['crl', '-inform', form, '-in', path, '-noout', '-verify', '-CAfile', issuer]);
}

/** The PEM blocks of a crl.pem, one CRL each. */
export function splitCrls(pem: string): string[] {
  return pem.match(/-----BEGIN X509 CRL-----[^-]+-----END X509 CRL-----\n?/g) ?? [];
}
