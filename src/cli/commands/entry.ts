/** `meshca entry create|list|show|update|delete|apply`: registration entries. */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { AdminRequestError, CaUnreachableError, type AdminClient } from '../admin-client.js';
import { ManifestError, parseEntryManifest, type DesiredEntry } from '../entry-manifest.js';
import { planEntries, type EntryPlan } from '../entry-plan.js';
import { adminClient, checkDurations, collect, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { formatTable } from '../table.js';

interface EntryJson {
  id: string;
  agent: string;
  spiffeId: string;
  ttl: number | null;
  dns: string[];
  createdAt: string;
  updatedAt: string;
  revision: number;
}

function describe(e: EntryJson): string {
  return [
    `id:        ${e.id}`,
    `agent:     ${e.agent}`,
    `spiffe id: ${e.spiffeId}`,
    `ttl:       ${e.ttl === null ? 'CA default' : `${e.ttl}s`}`,
    `dns:       ${e.dns.join(', ') || '-'}`,
    `created:   ${e.createdAt}`,
    `updated:   ${e.updatedAt} (revision ${e.revision})`,
  ].join('\n');
}

/** The <id> argument, as a refusal names it. */
const entryId = (id: string) => ({ id: `entry id ${JSON.stringify(id)}` });

export function registerEntry(program: Command): void {
  const entry = program.command('entry').description('registration entries: which agent may obtain which identity');

  entry
    .command('create')
    .description('grant an agent an identity; prints the new entry id')
    .requiredOption('--agent <name>', 'agent that may obtain the SVID')
    .requiredOption('--spiffe-id <id>', 'identity to grant, e.g. spiffe://example.org/ns/web')
    .option('--ttl <duration>', 'SVID lifetime (default: the CA\'s --svid-ttl)')
    .option('--dns <name>', 'DNS SAN (repeatable)', collect, [])
    .option('--json', 'print the entry as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { agent: string; spiffeId: string; ttl?: string; dns: string[]; json?: boolean }) => {
      checkDurations({ ttl: o.ttl });
      const created = await adminClient(o).call<EntryJson>('POST', '/v1/entries', {
        agent: o.agent,
        spiffeId: o.spiffeId,
        ...(o.ttl ? { ttl: o.ttl } : {}),
        dns: o.dns,
      });
      console.log(o.json ? JSON.stringify(created) : created.id);
    });

  entry
    .command('list')
    .description('list entries')
    .option('--agent <name>', 'only this agent\'s entries')
    .option('--json', 'print JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { agent?: string; json?: boolean }) => {
      const query = o.agent ? `?agent=${encodeURIComponent(o.agent)}` : '';
      const { entries } = await adminClient(o).call<{ entries: EntryJson[] }>('GET', `/v1/entries${query}`);
      console.log(
        o.json
          ? JSON.stringify(entries)
          : formatTable(
              ['ID', 'AGENT', 'SPIFFE ID', 'TTL', 'DNS'],
              entries.map((e) => [e.id, e.agent, e.spiffeId, e.ttl === null ? 'default' : `${e.ttl}s`, e.dns.join(',') || null]),
            ),
      );
    });

  entry
    .command('show <id>')
    .description('show one entry')
    .option('--json', 'print JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (id: string, o: CommonOptions & { json?: boolean }) => {
      const e = await adminClient(o).call<EntryJson>('GET', `/v1/entries/${encodeURIComponent(id)}`, undefined, entryId(id));
      console.log(o.json ? JSON.stringify(e) : describe(e));
    });

  entry
    .command('update <id>')
    .description('change an entry; only the options given change')
    .option('--agent <name>', 'move the entry to another agent')
    .option('--spiffe-id <id>', 'new identity')
    .option('--ttl <duration>', 'new SVID lifetime, or "default"')
    .option('--dns <name>', 'DNS SANs, replacing the current ones (repeatable)', collect, undefined)
    .option('--clear-dns', 'remove every DNS SAN')
    .option('--json', 'print the entry as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (id: string, o: CommonOptions & { agent?: string; spiffeId?: string; ttl?: string; dns?: string[]; clearDns?: boolean; json?: boolean }) => {
      checkDurations({ ttl: o.ttl === 'default' ? undefined : o.ttl });
      if (o.dns && o.clearDns) refuseFlags('give --dns or --clear-dns, not both');
      const patch: Record<string, unknown> = {};
      if (o.agent) patch.agent = o.agent;
      if (o.spiffeId) patch.spiffeId = o.spiffeId;
      if (o.ttl) patch.ttl = o.ttl === 'default' ? null : o.ttl;
      if (o.dns) patch.dns = o.dns;
      if (o.clearDns) patch.dns = [];
      if (Object.keys(patch).length === 0) refuseFlags('nothing to update: give --agent, --spiffe-id, --ttl, --dns or --clear-dns');
      const e = await adminClient(o).call<EntryJson>('PATCH', `/v1/entries/${encodeURIComponent(id)}`, patch, entryId(id));
      console.log(o.json ? JSON.stringify(e) : describe(e));
    });

  entry
    .command('delete <id>')
    .description('delete an entry; its agent can no longer obtain or renew that SVID')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (id: string, o: CommonOptions) => {
      await adminClient(o).call('DELETE', `/v1/entries/${encodeURIComponent(id)}`, undefined, entryId(id));
      console.log(`deleted ${id}`);
    });

  entry
    .command('apply <file>')
    .description(
      'make the entries what FILE lists (a JSON array, as `entry list --json` prints; - for stdin): ' +
        'creates the missing, updates those whose ttl or dns differ; with --prune, deletes the ones it does not list of the agents it names (--prune-all: of every agent)',
    )
    .option('--prune', 'also delete the entries FILE does not list, of the agents it names')
    .addOption(new Option('--prune-all', 'also delete the entries FILE does not list, of every agent').conflicts('prune'))
    .option('--dry-run', 'print what would change, and change nothing')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (file: string, o: CommonOptions & { prune?: boolean; pruneAll?: boolean; dryRun?: boolean }) => {
      const desired = await readManifest(file);
      const client = adminClient(o);
      const { entries } = await client.call<{ entries: EntryJson[] }>('GET', '/v1/entries');
      const plan = planEntries(desired, entries, o.pruneAll ? 'all' : o.prune ? 'listed-agents' : 'none');
      if (o.dryRun) {
        for (const line of planLines(plan)) console.log(`would ${line}`);
      } else {
        await applyPlan(client, plan);
      }
      const verb = o.dryRun ? 'would be ' : '';
      console.log(`${plan.create.length} ${verb}created, ${plan.update.length} ${verb}updated, ${plan.remove.length} ${verb}deleted, ${plan.unchanged} unchanged`);
    });
}

