/** The root pino logger. Secrets are redacted by path wherever they might appear. */
import pino, { type DestinationStream, type Logger } from 'pino';
import { maskJoinTokens } from '../ca/join-tokens.js';

/** Field names that may hold secrets; redacted at the top level and one or two levels down. */
const SECRET_FIELDS = ['token', 'joinToken', 'passphrase', 'keyPassphrase', 'privateKey', 'keyPem', 'key', 'authorization'];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'req.headers.authorization',
  'req.headers.cookie',
];

/** What a process holds of log lines it cannot write yet; beyond it, new lines are dropped. */
export const UNWRITTEN_LOG_LIMIT = 16 * 1024 * 1024;

/**
 * stdout written synchronously, line by line; a line that cannot be written
 * (a full disk) is dropped rather than thrown. With writes from the thread
 * pool, a line already handed to a busy pool can land after one written at
 * process.exit, or be lost. A process that exits with a code right after
 * saying why (the agent) needs its last line last; the agent logs little, so
 * the syscall per line costs nothing that matters. (pino's destination, not
 * sonic-boom imported here: importing it from this ES module cost the agent
 * some 4 MB resident.)
 */
export function synchronousStdout(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: true, maxLength: UNWRITTEN_LOG_LIMIT });
  // pino's own listener passes every error but a closed pipe on, which would throw.
  out.on('error', () => undefined);
  return out;
}

interface LoggedRequest {
  readonly method: string;
  readonly url: string;
  readonly host?: string;
  readonly ip?: string;
  readonly socket?: { readonly remotePort?: number };
}

/**
 * Fastify's request line (method, URL, host, peer), with a join token in the
 * URL masked: redaction goes by field name, and a caller may paste a token
 * into a path or query where its id belongs.
 */
function requestLine(req: LoggedRequest): Record<string, unknown> {
  return { method: req.method, url: maskJoinTokens(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

export function createLogger(level: string, destination?: DestinationStream, base?: Record<string, unknown>): Logger {
  return pino(
    {
      level,
      base: { service: 'meshca', ...base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { req: requestLine },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
