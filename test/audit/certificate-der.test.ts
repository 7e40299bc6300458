/**
 * The stored certificate (cert_der) of an issued record under tamper: verify
 * reads it with meshca's strict DER parser, not node:crypto (which cost most
 * of verify over a big log), and must still name every way it can disagree
 * with the record and its issuance event: unreadable, or another serial,
 * validity, SPIFFE ID, key or DNS names. Past those facts, the event's hash of
 * the certificate catches another certificate that says them all (DNS names
 * patched in the record too, or another signature).
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import { VerifiedCsr } from '../../src/x509/csr.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import type { SvidFacts } from '../../src/x509/profiles.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { copyDatastore, eventRows, verifyOverApi } from '../support/audit-log.js';
import { asOperator, newKeyAndCsr } from '../support/callers.js';
import { signSvid } from '../support/sign-svid.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

interface Minted {
  readonly id: number;
  readonly serial: string;
  readonly der: Buffer;
  /** The facts it was issued with, for re-encoding it with one of them changed. */
  readonly facts: SvidFacts;
}

/** A certificate with the minted one's facts, `change` applied, signed by a key of no authority (verify does not check it). */
async function variant(m: Minted, change: Partial<SvidFacts>): Promise<Buffer> {
  const stranger = await generateKeyPair('ec-p256');
  return signSvid({ ...m.facts, ...change }, new KeyObjectSigner(stranger.privateKey));
}

/** The minted certificate with the last byte of its signature flipped: every fact it says is unchanged. */
function signatureAltered(m: Minted): Buffer {
  const der = Buffer.from(m.der);
  der[der.length - 1]! ^= 0x01;
  return der;
}

const NOT_ISSUED = 'its certificate is not the one issued (its SHA-256 does not match the event)';

/** `dnsNames`: what the record's dns_names column is made to say with the replaced certificate. */
const CASES: ReadonlyArray<{ name: string; der: (m: Minted) => Buffer | Promise<Buffer>; dnsNames?: string[]; reason: string }> = [
  { name: 'bytes that are not DER', der: () => Buffer.from('not a certificate'), reason: 'its certificate is not a readable X.509 certificate' },
  { name: 'the certificate cut short', der: (m) => m.der.subarray(0, m.der.length - 1), reason: 'its certificate is not a readable X.509 certificate' },
  {
    name: 'the certificate with a byte after it',
    der: (m) => Buffer.concat([m.der, Buffer.from([0])]),
    reason: 'its certificate is not a readable X.509 certificate',
  },
  {
    name: 'a DER SEQUENCE of other things',
    der: () => Buffer.from('3006020101020102', 'hex'),
    reason: 'its certificate is not a readable X.509 certificate',
  },
  {
    name: 'a certificate with another serial',
    der: (m) => variant(m, { serial: Buffer.from('7e'.repeat(16), 'hex') }),
    reason: "its certificate's serial does not match the event",
  },
  {
    name: 'a certificate valid a second longer',
    der: (m) => variant(m, { notAfter: m.facts.notAfter + 1 }),
    reason: "its certificate's validity does not match the event",
  },
  {
    name: 'a certificate for another SPIFFE ID',
    der: (m) => variant(m, { spiffeId: 'spiffe://example.org/ns/innocent' }),
    reason: "its certificate's SPIFFE ID does not match the event",
  },
  {
    name: 'a certificate for another key',
    der: async (m) => {
      const csr = await VerifiedCsr.parse((await newKeyAndCsr()).csr);
      return variant(m, { spkiDer: csr.spkiDer, keyKind: csr.keyKind });
    },
    reason: "its certificate's public key does not match the event",
  },
  {
    name: 'a certificate with a DNS name the record does not have',
    der: (m) => variant(m, { dnsNames: ['evil.example.com'] }),
    reason: 'its DNS names do not match its certificate',
  },
  {
    name: 'a stored certificate replaced by another with the same serial, validity and key (DNS names patched)',
    der: (m) => variant(m, { dnsNames: ['evil.example.com'] }),
    dnsNames: ['evil.example.com'],
    reason: NOT_ISSUED,
  },
  { name: 'a stored certificate with its signature altered', der: signatureAltered, reason: NOT_ISSUED },
];

describe('the stored certificate of an issued record', () => {
  let ca: TestCa;
  let minted: Minted;
  let seq: number;

  beforeAll(async () => {
    ca = await startTestCa();
    const { csr } = await newKeyAndCsr();
    const spiffeId = 'spiffe://example.org/ns/minted';
    const answer = await asOperator(ca, 'POST', '/v1/svids/mint', { spiffeId, csr });
    const row = ca.store.db
      .prepare<[], { id: number; serial: string; cert_der: Buffer; not_before: number; not_after: number }>(
        "SELECT id, serial, cert_der, not_before, not_after FROM certificates WHERE spiffe_id = 'spiffe://example.org/ns/minted'",
      )
      .get()!;
    expect(row.serial).toBe(answer.svid.serial);
    const verified = await VerifiedCsr.parse(csr);
    const issued = readCertificate(row.cert_der);
    minted = {
      id: row.id,
      serial: row.serial,
      der: row.cert_der,
      facts: {
        serial: Buffer.from(row.serial, 'hex'),
        spiffeId,
        dnsNames: [],
        ipAddresses: [],
        spkiDer: verified.spkiDer,
        keyKind: verified.keyKind,
        notBefore: row.not_before,
        notAfter: row.not_after,
        issuer: { subjectName: issued.subjectName, keyId: issued.keyId },
      },
    };
    seq = eventRows(ca.store.db).find((e) => e.type === 'certificate.issued' && e.data.includes(row.serial))!.seq;
  });
  beforeEach(async () => expect((await verifyOverApi(ca)).ok).toBe(true));
  afterEach(() => ca.store.db.prepare("UPDATE certificates SET cert_der = ?, dns_names = '[]' WHERE id = ?").run(minted.der, minted.id));

  it.each(CASES)('fail/$name', async ({ der, dnsNames = [], reason }) => {
    ca.store.db.prepare('UPDATE certificates SET cert_der = ?, dns_names = ? WHERE id = ?').run(await der(minted), JSON.stringify(dnsNames), minted.id);
    const result = await verifyOverApi(ca);
    expect({ ok: result.ok, problem: result.problem }).toEqual({
      ok: false,
      problem: { seq, reason: `the record of certificate ${minted.serial} (issued in event ${seq}) was altered: ${reason}` },
    });
    expect(await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()))).toEqual(result);
  });
});
