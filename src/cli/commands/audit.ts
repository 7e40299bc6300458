/** `meshca audit verify|export|checkpoint`: the tamper-evident audit trail. */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { formatHead, parseExpectedHead, type ExpectedHead, type VerificationResult } from '../../ca/audit-verifier.js';
import { decodeCertificates } from '../../x509/pem.js';
import { adminClient, cannotRead, checkChoice, credentialOption, dataDirOption, refuseFlags, serverOption, type CommonOptions } from '../common-options.js';
import { verifyDatastoreFile } from '../offline-audit.js';
import { counted } from '../counted.js';

/** --expect-head SEQ:HASH, read as commander reads the command line, so that a typo exits 78 naming the flag. */
function expectHeadOption(): Option {
  return new Option('--expect-head <SEQ:HASH>', 'fail unless the log still holds this head (as a previous verify printed it)').argParser((v: string) => {
    try {
      return parseExpectedHead(v);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  });
}

/**
 * --trust-bundle: the roots checkpoint signers must chain to, refused (exit
 * 78, naming the flag) when the file cannot be read or holds no certificate,
 * never taken as no pin.
 */
function readPinnedRoots(path: string): { pem: string; roots: X509Certificate[] } {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    refuseFlags(`--trust-bundle ${path}: ${cannotRead(err)}`);
  }
  let roots: X509Certificate[];
  try {
    roots = decodeCertificates(pem).map((d) => new X509Certificate(d));
  } catch (err) {
    refuseFlags(`--trust-bundle ${path}: ${(err as Error).message}`);
  }
  if (roots.length === 0) refuseFlags(`--trust-bundle ${path} holds no certificate`);
  return { pem, roots };
}

function report(result: VerificationResult, json: boolean | undefined, pinned: boolean): void {
  if (json) {
    console.log(JSON.stringify(result));
  } else if (result.ok) {
    console.log(`audit log verified: ${counted(result.events, 'event')}, ${counted(result.checkpoints, 'signed checkpoint')}, head ${result.head ? formatHead(result.head) : '(empty)'}`);
    // A pass that never used the roots given says nothing of them: not even that they are this CA's.
    if (pinned && result.checkpoints === 0) console.log('(no signed checkpoint yet, so --trust-bundle was not used; run `meshca audit checkpoint` first)');
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
    .addOption(expectHeadOption())
    .option('--json', 'print the result as JSON')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { trustBundle?: string; db?: string; expectHead?: ExpectedHead; json?: boolean }, command: Command) => {
      if (o.db && (command.getOptionValueSource('server') === 'cli' || command.getOptionValueSource('credential') === 'cli')) {
        refuseFlags('--db verifies a datastore file on this host, without asking any CA: give --db, or --server with --credential, not both');
      }
      if (o.db !== undefined && !existsSync(o.db)) refuseFlags(`--db ${o.db}: no such file`);
      const { pem: bundle, roots: pinned } = o.trustBundle === undefined ? { pem: undefined, roots: undefined } : readPinnedRoots(o.trustBundle);
      const result = o.db
        ? await verifyDatastoreFile(o.db, { pinnedRoots: pinned, expectedHead: o.expectHead })
        : await adminClient(o).call<VerificationResult>('POST', '/v1/audit/verify', { trustBundle: bundle, expectHead: o.expectHead });
      report(result, o.json, pinned !== undefined);
    });

  audit
    .command('export')
    .description('stream the audit log')
    .option('--since <time>', 'events at or after this time (RFC 3339 or epoch seconds)')
    .option('--after <seq>', 'events numbered above this one: the last seq an earlier export printed, to carry on from it')
    .option('--format <format>', 'jsonl or csv', 'jsonl')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { since?: string; after?: string; format: string }) => {
      checkChoice('format', o.format, ['jsonl', 'csv']);
      const query = new URLSearchParams({ format: o.format, ...(o.since ? { since: o.since } : {}), ...(o.after !== undefined ? { after: o.after } : {}) });
      await adminClient(o).stream(`/v1/audit/events?${query}`, process.stdout);
    });

  audit
    .command('checkpoint')
    .description('sign a checkpoint of the log head now (the CA also does so on --checkpoint-schedule)')
    .option('--json', 'print {seq, hash, signerId} of the head signed ({} when the log is empty)')
    .addOption(dataDirOption())
    .addOption(serverOption())
    .addOption(credentialOption())
    .action(async (o: CommonOptions & { json?: boolean }) => {
      const c = await adminClient(o).call<{ seq?: number; hash?: string; signerId?: string }>('POST', '/v1/audit/checkpoints');
      if (o.json) console.log(JSON.stringify(c.seq && c.hash ? { seq: c.seq, hash: c.hash, signerId: c.signerId } : {}));
      else console.log(c.seq && c.hash ? `checkpoint: head ${formatHead({ seq: c.seq, hash: c.hash })} signed by ${c.signerId}` : 'the audit log is empty');
    });
}
