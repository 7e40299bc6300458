/**
 * Obtaining SVIDs from an in-process CA through the operator's mint route, and
 * laying them out as files the way TLS tools (openssl, proxies) want them.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair, type KeyPair, type KeyType } from '../../src/x509/keys.js';

export interface MintBody {
  readonly spiffeId: string;
  readonly csr: string;
  readonly ttl?: string | number;
  readonly dns?: readonly string[];
}

/** The answer of POST /v1/svids/mint. */
export interface MintAnswer {
  readonly svid: {
    readonly spiffeId: string;
    readonly serial: string;
    readonly svid: string;
    readonly notBefore: string;
    readonly notAfter: string;
    readonly renewAfter: string;
  };
  readonly bundle: string;
}

export interface Credential {
  readonly spiffeId: string;
  readonly keyPem: string;
  /** Leaf first, then the intermediate. */
  readonly chainPem: string;
  readonly bundlePem: string;
  readonly chain: readonly X509Certificate[];
  readonly answer: MintAnswer;
}

export async function newCsr(keyType: KeyType = 'ec-p256'): Promise<{ csr: string; keys: KeyPair }> {
  const keys = await generateKeyPair(keyType);
  return { csr: await createCsr(keys.privateKey, keys.publicKey), keys };
}

/** Every certificate in a PEM text, in order. */
export function parseChain(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? []).map((block) => new X509Certificate(block));
}

/** Mints an SVID as the local operator; throws with the CA's answer when it is refused. */
export async function mintSvid(
  app: FastifyInstance,
  spiffeId: string,
  options: { keyType?: KeyType; ttl?: string | number; dns?: string[] } = {},
): Promise<Credential> {
  const { csr, keys } = await newCsr(options.keyType);
  const body: MintBody = {
    spiffeId,
    csr,
    ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
    ...(options.dns ? { dns: options.dns } : {}),
  };
  const res = await app.inject({ method: 'POST', url: '/v1/svids/mint', payload: body });
  if (res.statusCode !== 200) throw new Error(`mint of ${spiffeId} refused: ${res.statusCode} ${res.body}`);
  const answer = res.json<MintAnswer>();
  const chain = parseChain(answer.svid.svid);
  if (!chain[0]?.publicKey.equals(createPublicKey(keys.privateKey))) throw new Error('the issued leaf does not carry the CSR key');
  return {
    spiffeId,
    keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    chainPem: answer.svid.svid,
    bundlePem: answer.bundle,
    chain,
    answer,
  };
}

export interface CredentialFiles {
  /** The whole chain, leaf first. */
  readonly svid: string;
  /** The leaf alone. */
  readonly leaf: string;
  /** The intermediates alone (what openssl calls -cert_chain). */
  readonly intermediates: string;
  readonly key: string;
  readonly bundle: string;
}

/** Writes a credential as svid.pem, leaf.pem, intermediates.pem, svid_key.pem (0600) and bundle.pem in `dir`. */
export function writeCredential(dir: string, cred: { keyPem: string; chainPem: string; bundlePem: string }): CredentialFiles {
  const chain = parseChain(cred.chainPem);
  const files: CredentialFiles = {
    svid: join(dir, 'svid.pem'),
    leaf: join(dir, 'leaf.pem'),
    intermediates: join(dir, 'intermediates.pem'),
    key: join(dir, 'svid_key.pem'),
    bundle: join(dir, 'bundle.pem'),
  };
  writeFileSync(files.key, cred.keyPem, { mode: 0o600 });
  chmodSync(files.key, 0o600);
  writeFileSync(files.svid, cred.chainPem);
  writeFileSync(files.leaf, chain[0]!.toString());
  writeFileSync(files.intermediates, chain.slice(1).map((c) => c.toString()).join(''));
  writeFileSync(files.bundle, cred.bundlePem);
  return files;
}
