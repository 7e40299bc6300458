/** How `meshca` commands reach the running CA: HTTP over the local operator socket. */
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { socketPath } from './local-socket.js';

export class AdminRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

export class AdminClient {
  private readonly path: string;

  constructor(dataDir: string) {
    this.path = socketPath(dataDir);
  }

  /** Sends a request and pipes a successful response body to `out` (for long exports). */
  async stream(url: string, out: NodeJS.WritableStream): Promise<void> {
    this.assertSocket();
    await new Promise<void>((resolve, reject) => {
      const req = request({ socketPath: this.path, method: 'GET', path: url }, (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            let error: { code?: string; message?: string } | undefined;
            try {
              error = (JSON.parse(text || '{}') as { error?: { code?: string; message?: string } }).error;
            } catch {
              error = undefined; // not our JSON error: report the status
            }
            reject(new AdminRequestError(res.statusCode ?? 0, error?.code ?? 'unknown', error?.message ?? `HTTP ${res.statusCode}`));
          });
          return;
        }
        res.pipe(out, { end: false });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  private assertSocket(): void {
    if (!existsSync(this.path)) {
      throw new Error(`no CA socket at ${this.path}: is \`meshca server --data-dir ${this.path.replace(/\/meshca\.sock$/, '')}\` running?`);
    }
  }

  async raw(method: string, url: string, body?: unknown): Promise<AdminResponse> {
    this.assertSocket();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.path,
          method,
          path: url,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              contentType: String(res.headers['content-type'] ?? ''),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ECONNREFUSED' ? new Error(`the CA at ${this.path} is not running (connection refused)`) : err),
      );
      req.end(payload);
    });
  }

  /** Sends a JSON request and returns the parsed JSON answer; a non-2xx answer becomes an AdminRequestError. */
  async call<T>(method: string, url: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, url, body);
    const parsed = res.body ? (JSON.parse(res.body) as unknown) : undefined;
    if (res.status >= 400) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new AdminRequestError(res.status, error?.code ?? 'unknown', error?.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }
}
