/**
 * Keys of the pure core's memtable (ts/core/pure/skiplist.ts; its node records are in
 * skiplist-cursor.ts): internal-key order of keys in its arena against a searched key given as
 * user key bytes and trailer halves, as assembly/skiplist.ts compares them, and the entry a
 * search found. Shared by the memtable and its batch lookup (ts/core/pure/lookup-batch.ts).
 */
import { copyOfRange } from "../slab.ts";
import { TRAILER_BYTES as TRAILER_BYTES_IMPORTED, type Hit } from "../types.ts";
import { KEY_LENGTH, KEY_OFFSET, VALUE_LENGTH } from "./skiplist-cursor.ts";

const TWO_POW_24 = 0x100_0000;

/**
 * What a search reads of a memtable: its node records, the same memory as unsigned (the
 * prefixes), the arena, the height, and its link prefix of a key (linkPrefix sets prefixHigh and
 * prefixLow: the bytes it takes depend on the memtable).
 */
export interface SkiplistNodes {
  readonly nodes: Int32Array;
  readonly prefixes: Uint32Array;
  readonly arena: Uint8Array;
  readonly height: number;
  linkPrefix(bytes: Uint8Array, at: number, userLength: number): void;
  readonly prefixHigh: number;
  readonly prefixLow: number;
}

// A module-local copy: a loader that keeps imports as live bindings (tsx does) turns each use
// in a hot loop into a getter call.
const TRAILER_BYTES = TRAILER_BYTES_IMPORTED;

/** The high (bits 32..63) and low halves of a trailer, as unsigned numbers. */
export function readTrailerHigh(bytes: Uint8Array, at: number): number {
  return (bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24)) >>> 0;
}

export function readTrailerLow(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * The first 4 bytes at `at` (big-endian, zero-padded past `available`) as an unsigned number. A
 * memtable's link prefixes come only from PureMemtable.linkPrefix: they may skip shared bytes.
 */
export function bigEndianHalf(bytes: Uint8Array, at: number, available: number): number {
  if (available >= 4) return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  let half = 0;
  for (let i = 0; i < 4; i++) half = (half << 8) | (i < available ? bytes[at + i]! : 0);
  return half >>> 0;
}

/**
 * Internal-key order of the key at arena[at, at + length) against a target given as its user
 * key target[targetAt, targetAt + targetUserLength) and trailer halves.
 */
export function compareToTarget(
  arena: Uint8Array,
  at: number,
  length: number,
  target: Uint8Array,
  targetAt: number,
  targetUserLength: number,
  targetHigh: number,
  targetLow: number,
): number {
  const userLength = length - TRAILER_BYTES;
  const shorter = userLength < targetUserLength ? userLength : targetUserLength;
  for (let i = 0; i < shorter; i++) {
    const difference = arena[at + i]! - target[targetAt + i]!;
    if (difference !== 0) return difference;
  }
  if (userLength !== targetUserLength) return userLength - targetUserLength;
  // Trailers sort descending: the newest version first.
  const high = readTrailerHigh(arena, at + userLength);
  if (high !== targetHigh) return high > targetHigh ? -1 : 1;
  const low = readTrailerLow(arena, at + userLength);
  if (low !== targetLow) return low > targetLow ? -1 : 1;
  return 0;
}

/** Internal-key order of the run entries at offsets a and b of `run`. */
export function compareRunKeys(run: Uint8Array, a: number, b: number): number {
  const bTrailerAt = b + readTrailerLow(run, b); // b + 8 + user key length: b's trailer
  return compareToTarget(run, a + 8, readTrailerLow(run, a), run, b + 8, bTrailerAt - b - 8, readTrailerHigh(run, bTrailerAt), readTrailerLow(run, bTrailerAt));
}

/**
 * The entry of node `found` (the first node >= a seek key) if it has the seek key's user key
 * key[0, userLength): its kind, sequence and a copy of its value.
 */
export function hitOfNode(memtable: SkiplistNodes, found: number, key: Uint8Array, userLength: number): Hit | undefined {
  const nodes = memtable.nodes;
  const keyLength = nodes[found + KEY_LENGTH]!;
  if (keyLength !== userLength + TRAILER_BYTES) return undefined;
  const arena = memtable.arena;
  const keyOffset = nodes[found + KEY_OFFSET]!;
  for (let i = 0; i < userLength; i++) if (arena[keyOffset + i] !== key[i]) return undefined;
  const trailerAt = keyOffset + userLength;
  const trailerLow = readTrailerLow(arena, trailerAt);
  const valueAt = keyOffset + keyLength;
  return {
    kind: trailerLow & 0xff,
    sequence: readTrailerHigh(arena, trailerAt) * TWO_POW_24 + (trailerLow >>> 8),
    value: copyOfRange(arena, valueAt, valueAt + nodes[found + VALUE_LENGTH]!),
  };
}
