/**
 * A request's logger makes its pino children (reqId, then caller) only when
 * the request writes a line, and a line then reads as it did with children
 * made up front.
 */
import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCa, type RunningCa } from '../../src/cli/ca-runtime.js';
import { REDACT_PATHS } from '../../src/cli/logger.js';
import { deferredRequestLogger } from '../../src/server/request-logger.js';
import { testConfig } from '../support/test-ca.js';

/** A logger at `level`, with the lines it wrote and the number of children made of it. */
function countedLogger(level: string): { logger: Logger; lines: Array<Record<string, unknown>>; children: () => number } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let children = 0;
  // Redacting as the CA's root logger does, and counting the children pino makes (onChild is every descendant's).
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, onChild: () => children++ }, sink);
  return { logger, lines, children: () => children };
}

describe('a request logger, deferred', () => {
  it.each([
    { name: 'a line at a level written', level: 'warn', write: 'warn', lines: 1, children: 2 },
    { name: 'a line at a level not written', level: 'warn', write: 'info', lines: 0, children: 0 },
    { name: 'no line', level: 'info', write: undefined, lines: 0, children: 0 },
  ] as const)('pass/$name -> $lines lines, $children children made', ({ level, write, lines, children }) => {
    const counted = countedLogger(level);
    const request = deferredRequestLogger(counted.logger, { reqId: 'r-1' }, {});
    const caller = request.child({ caller: 'agent:web-1' });
    if (write) caller[write]({ code: 'forbidden' }, 'request refused');
    expect(counted.lines).toHaveLength(lines);
    expect(counted.children()).toBe(children);
  });

  it('pass/a line reads as one through children made up front: the same fields, in the same order', () => {
    const deferred = countedLogger('info');
    const eager = countedLogger('info');
    deferredRequestLogger(deferred.logger, { reqId: 'r-1' }, {}).child({ caller: 'agent:web-1' }).warn({ code: 'forbidden', token: 'secret' }, 'request refused');
    eager.logger.child({ reqId: 'r-1' }, {}).child({ caller: 'agent:web-1' }).warn({ code: 'forbidden', token: 'secret' }, 'request refused');
    const [a, b] = [deferred.lines[0]!, eager.lines[0]!].map(({ time: _t, ...rest }) => rest);
    expect(Object.keys(a!)).toEqual(Object.keys(b!));
    expect(a).toEqual(b);
    expect(a).toMatchObject({ reqId: 'r-1', caller: 'agent:web-1', token: '[redacted]' });
  });

  it("pass/a child with a level of its own writes at that level (it is made at once, with the request's)", () => {
    const counted = countedLogger('warn');
    const debugging = deferredRequestLogger(counted.logger, { reqId: 'r-1' }, {}).child({ caller: 'agent:web-1' }, { level: 'debug' });
    debugging.debug('looked at');
    expect(counted.lines.map((l) => [l.msg, l.reqId, l.caller])).toEqual([['looked at', 'r-1', 'agent:web-1']]);
  });

  it('pass/the children, once made, are made once, and say which levels write as they do', () => {
    const counted = countedLogger('warn');
    const request = deferredRequestLogger(counted.logger, { reqId: 'r-1' }, {});
    request.warn('one');
    request.error('two');
    expect(counted.children()).toBe(1);
    expect(request.level).toBe('warn');
    request.level = 'info';
    request.info('three');
    expect(counted.lines.map((l) => l.msg)).toEqual(['one', 'two', 'three']);
  });
});

describe('a CA logging at warn', () => {
  let ca: RunningCa;
  let counted: ReturnType<typeof countedLogger>;
  beforeAll(async () => {
    counted = countedLogger('warn');
    ca = await startCa(testConfig(), counted.logger, { schedules: 'off' });
  });
  afterAll(async () => {
    await ca?.close();
  });

  it('pass/answers authenticated requests that write no line without making a logger for each', async () => {
    await ca.localApp.inject({ method: 'GET', url: '/v1/agents' });
    const before = counted.children();
    for (let i = 0; i < 20; i++) expect((await ca.localApp.inject({ method: 'GET', url: '/v1/agents' })).statusCode).toBe(200);
    expect(counted.children() - before).toBe(0);
  });
});
