/** `meshca audit verify|export|checkpoint`: the tamper-evident audit trail. */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { VerificationResult } from '../../ca/audit-verifier.js';
import { decodeCertificates } from '../../x509/pem.js';
import { AdminClient } from '../admin-client.js';
import { dataDirOption, type CommonOptions } from '../common-options.js';
import { verifyDatastoreFile } from '../offline-audit.js';

function report(result: VerificationResult, json: boolean | undefined): void {
  if (json) {
    console.log(JSON.stringify(result));
  } else if (result.ok) {
    console.log(`audit log verified: ${result.events} events, ${result.checkpoints} signed checkpoints, head ${result.head ? `#${result.head.seq} ${result.head.hash}` : '(empty)'}`);
  } else {
    console.log(`audit log FAILED verification at event ${result.problem!.seq}: ${result.problem!.reason}`);
    console.log(`(${result.events} events before it verified)`);
  }
  if (!result.ok) process.exitCode = 1;
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');

  audit
    .command('verify')
    .description('walk the hash chain and the signed checkpoints; exits 1 naming the first event that does not fit')
    .option('--trust-bundle <file>', 'roots that checkpoint signers must chain to (your own copy of bundle.pem)')
    .option('--db <file>', 'verify this datastore file directly instead of asking the running CA')
    .option('--json', 'print the result as JSON')
    .addOption(dataDirOption())
    .action(async (o: CommonOptions & { trustBundle?: string; db?: string; json?: boolean }) => {
      const bundle = o.trustBundle === undefined ? undefined : readFileSync(o.trustBundle, 'utf8');
      const pinned = bundle === undefined ? undefined : decodeCertificates(bundle).map((d) => new X509Certificate(d));
      if (pinned?.length === 0) throw new Error(`--trust-bundle ${o.trustBundle} holds no certificate`);
      const result = o.db
        ? await verifyDatastoreFile(o.db, pinned)
        : await new AdminClient(o.dataDir).call<VerificationResult>('POST', '/v1/audit/verify', bundle === undefined ? {} : { trustBundle: bundle });
      report(result, o.json);
    });

  audit
    .command('export')
    .description('stream the audit log')
    .option('--since <time>', 'events at or after this time (RFC 3339 or epoch seconds)')
    .option('--format <format>', 'jsonl or csv', 'jsonl')
    .addOption(dataDirOption())
    .action(async (o: CommonOptions & { since?: string; format: string }) => {
      if (o.format !== 'jsonl' && o.format !== 'csv') throw new Error('--format must be jsonl or csv');
      const query = new URLSearchParams({ format: o.format, ...(o.since ? { since: o.since } : {}) });
      await new AdminClient(o.dataDir).stream(`/v1/audit/events?${query}`, process.stdout);
    });

  audit
    .command('checkpoint')
    .description('sign a checkpoint of the log head now (the CA also does so on --checkpoint-schedule)')
    .addOption(dataDirOption())
    .action(async (o: CommonOptions) => {
      const c = await new AdminClient(o.dataDir).call<{ seq?: number; hash?: string; signerId?: string }>('POST', '/v1/audit/checkpoints');
      console.log(c.seq ? `checkpoint: event #${c.seq} ${c.hash} signed by ${c.signerId}` : 'the audit log is empty');
    });
}
