/** Credentials of every kind of caller, and HTTPS calls made with them, for access-control tests. */
import { request } from 'node:https';
import type { KeyObject } from 'node:crypto';
import { parseDer } from '../../src/x509/asn1.js';
import { signCertificate } from '../../src/x509/certificate.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { certificatesToPem } from '../../src/x509/pem.js';
import { caTemplate } from '../../src/x509/profiles.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { randomSerial } from '../../src/x509/serial.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import type { LoadedAuthority } from '../../src/ca/authority-set.js';
import type { InProcessCa, TestCa } from './test-ca.js';
import { signSvid } from './sign-svid.js';

export interface Credential {
  readonly keyPem: string;
  readonly chainPem: string;
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: any;
  readonly headers: Record<string, string | string[] | undefined>;
}

export async function newKeyAndCsr(): Promise<{ keyPem: string; csr: string }> {
  const keys = await generateKeyPair('ec-p256');
  return {
    keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    csr: await createCsr(keys.privateKey, keys.publicKey),
  };
}

/** One HTTPS request to the CA, with a fresh connection, as `credential` (or anonymously). */
export function callCa(ca: InProcessCa, credential: Credential | undefined, method: string, path: string, body?: unknown): Promise<HttpAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, ca.url),
      {
        method,
        ca: ca.bundlePem,
        agent: false,
        ...(credential ? { key: credential.keyPem, cert: credential.chainPem } : {}),
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON (e.g. bundle.pem)
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Operator action through the local socket app (no port). */
export async function asOperator(ca: InProcessCa, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<any> {
  const res = await ca.localApp.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url} -> ${res.statusCode} ${res.body}`);
  return res.body ? res.json() : undefined;
}

export async function joinToken(ca: InProcessCa, agent: string, ttl?: string): Promise<string> {
  return (await asOperator(ca, 'POST', '/v1/tokens', { agent, ...(ttl ? { ttl } : {}) })).token as string;
}

/** Attests a new agent with a fresh token and returns its agent SVID credential. */
export async function attestAgent(ca: InProcessCa, name: string): Promise<Credential> {
  const token = await joinToken(ca, name);
  const { keyPem, csr } = await newKeyAndCsr();
  const res = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr });
  if (res.status !== 200) throw new Error(`attest ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { keyPem, chainPem: res.body.svid.svid };
}

export async function adminCredential(ca: InProcessCa, role: 'operator' | 'auditor', name: string): Promise<Credential> {
  const { keyPem, csr } = await newKeyAndCsr();
  const res = await asOperator(ca, 'POST', '/v1/admin/credentials', { role, name, csr });
  return { keyPem, chainPem: res.svid.svid };
}

export async function mintCredential(ca: InProcessCa, spiffeId: string): Promise<Credential> {
  const { keyPem, csr } = await newKeyAndCsr();
  const res = await asOperator(ca, 'POST', '/v1/svids/mint', { spiffeId, csr });
  return { keyPem, chainPem: res.svid.svid };
}

/** An SVID-shaped certificate from a CA nobody trusts. */
export async function foreignCredential(spiffeId = 'spiffe://example.org/meshca/admin/operator/mallory'): Promise<Credential> {
  const now = Math.floor(Date.now() / 1000);
  const root = await generateKeyPair('ec-p256');
  const rootSpki = parseDer(root.publicKey.export({ type: 'spki', format: 'der' }));
  const rootSigner = new KeyObjectSigner(root.privateKey);
  const rootDer = await signCertificate(
    caTemplate({ serial: randomSerial(cryptoRandom), trustDomainId: 'spiffe://example.org', role: 'root', spki: rootSpki, notBefore: now - 60, notAfter: now + 3600 }),
    rootSigner,
  );
  const rootFacts = readCertificate(rootDer);
  const leaf = await generateKeyPair('ec-p256');
  const leafDer = await signSvid(
    {
      serial: randomSerial(cryptoRandom),
      spiffeId,
      dnsNames: [],
      ipAddresses: [],
      spkiDer: leaf.publicKey.export({ type: 'spki', format: 'der' }),
      keyKind: { family: 'ec', curve: 'P-256' },
      notBefore: now - 60,
      notAfter: now + 3600,
      issuer: { subjectName: rootFacts.subjectName, keyId: rootFacts.keyId },
    },
    rootSigner,
  );
  return { keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, chainPem: certificatesToPem([leafDer]) };
}

/**
 * A certificate signed with the CA's own active intermediate key, as an
 * attacker holding that key could make: by default a fresh key and serial,
 * valid for an hour; or reusing a serial and key pair the CA did issue.
 */
export async function caSignedCredential(ca: TestCa, spiffeId: string, o: LeafOptions = {}): Promise<Credential> {
  const issuer = ca.manager.current().activeIntermediate()!;
  const { der, keys } = await leafSignedBy(issuer, spiffeId, o);
  return {
    keyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    chainPem: certificatesToPem([der, issuer.record.certDer]),
  };
}

interface LeafOptions {
  readonly serial?: Buffer;
  readonly keys?: { privateKey: KeyObject; publicKey: KeyObject };
  readonly notBefore?: number;
  readonly notAfter?: number;
}

/** An SVID signed with `issuer`'s key outside the CA (nothing records it): by default a fresh key and serial, valid for an hour of real time. */
export async function leafSignedBy(
  issuer: LoadedAuthority,
  spiffeId: string,
  o: LeafOptions = {},
): Promise<{ der: Buffer; keys: { privateKey: KeyObject; publicKey: KeyObject } }> {
  const now = Math.floor(Date.now() / 1000);
  const leaf = o.keys ?? (await generateKeyPair('ec-p256'));
  const der = await signSvid(
    {
      serial: o.serial ?? randomSerial(cryptoRandom),
      spiffeId,
      dnsNames: [],
      ipAddresses: [],
      spkiDer: leaf.publicKey.export({ type: 'spki', format: 'der' }),
      keyKind: { family: 'ec', curve: 'P-256' },
      notBefore: o.notBefore ?? now - 60,
      notAfter: o.notAfter ?? now + 3600,
      issuer: { subjectName: issuer.facts.subjectName, keyId: issuer.facts.keyId },
    },
    issuer.signer!,
  );
  return { der, keys: leaf };
}

/** A certificate signed by the CA's own active intermediate that expired an hour ago. */
export function expiredCredential(ca: TestCa, spiffeId: string): Promise<Credential> {
  const now = Math.floor(Date.now() / 1000);
  return caSignedCredential(ca, spiffeId, { notBefore: now - 7200, notAfter: now - 3600 });
}
