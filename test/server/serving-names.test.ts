/** The names on the CA's own TLS certificate: loopback, the listen host, and --serving-names. */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/options.js';
import { servingNames } from '../../src/server/serving-certificate.js';
import { attestAgent, callCa, newKeyAndCsr } from '../support/callers.js';
import { tempDir } from '../support/temp-dir.js';
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

  // RFC 5280 4.2.1.6: an iPAddress is exactly 4 octets for IPv4 and 16 for IPv6, whatever RFC 4291 text form named it.
  const octetsOf = (listen: string, extra: string): string[] => {
    const config = testConfig({ listen, 'serving-names': extra });
    return servingNames(config.listen, config.servingNames).ipAddresses.map((b) => b.toString('hex'));
  };
  const LOOPBACK = ['7f000001', '00000000000000000000000000000001'];

  it.each<[string, string, string]>([
    ['pass/IPv4', '10.0.0.7', '0a000007'],
    ['pass/IPv6 in full', '2001:db8:0:0:0:0:0:7', '20010db8000000000000000000000007'],
    ['pass/IPv6 compressed in the middle', '2001:DB8::7', '20010db8000000000000000000000007'],
    ['pass/IPv6 compressed at the end', 'fe80::', 'fe800000000000000000000000000000'],
    ['pass/IPv6 ending in dotted IPv4, uncompressed', '1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['pass/IPv4-mapped IPv6', '::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['pass/IPv6 with an embedded IPv4 after "::" alone', '::10.0.0.1', '0000000000000000000000000a000001'],
  ])('%s as --serving-names', (_name, address, hex) => {
    expect(octetsOf('0.0.0.0:8443', address)).toEqual([...LOOPBACK, hex]);
  });

  it('pass/an IPv4-mapped listen address, as 16 octets', () => {
    expect(octetsOf('[::ffff:10.0.0.9]:8443', '')).toEqual([...LOOPBACK, '00000000000000000000ffff0a000009']);
  });

  it('pass/the same address written twice, once compressed, is one SAN', () => {
    expect(octetsOf('0.0.0.0:8443', '0:0:0:0:0:0:0:1, 2001:db8::1, 2001:db8:0::1')).toEqual([...LOOPBACK, '20010db8000000000000000000000001']);
  });

  it('pass/an unspecified IPv6 listen address in any form adds nothing of its own', () => {
    expect(octetsOf('[0:0:0:0:0:0:0:0]:8443', '')).toEqual(LOOPBACK);
  });

  it('refuses a serving name that is neither a DNS name nor an IP', () => {
    expect(() => testConfig({ 'serving-names': 'ok.example,bad_name' })).toThrow(ConfigError);
  });

  it('pass/IPv6 addresses with an embedded IPv4 reach the certificate as 16 octets', async () => {
    const ca = await startTestCa({ 'serving-names': '1:2:3:4:5:6:1.2.3.4, ::ffff:10.0.0.1' });
    const row = (await ca.store.db.prepare("SELECT cert_der FROM certificates WHERE kind = 'server'").get()) as { cert_der: Buffer };
    const ips = new X509Certificate(row.cert_der).subjectAltName!.split(', ').filter((n) => n.startsWith('IP Address:'));
    expect(ips).toEqual(['IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:1:2:3:4:5:6:102:304', 'IP Address:0:0:0:0:0:FFFF:A00:1']);
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

describe('the CA\'s names belong to its serving certificate alone', () => {
  const SERVING = 'ca.example.org, *.svc.example';
  const entry = (dns: string[]) => ({ agent: 'node-1', spiffeId: 'spiffe://example.org/ns/web', dns });

  it.each<[string, string[], number, string?]>([
    ['fail/a --serving-names name', ['ca.example.org'], 400, 'ca.example.org is a name the CA itself is reached by'],
    ['fail/a wildcard covering one', ['*.example.org'], 400, '*.example.org matches ca.example.org, which is a name the CA itself is reached by'],
    ['fail/a name a wildcard serving name covers', ['api.svc.example'], 400, 'api.svc.example matches *.svc.example'],
    ['fail/the same wildcard', ['*.svc.example'], 400, '*.svc.example is a name the CA itself is reached by'],
    ['fail/among others', ['web.example.org', 'CA.example.org'], 400, 'ca.example.org is'],
    ['pass/other names, and localhost, every host\'s own', ['web.example.org', 'localhost', 'a.b.svc.example', 'svc.example'], 201],
  ])('%s: entry create → %i', async (_name, dns, status, message) => {
    const ca = await startTestCa({ 'serving-names': SERVING });
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: entry(dns) });
    expect(res.statusCode).toBe(status);
    if (message) expect(res.json().error).toEqual({ code: 'reserved_dns_name', message: expect.stringContaining(message) });
  });

  it('fail/mint, and an entry\'s update: 400, nothing issued or changed', async () => {
    const ca = await startTestCa({ 'serving-names': 'ca.mesh.internal' });
    const issued = () => (ca.store.db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE kind != 'server'").get() as { n: number }).n;
    const mint = await ca.localApp.inject({
      method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: 'spiffe://example.org/ns/web', csr: (await newKeyAndCsr()).csr, dns: ['ca.mesh.internal'] },
    });
    expect([mint.statusCode, mint.json().error.code]).toEqual([400, 'reserved_dns_name']);
    expect(issued()).toBe(0);
    const created = (await ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: entry(['web.mesh.internal']) })).json();
    const patched = await ca.localApp.inject({ method: 'PATCH', url: `/v1/entries/${created.id}`, payload: { dns: ['*.mesh.internal'] } });
    expect([patched.statusCode, patched.json().error.code]).toEqual([400, 'reserved_dns_name']);
    expect((await ca.localApp.inject({ method: 'GET', url: `/v1/entries/${created.id}` })).json().dns).toEqual(['web.mesh.internal']);
  });

  it('fail/an entry made before its name became a serving name is not issued once it is: 400 to the agent, nothing recorded', async () => {
    const dataDir = tempDir('ca-names');
    const before = await startTestCa({ 'data-dir': dataDir });
    const made = (await before.localApp.inject({ method: 'POST', url: '/v1/entries', payload: entry(['ca.example.org']) })).json();
    await before.close();
    const ca = await startTestCa({ 'data-dir': dataDir, 'serving-names': 'ca.example.org' });
    const agent = await attestAgent(ca, 'node-1');
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: made.id, csr: (await newKeyAndCsr()).csr }] });
    expect([res.status, res.body.error.code]).toEqual([400, 'reserved_dns_name']);
    expect(ca.store.db.prepare("SELECT COUNT(*) AS n FROM certificates WHERE kind = 'workload'").get()).toEqual({ n: 0 });
  });
});
