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

/** PGZ_INVALID_ARGUMENT unless `sequence` fits a trailer: an integer in [0, SEQUENCE_MAX]. */
export function checkSequence(sequence: number): void {
  if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence > SEQUENCE_MAX) {
    throw invalidArgument(`sequence ${sequence} is not an integer in [0, 2^53)`);
  }
}

/** Writes the 8-byte trailer (kind, then the 56-bit sequence) at `offset`. */
export function writeTrailer(target: Uint8Array, offset: number, sequence: number, kind: number): void {
  checkSequence(sequence);
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

/** An entry whose `key` is a user key: the encoder appends the trailer (kind, sequence) to it. */
export interface UserKeyRunEntry extends RunEntry {
  sequence: number;
  kind: number;
}

/**
 * Encodes entries in run encoding, the one encoder of it on the host (the write path's memtable
 * runs, replay, tests):
 *
 *   +-----------+-------------+--------------+-------+
 *   | keyLength | valueLength | internal key | value |  ... repeated
 *   |  u32 LE   |   u32 LE    | keyLength B  |       |
 *   +-----------+-------------+--------------+-------+
 *
 * An entry with a sequence and kind has a user key, and its internal key is that key followed
 * by the TRAILER_BYTES trailer.
 */
export function encodeRun(entries: readonly (RunEntry | UserKeyRunEntry)[]): Uint8Array {
  let total = 0;
  for (const entry of entries) total += 8 + internalKeyLength(entry) + entry.value.length;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  for (const entry of entries) {
    const keyLength = internalKeyLength(entry);
    view.setUint32(offset, keyLength, true);
    view.setUint32(offset + 4, entry.value.length, true);
    bytes.set(entry.key, offset + 8);
    if ("sequence" in entry) writeTrailer(bytes, offset + 8 + entry.key.length, entry.sequence, entry.kind);
    bytes.set(entry.value, offset + 8 + keyLength);
    offset += 8 + keyLength + entry.value.length;
  }
  return bytes;
}

function internalKeyLength(entry: RunEntry | UserKeyRunEntry): number {
  return "sequence" in entry ? entry.key.length + TRAILER_BYTES : entry.key.length;
}

/**
 * Reads run entries one at a time: the one decoder of run encoding (decodeRun, the iterator's
 * hot loop, and the cores' run validation, countRunEntries, all go through it). next() checks
 * each entry's bounds and leaves its offsets; key() and value() are views into `bytes`.
 * Throws PGZ_INVALID_ARGUMENT on a truncated or malformed entry.
 */
export class RunReader {
  keyStart = 0;
  valueStart = 0;
  end = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Moves to the next entry; false at the end of the run. */
  next(): boolean {
    const { bytes, view } = this;
    const offset = this.end;
    if (offset >= bytes.length) return false;
    if (offset + 8 > bytes.length) throw invalidArgument(`run truncated at offset ${offset}`);
    const keyLength = view.getUint32(offset, true);
    const end = offset + 8 + keyLength + view.getUint32(offset + 4, true);
    if (keyLength < TRAILER_BYTES || end > bytes.length) throw invalidArgument(`run entry malformed at offset ${offset}`);
    this.keyStart = offset + 8;
    this.valueStart = offset + 8 + keyLength;
    this.end = end;
    return true;
  }

  /** The current entry's internal key. */
  key(): Uint8Array {
    return this.bytes.subarray(this.keyStart, this.valueStart);
  }

  value(): Uint8Array {
    return this.bytes.subarray(this.valueStart, this.end);
  }
}

/** Decodes run bytes into entries whose key and value are views into `bytes`. */
export function decodeRun(bytes: Uint8Array): RunEntry[] {
  const entries: RunEntry[] = [];
  const reader = new RunReader(bytes);
  while (reader.next()) entries.push({ key: reader.key(), value: reader.value() });
  return entries;
}
