/**
 * Bytes crossing between threads. Structured cloning copies a view's whole
 * ArrayBuffer, not just the view, and Node carves Buffers under 4 KiB out of
 * a shared 8 KiB pool: a 16-byte serial posted as is drags 8 KiB across, and
 * lands as 8 KiB of external memory the receiver's GC must reclaim.
 */

/** `bytes`, or an exactly-sized copy of them when they share a larger ArrayBuffer; post this. */
export function ownedBytes(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  bytes.copy(copy);
  return copy;
}

/** A Buffer over bytes received from another thread (cloning delivers plain Uint8Arrays), without copying them. */
export function receivedBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
