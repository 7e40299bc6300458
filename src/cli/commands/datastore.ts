/**
 * `meshca datastore migrate`: moves an embedded CA's state into PostgreSQL, then proves the copy.
 * `meshca datastore backup`: copies an embedded CA, running or not, into a directory it can start from.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { formatHead } from '../../ca/audit-verifier.js';
import { loadAuthority } from '../../ca/authority-factory.js';
import { startedTrustDomain, trustDomainNameOf } from '../../ca/authority-integrity.js';
import { ConfigError } from '../../config/options.js';
import { parseDatastore, placeholderPassphraseProblem, readDatastoreFile, readPassphraseFile, type DatastoreChoice } from '../../config/server-config.js';
import { DATABASE_FILE } from '../../store/sqlite/database.js';
import { nowSeconds, systemClock } from '../../time/clock.js';
import { dataDirOption, refuseFlags, type CommonOptions } from '../common-options.js';
import { backupDataDirectory } from '../data-dir-backup.js';
import { lockDataDir } from '../data-dir-lock.js';
import { DATASTORE_MARKER, servesPostgres } from '../datastore-marker.js';
import { verifyStoredAudit } from '../../ca/audit-service.js';
import { counted } from '../counted.js';

interface MigrateOptions extends CommonOptions {
  to?: string;
  toFile?: string;
  keyPassphraseFile?: string;
}

/** The target database's URL, from --to or from the file --to-file names (a password is then in no process list); problems exit 78. */
function target(o: MigrateOptions): string {
  if ((o.to === undefined) === (o.toFile === undefined)) throw new ConfigError(['give the PostgreSQL database in --to or in --to-file, one of them']);
  const [flag, read] = o.to !== undefined ? ['--to', () => parseDatastore(o.to!)] : ['--to-file', () => readDatastoreFile(o.toFile!)];
  let chosen: DatastoreChoice;
  try {
    chosen = read();
  } catch (err) {
    throw new ConfigError([`${flag}: ${(err as Error).message}`]);
  }
  if (chosen.kind !== 'postgres') throw new ConfigError([`${flag} must be a postgres:// URL`]);
  return chosen.url;
}

/** The CA key passphrase from --key-passphrase-file, else MESHCA_KEY_PASSPHRASE; undefined when neither gives one. */
function givenPassphrase(o: { keyPassphraseFile?: string }): string | undefined {
  return (o.keyPassphraseFile ? readPassphraseFile(o.keyPassphraseFile) : process.env.MESHCA_KEY_PASSPHRASE) || undefined;
}

function passphrase(o: MigrateOptions): string {
  const value = givenPassphrase(o);
  if (!value) {
    throw new ConfigError(['a key passphrase is required: CA keys are stored in PostgreSQL only encrypted (MESHCA_KEY_PASSPHRASE or --key-passphrase-file)']);
  }
  const placeholder = placeholderPassphraseProblem(value);
  if (placeholder) throw new ConfigError([placeholder]);
  return value;
}

