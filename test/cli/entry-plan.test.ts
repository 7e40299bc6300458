/** What `meshca entry apply` changes: entries are named by (agent, SPIFFE ID); ttl and dns are what an update changes. */
import { describe, expect, it } from 'vitest';
import { parseEntryManifest } from '../../src/cli/entry-manifest.js';
import { planEntries, type ListedEntry, type Prune } from '../../src/cli/entry-plan.js';

const TD = 'spiffe://example.org';
const web: ListedEntry = { id: 'e-web', agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 1800, dns: ['web.svc'] };
const db: ListedEntry = { id: 'e-db', agent: 'node-1', spiffeId: `${TD}/ns/db`, ttl: null, dns: [] };
const api: ListedEntry = { id: 'e-api', agent: 'node-2', spiffeId: `${TD}/ns/api`, ttl: null, dns: [] };

/** The plan as ids and keys, for comparing. */
function planned(manifest: object[], listed: ListedEntry[], prune: Prune) {
  const plan = planEntries(parseEntryManifest(JSON.stringify(manifest)), listed, prune);
  return {
    create: plan.create.map((e) => `${e.agent} ${e.spiffeId}`),
    update: plan.update.map((u) => u.id),
    remove: plan.remove.map((e) => e.id),
    unchanged: plan.unchanged,
  };
}

describe('planEntries', () => {
  it.each([
    { name: 'what the CA holds already', manifest: [web, db], prune: 'listed-agents' as Prune, plan: { create: [], update: [], remove: [], unchanged: 2 } },
    { name: 'an entry the CA lacks', manifest: [web, db, { agent: 'node-2', spiffeId: `${TD}/ns/api` }], prune: 'none' as Prune, plan: { create: [`node-2 ${TD}/ns/api`], update: [], remove: [], unchanged: 2 } },
    { name: 'a new ttl', manifest: [{ ...web, ttl: '1h' }, db], prune: 'none' as Prune, plan: { create: [], update: ['e-web'], remove: [], unchanged: 1 } },
    { name: 'the CA default ttl where one was set', manifest: [{ ...web, ttl: null }, db], prune: 'none' as Prune, plan: { create: [], update: ['e-web'], remove: [], unchanged: 1 } },
    { name: 'a DNS name added', manifest: [{ ...web, dns: ['web.svc', 'web.shop'] }, db], prune: 'none' as Prune, plan: { create: [], update: ['e-web'], remove: [], unchanged: 1 } },
    { name: 'DNS names reordered (the certificate\'s order changes)', manifest: [web, { ...db, dns: ['b.svc', 'a.svc'] }], prune: 'none' as Prune, plan: { create: [], update: ['e-db'], remove: [], unchanged: 1 } },
    { name: 'the same DNS name in capitals', manifest: [{ ...web, dns: ['WEB.svc'] }, db], prune: 'none' as Prune, plan: { create: [], update: [], remove: [], unchanged: 2 } },
    { name: 'an identity moved to another agent, without --prune', manifest: [{ ...web, agent: 'node-2' }, db], prune: 'none' as Prune, plan: { create: [`node-2 ${TD}/ns/web`], update: [], remove: [], unchanged: 1 } },
    { name: 'an identity moved to another agent, with --prune', manifest: [{ ...web, agent: 'node-2' }, db], prune: 'listed-agents' as Prune, plan: { create: [`node-2 ${TD}/ns/web`], update: [], remove: ['e-web'], unchanged: 1 } },
    { name: 'an entry left out, without --prune', manifest: [web], prune: 'none' as Prune, plan: { create: [], update: [], remove: [], unchanged: 1 } },
    { name: 'an entry left out, with --prune', manifest: [web], prune: 'listed-agents' as Prune, plan: { create: [], update: [], remove: ['e-db'], unchanged: 1 } },
  ])('$name', ({ manifest, prune, plan }) => {
    expect(planned(manifest, [web, db], prune)).toEqual(plan);
  });

  it.each([
    { name: '--prune: only the agents the file names lose what it does not list', manifest: [web], prune: 'listed-agents' as Prune, remove: ['e-db'] },
    { name: '--prune with an empty file: nothing (it names no agent)', manifest: [], prune: 'listed-agents' as Prune, remove: [] },
    { name: '--prune-all: every agent loses what the file does not list', manifest: [web], prune: 'all' as Prune, remove: ['e-db', 'e-api'] },
    { name: '--prune-all with an empty file: everything', manifest: [], prune: 'all' as Prune, remove: ['e-web', 'e-db', 'e-api'] },
  ])('$name', ({ manifest, prune, remove }) => {
    expect(planned(manifest, [web, db, api], prune).remove).toEqual(remove);
  });
});
