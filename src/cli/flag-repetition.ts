/** Flags given more than once: collected where a flag is repeatable, refused where it takes one value. */
import type { Command } from 'commander';
import { ConfigError } from '../config/options.js';

/** For a repeatable flag (--dns); `previous` is undefined the first time when the flag has no default (entry update --dns). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Refuses, as a configuration error (exit 78), a flag that takes one value
 * given twice with different values, in `root` and every subcommand:
 * commander would keep the last without a word, so `token create --agent a
 * --agent b` made a token for b, and a script that appends a flag to a
 * command line holding it already would change what the command does. A
 * repeatable flag (one whose values `collect` gathers) and a flag repeated
 * with the same value, or a switch (--json twice), are taken as they are.
 */
export function refuseRepeatedFlags(root: Command): void {
  for (const option of root.options) {
    if (option.isBoolean() || option.variadic || option.parseArg === collect) continue;
    let first: string | undefined;
    // Commander emits this event once for each time the flag is on the command line (not for its variable).
    root.on(`option:${option.name()}`, (value: string) => {
      if (first === undefined) first = value;
      else if (value !== first) throw new ConfigError([`${option.long} given twice (${JSON.stringify(first)}, then ${JSON.stringify(value)}): give it once`]);
    });
  }
  for (const sub of root.commands) refuseRepeatedFlags(sub);
}
