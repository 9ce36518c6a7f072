/**
 * Helpers for the encodings shared by both cores and the host (see ts/core/types.ts): internal
 * keys, their order, and runs. Pure functions over Uint8Array; no core needed.
 */
import { invalidArgument } from "../errors.ts";
import { KIND_SEEK, SEQUENCE_MAX, TRAILER_BYTES } from "./types.ts";

const TWO_POW_32 = 0x1_0000_0000;

export function encodeInternalKey(userKey: Uint8Array, sequence: number, kind: number): Uint8Array {
  const key = new Uint8Array(userKey.length + TRAILER_BYTES);
  key.set(userKey, 0);
  writeTrailer(key, userKey.length, sequence, kind);
  return key;
}

/** Writes the 8-byte trailer (kind, then the 56-bit sequence) at `offset`. */
export function writeTrailer(target: Uint8Array, offset: number, sequence: number, kind: number): void {
  if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence > SEQUENCE_MAX) {
    throw invalidArgument(`sequence ${sequence} is not an integer in [0, 2^53)`);
  }
  const low = sequence % TWO_POW_32;
  const high = (sequence - low) / TWO_POW_32;
  target[offset] = kind;
  target[offset + 1] = low & 0xff;
  target[offset + 2] = (low >>> 8) & 0xff;
  target[offset + 3] = (low >>> 16) & 0xff;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = high & 0xff;
  target[offset + 6] = (high >>> 8) & 0xff;
  target[offset + 7] = (high >>> 16) & 0xff;
}

/** The smallest internal key for `userKey` visible at `sequence`: where a seek starts. */
export function seekKey(userKey: Uint8Array, sequence: number): Uint8Array {
  return encodeInternalKey(userKey, sequence, KIND_SEEK);
}

export function userKeyOf(internalKey: Uint8Array): Uint8Array {
  return internalKey.subarray(0, internalKey.length - TRAILER_BYTES);
}

export function kindOf(internalKey: Uint8Array): number {
  return internalKey[internalKey.length - TRAILER_BYTES]!;
}

export function sequenceOf(internalKey: Uint8Array): number {
  return sequenceAt(internalKey, internalKey.length - TRAILER_BYTES);
}

/** The sequence in the trailer that starts at `trailerAt`. */
export function sequenceAt(bytes: Uint8Array, trailerAt: number): number {
  const at = trailerAt + 1;
  const low = (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
  const high = bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16);
  return high * TWO_POW_32 + low;
}

/** Bytewise comparison of a[0, aLength) and b[0, bLength): negative, zero or positive. */
function compareRanges(a: Uint8Array, aLength: number, b: Uint8Array, bLength: number): number {
  const length = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < length; i++) {
    const difference = a[i]! - b[i]!;
    if (difference !== 0) return difference;
  }
  return aLength - bLength;
}

/** Bytewise comparison of two byte strings: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return compareRanges(a, a.length, b, b.length);
}

/** Bytewise comparison of `internalKey`'s user key with `userKey` (allocation-free). */
export function compareUserKey(internalKey: Uint8Array, userKey: Uint8Array): number {
  return compareRanges(internalKey, internalKey.length - TRAILER_BYTES, userKey, userKey.length);
}

/**
 * Internal-key order: user key ascending, then sequence descending, then kind descending.
 * Allocation-free: it runs on every index search of every point read.
 */
export function compareInternalKeys(a: Uint8Array, b: Uint8Array): number {
  const byUser = compareRanges(a, a.length - TRAILER_BYTES, b, b.length - TRAILER_BYTES);
  if (byUser !== 0) return byUser;
  // The trailer is a little-endian u64 (sequence << 8 | kind): compare it from its top byte.
  for (let i = TRAILER_BYTES - 1; i >= 0; i--) {
    const difference = b[b.length - TRAILER_BYTES + i]! - a[a.length - TRAILER_BYTES + i]!;
    if (difference !== 0) return difference;
  }
  return 0;
}

export interface RunEntry {
  key: Uint8Array;
  value: Uint8Array;
}

/** Encodes entries in run encoding (test helper and host batch builder). */
export function encodeRun(entries: readonly RunEntry[]): Uint8Array {
  let total = 0;
  for (const entry of entries) total += 8 + entry.key.length + entry.value.length;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  for (const entry of entries) {
    view.setUint32(offset, entry.key.length, true);
    view.setUint32(offset + 4, entry.value.length, true);
    bytes.set(entry.key, offset + 8);
    bytes.set(entry.value, offset + 8 + entry.key.length);
    offset += 8 + entry.key.length + entry.value.length;
  }
  return bytes;
}

/** Decodes run bytes into entries whose key and value are views into `bytes`. */
export function decodeRun(bytes: Uint8Array): RunEntry[] {
  const entries: RunEntry[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 8 > bytes.length) throw invalidArgument(`run truncated at offset ${offset}`);
    const keyLength = view.getUint32(offset, true);
    const valueLength = view.getUint32(offset + 4, true);
    const end = offset + 8 + keyLength + valueLength;
    if (keyLength < TRAILER_BYTES || end > bytes.length) throw invalidArgument(`run entry malformed at offset ${offset}`);
    entries.push({
      key: bytes.subarray(offset + 8, offset + 8 + keyLength),
      value: bytes.subarray(offset + 8 + keyLength, end),
    });
    offset = end;
  }
  return entries;
}
