/**
 * An impostor: a CA made with the openssl command line that meshca never saw,
 * issuing an SVID-shaped certificate that even claims meshca's trust domain.
 * Anything that trusts only meshca's bundle must refuse it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ForeignCredential {
  readonly caPem: string;
  /** The leaf alone (the foreign root is self-signed and is not sent). */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly files: { readonly ca: string; readonly cert: string; readonly key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes the foreign root and one leaf for `spiffeId` in `dir`. */
export function makeForeignCredential(dir: string, spiffeId = 'spiffe://example.org/impostor'): ForeignCredential {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    ['req', '-x509', ...ec, '-keyout', 'foreign-ca.key', '-out', 'foreign-ca.pem', '-days', '1', '-subj', '/O=foreign/CN=foreign root',
      '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  openssl(['req', '-new', ...ec, '-keyout', 'foreign.key', '-out', 'foreign.csr', '-subj', '/O=foreign'], dir);
  writeFileSync(
    join(dir, 'foreign-ext.cnf'),
    [
      'basicConstraints=critical,CA:false',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=URI:${spiffeId}`,
    ].join('\n'),
  );
  openssl(
    ['x509', '-req', '-in', 'foreign.csr', '-CA', 'foreign-ca.pem', '-CAkey', 'foreign-ca.key', '-set_serial', '0x5eed5eed5eed',
      '-days', '1', '-extfile', 'foreign-ext.cnf', '-out', 'foreign.pem'],
    dir,
  );
  const files = { ca: join(dir, 'foreign-ca.pem'), cert: join(dir, 'foreign.pem'), key: join(dir, 'foreign.key') };
  return {
    caPem: readFileSync(files.ca, 'utf8'),
    chainPem: readFileSync(files.cert, 'utf8'),
    keyPem: readFileSync(files.key, 'utf8'),
    files,
  };
}
