/** PEM encoding as RFC 7468 writes it: 64-character lines, every line ended, and the CA cache giving the same text. */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { caCertificatesToPem, certificatesToPem, decodePemBlocks, encodePem } from '../../src/x509/pem.js';
import { startTestCa } from '../support/test-ca.js';

describe('encodePem', () => {
  it.each([
    ['empty', 0, ['-----BEGIN X-----', '-----END X-----', '']],
    ['one short line', 3, ['-----BEGIN X-----', 'AAAA', '-----END X-----', '']],
    ['exactly one full line', 48, ['-----BEGIN X-----', 'A'.repeat(64), '-----END X-----', '']],
    ['a full line and one character more', 49, ['-----BEGIN X-----', 'A'.repeat(64), 'AA==', '-----END X-----', '']],
  ])('%s', (_name, bytes, lines) => {
    expect(encodePem('X', Buffer.alloc(bytes)).split('\n')).toEqual(lines);
  });

  it('round-trips through the decoder', () => {
    const der = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    expect(decodePemBlocks(encodePem('CERTIFICATE', der))[0]!.der).toEqual(der);
  });
});

describe('caCertificatesToPem', () => {
  it('gives the same text as encoding each time, and node reads it', async () => {
    const ca = await startTestCa();
    const ders = ca.manager.current().authorities.map((a) => a.record.certDer);
    expect(caCertificatesToPem(ders)).toBe(certificatesToPem(ders));
    expect(caCertificatesToPem(ders)).toBe(certificatesToPem(ders));
    expect(new X509Certificate(caCertificatesToPem(ders.slice(0, 1))).raw).toEqual(ders[0]);
  });
});
