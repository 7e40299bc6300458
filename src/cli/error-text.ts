/**
 * What a command prints when it fails: the error's message and, when it was
 * raised over another (a datastore's "database or disk is full" behind "the
 * issuance could not be recorded"), the causes that say what to fix.
 */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e) && parts.length < 4; e = e.cause) {
    seen.add(e);
    if (!parts.includes(e.message)) parts.push(e.message);
  }
  return parts.length ? parts.join(': ') : String(err);
}
