#!/usr/bin/env node
/** The `meshca` command: the CA server and the operator's and auditor's tools. */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/options.js';
import { CaIntegrityError } from '../errors.js';
import { AdminRequestError, CaUnreachableError } from './admin-client.js';
import { chooseCa } from './common-options.js';
import { unsetEmptyOptionVariables } from './empty-variables.js';
import { errorText } from './error-text.js';
import { flagRefusalText, followDispatch } from './flag-refusal.js';
import { refuseRepeatedFlags } from './flag-repetition.js';
import { helpFlagsUnlessUnknownCommand, installHelpCommand } from './help-command.js';
import { noteRequiredFlags } from './help-notes.js';
import { VERSION } from './version.js';
import { commanderExitCode, EX_CONFIG, EX_TEMPFAIL, EX_UNAVAILABLE } from './exit-codes.js';
import { DatastoreLockedError } from './datastore-locked.js';
import { registerAdmin } from './commands/admin.js';
import { registerAgent } from './commands/agent.js';
import { registerAudit } from './commands/audit.js';
import { registerAuthority } from './commands/authority.js';
import { registerBundle } from './commands/bundle.js';
import { registerCert } from './commands/cert.js';
import { registerDatastore } from './commands/datastore.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEntry } from './commands/entry.js';
import { registerMint } from './commands/mint.js';
import { registerServer } from './commands/server.js';
import { registerToken } from './commands/token.js';

const program = new Command('meshca')
  .description('a small, auditable mutual-TLS certificate authority for service meshes')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride()
  .hook('preAction', (_program, command) => chooseCa(command));

for (const register of [registerServer, registerMint, registerToken, registerEntry, registerAgent, registerAdmin, registerCert, registerAudit, registerAuthority, registerDoctor, registerBundle, registerDatastore]) {
  register(program);
}

// `meshca audit export | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

installHelpCommand(program);
noteRequiredFlags(program);
unsetEmptyOptionVariables(program, process.env);
refuseRepeatedFlags(program);
const dispatched = followDispatch(program);

try {
  await program.parseAsync(helpFlagsUnlessUnknownCommand(program, process.argv.slice(2)), { from: 'user' });
} catch (err) {
  if (err instanceof CommanderError) process.exit(commanderExitCode(err));
  // Also a flag value a command refused before asking the CA (common-options.ts), headed with that command.
  if (err instanceof ConfigError) {
    console.error(flagRefusalText(err, dispatched()));
    process.exit(EX_CONFIG);
  }
  if (err instanceof CaIntegrityError) {
    console.error(`meshca: ${err.message}`);
    process.exit(EX_CONFIG);
  }
  if (err instanceof CaUnreachableError) {
    console.error(`meshca: ${err.message}`);
    process.exit(EX_UNAVAILABLE);
  }
  if (err instanceof DatastoreLockedError) {
    console.error(`meshca: ${err.message}`);
    process.exit(EX_TEMPFAIL);
  }
  if (err instanceof AdminRequestError) {
    console.error(`meshca: ${err.message} (${err.code}, HTTP ${err.status})`);
    process.exit(1);
  }
  console.error(`meshca: ${errorText(err)}`);
  process.exit(1);
}
