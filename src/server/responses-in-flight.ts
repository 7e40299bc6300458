/**
 * The responses a connection still owes. A client may send its next request
 * before the answer to the last (pipelining); when the next is not HTTP, the
 * refusal written straight to the socket (error-handler.ts answerClientError)
 * must wait for those answers: written at once, it reached the client as the
 * answer to the request still being served — a 400 for a token that was made
 * — and the connection closed before the real answer left.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export class ResponsesInFlight {
  private readonly owed = new WeakMap<Duplex, Set<ServerResponse>>();
  /** Connections whose refusal already waits: Node reports the same bad bytes again as more arrive. */
  private readonly waiting = new WeakSet<Duplex>();

  /** For the server's `request` event: a response is owed until it is sent or its connection is gone. */
  readonly track = (request: IncomingMessage, response: ServerResponse): void => {
    const socket = request.socket;
    let responses = this.owed.get(socket);
    if (!responses) this.owed.set(socket, (responses = new Set()));
    responses.add(response);
    response.once('close', () => responses.delete(response));
  };

  /**
   * Runs `answer` once every response owed on `socket` to a request that
   * arrived whole is sent (at once when none is), and only once. A request
   * still arriving (a body that stopped, bytes in it that are not HTTP) is
   * the one refused: its response never comes.
   */
  afterOwed(socket: Duplex, answer: () => void): void {
    if (this.waiting.has(socket)) return;
    const owed = [...(this.owed.get(socket) ?? [])].filter((response) => response.req.complete);
    if (owed.length === 0) return answer();
    this.waiting.add(socket);
    let left = owed.length;
    for (const response of owed) response.once('close', () => --left === 0 && answer());
  }
}
