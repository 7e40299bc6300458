/** PEM encoding as RFC 7468 writes it: 64-character lines, every line ended, and the CA cache giving the same text. */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { caCertificatesToPem, certificatesToPem, decodePemBlocks, encodePem, PemError } from '../../src/x509/pem.js';
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

// A block the strict reader cannot read was passed over as text between blocks, so a check that counts
// blocks ("nothing else besides") or looks for a private key never saw it.
describe('decodePemBlocks: a BEGIN line that starts no block it can read', () => {
  const certificate = encodePem('CERTIFICATE', Buffer.from('a certificate'));
  const ENCRYPTED_TRADITIONAL_KEY = [
    '-----BEGIN RSA PRIVATE KEY-----', 'Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-256-CBC,3CCD1686006A5526FA0FC80371430710', '', 'AAAA', '-----END RSA PRIVATE KEY-----', '',
  ].join('\n');

  it.each<[string, string, string]>([
    ['fail/an encrypted traditional key (RFC 1421 headers) before a certificate', ENCRYPTED_TRADITIONAL_KEY + certificate, 'RSA PRIVATE KEY'],
    ['fail/a certificate block without its END line after a certificate', `${certificate}-----BEGIN CERTIFICATE-----\nAAAA\n`, 'CERTIFICATE'],
    ['fail/an END line of another label', `${certificate}-----BEGIN X509 CRL-----\nAAAA\n-----END CERTIFICATE-----\n`, 'X509 CRL'],
  ])('%s', (_name, text, label) => {
    expect(() => decodePemBlocks(text)).toThrow(PemError);
    expect(() => decodePemBlocks(text)).toThrow(`the ${label} block is not PEM this reader takes (RFC 7468: no headers, and an END line of the same label)`);
  });

  it('pass/comments and other text between blocks', () => {
    const text = `subject=CN = root\n${certificate}\nBag Attributes: none\n${certificate}trailing text\n`;
    expect(decodePemBlocks(text).map((b) => b.label)).toEqual(['CERTIFICATE', 'CERTIFICATE']);
  });
});
