/** `meshca token create`: prints a single-use join token (only the token, so scripts can capture it). */
import type { Command } from 'commander';
import { AdminClient } from '../admin-client.js';
import { checkDurations, dataDirOption, type CommonOptions } from '../common-options.js';

export function registerToken(program: Command): void {
  const token = program.command('token').description('join tokens for agent attestation');
  token
    .command('create')
    .description('create a single-use join token for an agent name and print it')
    .requiredOption('--agent <name>', 'the agent the token admits')
    .option('--ttl <duration>', 'how long the token is valid (default: the CA\'s --join-token-ttl, 10m)')
    .option('--json', 'print {token, agent, expiresAt}')
    .addOption(dataDirOption())
    .action(async (o: CommonOptions & { agent: string; ttl?: string; json?: boolean }) => {
      checkDurations({ ttl: o.ttl });
      const created = await new AdminClient(o.dataDir).call<{ token: string; agent: string; expiresAt: string }>('POST', '/v1/tokens', {
        agent: o.agent,
        ...(o.ttl ? { ttl: o.ttl } : {}),
      });
      console.log(o.json ? JSON.stringify(created) : created.token);
    });
}
