/**
 * `meshca token create|list|revoke`: single-use join tokens. create prints
 * only the token, so scripts can capture it; list and revoke name a token by
 * its id (the first 16 hex digits of its hash, as the audit log does).
 */
import type { Command } from 'commander';
import { hashJoinToken, JOIN_TOKEN_ID_PATTERN, joinTokenId, looksLikeJoinToken, TOKEN_PREFIX } from '../../ca/join-tokens.js';
import { adminClient, checkDurations, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { checkLimit, walkPages } from '../paging.js';
import { formatTable } from '../table.js';

interface TokenJson {
  id: string;
  agent: string;
  createdAt: string;
  expiresAt: string;
  createdBy: string;
  /** The admin credential that made it; null for the CA host's operator, absent from servers before it was recorded. */
  creatorSerial?: string | null;
}

/**
 * The id to send for what was typed: an id as token list shows it, or a
 * leaked token, whose id is derived here so that only the id is sent. Input
 * shaped like a token is never echoed: a mangled one is still most of a secret.
 */
function tokenIdOf(typed: string): string {
  const given = typed.trim();
  if (given.startsWith(TOKEN_PREFIX)) {
    if (!looksLikeJoinToken(given)) refuseFlags(`that looks like a join token, but is ${given.length} characters where a token has 48; give the whole token, or its id from token list`);
    return joinTokenId(hashJoinToken(given));
  }
  const id = given.toLowerCase();
  if (!new RegExp(JOIN_TOKEN_ID_PATTERN).test(id)) refuseFlags(`${JSON.stringify(given.slice(0, 20))} is neither a token id (16 hex digits, as token list shows) nor a join token`);
  return id;
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('join tokens for agent attestation');
  token
    .command('create')
    .description('create a single-use join token for an agent name and print it')
    .requiredOption('--agent <name>', 'the agent the token admits')
    .option('--ttl <duration>', 'how long the token is valid (default: the CA\'s --join-token-ttl, 10m)')
    .option('--json', 'print {token, id, agent, expiresAt}')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { agent: string; ttl?: string; json?: boolean }) => {
      checkDurations({ ttl: o.ttl });
      const created = await adminClient(o).call<{ token: string; id: string; agent: string; expiresAt: string }>('POST', '/v1/tokens', {
        agent: o.agent,
        ...(o.ttl ? { ttl: o.ttl } : {}),
      });
      console.log(o.json ? JSON.stringify(created) : created.token);
    });

  token
    .command('list')
    .description('the tokens that can still admit an agent (unused, unexpired), soonest to expire first; never the tokens themselves')
    .option('--agent <name>', 'only the tokens for this agent')
    .option('--json', 'print a JSON array')
    .option('--limit <n>', 'at most this many')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { agent?: string; json?: boolean; limit?: string }) => {
      checkLimit(o.limit);
      const query = new URLSearchParams(o.agent === undefined ? {} : { agent: o.agent });
      const listed: TokenJson[] = [];
      for await (const t of walkPages<TokenJson>(adminClient(o), '/v1/tokens', 'tokens', query, o.limit)) listed.push(t);
      console.log(
        o.json
          ? JSON.stringify(listed)
          : formatTable(
            ['ID', 'AGENT', 'CREATED', 'EXPIRES', 'CREATED BY', 'CREDENTIAL'],
            listed.map((t) => [t.id, t.agent, t.createdAt, t.expiresAt, t.createdBy, t.creatorSerial ?? '-']),
          ),
      );
    });

  token
    .command('revoke')
    .description('void a token before any agent uses it (the agent it names, and its SVIDs, are left as they are)')
    .argument('<id>', 'the token\'s id, as token list and token create --json show it, or the leaked token itself')
    .option('--json', 'print {id, agent, revokedAt}')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (typed: string, o: CommonOptions & { json?: boolean }) => {
      const id = tokenIdOf(typed);
      const revoked = await adminClient(o).call<{ id: string; agent: string; revokedAt: string }>('POST', `/v1/tokens/${id}/revoke`);
      console.log(o.json ? JSON.stringify(revoked) : `revoked join token ${revoked.id} of agent ${revoked.agent}`);
    });
}
