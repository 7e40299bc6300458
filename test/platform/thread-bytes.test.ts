/** Bytes posted to another thread carry only themselves, and received bytes are used where they landed. */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ownedBytes, receivedBytes } from '../../src/platform/thread-bytes.js';

/** What the other side of a postMessage gets. */
function posted(bytes: Uint8Array): Uint8Array {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(bytes);
  const received = receiveMessageOnPort(port2)!.message as Uint8Array;
  port1.close();
  return received;
}

describe('ownedBytes', () => {
  it.each([
    ['a small Buffer from Node’s shared pool', () => Buffer.from([1, 2, 3])],
    ['a view into the middle of a larger buffer', () => Buffer.from(Array.from({ length: 100 }, (_, i) => i)).subarray(10, 26)],
  ])('copies %s into a buffer of exactly its size', (_name, make) => {
    const bytes = make();
    expect(bytes.buffer.byteLength).toBeGreaterThan(bytes.byteLength);
    const owned = ownedBytes(bytes);
    expect(owned).toEqual(bytes);
    expect(owned.buffer.byteLength).toBe(bytes.byteLength);
    expect(posted(owned).buffer.byteLength).toBe(bytes.byteLength);
  });

  it('returns a buffer that already owns its memory unchanged', () => {
    const bytes = Buffer.allocUnsafeSlow(16).fill(7);
    expect(ownedBytes(bytes)).toBe(bytes);
  });

  it('is needed: a pooled buffer posted as is drags its whole pool along', () => {
    expect(posted(Buffer.from([1, 2, 3])).buffer.byteLength).toBeGreaterThan(3);
  });
});

describe('receivedBytes', () => {
  it('is a Buffer over the received memory, not a copy', () => {
    const received = posted(ownedBytes(Buffer.from('serial-bytes')));
    const buffer = receivedBytes(received);
    expect(Buffer.isBuffer(buffer)).toBe(true);
    expect(buffer.toString()).toBe('serial-bytes');
    received[0] = 0x53;
    expect(buffer[0]).toBe(0x53);
  });
});
