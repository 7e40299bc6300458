/**
 * stdout for the CA server, written from the thread pool. A line that cannot
 * be written (the disk of a redirected stdout is full) waits, within a bound,
 * and is tried again with the next one: the CA keeps serving. pino's own
 * destination throws the write error and, at exit, retries it in a loop that
 * never ends while the disk stays full, so the CA hung instead of answering;
 * hence sonic-boom (pino's writer) used directly, without that exit hook.
 */
import type { DestinationStream } from 'pino';
import sonicBoom from 'sonic-boom';
import { UNWRITTEN_LOG_LIMIT } from './logger.js';

export function serverStdout(): DestinationStream {
  const out = new sonicBoom.SonicBoom({ fd: 1, sync: false, maxLength: UNWRITTEN_LOG_LIMIT });
  out.on('error', () => undefined);
  return out;
}
