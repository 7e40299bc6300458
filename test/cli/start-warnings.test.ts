/** What a CA says at start about settings that are legal but hard to undo: each case, and the quiet ones. */
import { describe, expect, it } from 'vitest';
import { startWarnings } from '../../src/cli/start-warnings.js';
import { testConfig } from '../support/test-ca.js';

const EVERY_INTERFACE = /^listening on every interface, but the serving certificate names only localhost/;
const DEFAULT_DOMAIN = /^created a CA for the trust domain example\.org, a name reserved for examples \(RFC 2606\) and the default;/;

interface Case {
  name: string;
  settings: Record<string, string>;
  created: boolean;
  says: RegExp[];
}

describe('start warnings', () => {
  it.each<Case>([
    { name: 'every IPv4 interface, no --serving-names', settings: { listen: '0.0.0.0:8443' }, created: false, says: [EVERY_INTERFACE] },
    { name: 'every IPv6 interface, no --serving-names', settings: { listen: '[::]:8443' }, created: false, says: [EVERY_INTERFACE] },
    { name: 'every interface, with --serving-names', settings: { listen: '0.0.0.0:8443', 'serving-names': 'ca.example.org' }, created: false, says: [] },
    { name: 'every interface, with an address in --serving-names', settings: { listen: '0.0.0.0:8443', 'serving-names': '10.0.0.5' }, created: false, says: [] },
    { name: 'one address', settings: { listen: '10.0.0.5:8443' }, created: false, says: [] },
    { name: 'a host name', settings: { listen: 'ca.example.org:8443' }, created: false, says: [] },
    { name: 'the default trust domain, at the CA\'s creation', settings: { listen: '127.0.0.1:8443' }, created: true, says: [DEFAULT_DOMAIN] },
    { name: 'example.org given by --trust-domain, at creation', settings: { listen: '127.0.0.1:8443', 'trust-domain': 'example.org' }, created: true, says: [DEFAULT_DOMAIN] },
    { name: 'the default trust domain, at a later start', settings: { listen: '127.0.0.1:8443' }, created: false, says: [] },
    { name: 'a trust domain of its own, at creation', settings: { listen: '127.0.0.1:8443', 'trust-domain': 'prod.acme' }, created: true, says: [] },
    { name: 'both', settings: { listen: '0.0.0.0:8443' }, created: true, says: [EVERY_INTERFACE, DEFAULT_DOMAIN] },
  ])('$name: $says.length warning(s)', ({ settings, created, says }) => {
    const warnings = startWarnings(testConfig(settings), created);
    expect(warnings.map((w) => w.message)).toEqual(says.map((pattern) => expect.stringMatching(pattern)));
  });
});
