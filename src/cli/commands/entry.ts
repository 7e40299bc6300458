/** `meshca entry create|list|show|update|delete|apply`: registration entries. */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { ManifestError, parseEntryManifest, type DesiredEntry } from '../entry-manifest.js';
import { applyPlan, checkPlan, planLines } from '../entry-apply.js';
import { planEntries } from '../entry-plan.js';
import { adminClient, cannotRead, checkDurations, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { collect } from '../flag-repetition.js';
import { checkLimit, listed } from '../paging.js';
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
    .option('--dns <name>', 'DNS SAN (repeatable)', collect)
    .option('--json', 'print the entry as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { agent: string; spiffeId: string; ttl?: string; dns?: string[]; json?: boolean }) => {
      checkDurations({ ttl: o.ttl });
      const created = await adminClient(o).call<EntryJson>('POST', '/v1/entries', {
        agent: o.agent,
        spiffeId: o.spiffeId,
        ...(o.ttl ? { ttl: o.ttl } : {}),
        dns: o.dns ?? [],
      });
      console.log(o.json ? JSON.stringify(created) : created.id);
    });

  entry
    .command('list')
    .description('list registration entries (every agent\'s, or --agent\'s), in order of agent, SPIFFE ID and id: id, agent, SPIFFE ID, TTL and DNS names')
    .option('--agent <name>', 'only this agent\'s entries')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many, in order of agent, SPIFFE ID and id')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { agent?: string; json?: boolean; limit?: string }) => {
      checkLimit(o.limit);
      const query = new URLSearchParams(o.agent === undefined ? {} : { agent: o.agent });
      const entries = await listed<EntryJson>(adminClient(o), '/v1/entries', 'entries', query, o.limit);
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
      const checked = await checkPlan(client, plan);
      if (o.dryRun) {
        for (const line of planLines(plan)) console.log(`would ${line}`);
        if (checked === 'not-allowed') console.log("(the CA's own checks, of its trust domain and longest lifetime, were not run: they ask for the operator role)");
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
    refuseFlags(`${file}: ${cannotRead(err)}`);
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
