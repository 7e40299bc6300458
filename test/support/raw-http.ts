/** Plain-HTTP exchanges below any client library: for listeners that must cope with what no library sends. */
import { connect, type Socket } from 'node:net';

/** What the server wrote before it closed the connection, or `still open after N ms` if it held it that long. */
export function rawExchange(port: number, bytes: string, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
    setTimeout(() => {
      socket.destroy();
      resolve(`still open after ${waitMs} ms`);
    }, waitMs);
  });
}

/** An HTTP answer's status line and JSON body. */
export function statusAndJson(answer: string): { statusLine: string; body: unknown } {
  return { statusLine: answer.split('\r\n')[0]!, body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) };
}

/**
 * Whether a server at its connection cap closed a new connection as it
 * arrived ('closed') or held it ('open'); the socket goes into `held`, for
 * the caller to destroy.
 */
export function connectionOutcome(port: number, held: Socket[]): Promise<'open' | 'closed'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    held.push(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve('closed'));
    // Past the connect, the server has had its turn to drop it: give it a moment to.
    socket.on('connect', () => setTimeout(() => resolve('open'), 200));
  });
}
