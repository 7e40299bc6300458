/** What `meshca` and `meshca-agent` exit with when commander stops them (README, exit codes). */
import type { CommanderError } from 'commander';

/** EX_CONFIG: a configuration or command line that restarting will not fix (systemd's RestartPreventExitStatus=78). */
export const EX_CONFIG = 78;

/** EX_UNAVAILABLE: no CA answered, so nothing was checked or refused (cron tells it from a `doctor` finding, exit 1). */
export const EX_UNAVAILABLE = 69;

/** EX_TEMPFAIL: a condition that passes (another connection's write lock on the datastore): a restart later may work (systemd's Restart=). */
export const EX_TEMPFAIL = 75;

/** Commander's own exits that are not errors in what was typed: help asked for, or shown for a bare `meshca`. */
const COMMANDER_USAGE = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version']);

/**
 * Help and --version exit as commander has them (0); a command line it could
 * not parse (an unknown or missing flag, flag value, argument or command) is
 * "a flag the command could not accept": EX_CONFIG.
 */
export function commanderExitCode(err: CommanderError): number {
  return err.exitCode === 0 || COMMANDER_USAGE.has(err.code) ? err.exitCode : EX_CONFIG;
}
