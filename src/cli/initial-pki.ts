/** Reads the first-start "bring your own CA" files named in the configuration. */
import { readFileSync } from 'node:fs';
import type { InitialPki } from '../ca/authority-manager.js';
import type { ServerConfig } from '../config/server-config.js';
import { CaIntegrityError } from '../errors.js';
import { decodeCertificates } from '../x509/pem.js';
import { fileErrorText } from '../platform/file-error-text.js';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CaIntegrityError(`cannot read ${path}: ${fileErrorText(err)}`);
  }
}

function certificates(path: string): Buffer[] {
  let ders: Buffer[];
  try {
    ders = decodeCertificates(read(path));
  } catch (err) {
    throw new CaIntegrityError(`${path}: ${(err as Error).message}`);
  }
  if (ders.length === 0) throw new CaIntegrityError(`${path} holds no PEM certificate`);
  return ders;
}

export function initialPki(config: ServerConfig): InitialPki {
  if (config.importRootCert && config.importRootKey) {
    return { kind: 'root', root: { certDer: certificates(config.importRootCert)[0]!, keyPem: read(config.importRootKey) } };
  }
  if (config.importIntermediateCert && config.importIntermediateKey && config.importTrustBundle) {
    return {
      kind: 'intermediate',
      intermediate: {
        certDer: certificates(config.importIntermediateCert)[0]!,
        keyPem: read(config.importIntermediateKey),
        chainDer: config.importIntermediateChain ? certificates(config.importIntermediateChain) : [],
      },
      rootsDer: certificates(config.importTrustBundle),
    };
  }
  return { kind: 'generate' };
}
