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
