/** What `--help` says of a flag beyond its description. */
import type { Command } from 'commander';

/**
 * Appends "(required)" to the help of every flag a command cannot run
 * without, in `root` and its subcommands: commander's help tells a required
 * flag from an optional one in nothing, so an operator learnt it only from
 * the error after running the command (meshca-agent's help says it too).
 */
export function noteRequiredFlags(root: Command): void {
  for (const option of root.options) {
    if (option.mandatory) option.description = `${option.description} (required)`;
  }
  for (const sub of root.commands) noteRequiredFlags(sub);
}

/**
 * The help of a server or agent setting, which the config loader reads from
 * flag, variable and file (not commander): its default and variable said as
 * commander says them for the other commands' flags, "(default: 1h, env:
 * MESHCA_SVID_TTL)", so every --help reads alike.
 */
export function settingDescription(describe: string, defaultValue: string | undefined, envVar: string): string {
  return `${describe} (${defaultValue === undefined || defaultValue === '' ? '' : `default: ${defaultValue}, `}env: ${envVar})`;
}
