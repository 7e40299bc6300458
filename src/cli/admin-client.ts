/**
 * How `meshca` commands talk to the running CA: JSON over HTTP, through an
 * endpoint that says how the CA is reached (the data directory's socket, or
 * HTTPS with an operator's or auditor's credential).
 */
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/**
 * How the operator named a request field, where it is not the flag of the
 * same name (spiffeId → --spiffe-id): a command's argument, or a flag spelt
 * otherwise, e.g. { name: 'agent name "node 1"' }.
 */
export type FieldNames = Readonly<Record<string, string>>;

const VALIDATION_ITEM = /^(body|querystring|params|headers)(?:\/([A-Za-z][A-Za-z0-9]*)(?:\/\S*)?)? (.*)$/s;
const ANY_OF = 'must match a schema in anyOf';

/**
 * The CA words its refusals for the HTTP API: a schema path ("request
 * body/agent must match…", "querystring/activeAt", "params/name") or a JSON
 * field ("ttl: …"). At a shell the operator typed flags and arguments, so the
 * message is put in those words: `--agent must match…`. `fields` are the
 * fields this request sent; a message about anything else is left alone.
 */
export function operatorMessage(message: string, fields: readonly string[], names: FieldNames = {}): string {
  const nameOf = (field: string) => names[field] ?? `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const validation = /^request ((?:body|querystring|params|headers)\b.*)$/s.exec(message);
  if (validation) {
    // Fastify joins the schema's complaints with ", "; anyOf adds one per alternative and one more for the whole.
    const items = validation[1]!.split(/, (?=(?:body|querystring|params|headers)\b)/);
    const complaints = new Map<string, string[]>();
    for (const item of items) {
      const m = VALIDATION_ITEM.exec(item);
      if (!m) return message;
      const [, , field, text] = m as unknown as [string, string, string | undefined, string];
      const required = /^must have required property '([A-Za-z0-9]+)'$/.exec(text);
      const [subject, complaint] = field ? [nameOf(field), text] : required ? [nameOf(required[1]!), 'is required'] : ['the request', text];
      if (complaint === ANY_OF) continue;
      complaints.set(subject, [...(complaints.get(subject) ?? []), complaint]);
    }
    return [...complaints].map(([subject, texts]) => `${subject} ${texts.join(', or ')}`).join('; ') || message;
  }
  const labelled = /^([a-z][A-Za-z0-9]*): (.*)$/s.exec(message);
  if (labelled && (fields.includes(labelled[1]!) || labelled[1]! in names)) return `${nameOf(labelled[1]!)}: ${labelled[2]}`;
  return message;
}

/** The fields a request sends: its query parameters and the top-level keys of its JSON body. */
function sentFields(url: string, body: unknown): string[] {
  const query = url.includes('?') ? [...new URLSearchParams(url.slice(url.indexOf('?') + 1)).keys()] : [];
  const keys = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
  return [...query, ...keys];
}

/** A CA's refusal (its JSON error, or the status alone) as the operator reads it, naming the flags of `fields`. */
export function errorFrom(status: number, text: string, fields: readonly string[], names: FieldNames): AdminRequestError {
  let error: { code?: string; message?: string } | undefined;
  try {
    error = (JSON.parse(text || '{}') as { error?: { code?: string; message?: string } } | undefined)?.error;
  } catch {
    error = undefined; // not our JSON error: report the status
  }
  const message = error?.message === undefined ? `HTTP ${status}` : operatorMessage(error.message, fields, names);
  return new AdminRequestError(status, error?.code ?? 'unknown', message);
}

export class AdminRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** No CA answers (on the data directory's socket, or at --server): nothing was asked, so nothing was refused (exit 69, EX_UNAVAILABLE). */
export class CaUnreachableError extends Error {}

export interface AdminResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

export interface EndpointRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
}

/** Where the CA is reached. */
export interface AdminEndpoint {
  /** What was checked before anything is sent: the socket is the CA's, the credential can be used. */
  prepare(): Promise<void>;
  /** Starts a request to the CA; an error it emits is put in the operator's words by `failure`. */
  request(options: EndpointRequest, onResponse: (res: IncomingMessage) => void): ClientRequest;
  /** A connection that failed, as the operator should read it: CaUnreachableError when no CA answered. */
  failure(err: NodeJS.ErrnoException): Error;
}

/** Far more than any answer of the CA but a stream (an export, which is piped rather than held). */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export class AdminClient {
  constructor(private readonly endpoint: AdminEndpoint) {}

  /** Sends a request and pipes a successful response body to `out` (for long exports). */
  async stream(url: string, out: NodeJS.WritableStream, names: FieldNames = {}): Promise<void> {
    await this.endpoint.prepare();
    await new Promise<void>((resolve, reject) => {
      const req = this.endpoint.request({ method: 'GET', path: url, headers: {} }, (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => reject(errorFrom(res.statusCode ?? 0, text, sentFields(url, undefined), names)));
          return;
        }
        res.pipe(out, { end: false });
        res.on('end', resolve);
        res.on('error', (err) => reject(new Error(`the answer was cut off before its end, so what was written is incomplete: ${err.message}`)));
      });
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.endpoint.failure(err)));
      req.end();
    });
  }

  async raw(method: string, url: string, body?: unknown): Promise<AdminResponse> {
    await this.endpoint.prepare();
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = this.endpoint.request(
        {
          method,
          path: url,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB, which no answer of the CA is`));
            else chunks.push(c);
          });
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
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.endpoint.failure(err)));
      req.end(payload);
    });
  }

  /**
   * Sends a JSON request and returns the parsed JSON answer; a non-2xx answer
   * becomes an AdminRequestError whose message names the flags and arguments
   * the operator typed (see operatorMessage; `names` for those that are not
   * the flag of the field's name, such as a path parameter).
   */
  async call<T>(method: string, url: string, body?: unknown, names: FieldNames = {}): Promise<T> {
    const res = await this.raw(method, url, body);
    if (res.status >= 400) throw errorFrom(res.status, res.body, sentFields(url, body), names);
    return (res.body ? JSON.parse(res.body) : undefined) as T;
  }
}
