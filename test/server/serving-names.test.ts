/** The names on the CA's own TLS certificate: loopback, the listen host, and --serving-names. */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/options.js';
import { servingNames } from '../../src/server/serving-certificate.js';
import { callCa } from '../support/callers.js';
import { startTestCa, testConfig } from '../support/test-ca.js';

const names = (listen: string, extra: string) => {
  const config = testConfig({ listen, 'serving-names': extra });
  const { dnsNames, ipAddresses } = servingNames(config.listen, config.servingNames);
  return { dns: dnsNames, ips: ipAddresses.map((b) => [...b].join(b.length === 4 ? '.' : ':')) };
};

describe('serving certificate names', () => {
  it.each([
    ['a wildcard listen address adds nothing of its own', '0.0.0.0:8443', '', ['localhost'], ['127.0.0.1', new Array(15).fill(0).concat(1).join(':')]],
    ['a named listen host is added', 'ca.internal:8443', '', ['localhost', 'ca.internal'], ['127.0.0.1', new Array(15).fill(0).concat(1).join(':')]],
    ['--serving-names adds DNS names and IPs', '0.0.0.0:8443', 'meshca.meshca.svc, 10.0.0.7', ['localhost', 'meshca.meshca.svc'], ['127.0.0.1', new Array(15).fill(0).concat(1).join(':'), '10.0.0.7']],
  ])('%s', (_name, listen, extra, dns, ips) => {
    expect(names(listen, extra)).toEqual({ dns, ips });
  });

  it('refuses a serving name that is neither a DNS name nor an IP', () => {
    expect(() => testConfig({ 'serving-names': 'ok.example,bad_name' })).toThrow(ConfigError);
  });

  it('puts them on the certificate the CA presents', async () => {
    const ca = await startTestCa({ 'serving-names': 'meshca.meshca.svc' });
    const res = await callCa(ca, undefined, 'GET', '/healthz');
    expect(res.status).toBe(200);
    const { body } = await ca.localApp.inject({ method: 'GET', url: '/v1/certificates?limit=5' });
    const served = JSON.parse(body).certificates.find((c: { kind: string }) => c.kind === 'server');
    expect(served.dns).toContain('meshca.meshca.svc');
    expect(new X509Certificate((await ca.store.db.prepare("SELECT cert_der FROM certificates WHERE kind = 'server'").get() as { cert_der: Buffer }).cert_der).subjectAltName).toContain('DNS:meshca.meshca.svc');
  });
});
