/**
 * The agent's --health-listen answers anyone who reaches it, so it holds a
 * request only so long and only so many connections at once.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHealthServer } from '../../src/agent/health-server.js';
import { connectionOutcome, rawExchange, statusAndJson } from '../support/raw-http.js';

const source = { notReadyReason: () => undefined, metrics: () => '# no metrics\n' };
let server: Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function start(limits: { requestTimeoutMs: number; maxConnections: number }): Promise<number> {
  server = await startHealthServer({ host: '127.0.0.1', port: 0 }, source, limits);
  return (server.address() as AddressInfo).port;
}

describe('meshca-agent --health-listen', () => {
  it('answers a request trickling in past its time 408 in JSON, and closes the connection', async () => {
    const port = await start({ requestTimeoutMs: 500, maxConnections: 8 });
    const answer = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 4_000);
    expect(statusAndJson(answer)).toEqual({ statusLine: 'HTTP/1.1 408 Request Timeout', body: { error: { code: 'request_timeout', message: 'the request did not arrive in time' } } });
  });

  it('answers bytes that are not HTTP 400 in JSON', async () => {
    const port = await start({ requestTimeoutMs: 5_000, maxConnections: 8 });
    const answer = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n', 4_000);
    expect(statusAndJson(answer)).toEqual({ statusLine: 'HTTP/1.1 400 Bad Request', body: { error: { code: 'invalid_request', message: 'the request is not valid HTTP/1.1' } } });
  });

  it('holds at most its cap of connections: the next is closed as it arrives, and a probe on a freed one works', async () => {
    const cap = 8;
    const port = await start({ requestTimeoutMs: 5_000, maxConnections: cap });
    const held: Socket[] = [];
    const outcome = () => connectionOutcome(port, held);
    try {
      expect(await Promise.all(Array.from({ length: cap }, outcome))).toEqual(Array(cap).fill('open'));
      expect(await outcome()).toBe('closed');
    } finally {
      for (const socket of held) socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const probe = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 4_000);
    expect(probe.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });
});
