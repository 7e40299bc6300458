/**
 * Reaching a CA as its clients do: HTTPS with a trust bundle and optionally a
 * client certificate, or plain HTTP over the operator's unix socket. Every call
 * opens its own connection (no keep-alive agent), so one client certificate
 * never leaks into the next request.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The certificate the server presented (HTTPS only). */
  readonly peer?: X509Certificate | undefined;
}

export interface HttpsCall {
  readonly method?: string;
  readonly path: string;
  /** PEM roots to verify the server with. */
  readonly ca: string;
  /** PEM chain and key of a client certificate. */
  readonly cert?: string;
  readonly key?: string;
  readonly json?: unknown;
}

export function callHttps(baseUrl: string, call: HttpsCall): Promise<HttpAnswer> {
  const payload = call.json === undefined ? undefined : Buffer.from(JSON.stringify(call.json));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      new URL(call.path, baseUrl),
      {
        method: call.method ?? 'GET',
        ca: call.ca,
        ...(call.cert ? { cert: call.cert } : {}),
        ...(call.key ? { key: call.key } : {}),
        agent: false,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      },
      (res) => collect(res, resolve, reject, (res.socket as TLSSocket).getPeerX509Certificate()),
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET over the CA's local unix socket. */
export function getOverSocket(socketPath: string, path: string): Promise<HttpAnswer> {
  return callOverSocket(socketPath, 'GET', path);
}

/** A request over the CA's local unix socket (the operator's, as `meshca mint --data-dir` makes it), with a JSON body if `json` is given. */
export function callOverSocket(socketPath: string, method: string, path: string, json?: unknown): Promise<HttpAnswer> {
  const payload = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
  return new Promise((resolve, reject) => {
    const headers = payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {};
    const req = httpRequest({ socketPath, path, method, headers }, (res) => collect(res, resolve, reject));
    req.on('error', reject);
    req.end(payload);
  });
}

function collect(
  res: IncomingMessage,
  resolve: (answer: HttpAnswer) => void,
  reject: (err: unknown) => void,
  peer?: X509Certificate,
): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () =>
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), peer }),
  );
  res.on('error', reject);
}
