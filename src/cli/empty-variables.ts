/** An empty environment variable counts as unset (README, Configuration), for the variables commander reads too. */
import type { Command } from 'commander';

/**
 * Removes from `env` the empty variables that stand for an option of `root`
 * or any of its subcommands. Commander takes a variable that exists, empty
 * included, as the option's value (MESHCA_DATA_DIR= as the current
 * directory, MESHCA_SERVER= as a CA to reach); container images often set
 * variables to empty, and the option then falls back to its flag or default.
 */
export function unsetEmptyOptionVariables(root: Command, env: NodeJS.ProcessEnv): void {
  for (const option of root.options) {
    if (option.envVar !== undefined && env[option.envVar] === '') delete env[option.envVar];
  }
  for (const sub of root.commands) unsetEmptyOptionVariables(sub, env);
}
