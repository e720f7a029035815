/**
 * Proofs of a secret bound to one connection (issue 11, case 11). The hub opens every connection with a
 * `challenge` frame holding a fresh nonce; the first frame answers with a proof instead of the secret, so a
 * recording never holds a usable secret and a captured first frame fails on any other connection.
 *
 * The hub keeps only `sha256(secret)` of worker and admin tokens (passkeys and the PSK are hashed the same
 * way for this purpose). As in SCRAM (RFC 5802) the proof hides the secret under a one-time key stream that
 * only a holder of that hash can compute, and the hub recovers the secret and checks its hash:
 *
 *     stream = HMAC-SHA256(key = sha256(secret), message || counter), repeated to the secret's length
 *     proof  = hex(secret XOR stream)
 *     message = "cla-auth/2\n" + purpose + "\n" + id + "\n" + nonce
 *
 * A recording (proof and nonce) reveals nothing without the hash; the hash alone (a stolen data file)
 * proves nothing without the secret; a proof made for one nonce, purpose or id is refused for any other.
 * The same stream seals the token the hub sends back in `registered`, keyed by the passkey's hash.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** What a proof is for; part of the message, so a proof for one cannot be used for another. */
export type ProofPurpose = 'hello' | 'psk' | 'admin' | 'register' | 'register-token' | 'unregister' | 'registered';

/** The message a proof is bound to. */
export function proofMessage(purpose: ProofPurpose, id: string, nonce: string): string {
  return `cla-auth/2\n${purpose}\n${id}\n${nonce}`;
}

/** sha256 of `secret` (UTF-8), hex: what the hub stores. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function keyStream(hashHex: string, message: string, length: number): Buffer {
  const key = Buffer.from(hashHex, 'hex');
  const blocks: Buffer[] = [];
  for (let counter = 0; blocks.length * 32 < length; counter += 1) {
    blocks.push(createHmac('sha256', key).update(message).update(String(counter)).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** `secret` sealed under the stream of `keyHashHex` (a sha256 hex) for `message`, as hex. */
export function seal(secret: string, keyHashHex: string, message: string): string {
  const bytes = Buffer.from(secret, 'utf8');
  return xor(bytes, keyStream(keyHashHex, message, bytes.length)).toString('hex');
}

/** The proof of `secret` for `message` (the client side). */
export function prove(secret: string, message: string): string {
  return seal(secret, secretHash(secret), message);
}

/** Undoes {@link seal}; undefined for text that is not even-length hex. */
export function unseal(sealed: string, keyHashHex: string, message: string): string | undefined {
  if (!/^(?:[0-9a-f]{2})+$/.test(sealed)) return undefined;
  const bytes = Buffer.from(sealed, 'hex');
  return xor(bytes, keyStream(keyHashHex, message, bytes.length)).toString('utf8');
}

/**
 * The secret behind `proof` when it was made for `message` with the secret whose hash is `storedHashHex`
 * (the hub side); undefined otherwise. Constant-time in the comparison of the hashes.
 */
export function verifyProof(proof: string, storedHashHex: string, message: string): string | undefined {
  if (!/^[0-9a-f]{64}$/.test(storedHashHex)) return undefined;
  if (!/^(?:[0-9a-f]{2})+$/.test(proof)) return undefined;
  const bytes = xor(Buffer.from(proof, 'hex'), keyStream(storedHashHex, message, proof.length / 2));
  const recovered = createHash('sha256').update(bytes).digest();
  if (!timingSafeEqual(recovered, Buffer.from(storedHashHex, 'hex'))) return undefined;
  return bytes.toString('utf8');
}
