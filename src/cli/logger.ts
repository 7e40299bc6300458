/** The root pino logger. Secrets are redacted by path wherever they might appear. */
import pino, { type DestinationStream, type Logger } from 'pino';
import sonicBoom from 'sonic-boom';

/** Field names that may hold secrets; redacted at the top level and one or two levels down. */
const SECRET_FIELDS = ['token', 'joinToken', 'passphrase', 'keyPassphrase', 'privateKey', 'keyPem', 'key', 'authorization'];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/** What a server holds of log lines it cannot write yet; beyond it, new lines are dropped. */
const UNWRITTEN_LOG_LIMIT = 16 * 1024 * 1024;

/**
 * stdout for a long-running server, written from the thread pool. A line that
 * cannot be written (the disk of a redirected stdout is full) waits, within a
 * bound, and is tried again with the next one: the CA keeps serving. pino's own
 * default throws the write error, and at exit retries the write in a loop that
 * never ends while the disk stays full, so the CA hung instead of answering.
 */
export function serverStdout(): DestinationStream {
  return tolerantStdout(false);
}

/**
 * stdout written synchronously, line by line, as tolerant of a full disk. With
 * writes from the thread pool, a line already handed to a busy pool can land
 * after one written at process.exit, or be lost. A process that exits with a
 * code right after saying why (the agent) needs its last line last; the agent
 * logs little, so the syscall per line costs nothing that matters.
 */
export function synchronousStdout(): DestinationStream {
  return tolerantStdout(true);
}

function tolerantStdout(sync: boolean): DestinationStream {
  const out = new sonicBoom.SonicBoom({ fd: 1, sync, maxLength: UNWRITTEN_LOG_LIMIT });
  out.on('error', () => undefined);
  return out;
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
