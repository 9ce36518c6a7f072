// A point index of one cached data block, built by the table lookup on the block's first point
// read and kept beside it (not on disk): per entry, 8 user-key bytes after the bytes every key
// of the block shares (big-endian, zero-padded), the trailer, the user-key length and the
// entry's offset. A lookup binary-searches the packed prefixes (a few cache lines) instead of
// decoding its way through a restart interval (about 15 lines of a 4 KiB block on average),
// then decodes one entry header for the value. The pure twin is ts/core/pure/point-index.ts.
//
//   index := u32 count | u32 shared | u64 prefixes[count] | u64 trailers[count]
//            | u32 userLengths[count] | u32 offsets[count] | the shared bytes
//
// A key (the target's or an entry's with the target's prefix) longer than shared + 8 bytes
// cannot be told apart by its prefix: pointIndexGet then answers POINT_INDEX_UNSURE and the
// lookup searches the block as a seek does.
import { TRAILER_BYTES } from "./format";
import { Position, blockFirst, blockNext, headerValueLength, readHeader, headerUnshared } from "./block";

export const POINT_INDEX_ABSENT: i32 = -1;
export const POINT_INDEX_UNSURE: i32 = -2;
const HEADER_BYTES: usize = 8;
/** Bytes per entry: the host charges the block cache this much (POINT_INDEX_BYTES_PER_ENTRY, ts/core/types.ts). */
const ENTRY_BYTES: usize = 24;
const PREFIX_BYTES: u32 = 8;

/** The value of the entry pointIndexGet found last. */
export let pointIndexValuePointer: usize = 0;
export let pointIndexValueLength: u32 = 0;
export let pointIndexTrailer: u64 = 0;

/** 8 bytes from `at` (fewer if `length` is shorter, zero-padded) as a big-endian number. */
// @ts-ignore: decorator
@inline export function prefixOf(at: usize, length: u32): u64 {
  if (length >= 8) return bswap<u64>(load<u64>(at));
  let prefix: u64 = 0;
  for (let i: u32 = 0; i < 8; i++) prefix = (prefix << 8) | (i < length ? <u64>load<u8>(at + i) : 0);
  return prefix;
}

// @ts-ignore: decorator
@inline function prefixes(index: usize): usize { return index + HEADER_BYTES; }
// @ts-ignore: decorator
@inline function trailers(index: usize, count: u32): usize { return index + HEADER_BYTES + (<usize>count << 3); }
// @ts-ignore: decorator
@inline function userLengths(index: usize, count: u32): usize { return index + HEADER_BYTES + (<usize>count << 4); }
// @ts-ignore: decorator
@inline function offsets(index: usize, count: u32): usize { return index + HEADER_BYTES + (<usize>count << 4) + (<usize>count << 2); }
// @ts-ignore: decorator
@inline function sharedBytes(index: usize, count: u32): usize { return index + HEADER_BYTES + (<usize>count << 4) + (<usize>count << 3); }

/** Builds the index of the block `reader` reads (validated at open); moves the reader. */
export function pointIndexBuild(reader: Position): usize {
  const count = reader.block.entryCount;
  let firstLength: u32 = count > 0 && blockFirst(reader) != 0 ? reader.keyLength - TRAILER_BYTES : 0;
  const index = heap.alloc(HEADER_BYTES + <usize>count * ENTRY_BYTES + <usize>firstLength);
  const shared = sharedBytes(index, count);
  if (count > 0) memory.copy(shared, reader.keyPointer, firstLength);
  // The bytes every user key shares: each key against the first (a hostile block may be unsorted).
  let sharedLength = firstLength;
  for (let valid = count > 0 ? blockFirst(reader) : 0; valid != 0; valid = blockNext(reader)) {
    const userLength = reader.keyLength - TRAILER_BYTES;
    const length = userLength < sharedLength ? userLength : sharedLength;
    let same: u32 = 0;
    while (same < length && load<u8>(reader.keyPointer + same) == load<u8>(shared + same)) same++;
    sharedLength = same;
  }
  store<u32>(index, count);
  store<u32>(index, sharedLength, 4);
  let ordinal: u32 = 0;
  for (let valid = count > 0 ? blockFirst(reader) : 0; valid != 0; valid = blockNext(reader)) {
    const userLength = reader.keyLength - TRAILER_BYTES;
    store<u64>(prefixes(index) + (<usize>ordinal << 3), prefixOf(reader.keyPointer + sharedLength, userLength - sharedLength));
    store<u64>(trailers(index, count) + (<usize>ordinal << 3), load<u64>(reader.keyPointer + userLength));
    store<u32>(userLengths(index, count) + (<usize>ordinal << 2), userLength);
    store<u32>(offsets(index, count) + (<usize>ordinal << 2), reader.offset);
    ordinal++;
  }
  return index;
}

