/** Making CSRs for keys we hold (the agent, `meshca mint`); the CA side is csr.ts. */
import type { KeyObject } from 'node:crypto';
import { bitString, implicitConstructed, oid, parseDer, seq, set, smallInt, toDer, type Asn1 } from './asn1.js';
import { distinguishedName, type NameAttributes } from './certificate.js';
import { basicConstraints, keyUsage, KeyUsageBit } from './extensions.js';
import { kindOf } from './keys.js';
import { OID } from './oids.js';
import { encodePem } from './pem.js';
import { algorithmIdentifier, defaultSignatureAlgorithm } from './signature-algorithms.js';
import { signAsync } from './signer.js';

export interface CsrOptions {
  readonly subject?: NameAttributes;
  /** Ask for a CA certificate; only for testing that the CA refuses it. */
  readonly requestCa?: boolean;
}

export async function createCsr(privateKey: KeyObject, publicKey: KeyObject, options: CsrOptions = {}): Promise<string> {
  const spki = parseDer(publicKey.export({ type: 'spki', format: 'der' }));
  const attributes: Asn1[] = [];
  if (options.requestCa) {
    const extensions = seq([basicConstraints(true), keyUsage([KeyUsageBit.keyCertSign])]);
    attributes.push(seq([oid(OID.extensionRequest), set([extensions])]));
  }
  const info = seq([
    smallInt(0),
    distinguishedName(options.subject ?? [[OID.organization, 'meshca']]),
    spki,
    implicitConstructed(0, attributes),
  ]);
  const algorithm = defaultSignatureAlgorithm(kindOf(privateKey));
  const signature = await signAsync(algorithm, toDer(info), privateKey);
  return encodePem('CERTIFICATE REQUEST', toDer(seq([info, algorithmIdentifier(algorithm), bitString(signature)])));
}
