/**
 * Internal-key helpers shared by the pure core's block builder and block reader.
 */
import { TRAILER_BYTES as TRAILER_BYTES_IMPORTED } from "../types.ts";

// A module-local copy: a loader that keeps imports as live bindings (tsx does) turns each use
// in a hot loop into a getter call.
const TRAILER_BYTES = TRAILER_BYTES_IMPORTED;

/** Bytewise-then-trailer-descending order of two internal keys given by array and range. */
export function compareInternalKeysAt(a: Uint8Array, aStart: number, aLength: number, b: Uint8Array, bStart: number, bLength: number): number {
  const aUser = aLength - TRAILER_BYTES;
  const bUser = bLength - TRAILER_BYTES;
  const length = aUser < bUser ? aUser : bUser;
  for (let i = 0; i < length; i++) {
    const difference = a[aStart + i]! - b[bStart + i]!;
    if (difference !== 0) return difference;
  }
  if (aUser !== bUser) return aUser - bUser;
  // The trailer is a little-endian u64 that sorts descending: compare from its top byte.
  for (let i = TRAILER_BYTES - 1; i >= 0; i--) {
    const difference = b[bStart + bUser + i]! - a[aStart + aUser + i]!;
    if (difference !== 0) return difference;
  }
  return 0;
}

export function commonPrefix(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): number {
  let i = 0;
  while (i < length && a[aStart + i] === b[bStart + i]) i++;
  return i;
}
