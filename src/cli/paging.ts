/** Listings the CLI reads page by page from the CA. */
import type { AdminClient } from './admin-client.js';
import { refuseFlags } from './common-options.js';

/**
 * Every item of a listing, or with --limit the first `limit`, page by page. Without --limit it is one
 * request without paging, which a CA from before the listing paged answers too.
 */
export async function listed<T>(client: AdminClient, path: string, key: string, query: URLSearchParams, limit: string | undefined): Promise<T[]> {
  if (limit === undefined) return (await client.call<Record<string, unknown>>('GET', `${path}${query.size ? `?${query}` : ''}`))[key] as T[];
  const items: T[] = [];
  for await (const item of walkPages<T>(client, path, key, query, limit)) items.push(item);
  return items;
}

/** Before any request or output: a walk is cut short only at a positive whole number of items. */
export function checkLimit(limit: string | undefined): void {
  if (limit && !/^[1-9][0-9]*$/.test(limit)) refuseFlags(`--limit: ${JSON.stringify(limit)} is not a positive integer`);
}

/**
 * Walks every page of a listing, up to `limit` items; the cursor keeps the
 * walk stable while the CA goes on changing what it lists.
 */
export async function* walkPages<T>(client: AdminClient, path: string, key: string, query: URLSearchParams, limit: string | undefined): AsyncGenerator<T> {
  let remaining = limit ? Number(limit) : Infinity;
  let cursor: string | null = null;
  do {
    query.set('limit', String(Math.min(1000, remaining)));
    if (cursor) query.set('cursor', cursor);
    const page = await client.call<Record<string, unknown> & { nextCursor: string | null }>('GET', `${path}?${query}`);
    const items = page[key] as T[];
    yield* items;
    remaining -= items.length;
    cursor = page.nextCursor;
  } while (cursor && remaining > 0);
}
