/**
 * How `entry apply` carries out a plan, against a scripted CA: the CA is asked
 * about every change (dry runs) before the first is made, and what it would
 * refuse stops the apply with nothing changed; what still stops it midway (a
 * change by someone else meanwhile, the CA lost) is reported with what stands.
 */
import { describe, expect, it } from 'vitest';
import { AdminRequestError, CaUnreachableError } from '../../src/cli/admin-client.js';
import { applyPlan, checkPlan, type EntryApi } from '../../src/cli/entry-apply.js';
import { parseEntryManifest } from '../../src/cli/entry-manifest.js';
import { planEntries, type ListedEntry } from '../../src/cli/entry-plan.js';

const TD = 'spiffe://example.org';
const held: ListedEntry = { id: 'e-web', agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: null, dns: [] };
const plan = planEntries(
  parseEntryManifest(
    JSON.stringify([
      { agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 600 },
      { agent: 'node-1', spiffeId: `${TD}/ns/a` },
      { agent: 'node-1', spiffeId: `${TD}/ns/b` },
    ]),
  ),
  [held],
  'none',
);

/** A CA answering each request with `answer` (undefined: success), recording what it was asked. */
function scriptedCa(answer: (method: string, url: string, body: { spiffeId?: string }) => Error | undefined) {
  const asked: string[] = [];
  const api: EntryApi = {
    call: async <T>(method: string, url: string, body?: unknown): Promise<T> => {
      const b = (body ?? {}) as { spiffeId?: string };
      asked.push(`${method} ${url} ${b.spiffeId ?? ''}`.trim());
      const refusal = answer(method, url, b);
      if (refusal) throw refusal;
      return { id: `new-${b.spiffeId?.split('/').at(-1)}` } as T;
    },
  };
  return { api, asked };
}

const dryRun = (url: string) => url.endsWith('?dryRun=true');

describe('checkPlan', () => {
  it('asks the CA about every create and update with a dry run, and nothing else', async () => {
    const ca = scriptedCa(() => undefined);
    expect(await checkPlan(ca.api, plan)).toBe('checked');
    expect(ca.asked).toEqual([
      `POST /v1/entries?dryRun=true ${TD}/ns/a`,
      `POST /v1/entries?dryRun=true ${TD}/ns/b`,
      'PATCH /v1/entries/e-web?dryRun=true',
    ]);
  });

  it('asks about every change even after a refusal, and names each one it would refuse', async () => {
    const ca = scriptedCa((_m, url, body) =>
      url.startsWith('/v1/entries/') || body.spiffeId?.endsWith('/a') ? new AdminRequestError(400, 'ttl_exceeds_max', 'too long') : undefined,
    );
    const refused = await checkPlan(ca.api, plan).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AdminRequestError);
    expect((refused as Error).message).toBe(`updating e-web (node-1 ${TD}/ns/web): too long (the CA would refuse these 2 changes; nothing was changed)`);
    expect(ca.asked).toHaveLength(3);
  });

  it('reports the checks not run for an auditor, who may not write', async () => {
    const ca = scriptedCa(() => new AdminRequestError(403, 'forbidden', 'a caller with role auditor may not entry write'));
    expect(await checkPlan(ca.api, plan)).toBe('not-allowed');
  });

  it('passes on a CA that does not answer (exit 69: nothing was asked)', async () => {
    const ca = scriptedCa(() => new CaUnreachableError('no CA answers'));
    await expect(checkPlan(ca.api, plan)).rejects.toBeInstanceOf(CaUnreachableError);
  });
});

describe('applyPlan', () => {
  it('creates, then updates, and makes no dry run of its own', async () => {
    const ca = scriptedCa(() => undefined);
    await applyPlan(ca.api, plan);
    expect(ca.asked).toEqual([`POST /v1/entries ${TD}/ns/a`, `POST /v1/entries ${TD}/ns/b`, 'PATCH /v1/entries/e-web']);
  });

  it.each([
    ['the first change', 1, new AdminRequestError(409, 'already_exists', 'agent node-1 already has entry x'), `creating node-1 ${TD}/ns/a: agent node-1 already has entry x (nothing was changed)`],
    ['a later change', 2, new AdminRequestError(409, 'already_exists', 'agent node-1 already has entry x'), `creating node-1 ${TD}/ns/b: agent node-1 already has entry x (the change printed above stands; apply again once it is fixed)`],
    ['a CA lost after a change', 3, new CaUnreachableError('no CA answers'), `updating e-web (node-1 ${TD}/ns/web): no CA answers (the 2 changes printed above stand; apply again once it is fixed)`],
  ])('refused at %s (someone changed the CA since it was asked), says what stands', async (_when, nth, refusal, message) => {
    let writes = 0;
    const ca = scriptedCa((_m, url) => (!dryRun(url) && ++writes === nth ? refusal : undefined));
    const stopped = await applyPlan(ca.api, plan).catch((err: unknown) => err);
    expect((stopped as Error).message).toBe(message);
    // Nothing is asked after the refusal.
    expect(ca.asked).toHaveLength(nth);
  });

  it('lets "no CA answers" before any change through as it is (exit 69)', async () => {
    const ca = scriptedCa(() => new CaUnreachableError('no CA answers'));
    await expect(applyPlan(ca.api, plan)).rejects.toBeInstanceOf(CaUnreachableError);
  });
});
