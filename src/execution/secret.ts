/** Token checks of the execution service's gRPC callers (strategies and admins). */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Constant-time comparison of a secret: digests are compared, so neither the time taken nor
 * an early length check tells a caller how long the expected secret is.
 */
export function sameSecret(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}
