/** The root pino logger. Secrets are redacted by path wherever they might appear. */
import pino, { type DestinationStream, type Logger } from 'pino';

/** Field names that may hold secrets; redacted at the top level and one or two levels down. */
const SECRET_FIELDS = ['token', 'joinToken', 'passphrase', 'keyPassphrase', 'privateKey', 'keyPem', 'key', 'authorization'];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/**
 * stdout written synchronously, line by line. pino's default writes from the
 * thread pool and, at process.exit, writes what is still queued at once: a
 * line already handed to a busy pool can then land after the last one, or be
 * lost. A process that exits with a code right after saying why (the agent)
 * needs its last line last; the agent logs little, so the syscall per line
 * costs nothing that matters.
 */
export function synchronousStdout(): DestinationStream {
  return pino.destination({ dest: 1, sync: true });
}

export function createLogger(level: string, destination?: DestinationStream, base?: Record<string, unknown>): Logger {
  return pino(
    {
      level,
      base: { service: 'meshca', ...base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