async function migrate(o: MigrateOptions): Promise<void> {
  // Configuration problems exit 78 like the server's own (see meshca.ts), not 1 like a failed migration.
  const url = target(o);
  const key = passphrase(o);
  // Loaded only for this command, so that no other meshca command pays for the pg driver.
  const [{ migrateToPostgres }, { openPostgresDatastore }] = await Promise.all([
    import('../../store/migrate-to-postgres.js'),
    import('../../store/postgres/datastore.js'),
  ]);
  if (!existsSync(join(o.dataDir, DATABASE_FILE))) throw new Error(`no embedded meshca datastore in ${o.dataDir}`);
  if (await servesPostgres(o.dataDir)) {
    throw new Error(
      `the CA on ${o.dataDir} runs on PostgreSQL already (${DATASTORE_MARKER}): its ${DATABASE_FILE} is the state it was moved from, and ` +
        'a copy of it would be a second CA, with the same keys, of that old state; start the embedded CA there first if you mean to move it again',
    );
  }
  // Holding the data directory's lock keeps the embedded CA from starting (or refuses if it runs): the copy is of a still source.
  const lock = await lockDataDir(o.dataDir).catch((err: Error) => {
    throw new Error(`${err.message}; stop it before migrating`);
  });
  try {
    const report = await migrateToPostgres({ dataDir: o.dataDir, url, passphrase: key, now: nowSeconds(systemClock) });
    for (const [table, rows] of Object.entries(report.rows)) console.log(`copied ${table}: ${rows} rows`);
    console.log(`copied CA keys: ${report.keys} (encrypted with the key passphrase)`);
    if (report.keysLeftBehind.length) console.log(`not copied, no record names them (a CA stopped while creating an authority): ${report.keysLeftBehind.join(', ')}`);

    const copy = await openPostgresDatastore(url, systemClock, key);
    try {
      for (const ref of await copy.custody.list()) await copy.custody.load(ref);
      // Without it a start on the copy takes the default trust domain, example.org, and is refused (exit 78).
      const trustDomain =
        trustDomainNameOf(await Promise.all((await copy.authorities.listAuthorities()).map((r) => loadAuthority(copy.custody, r)))) ?? (await startedTrustDomain(copy.audit));
      const result = await verifyStoredAudit(copy.authorities, copy.audit);
      if (!result.ok) throw new Error(`the migrated audit log does not verify at event ${result.problem!.seq}: ${result.problem!.reason}`);
      const continued = report.sourceHead ? `, continuing the source's head ${formatHead(report.sourceHead)}` : '';
      console.log(`verified: audit log of ${counted(result.events, 'event')} and ${counted(result.checkpoints, 'signed checkpoint')}${continued}; every CA key decrypts`);
      console.log(
        `start the CA with the PostgreSQL URL in --datastore-file (MESHCA_DATASTORE_FILE) or --datastore, ${trustDomain ? `--trust-domain ${trustDomain} ` : ''}` +
          `and the same key passphrase; ${o.dataDir} is left as it was (read only)`,
      );
    } finally {
      await copy.close();
    }
  } finally {
    await lock.release();
  }
}

async function backup(o: CommonOptions & { to?: string; keyPassphraseFile?: string }): Promise<void> {
  if (!o.to) refuseFlags('--to: name the new directory to write the backup to');
  const report = await backupDataDirectory(o.dataDir, o.to, givenPassphrase(o));
  for (const path of report.removedLeftovers) console.log(`removed ${path}, left by a backup that was stopped before it finished`);
  const head = report.head ? `, head ${formatHead(report.head)}` : '';
  console.log(`backed up ${o.dataDir} to ${o.to}: ${counted(report.certificates, 'certificate record')}, ${counted(report.keys, 'CA key file')}`);
  console.log(
    `verified: audit log of ${counted(report.auditEvents, 'event')} and ${counted(report.checkpoints, 'signed checkpoint')}${head}; ` +
      `the keys of ${counted(report.authorityKeys, 'authority', 'authorities')} load and match their certificates`,
  );
  // Without the trust domain a start on the copy takes the default, example.org, and is refused (exit 78).
  const trustDomain = report.trustDomain ? ` --trust-domain ${report.trustDomain}` : '';
  console.log(
    `to restore, stop the CA and start it with --data-dir ${o.to}${trustDomain} (or put it in place of ${o.dataDir}) and its other settings as before; ` +
      'the copy holds the CA keys as the data directory does',
  );
}

export function registerDatastore(program: Command): void {
  const datastore = program.command('datastore').description('where the CA keeps its state');
  datastore
    .command('migrate')
    .description('copy an embedded (SQLite) CA, audit chain and keys included, into an empty PostgreSQL database and verify the copy')
    .option('--to <url>', 'the PostgreSQL database, postgres://user@host:port/db')
    .option('--to-file <file>', 'a file holding that URL, so a password in it is in no process list')
    .addOption(new Option('--key-passphrase-file <file>', 'the CA key passphrase (or MESHCA_KEY_PASSPHRASE)').env('MESHCA_KEY_PASSPHRASE_FILE'))
    .addOption(dataDirOption())
    .action(migrate);
  datastore
    .command('backup')
    .description('copy an embedded (SQLite) CA, datastore and keys, into a new directory a CA can start from; consistent while the CA runs, and verified')
    .option('--to <dir>', 'the new directory (it must not exist)')
    .addOption(new Option('--key-passphrase-file <file>', 'the CA key passphrase (or MESHCA_KEY_PASSPHRASE), to check encrypted keys').env('MESHCA_KEY_PASSPHRASE_FILE'))
    .addOption(dataDirOption())
    .action(backup);
}
