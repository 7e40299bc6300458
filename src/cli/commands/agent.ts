/** `meshca agent list|evict|ban|unban`. */
import type { Command } from 'commander';
import { adminClient, credentialOption, dataDirOption, serverOption, type CommonOptions } from '../common-options.js';
import { checkLimit, listed } from '../paging.js';
import { formatTable } from '../table.js';

interface AgentJson {
  name: string;
  spiffeId: string;
  status: string;
  /** null: never attested (e.g. a name banned before it ever joined). */
  attestedAt: string | null;
  lastSeen: string | null;
  svidSerial: string | null;
  svidExpiresAt: string | null;
}

const ACTIONS = {
  evict: 'evict an agent: its SVIDs are revoked and it must attest again with a new token',
  ban: 'ban an agent name: its SVIDs are revoked and it cannot attest until unbanned',
  unban: 'lift a ban; the agent may attest again with a new token',
} as const;

/**
 * What an agent evicted or unbanned needs next: both leave it `evicted`, and
 * "agent node-1 is now evicted" alone, after an unban, reads as if it failed.
 */
const NEXT_STEP: Partial<Record<keyof typeof ACTIONS, string>> = {
  evict: 'it attests again only with a new join token',
  unban: 'unbanned, it attests again with a new join token',
};

export function registerAgent(program: Command): void {
  const agent = program.command('agent').description('agents: every name that attested, and names banned or evicted before they ever did');

  agent
    .command('list')
    .description('list agents, in order of name: those that attested and names banned or evicted before attesting, with status, attestation time ("-" for none), last seen and SVID expiry')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many, in order of name')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { json?: boolean; limit?: string }) => {
      checkLimit(o.limit);
      const agents = await listed<AgentJson>(adminClient(o), '/v1/agents', 'agents', new URLSearchParams(), o.limit);
      console.log(
        o.json
          ? JSON.stringify(agents)
          : formatTable(
              ['NAME', 'SPIFFE ID', 'STATUS', 'ATTESTED', 'LAST SEEN', 'SVID EXPIRES'],
              agents.map((a) => [a.name, a.spiffeId, a.status, a.attestedAt, a.lastSeen, a.svidExpiresAt]),
            ),
      );
    });

  for (const [action, description] of Object.entries(ACTIONS)) {
    agent
      .command(`${action} <name>`)
      .description(description)
      .option('--json', 'print the agent as JSON, as agent list --json does')
      .addOption(dataDirOption())
      .addOption(serverOption())
      .addOption(credentialOption())
      .action(async (name: string, o: CommonOptions & { json?: boolean }) => {
        const a = await adminClient(o).call<AgentJson>('POST', `/v1/agents/${encodeURIComponent(name)}/${action}`, undefined, {
          name: `agent name ${JSON.stringify(name)}`,
        });
        const next = a.status === 'evicted' ? NEXT_STEP[action as keyof typeof ACTIONS] : undefined;
        console.log(o.json ? JSON.stringify(a) : `agent ${a.name} is now ${a.status}${next ? `: ${next} (meshca token create --agent ${a.name})` : ''}`);
      });
  }
}