async function readManifest(file: string): Promise<DesiredEntry[]> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    refuseFlags(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return parseEntryManifest(text);
  } catch (err) {
    if (err instanceof ManifestError) refuseFlags(`${file === '-' ? 'stdin' : file}: ${err.message}`);
    throw err;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const ttlText = (ttl: number | null) => `${ttl ?? 'default'}`;
const dnsText = (dns: readonly string[]) => dns.join(',') || '-';
const fieldsText = (e: DesiredEntry) => `${e.agent} ${e.spiffeId} ttl=${ttlText(e.ttl)} dns=${dnsText(e.dns)}`;

/** An update as the fields it changes, each old -> new, so a reviewer of a dry run sees what is lost as well as what comes. */
function changeText({ current, entry }: EntryPlan['update'][number]): string {
  const changes: string[] = [];
  if (current.ttl !== entry.ttl) changes.push(`ttl=${ttlText(current.ttl)} -> ${ttlText(entry.ttl)}`);
  const [before, after] = [dnsText(current.dns), dnsText(entry.dns)];
  if (before !== after) changes.push(`dns=${before} -> ${after}`);
  return `${entry.agent} ${entry.spiffeId} ${changes.join(' ')}`;
}

function planLines(plan: EntryPlan): string[] {
  return [
    ...plan.create.map((e) => `create ${fieldsText(e)}`),
    ...plan.update.map((u) => `update ${u.id} ${changeText(u)}`),
    ...plan.remove.map((e) => `delete ${e.id} ${e.agent} ${e.spiffeId}`),
  ];
}

/**
 * Creates and updates first, deletions last: an identity moved to another
 * agent is held by the new one before the old one loses it. Not one
 * transaction: a refusal midway leaves what was done before it (printed as
 * it happens), and running apply again finishes the rest.
 */
async function applyPlan(client: AdminClient, plan: EntryPlan): Promise<void> {
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
  const body = (e: DesiredEntry) => ({ agent: e.agent, spiffeId: e.spiffeId.toString(), dns: e.dns, ...(e.ttl === null ? {} : { ttl: e.ttl }) });
  for (const e of plan.create) {
    await step(`creating ${e.agent} ${e.spiffeId}`, async () => {
      const created = await client.call<EntryJson>('POST', '/v1/entries', body(e), FILE_FIELDS);
      return `created ${created.id} ${fieldsText(e)}`;
    });
  }
  for (const update of plan.update) {
    const { id, entry } = update;
    await step(`updating ${id} (${entry.agent} ${entry.spiffeId})`, async () => {
      await client.call('PATCH', `/v1/entries/${encodeURIComponent(id)}`, { ttl: entry.ttl, dns: entry.dns }, FILE_FIELDS);
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
