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
