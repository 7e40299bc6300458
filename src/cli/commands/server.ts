/** `meshca server`: runs the CA until SIGTERM or SIGINT. */
import { Option, type Command } from 'commander';
import { SERVER_OPTIONS, loadServerConfig } from '../../config/server-config.js';
import { configFileOption, envName } from '../../config/options.js';
import { createLogger } from '../logger.js';
import { serverStdout } from '../server-log.js';
import { settingDescription } from '../help-notes.js';
import { DatastoreLockedError, isDatastoreLocked } from '../datastore-locked.js';

export function registerServer(program: Command): void {
  const command = program
    .command('server')
    .description('run the certificate authority')
    .addOption(new Option('--config <file>', 'JSON file of settings (keys are the flag names)').env('MESHCA_CONFIG'));
  for (const spec of Object.values(SERVER_OPTIONS)) {
    const defaultValue = 'default' in spec ? String(spec.default) : undefined;
    command.addOption(new Option(`--${spec.name} <value>`, settingDescription(spec.describe, defaultValue, envName('MESHCA', spec.name))));
  }
  command.action(async (flags: Record<string, unknown> & { config?: string }, self: Command) => {
    // Everything the server creates (database, keys, socket) is private to its user.
    process.umask(0o077);
    const config = loadServerConfig({ flags, env: process.env, file: configFileOption(flags.config, self.getOptionValueSource('config')) });
    const logger = createLogger(config.logLevel, serverStdout());
    // Loaded here, not above: every other command (an operator's, an auditor's) starts without the server's modules.
    const { startCa } = await import('../ca-runtime.js');
    const ca = await startCa(config, logger).catch((err: unknown) => {
      throw config.datastore.kind === 'embedded' && isDatastoreLocked(err) ? new DatastoreLockedError(config.dataDir, err) : err;
    });
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info({ signal }, 'stopping');
        resolve();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await ca.close();
  });
}
