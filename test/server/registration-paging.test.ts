/**
 * GET /v1/agents and GET /v1/entries page as the other listings do: `limit`
 * items and a `nextCursor` to resume after the last, null on the last page.
 * Without limit or cursor they answer every item, as before they paged, for
 * clients that read the listing whole.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { asOperator } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const TD = 'spiffe://example.org';

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
  for (const name of ['node-b', 'Node-a', 'node-a', 'node-c', 'node-a.1']) await asOperator(ca, 'POST', `/v1/agents/${name}/ban`);
  for (const [agent, path] of [['node-1', '/web'], ['node-1', '/db'], ['node-2', '/a'], ['Node-0', '/z'], ['node-1', '/api']]) {
    await asOperator(ca, 'POST', '/v1/entries', { agent, spiffeId: `${TD}${path}` });
  }
});

/** Follows nextCursor from the first page to the last, each page holding `limit` items but the last. */
async function walk(path: string, key: string, limit: number): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
    const page = (await asOperator(ca, 'GET', `${path}${path.includes('?') ? '&' : '?'}${query}`)) as Record<string, unknown[]> & { nextCursor: string | null };
    if (page.nextCursor) expect(page[key]).toHaveLength(limit);
    items.push(...page[key]!);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

describe('paged listings of agents and entries', () => {
  it.each([
    ['agents', '/v1/agents', 'agents'],
    ['entries', '/v1/entries', 'entries'],
    ['one agent\'s entries', '/v1/entries?agent=node-1', 'entries'],
  ])('pass/%s a page at a time are the whole listing, in its order', async (_name, path, key) => {
    const whole = (await asOperator(ca, 'GET', path)) as Record<string, unknown[]> & { nextCursor: null };
    expect(whole.nextCursor).toBeNull();
    expect(whole[key]!.length).toBeGreaterThan(2);
    for (const limit of [1, 2, 1000]) expect(await walk(path, key, limit)).toEqual(whole[key]);
  });

  it('pass/agents by name and entries by agent, SPIFFE ID and id, in byte order', async () => {
    const agents = (await walk('/v1/agents', 'agents', 2)) as Array<{ name: string }>;
    expect(agents.map((a) => a.name)).toEqual(['Node-a', 'node-a', 'node-a.1', 'node-b', 'node-c']);
    const entries = (await walk('/v1/entries', 'entries', 2)) as Array<{ agent: string; spiffeId: string }>;
    expect(entries.map((e) => `${e.agent} ${e.spiffeId}`)).toEqual([`Node-0 ${TD}/z`, `node-1 ${TD}/api`, `node-1 ${TD}/db`, `node-1 ${TD}/web`, `node-2 ${TD}/a`]);
  });

  it.each([
    ['agents, a cursor not given out', '/v1/agents?cursor=bm9wZQ', 'cursor is not one this server gave out'],
    ['entries, a cursor not given out', '/v1/entries?cursor=bm9wZQ', 'cursor is not one this server gave out'],
    ['entries, an agent listing\'s cursor', `/v1/entries?cursor=${Buffer.from(JSON.stringify(['agent', 'node-a'])).toString('base64url')}`, 'cursor is not one this server gave out'],
    ['agents, a page over the most', '/v1/agents?limit=1001', 'limit must be at most 1000'],
    ['entries, a page of none', '/v1/entries?limit=0', 'request querystring/limit must be a whole number from 1 to 1000'],
  ])('fail/%s is 400 invalid_request', async (_name, url, message) => {
    const res = await ca.localApp.inject({ method: 'GET', url });
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 400, body: { error: { code: 'invalid_request', message } } });
  });
});