/**
 * The entry a seek to the internal key [key, key + keyLength) finds, if it has the key's user
 * key: its ordinal (its value and trailer in the globals above), POINT_INDEX_ABSENT, or
 * POINT_INDEX_UNSURE when the prefixes cannot decide.
 */
export function pointIndexGet(index: usize, data: usize, key: usize, keyLength: u32): i32 {
  const count = load<u32>(index);
  const shared = load<u32>(index, 4);
  const userLength = keyLength - TRAILER_BYTES;
  if (userLength < shared || memory.compare(key, sharedBytes(index, count), shared) != 0) return POINT_INDEX_ABSENT;
  if (userLength - shared > PREFIX_BYTES) return POINT_INDEX_UNSURE;
  const prefix = prefixOf(key + shared, userLength - shared);
  const target = load<u64>(key + userLength);
  const low = firstPrefixAtLeast(index, count, prefix);
  // Entries with the target's prefix: other (shorter or longer) keys, then its versions, newest first.
  for (let at = low; at < count && load<u64>(prefixes(index) + (<usize>at << 3)) == prefix; at++) {
    const length = load<u32>(userLengths(index, count) + (<usize>at << 2));
    if (length - shared > PREFIX_BYTES) return POINT_INDEX_UNSURE;
    if (length != userLength) continue;
    const trailer = load<u64>(trailers(index, count) + (<usize>at << 3));
    if (trailer > target) continue;
    const valueAt = readHeader(data + <usize>load<u32>(offsets(index, count) + (<usize>at << 2))) + headerUnshared;
    pointIndexValuePointer = valueAt;
    pointIndexValueLength = headerValueLength;
    pointIndexTrailer = trailer;
    return <i32>at;
  }
  return POINT_INDEX_ABSENT;
}

/** The first entry whose prefix is >= `prefix` (count if none): a binary search over the packed prefixes. */
function firstPrefixAtLeast(index: usize, count: u32, prefix: u64): u32 {
  let low: u32 = 0;
  let high = count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (load<u64>(prefixes(index) + (<usize>middle << 3)) < prefix) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Loads (and so caches) the lines pointIndexGet will read for the key, returning a byte of
 * them: the prefixes, then the found entry's trailer, length and offset, then its header in
 * the block at `data`. It decides nothing; a batch lookup runs it over several keys in turn
 * so that their cache misses overlap instead of queueing one key after another.
 */
export function pointIndexTouch(index: usize, data: usize, key: usize, keyLength: u32, stage: u32): u32 {
  const count = load<u32>(index);
  if (stage == 0) {
    let sink: u32 = 0;
    for (let offset: usize = 0; offset < (<usize>count << 3); offset += 64) sink += load<u8>(prefixes(index) + offset);
    return sink;
  }
  const shared = load<u32>(index, 4);
  const userLength = keyLength - TRAILER_BYTES;
  if (userLength < shared || userLength - shared > PREFIX_BYTES) return 0;
  const at = firstPrefixAtLeast(index, count, prefixOf(key + shared, userLength - shared));
  if (at >= count) return 0;
  if (stage == 1) {
    return load<u8>(trailers(index, count) + (<usize>at << 3)) + load<u8>(userLengths(index, count) + (<usize>at << 2)) + load<u8>(offsets(index, count) + (<usize>at << 2));
  }
  return load<u8>(data + <usize>load<u32>(offsets(index, count) + (<usize>at << 2)));
}
