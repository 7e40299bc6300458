/**
 * A small, table-driven configuration loader. Each setting has one name used
 * three ways — the flag (--svid-ttl), the environment variable
 * (MESHCA_SVID_TTL) and the config-file key ("svid-ttl") — and is resolved in
 * that order of precedence over its default. An empty variable counts as
 * unset; an empty flag or file value is refused. Every problem is collected,
 * so the user sees all of them at once.
 */
import { readFileSync } from 'node:fs';

export interface OptionSpec<T> {
  /** Flag and config-file name, e.g. "svid-ttl". */
  readonly name: string;
  readonly default?: string;
  /** What a valid value looks like, shown with every error. */
  readonly expected: string;
  /** What the setting does, for --help and the README. */
  readonly describe: string;
  /** Throws an Error whose message says what is wrong with the value. */
  readonly parse: (raw: string) => T;
  /** A command-line switch: the flag alone means "true" (the variable and file still take true or false). */
  readonly switch?: true;
  /** Comma-separated on the command line; a config file may also give a JSON list of strings. */
  readonly list?: true;
}

export type OptionTable = Readonly<Record<string, OptionSpec<unknown>>>;
export type Resolved<Table extends OptionTable> = {
  readonly [K in keyof Table]: Table[K] extends OptionSpec<infer T> ? T | (Table[K]['default'] extends string ? never : undefined) : never;
};

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function envName(prefix: string, name: string): string {
  return `${prefix}_${name.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * A setting's value as text: a config file's number or boolean reads as its
 * text, and a list of strings, for a list's setting, as the comma-separated
 * line the flag takes; anything else (an object, null, another list) is none.
 */
function settingText(raw: unknown, list: boolean): string | undefined {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  if (list && Array.isArray(raw) && raw.every((item) => typeof item === 'string')) return raw.join(',');
  return undefined;
}

/** Why settingText found no text: for a list's setting, a list names the item that is not a string. */
function notSettingText(raw: unknown, list: boolean, expected: string): string {
  if (list && Array.isArray(raw)) {
    const index = raw.findIndex((item) => typeof item !== 'string');
    return `expected a list of strings or a string (${expected}), but item ${index} is ${JSON.stringify(raw[index]) ?? typeof raw[index]}`;
  }
  return `expected a string (${expected}), not ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : 'an object'}`;
}

/** camelCase property a CLI parser (commander) uses for a flag name. */
export function flagProperty(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export interface ConfigSources {
  /** Flag values keyed by camelCase property, as commander returns them. */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
  /** Path of a JSON config file, if any. */
  readonly file?: string | undefined;
}

/**
 * The --config a command was given, by where commander found it: an empty
 * MESHCA_CONFIG (or MESHCA_AGENT_CONFIG) is unset, as every empty variable is;
 * an empty --config was typed, and stays for readConfigFile to refuse.
 */
export function configFileOption(value: string | undefined, source: string | undefined): string | undefined {
  return value === '' && source === 'env' ? undefined : value;
}

export function readConfigFile(path: string | undefined, problems: string[]): Record<string, unknown> {
  if (path === undefined) return {};
  if (path === '') {
    problems.push('--config: must not be empty (expected a JSON file of settings)');
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`config file ${path}: expected a JSON object of settings`);
      return {};
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    problems.push(`config file ${path}: ${configFileError(err)}`);
    return {};
  }
}

/**
 * Why the file could not be read or parsed. JSON.parse quotes the text around
 * a syntax error, which may be a join token or a passphrase: only where it is
 * is said.
 */
function configFileError(err: unknown): string {
  if (!(err instanceof SyntaxError)) return (err as Error).message;
  const position = /position (\d+)/.exec(err.message)?.[1];
  return `not valid JSON${position === undefined ? '' : ` (at character ${position})`}`;
}

/** Where each option's value came from, by option name: "--name", an environment variable, the config file, or "default". */
export type Origins = Record<string, string>;

/**
 * Each option's value as its user wrote it (or as the default is written), by
 * option name: a problem quotes "24h" as typed, not the "1d" it parses to.
 */
export type Spellings = Record<string, string>;

/**
 * A setting as a problem about two settings names it: "--svid-ttl 2h", and
 * where the value came from unless it was typed as that flag, so that an
 * operator who never typed the flag finds what to change.
 */
export function settingLabel(name: string, value: string, origins: Origins): string {
  const origin = origins[name];
  if (origin === undefined || origin === `--${name}`) return `--${name} ${value}`;
  return `--${name} ${value} (${origin === 'default' ? 'the default' : `from ${origin}`})`;
}

/**
 * Resolves every option of the table. Returns the values and appends each
 * problem (with where the value came from and what was expected) to `problems`.
 */
export function resolveOptions<Table extends OptionTable>(
  table: Table,
  envPrefix: string,
  sources: ConfigSources,
  problems: string[],
  origins: Origins = {},
  spellings: Spellings = {},
): Resolved<Table> {
  const file = readConfigFile(sources.file, problems);
  const known = new Set(Object.values(table).map((s) => s.name));
  for (const key of Object.keys(file)) {
    if (!known.has(key)) problems.push(`config file ${sources.file}: unknown setting "${key}"`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const env = envName(envPrefix, spec.name);
    const candidates: Array<[string, unknown]> = [
      [`--${spec.name}`, sources.flags[flagProperty(spec.name)]],
      [env, sources.env[env]],
      [`"${spec.name}" in ${sources.file}`, file[spec.name]],
    ];
    // An empty variable is unset: container images and unit files set variables to empty to mean none.
    const found = candidates.find(([origin, v]) => v !== undefined && !(origin === env && v === ''));
    const [origin, raw] = found ?? ['default', spec.default];
    origins[spec.name] = origin;
    if (raw === undefined) {
      out[key] = undefined;
      continue;
    }
    const text = settingText(raw, spec.list === true);
    if (text === undefined) {
      problems.push(`${origin}: ${notSettingText(raw, spec.list === true, spec.expected)}`);
      continue;
    }
    // An empty flag or file value was written, and falling back to the default would run with what was not asked for
    // (`--data-dir ''` made a new PKI in ./data); a setting whose default is empty takes it as its value.
    if (text === '' && spec.default !== '') {
      problems.push(`${origin}: must not be empty (expected ${spec.expected})`);
      continue;
    }
    spellings[spec.name] = text;
    try {
      out[key] = spec.parse(text);
    } catch (err) {
      problems.push(`${origin}: ${(err as Error).message} (expected ${spec.expected})`);
    }
  }
  return out as Resolved<Table>;
}
