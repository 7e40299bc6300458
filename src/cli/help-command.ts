/** `meshca help A B`: the help of `meshca A B`, with an unknown name refused as a mistyped command is. */
import type { Command } from 'commander';
import { EX_CONFIG } from './exit-codes.js';

/**
 * Replaces commander's help command, in `root` and every command that has
 * subcommands. Commander's showed the parent's help for a name it did not
 * know (`meshca help tokens`: the whole usage, exit 1, the typo unsaid) and
 * read only the first name (`meshca help entry create` showed `entry`'s).
 * This one walks every name given and refuses an unknown one, naming it, with
 * the exit of any command line that cannot be parsed (78).
 */
export function installHelpCommand(root: Command): void {
  for (const sub of root.commands) installHelpCommand(sub);
  if (root.commands.length === 0) return;
  root.helpCommand(false);
  root
    .command('help [command...]')
    .description('display help for command')
    .action((names: string[]) => {
      let target: Command = root;
      for (const name of names) {
        const next = target.commands.find((c) => c.name() === name || c.aliases().includes(name));
        if (next === undefined) target.error(`error: unknown command '${name}'`, { exitCode: EX_CONFIG, code: 'commander.unknownCommand' });
        target = next;
      }
      target.help();
    });
}

const HELP_FLAGS = ['--help', '-h'];

/**
 * `args` (the command line after the program's name) without its help flags
 * when they follow a command name `root` does not know (`meshca tokens
 * --help`, `meshca entry creat -h`): commander answers a help flag before it
 * looks at the name, so the typo got the parent's usage and exit 0. Without
 * the flag, commander refuses the name, with its suggestion, as any mistyped
 * command (exit 78). Commands with subcommands take no options but help and
 * version, so every other word up to the first leaf command is a name.
 */
export function helpFlagsUnlessUnknownCommand(root: Command, args: readonly string[]): string[] {
  let command = root;
  for (const word of args) {
    if (command.commands.length === 0) break;
    if (word.startsWith('-')) continue;
    const next = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (next === undefined) return args.filter((a) => !HELP_FLAGS.includes(a));
    command = next;
  }
  return [...args];
}
