/**
 * A point index of one cached data block, the twin of assembly/point-index.ts (which says why):
 * per entry, 8 user-key bytes after the bytes every key of the block shares (big-endian,
 * zero-padded, as two 32-bit halves), the trailer (sequence and kind), the user-key length and
 * where the value lies. get() answers as the core's does, POINT_INDEX_UNSURE included.
 */
import { sequenceAt } from "../entry.ts";
import { copyOfRange } from "../slab.ts";
import { TRAILER_BYTES, type Hit } from "../types.ts";
import type { PureBlockReader } from "./block.ts";

/** Leading user-key bytes every one of `keys` (internal keys) shares. */
export function sharedUserKeyBytes(keys: readonly Uint8Array[]): number {
  if (keys.length === 0) return 0;
  const first = keys[0]!;
  let shared = first.length - TRAILER_BYTES;
  for (const key of keys) {
    const length = Math.min(shared, key.length - TRAILER_BYTES);
    let same = 0;
    while (same < length && key[same] === first[same]) same++;
    shared = same;
  }
  return shared;
}

export const POINT_INDEX_ABSENT = -1;
export const POINT_INDEX_UNSURE = -2;
const PREFIX_BYTES = 8;

/** Bytes [from, from + 4) of `key` (zero past `end`), big-endian: one 32-bit half of a prefix. */
function prefixHalf(key: Uint8Array, from: number, end: number): number {
  let half = 0;
  for (let i = from; i < from + 4; i++) half = half * 256 + (i < end ? key[i]! : 0);
  return half;
}

export class PointIndex {
  private readonly sharedBytes: Uint8Array;
  private readonly prefixes: Float64Array;
  private readonly sequences: Float64Array;
  private readonly kinds: Uint8Array;
  private readonly userLengths: Uint32Array;
  private readonly valueStarts: Uint32Array;
  private readonly valueEnds: Uint32Array;
  private readonly data: Uint8Array;

  /** Builds the index of the block `reader` reads (validated at open); moves the reader. */
  constructor(reader: PureBlockReader) {
    const keys: Uint8Array[] = [];
    const values: { data: Uint8Array; offset: number; length: number }[] = [];
    for (let valid = reader.first(); valid; valid = reader.next()) {
      keys.push(reader.key());
      values.push(reader.valueRange());
    }
    const shared = sharedUserKeyBytes(keys);
    this.sharedBytes = (keys[0] ?? new Uint8Array(0)).slice(0, shared);
    const count = keys.length;
    // A 64-bit prefix is not exact in one double: each 32-bit half gets a slot (2i and 2i + 1).
    this.prefixes = new Float64Array(2 * count);
    this.sequences = new Float64Array(count);
    this.kinds = new Uint8Array(count);
    this.userLengths = new Uint32Array(count);
    this.valueStarts = new Uint32Array(count);
    this.valueEnds = new Uint32Array(count);
    this.data = values[0]?.data ?? new Uint8Array(0);
    for (let ordinal = 0; ordinal < count; ordinal++) {
      const key = keys[ordinal]!;
      const userLength = key.length - TRAILER_BYTES;
      this.prefixes[2 * ordinal] = prefixHalf(key, shared, userLength);
      this.prefixes[2 * ordinal + 1] = prefixHalf(key, shared + 4, userLength);
      this.sequences[ordinal] = sequenceAt(key, userLength);
      this.kinds[ordinal] = key[userLength]!;
      this.userLengths[ordinal] = userLength;
      this.valueStarts[ordinal] = values[ordinal]!.offset;
      this.valueEnds[ordinal] = values[ordinal]!.offset + values[ordinal]!.length;
    }
  }

  /** -1, 0 or 1 as prefix `ordinal` is below, equal to or above (high, low). */
  private comparePrefix(ordinal: number, high: number, low: number): number {
    const entryHigh = this.prefixes[2 * ordinal]!;
    const entryLow = this.prefixes[2 * ordinal + 1]!;
    if (entryHigh !== high) return entryHigh < high ? -1 : 1;
    return entryLow === low ? 0 : entryLow < low ? -1 : 1;
  }

  /**
   * The entry a seek to internal key `target` finds, if it has the target's user key: its
   * ordinal (hit() gives it), POINT_INDEX_ABSENT, or POINT_INDEX_UNSURE when prefixes cannot decide.
   */
  get(target: Uint8Array): number {
    const shared = this.sharedBytes.length;
    const userLength = target.length - TRAILER_BYTES;
    if (userLength < shared) return POINT_INDEX_ABSENT;
    for (let i = 0; i < shared; i++) if (target[i] !== this.sharedBytes[i]) return POINT_INDEX_ABSENT;
    if (userLength - shared > PREFIX_BYTES) return POINT_INDEX_UNSURE;
    // Two halves, not a pair returned in an array: a get allocates nothing but its value.
    const high = prefixHalf(target, shared, userLength);
    const low = prefixHalf(target, shared + 4, userLength);
    const sequence = sequenceAt(target, userLength);
    const kind = target[userLength]!;
    let lower = 0;
    let upper = this.kinds.length;
    while (lower < upper) {
      const middle = (lower + upper) >>> 1;
      if (this.comparePrefix(middle, high, low) < 0) lower = middle + 1;
      else upper = middle;
    }
    for (let at = lower; at < this.kinds.length && this.comparePrefix(at, high, low) === 0; at++) {
      const length = this.userLengths[at]!;
      if (length - shared > PREFIX_BYTES) return POINT_INDEX_UNSURE;
      if (length !== userLength) continue;
      // Trailers order newest first: skip versions above the target's (sequence, kind).
      const entrySequence = this.sequences[at]!;
      if (entrySequence > sequence || (entrySequence === sequence && this.kinds[at]! > kind)) continue;
      return at;
    }
    return POINT_INDEX_ABSENT;
  }

  /** The kind of entry `ordinal`. */
  kindOf(ordinal: number): number {
    return this.kinds[ordinal]!;
  }

  /** Entry `ordinal` as a new Hit. */
  hit(ordinal: number): Hit {
    return this.fill(ordinal, { kind: 0, sequence: 0, value: this.data });
  }

  /** Writes entry `ordinal` into `hit` (its value a copy for the caller) and returns it. */
  fill(ordinal: number, hit: Hit): Hit {
    hit.kind = this.kinds[ordinal]!;
    hit.sequence = this.sequences[ordinal]!;
    hit.value = copyOfRange(this.data, this.valueStarts[ordinal]!, this.valueEnds[ordinal]!);
    return hit;
  }
}
