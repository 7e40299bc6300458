/** `meshca cert list` and `meshca identity list`: what the CA has ever issued, for auditors. */
import type { Command } from 'commander';
import type { AdminClient } from '../admin-client.js';
import { adminClient, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { hexArgument } from '../hex-argument.js';
import { checkLimit, walkPages } from '../paging.js';
import { formatTable } from '../table.js';
import { counted } from '../counted.js';

interface CertJson {
  serial: string;
  spiffeId: string;
  dns: string[];
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  kind: string;
  requestedBy: string;
  /** For an admin credential, whom it lets act ("operator:bob"); requestedBy is who asked for it. */
  holder: string | null;
  agent: string | null;
  entryId: string | null;
  keyType: string;
  publicKeySha256: string;
  issuer: string;
  revokedAt: string | null;
  revocationReason: string | null;
}

const CSV_COLUMNS: ReadonlyArray<keyof CertJson> = [
  'serial', 'spiffeId', 'dns', 'notBefore', 'notAfter', 'issuedAt', 'kind', 'requestedBy', 'agent', 'entryId', 'keyType',
  'publicKeySha256', 'issuer', 'revokedAt', 'revocationReason', 'holder',
];


function csvCell(v: unknown): string {
  const text = v === null ? '' : Array.isArray(v) ? v.join(' ') : String(v);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

interface ListOptions extends CommonOptions {
  spiffeId?: string;
  prefix?: string;
  agent?: string;
  activeAt?: string;
  issuedAfter?: string;
  issuedBefore?: string;
  serial?: string;
  revoked?: boolean;
  json?: boolean;
  csv?: boolean;
  limit?: string;
}

function certificates(client: AdminClient, o: ListOptions): AsyncGenerator<CertJson> {
  const query = new URLSearchParams();
  for (const key of ['spiffeId', 'prefix', 'agent', 'activeAt', 'issuedAfter', 'issuedBefore'] as const) {
    if (o[key]) query.set(key, o[key]!);
  }
  if (o.serial) query.set('serial', hexArgument(o.serial));
  if (o.revoked) query.set('revoked', 'true');
  return walkPages<CertJson>(client, '/v1/certificates', 'certificates', query, o.limit);
}

interface IdentityJson {
  spiffeId: string;
  firstIssuedAt: string;
  lastIssuedAt: string;
  certificates: number;
  live: number;
  registered: boolean;
}

interface IdentityListOptions extends CommonOptions {
  prefix?: string;
  json?: boolean;
  limit?: string;
}

function identities(client: AdminClient, o: IdentityListOptions): AsyncGenerator<IdentityJson> {
  return walkPages<IdentityJson>(client, '/v1/identities', 'identities', new URLSearchParams(o.prefix ? { prefix: o.prefix } : {}), o.limit);
}

export function registerCert(program: Command): void {
  const cert = program.command('cert').description('certificates the CA has issued');
  cert
    .command('list')
    .description('list issued certificates, oldest first')
    .option('--spiffe-id <id>', 'exactly this identity')
    .option('--prefix <id>', 'identities under this path, e.g. spiffe://example.org/ns/x/')
    .option('--agent <name>', 'issued to or through this agent')
    .option('--active-at <time>', 'valid at this time (notBefore and notAfter included), and not revoked by then (RFC 3339 or epoch seconds)')
    .option('--issued-after <time>', 'issued at or after')
    .option('--issued-before <time>', 'issued before')
    .option('--serial <hex>', 'this serial number (hex, colons between bytes allowed)')
    .option('--revoked', 'only revoked certificates')
    .option('--json', 'print a JSON array')
    .option('--csv', 'print CSV')
    .option('--limit <n>', 'at most this many')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: ListOptions) => {
      if (o.json && o.csv) refuseFlags('--json and --csv: choose one');
      checkLimit(o.limit);
      const client = adminClient(o);
      const out = process.stdout;
      if (o.json) {
        let first = true;
        out.write('[');
        for await (const c of certificates(client, o)) {
          out.write(`${first ? '' : ','}\n${JSON.stringify(c)}`);
          first = false;
        }
        out.write(first ? ']\n' : '\n]\n');
      } else if (o.csv) {
        out.write(`${CSV_COLUMNS.join(',')}\n`);
        for await (const c of certificates(client, o)) out.write(`${CSV_COLUMNS.map((k) => csvCell(c[k])).join(',')}\n`);
      } else {
        const rows: Array<Array<string | null>> = [];
        for await (const c of certificates(client, o)) {
          rows.push([c.serial, c.spiffeId, c.kind, c.requestedBy, c.issuedAt, c.notAfter, c.revokedAt ? 'revoked' : null]);
        }
        console.log(formatTable(['SERIAL', 'SPIFFE ID', 'KIND', 'REQUESTED BY', 'ISSUED', 'EXPIRES', 'REVOKED'], rows));
      }
    });

  cert
    .command('revoke')
    .description('revoke live certificates by serial, identity or agent; they can never be renewed and appear in the CRL')
    .option('--serial <hex>', 'one certificate (hex, colons between bytes allowed)')
    .option('--spiffe-id <id>', 'every live certificate of this identity')
    .option('--agent <name>', 'every live certificate issued to or through this agent')
    .option('--reason <reason>', 'unspecified, keyCompromise, cACompromise, affiliationChanged, superseded or cessationOfOperation', 'unspecified')
    .option('--json', 'print {revoked, serials, reason} and the selector given (serial, spiffeId or agent); serials in the order issued')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { serial?: string; spiffeId?: string; agent?: string; reason: string; json?: boolean }) => {
      if ([o.serial, o.spiffeId, o.agent].filter((v) => v !== undefined).length !== 1) {
        refuseFlags('give exactly one of --serial, --spiffe-id or --agent');
      }
      const selector = {
        ...(o.serial ? { serial: hexArgument(o.serial) } : {}),
        ...(o.spiffeId ? { spiffeId: o.spiffeId } : {}),
        ...(o.agent ? { agent: o.agent } : {}),
      };
      const res = await adminClient(o).call<{ revoked: number; serials: string[] }>('POST', '/v1/certificates/revoke', { ...selector, reason: o.reason });
      console.log(o.json ? JSON.stringify({ ...res, reason: o.reason, ...selector }) : `revoked ${counted(res.revoked, 'certificate')}`);
    });

  program
    .command('identity')
    .description('identities the CA has issued')
    .command('list')
    .description('every identity ever issued, in order of ID, with first and last issuance, live certificates and whether it is still registered')
    .option('--prefix <id>', 'identities under this path, e.g. spiffe://example.org/ns/x/')
    .option('--json', 'print a JSON array')
    .option('--limit <n>', 'at most this many')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: IdentityListOptions) => {
      checkLimit(o.limit);
      const listed: IdentityJson[] = [];
      for await (const i of identities(adminClient(o), o)) listed.push(i);
      console.log(
        o.json
          ? JSON.stringify(listed)
          : formatTable(
              ['SPIFFE ID', 'FIRST ISSUED', 'LAST ISSUED', 'CERTS', 'LIVE', 'REGISTERED'],
              listed.map((i) => [i.spiffeId, i.firstIssuedAt, i.lastIssuedAt, i.certificates, i.live, i.registered ? 'yes' : 'no']),
            ),
      );
    });
}
