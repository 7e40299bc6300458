/**
 * A throwaway PostgreSQL server for datastore tests: initdb into a temporary
 * directory, started on a free loopback port, stopped at the end. As root it
 * runs as the postgres user (the server refuses root). When no PostgreSQL can
 * be started here, `startPostgres` resolves undefined and says so loudly.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { cleanupLater } from './cleanup.js';
import { freePort } from './wait.js';

export interface Postgres {
  readonly port: number;
  /** A new, empty database on this server; its URL. */
  database(): Promise<string>;
}

function binDir(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort() : [];
    const dir = versions.length ? `/usr/lib/postgresql/${versions.at(-1)}/bin` : undefined;
    return dir && existsSync(join(dir, 'initdb')) ? dir : undefined;
  }
}

function asServerUser(bin: string, args: string[]): ReturnType<typeof spawnSync> {
  const root = process.getuid?.() === 0;
  return root ? spawnSync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8' }) : spawnSync(bin, args, { encoding: 'utf8' });
}

let counter = 0;

export async function startPostgres(): Promise<Postgres | undefined> {
  const bin = binDir();
  if (!bin || !existsSync(join(bin, 'initdb'))) {
    console.warn('\n*** PostgreSQL is not installed here: PostgreSQL datastore tests are NOT run (.ci/run installs it). ***\n');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mcpg-'));
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
  const data = join(dir, 'data');
  const init = asServerUser(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'meshca', '--no-sync']);
  if (init.status !== 0) {
    console.warn(`\n*** PostgreSQL could not be initialised: PostgreSQL datastore tests are NOT run.\n${init.stderr} ***\n`);
    return undefined;
  }
  const port = await freePort();
  const start = asServerUser(join(bin, 'pg_ctl'), [
    '-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start',
  ]);
  if (start.status !== 0) {
    console.warn(`\n*** PostgreSQL did not start: PostgreSQL datastore tests are NOT run.\n${start.stderr}${start.stdout} ***\n`);
    return undefined;
  }
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    asServerUser(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
    spawnSync('rm', ['-rf', dir]);
  };
  cleanupLater(stop);
  // Also when the hooks never get there (a cleanup before this one timed out, a run interrupted): the
  // server is a separate process and would outlive the test process otherwise.
  process.once('exit', stop);
  const admin = `postgres://meshca@127.0.0.1:${port}/postgres`;
  return {
    port,
    database: async () => {
      const name = `t${process.pid}_${++counter}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return `postgres://meshca@127.0.0.1:${port}/${name}`;
    },
  };
}
