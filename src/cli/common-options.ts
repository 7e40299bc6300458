/** Options every administrative command shares. */
import { Option } from 'commander';
import { resolve } from 'node:path';

export interface CommonOptions {
  dataDir: string;
}

/** --data-dir (MESHCA_DATA_DIR): which CA to administer, found by its socket in that directory. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'data directory of the CA to administer')
    .env('MESHCA_DATA_DIR')
    .default(resolve('./data'), './data')
    .argParser((v: string) => resolve(v));
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
