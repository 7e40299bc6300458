/**
 * How `meshca` heads a ConfigError: `meshca: invalid configuration:` for the
 * server's settings (flags, variables and --config file together), and
 * `meshca token list: invalid arguments:` for what a command was given on its
 * own command line, so an operator's typo is not read as a problem with the
 * CA's configuration, and the heading names the command that refused it.
 */
import type { Command } from 'commander';
import type { ConfigError } from '../config/options.js';

/** The command commander dispatches to, followed as it goes down (`preSubcommand`), so it is known before the leaf's flags are parsed. */
export function followDispatch(root: Command): () => Command | undefined {
  let dispatched: Command | undefined;
  const follow = (command: Command): void => {
    if (command.commands.length === 0) return;
    command.hook('preSubcommand', (_self, sub) => {
      dispatched = sub;
    });
    for (const sub of command.commands) follow(sub);
  };
  follow(root);
  return () => dispatched;
}

/** `meshca token list`: the words that name `command` from the root. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** `meshca server`, whose flags are the CA's configuration, as its variables and --config file are. */
function isServer(command: Command): boolean {
  return command.name() === 'server' && command.parent?.parent === null;
}

/** The refusal as printed: a heading, then each problem on a line of its own. */
export function flagRefusalText(err: ConfigError, command: Command | undefined): string {
  const heading = command === undefined || isServer(command) ? 'meshca: invalid configuration:' : `${commandPath(command)}: invalid arguments:`;
  return [heading, ...err.problems.map((p) => `  - ${p}`)].join('\n');
}
