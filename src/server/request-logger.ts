/**
 * Each request's logger, whose pino child is made only when the request
 * writes a line.
 *
 * Fastify gives every request a child logger bound to its reqId, and access
 * control a child of that one naming the caller. Making a child stringifies
 * its bindings through the redaction paths (src/cli/logger.ts), about 10 µs
 * each on the CA's machine; at the level a busy CA runs (warn) most requests
 * write nothing, and the two children were some 5 % of the main thread's CPU
 * per issuance at batch 1. A line written through a deferred logger makes the
 * same children, in the same order, as before, so it reads the same.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilent } from 'pino';

type LogMethod = FastifyBaseLogger['info'];
/** Which levels write: pino's loggers, and deferred ones, can say. */
type LevelDecider = FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** A logger that stands for `make()`'s, making it at its first line (or when asked for something only it knows). */
class DeferredLogger implements FastifyBaseLogger {
  declare trace: LogMethod;
  declare debug: LogMethod;
  declare info: LogMethod;
  declare warn: LogMethod;
  declare error: LogMethod;
  declare fatal: LogMethod;
  declare silent: LogMethod;
  private made: LevelDecider | undefined;

  /** `levels` answers which levels write (the parent's, until this logger is made). */
  constructor(
    private readonly levels: LevelDecider,
    private readonly make: () => FastifyBaseLogger,
  ) {}

  /** The pino child this logger stands for, made now if it was not yet. */
  logger(): FastifyBaseLogger {
    return (this.made ??= this.make());
  }

  get level(): LevelWithSilent | string {
    return (this.made ?? this.levels).level;
  }

  set level(level: LevelWithSilent | string) {
    this.logger().level = level;
  }

  isLevelEnabled(level: string): boolean {
    // A logger that cannot say is asked to write, and decides itself.
    return (this.made ?? this.levels).isLevelEnabled?.(level) ?? true;
  }

  /** Deferred too, unless `options` change what the child writes (its level, say): that one is made now. */
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    if (options && Object.keys(options).length > 0) return this.logger().child(bindings, options);
    return new DeferredLogger(this, () => this.logger().child(bindings, options));
  }
}

for (const level of LEVELS) {
  DeferredLogger.prototype[level] = function (this: DeferredLogger, ...args: Parameters<LogMethod>) {
    if (this.isLevelEnabled(level)) this.logger()[level](...args);
  } as LogMethod;
}
DeferredLogger.prototype.silent = () => undefined;

/**
 * Fastify's childLoggerFactory: the request's logger, deferred. A route that
 * sets its own level or serializers gets its child at once, as Fastify would
 * make it (meshca's routes set neither).
 */
export function deferredRequestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  if (Object.keys(options).length > 0) return logger.child(bindings, options);
  return new DeferredLogger(logger, () => logger.child(bindings, options));
}
