/**
 * Ed25519 public keys that prove nothing. For a point of small order (one
 * whose order divides the cofactor 8) the signature R = identity, S = 0
 * verifies for every message, and OpenSSL loads such keys without complaint:
 * a CSR carrying one would pass the proof of possession with no private key
 * behind it, and its certificate would be a credential anyone could use. An
 * encoding whose y is not below p is not the canonical one (RFC 8032 5.1.3).
 */

const P = (1n << 255n) - 19n;

/**
 * The y coordinates of the eight points of small order: the identity (0, 1),
 * (0, −1) of order 2, (±√−1, 0) of order 4, and the four of order 8, whose y²
 * is (−1 ± √(1 + d)) / d. The sign bit picks x, so each y stands for both.
 */
const SMALL_ORDER_Y: ReadonlySet<bigint> = new Set([
  1n,
  P - 1n,
  0n,
  0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
  0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n,
]);

/** Why a 32-byte Ed25519 public key is refused, or undefined if it is not. */
export function weakEd25519Key(encoded: Uint8Array): string | undefined {
  if (encoded.length !== 32) return `an Ed25519 public key is 32 bytes, not ${encoded.length}`;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? encoded[i]! & 0x7f : encoded[i]!);
  if (y >= P) return 'the Ed25519 public key is not canonically encoded (its y is not below 2^255 - 19)';
  if (SMALL_ORDER_Y.has(y)) return 'the Ed25519 public key is a point of small order, for which signatures prove nothing';
  return undefined;
}
