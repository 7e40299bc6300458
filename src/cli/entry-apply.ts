/**
 * How `meshca entry apply` carries out a plan (entry-plan.ts) on a CA: it
 * asks the CA first whether it would take every change, then makes them,
 * creations and updates before deletions, printing each as it is made.
 */
import { AdminRequestError, CaUnreachableError, type AdminClient } from './admin-client.js';
import type { DesiredEntry } from './entry-manifest.js';
import type { EntryPlan } from './entry-plan.js';

/** What applying needs of the CA client: JSON requests. */
export type EntryApi = Pick<AdminClient, 'call'>;

/** A lifetime in the seconds `entry list` shows, so that old and new compare at a glance. */
const ttlText = (ttl: number | null) => `${ttl ?? 'default'}`;
const desiredTtl = (e: DesiredEntry) => e.ttl?.seconds ?? null;
const dnsText = (dns: readonly string[]) => dns.join(',') || '-';
const fieldsText = (e: DesiredEntry) => `${e.agent} ${e.spiffeId} ttl=${ttlText(desiredTtl(e))} dns=${dnsText(e.dns)}`;

/** An update as the fields it changes, each old -> new, so a reviewer of a dry run sees what is lost as well as what comes. */
function changeText({ current, entry }: EntryPlan['update'][number]): string {
  const changes: string[] = [];
  if (current.ttl !== desiredTtl(entry)) changes.push(`ttl=${ttlText(current.ttl)} -> ${ttlText(desiredTtl(entry))}`);
  const [before, after] = [dnsText(current.dns), dnsText(entry.dns)];
  if (before !== after) changes.push(`dns=${before} -> ${after}`);
  return `${entry.agent} ${entry.spiffeId} ${changes.join(' ')}`;
}

export function planLines(plan: EntryPlan): string[] {
  return [
    ...plan.create.map((e) => `create ${fieldsText(e)}`),
    ...plan.update.map((u) => `update ${u.id} ${changeText(u)}`),
    ...plan.remove.map((e) => `delete ${e.id} ${e.agent} ${e.spiffeId}`),
  ];
}

// The ttl as the file wrote it, for a refusal to quote back.
const body = (e: DesiredEntry) => ({ agent: e.agent, spiffeId: e.spiffeId.toString(), dns: e.dns, ...(e.ttl === null ? {} : { ttl: e.ttl.written }) });
const updateBody = (e: DesiredEntry) => ({ ttl: e.ttl?.written ?? null, dns: e.dns });
const creating = (e: DesiredEntry) => `creating ${e.agent} ${e.spiffeId}`;
const updating = (id: string, e: DesiredEntry) => `updating ${id} (${e.agent} ${e.spiffeId})`;

/**
 * Asks the CA, with a dry run of each create and update, whether it would
 * take them all, before the first change: what only the CA knows (its trust
 * domain, its longest lifetime, its own DNS names, an entry added meanwhile)
 * is then refused with nothing changed, rather than midway. Every refusal is
 * printed; an auditor, who may not write, is not refused here, and is told
 * the checks were not run ('not-allowed').
 */
export async function checkPlan(client: EntryApi, plan: EntryPlan): Promise<'checked' | 'not-allowed'> {
  const checks = [
    ...plan.create.map((e) => ({ what: creating(e), ask: () => client.call('POST', '/v1/entries?dryRun=true', body(e), FILE_FIELDS) })),
    ...plan.update.map(({ id, entry }) => ({
      what: updating(id, entry),
      ask: () => client.call('PATCH', `/v1/entries/${encodeURIComponent(id)}?dryRun=true`, updateBody(entry), FILE_FIELDS),
    })),
  ];
  const refusals: AdminRequestError[] = [];
  for (const { what, ask } of checks) {
    try {
      await ask();
    } catch (err) {
      if (!(err instanceof AdminRequestError)) throw err;
      if (err.status === 403 && err.code === 'forbidden') return 'not-allowed';
      refusals.push(new AdminRequestError(err.status, err.code, `${what}: ${err.message}`));
    }
  }
  if (refusals.length === 0) return 'checked';
  for (const r of refusals.slice(0, -1)) console.error(`meshca: ${r.message} (${r.code}, HTTP ${r.status})`);
  const last = refusals.at(-1)!;
  const count = refusals.length === 1 ? 'the CA would refuse it' : `the CA would refuse these ${refusals.length} changes`;
  throw new AdminRequestError(last.status, last.code, `${last.message} (${count}; nothing was changed)`);
}

/**
 * Creates and updates first, deletions last: an identity moved to another
 * agent is held by the new one before the old one loses it. Not one
 * transaction: the CA's refusals come before it (checkPlan), but another
 * operator's change meanwhile, or a CA that stops answering, can still stop
 * it midway, which leaves what was done before (printed as it happens), and
 * running apply again finishes the rest.
 */
export async function applyPlan(client: EntryApi, plan: EntryPlan): Promise<void> {
  let done = 0;
  // A refusal names the entry, and the field as the file spells it (not as a flag).
  const step = async (what: string, work: () => Promise<string>) => {
    try {
      console.log(await work());
      done++;
    } catch (err) {
      const before = done === 0 ? 'nothing was changed' : `${done === 1 ? 'the change printed above stands' : `the ${done} changes printed above stand`}; apply again once it is fixed`;
      if (err instanceof AdminRequestError) throw new AdminRequestError(err.status, err.code, `${what}: ${err.message} (${before})`);
      // No CA answering before anything changed is still "nothing was asked" (exit 69); after a change it is not.
      if (err instanceof CaUnreachableError && done === 0) throw err;
      throw new Error(`${what}: ${(err as Error).message} (${before})`, { cause: err });
    }
  };
  for (const e of plan.create) {
    await step(creating(e), async () => {
      const created = await client.call<{ id: string }>('POST', '/v1/entries', body(e), FILE_FIELDS);
      return `created ${created.id} ${fieldsText(e)}`;
    });
  }
  for (const update of plan.update) {
    const { id, entry } = update;
    await step(updating(id, entry), async () => {
      await client.call('PATCH', `/v1/entries/${encodeURIComponent(id)}`, updateBody(entry), FILE_FIELDS);
      return `updated ${id} ${changeText(update)}`;
    });
  }
  for (const e of plan.remove) {
    await step(`deleting ${e.id} (${e.agent} ${e.spiffeId})`, async () => {
      await client.call('DELETE', `/v1/entries/${encodeURIComponent(e.id)}`);
      return `deleted ${e.id} ${e.agent} ${e.spiffeId}`;
    });
  }
}

/** The fields of an entries file, named as the file names them in a refusal. */
const FILE_FIELDS = { agent: 'agent', spiffeId: 'spiffeId', ttl: 'ttl', dns: 'dns' };
