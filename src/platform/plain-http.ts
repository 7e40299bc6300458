/**
 * Plain-HTTP listeners with no credential check (the CA's --metrics-listen,
 * the agent's --health-listen): anyone who can reach one may connect, so each
 * holds a request only so long and only so many connections (Node's defaults
 * allow a minute for the headers, five for the rest, and any number), which
 * would otherwise hold the process's descriptors that its other listeners and
 * its files share. A request Node cannot read is answered in the JSON error
 * shape of every other answer.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

export interface PlainListenerLimits {
  /** Time for a request's headers and body to arrive. */
  readonly requestTimeoutMs: number;
  /** Connections held at once; more are closed as they arrive. */
  readonly maxConnections: number;
}

/** How often Node looks for requests past their time: the timeout is kept to within a second. */
const TIMEOUT_CHECK_MS = 1000;

export function listenPlainHttp(address: { readonly host: string; readonly port: number }, limits: PlainListenerLimits, handler: RequestListener): Promise<Server> {
  const server = createServer(
    { requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: TIMEOUT_CHECK_MS },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  server.on('clientError', answerClientError);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve(server));
  });
}

/** Writes a JSON error straight to a socket that no route will answer, and closes the connection. */
export function answerOnSocket(socket: Duplex, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/**
 * For a server's `clientError` (Fastify's `clientErrorHandler`): a request
 * Node's HTTP parser could not read, or that came too slowly, gets the JSON
 * error shape, written straight to the socket (there is no request to
 * answer), and the connection is closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'invalid_request', 'request headers are larger than this server accepts']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request_timeout', 'the request did not arrive in time']
        : [400, 'Bad Request', 'invalid_request', 'the request is not valid HTTP/1.1'];
  answerOnSocket(socket, status, reason, code, message);
}
