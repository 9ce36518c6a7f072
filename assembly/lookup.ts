// Point lookups in one table in one call. A table's lookup pins in core memory what every read
// of it touches: the bloom filter, the fences of its index (the last internal key of each data
// block, copied whole out of the index block) and a slot per data block holding the reader of
// that block while the host's block cache has it. tableLookupGet probes the filter with the
// point key's hash (computed once per key, whichever tables it is asked of), finds the block
// by binary search over the fences, and searches the block if its reader is in its slot
// (through the block's point index, assembly/point-index.ts, built on its first lookup and
// dropped with the slot); if not, it names the block for the host to read and cache. The pure
// twin is ts/core/pure/lookup.ts.
//
//   point key := u32 keyLength | u32 hashed | u32 hash | u32 capacity | user key | trailer (8)
//
// The host writes a point key's bytes, keyLength (user key + trailer) and hashed = 0 straight
// into memory, then calls. Results (i32):
//   -1                     absent: the filter or the fences rule the key out
//   < -1                   block (-2 - result) is not cached: read it, setBlock, ask again
//   >= 0                   block (result >> 9) was searched; bit 8 set: found, the low byte
//                          is the entry's kind and lookupHit holds its trailer and value
import { TRAILER_BYTES } from "./format";
import { compareInternalKeys } from "./entry";
import { bloomHash, bloomMayContainHash } from "./bloom";
import { Position, blockFirst, blockGet, blockNext } from "./block";
import {
  POINT_INDEX_ABSENT, pointIndexBuild, pointIndexGet, pointIndexTouch, pointIndexTrailer, pointIndexValueLength, pointIndexValuePointer, prefixOf,
} from "./point-index";

export const LOOKUP_ABSENT: i32 = -1;
export const LOOKUP_FOUND: i32 = 0x100;
const LOOKUP_BLOCK_SHIFT: u32 = 9;
/** Block counts at or above this do not fit the result's block field (the host refuses them). */
const LOOKUP_BLOCKS_MAX: u32 = 1 << 22;
const POINT_KEY_HEADER_BYTES: usize = 16;

// @ts-ignore: decorator
@unmanaged class PointKey {
  keyLength: u32;
  hashed: u32;
  hash: u32;
  capacity: u32;
}

// @ts-ignore: decorator
@unmanaged export class TableLookup {
  /** The filter (owned), or 0 when it matches everything (k > 30). */
  filter: usize;
  filterLength: u32;
  blockCount: u32;
  /** u32 * (blockCount + 1): where fence i starts in fenceKeys (and the end). */
  fenceOffsets: usize;
  fenceKeys: usize;
  /** u64 * blockCount: 8 user-key bytes of each fence after sharedBytes, big-endian. */
  fencePrefixes: usize;
  /** Leading user-key bytes every fence shares. */
  sharedBytes: u32;
  /** u32 * blockCount: the reader of each cached block, or 0. */
  readers: usize;
  /** u32 * blockCount: each cached block's point index (assembly/point-index.ts), or 0 until its first lookup. */
  pointIndexes: usize;
}

/** The last hit: trailer (sequence << 8 | kind) and value, read by the host. */
// @ts-ignore: decorator
@unmanaged export class LookupHit {
  trailerLow: u32;
  trailerHigh: u32;
  valuePointer: usize;
  valueLength: u32;
}

export const lookupHit = changetype<LookupHit>(memory.data(offsetof<LookupHit>()));

export function lookupHitPointer(): usize {
  return changetype<usize>(lookupHit);
}

export function pointKeyNew(capacity: u32): usize {
  const point = changetype<PointKey>(heap.alloc(POINT_KEY_HEADER_BYTES + <usize>capacity));
  point.keyLength = 0;
  point.hashed = 0;
  point.hash = 0;
  point.capacity = capacity;
  return changetype<usize>(point);
}

export function pointKeyFree(point: usize): void {
  heap.free(point);
}

/** The layout the host writes: header bytes | keyLength offset << 8 | hashed offset << 16. */
export function pointKeyLayout(): u32 {
  return <u32>POINT_KEY_HEADER_BYTES | (offsetof<PointKey>("keyLength") << 8) | (offsetof<PointKey>("hashed") << 16);
}

// @ts-ignore: decorator
@inline function fenceStart(lookup: TableLookup, index: u32): u32 {
  return load<u32>(lookup.fenceOffsets + (<usize>index << 2));
}

/**
 * A lookup over the validated index block `index` (a reader from blockOpen, still the host's)
 * and the filter [filter, filter + filterLength) from memoryAllocate, which it takes over
 * (0 for a filter that matches everything). The host checked the entry count.
 */
export function tableLookupNew(filter: usize, filterLength: u32, index: Position): usize {
  const count = index.block.entryCount;
  assert(count < LOOKUP_BLOCKS_MAX);
  let keyBytes: usize = 0;
  for (let valid = blockFirst(index); valid != 0; valid = blockNext(index)) keyBytes += index.keyLength;
  const lookup = changetype<TableLookup>(heap.alloc(offsetof<TableLookup>()));
  lookup.filter = filter;
  lookup.filterLength = filterLength;
  lookup.blockCount = count;
  lookup.fenceOffsets = heap.alloc((<usize>count + 1) << 2);
  lookup.fenceKeys = heap.alloc(keyBytes > 0 ? keyBytes : 1);
  lookup.fencePrefixes = heap.alloc(count > 0 ? <usize>count << 3 : 1);
  lookup.readers = heap.alloc(count > 0 ? <usize>count << 2 : 1);
  memory.fill(lookup.readers, 0, <usize>count << 2);
  lookup.pointIndexes = heap.alloc(count > 0 ? <usize>count << 2 : 1);
  memory.fill(lookup.pointIndexes, 0, <usize>count << 2);
  let at: u32 = 0;
  let ordinal: u32 = 0;
  for (let valid = blockFirst(index); valid != 0; valid = blockNext(index)) {
    store<u32>(lookup.fenceOffsets + (<usize>ordinal << 2), at);
    memory.copy(lookup.fenceKeys + at, index.keyPointer, index.keyLength);
    at += index.keyLength;
    ordinal++;
  }
  store<u32>(lookup.fenceOffsets + (<usize>count << 2), at);
  setFencePrefixes(lookup);
  return changetype<usize>(lookup);
}

/** sharedBytes (the user-key bytes every fence shares) and each fence's prefix after them. */
function setFencePrefixes(lookup: TableLookup): void {
  const count = lookup.blockCount;
  const keys = lookup.fenceKeys;
  let shared: u32 = count > 0 ? fenceStart(lookup, 1) - TRAILER_BYTES : 0;
  for (let i: u32 = 1; i < count && shared > 0; i++) {
    const start = fenceStart(lookup, i);
    const userLength = fenceStart(lookup, i + 1) - start - TRAILER_BYTES;
    let same: u32 = 0;
    const length = userLength < shared ? userLength : shared;
    while (same < length && load<u8>(keys + start + same) == load<u8>(keys + same)) same++;
    shared = same;
  }
  lookup.sharedBytes = shared;
  for (let i: u32 = 0; i < count; i++) {
    const start = fenceStart(lookup, i);
    const userLength = fenceStart(lookup, i + 1) - start - TRAILER_BYTES;
    store<u64>(lookup.fencePrefixes + (<usize>i << 3), prefixOf(keys + start + shared, userLength - shared));
  }
}

export function tableLookupFree(lookup: TableLookup): void {
  if (lookup.filter != 0) heap.free(lookup.filter);
  heap.free(lookup.fenceOffsets);
  heap.free(lookup.fenceKeys);
  heap.free(lookup.fencePrefixes);
  for (let index: u32 = 0; index < lookup.blockCount; index++) dropPointIndex(lookup, index);
  heap.free(lookup.readers);
  heap.free(lookup.pointIndexes);
  heap.free(changetype<usize>(lookup));
}

export function tableLookupBlockCount(lookup: TableLookup): u32 {
  return lookup.blockCount;
}

/** Puts block `index`'s reader in its slot (0: the host's cache let it go). Host checked index. */
export function tableLookupSetBlock(lookup: TableLookup, index: u32, reader: usize): void {
  assert(index < lookup.blockCount);
  dropPointIndex(lookup, index);
  store<u32>(lookup.readers + (<usize>index << 2), <u32>reader);
}

function dropPointIndex(lookup: TableLookup, index: u32): void {
  const slot = lookup.pointIndexes + (<usize>index << 2);
  const pointIndex = <usize>load<u32>(slot);
  if (pointIndex != 0) heap.free(pointIndex);
  store<u32>(slot, 0);
}

/** Index of the first fence >= the internal key [target, target + targetLength), or blockCount. */
function findFence(lookup: TableLookup, target: usize, targetLength: u32): u32 {
  const shared = lookup.sharedBytes;
  const userLength = targetLength - TRAILER_BYTES;
  // A key without the shared bytes is compared whole at every step.
  const usePrefix = userLength >= shared && memory.compare(target, lookup.fenceKeys, shared) == 0;
  const prefix = usePrefix ? prefixOf(target + shared, userLength - shared) : 0;
  let low: u32 = 0;
  let high = lookup.blockCount;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const fencePrefix = load<u64>(lookup.fencePrefixes + (<usize>middle << 3));
    let less: bool;
    if (usePrefix && fencePrefix != prefix) {
      less = fencePrefix < prefix;
    } else {
      const start = fenceStart(lookup, middle);
      less = compareInternalKeys(lookup.fenceKeys + start, fenceStart(lookup, middle + 1) - start, target, targetLength) < 0;
    }
    if (less) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The point key's newest version in this table, as the result codes above say. */
export function tableLookupGet(lookup: TableLookup, point: PointKey): i32 {
  const keyLength = point.keyLength;
  assert(keyLength >= TRAILER_BYTES && keyLength <= point.capacity);
  return tableLookupKey(lookup, changetype<usize>(point) + POINT_KEY_HEADER_BYTES, keyLength, changetype<usize>(point) + offsetof<PointKey>("hashed"));
}

/**
 * The newest version of the internal key [key, key + keyLength) in this table. `hashState`
 * holds u32 hashed | u32 hash: the key's bloom hash, computed by the first table that needs it.
 */
export function tableLookupKey(lookup: TableLookup, key: usize, keyLength: u32, hashState: usize): i32 {
  const index = tableLookupBlock(lookup, key, keyLength, hashState);
  return index < 0 ? LOOKUP_ABSENT : tableLookupInBlock(lookup, <u32>index, key, keyLength);
}

/** The key's bloom hash, computed on first use and kept in `hashState` (u32 hashed | u32 hash). */
export function pointKeyHash(key: usize, keyLength: u32, hashState: usize): u32 {
  if (load<u32>(hashState) == 0) {
    store<u32>(hashState, bloomHash(key, keyLength - TRAILER_BYTES), 4);
    store<u32>(hashState, 1);
  }
  return load<u32>(hashState, 4);
}

/** The block that may hold the key, or -1 when the filter or the fences rule it out. */
export function tableLookupBlock(lookup: TableLookup, key: usize, keyLength: u32, hashState: usize): i32 {
  if (lookup.filter != 0 && !bloomMayContainHash(lookup.filter, lookup.filterLength, pointKeyHash(key, keyLength, hashState))) return -1;
  const index = findFence(lookup, key, keyLength);
  return index >= lookup.blockCount ? -1 : <i32>index;
}

/** Stages of tableLookupTouch, in the order a batch runs them. */
export const TOUCH_STAGES: u32 = 4;

/**
 * Loads the lines stage `stage` of a lookup in block `index` will read (the block's point index,
 * its prefixes, the entry found, its header) and returns a byte of them; decides nothing. A
 * block not cached, or without its point index yet, is left to the lookup itself.
 */
export function tableLookupTouch(lookup: TableLookup, index: u32, key: usize, keyLength: u32, stage: u32): u32 {
  const reader = <usize>load<u32>(lookup.readers + (<usize>index << 2));
  const pointIndex = <usize>load<u32>(lookup.pointIndexes + (<usize>index << 2));
  if (reader == 0 || pointIndex == 0) return 0;
  if (stage == 0) return load<u8>(pointIndex);
  return pointIndexTouch(pointIndex, changetype<Position>(reader).block.data, key, keyLength, stage - 1);
}

/** The key's newest version in block `index` (the fences chose it), as the result codes above say. */
export function tableLookupInBlock(lookup: TableLookup, index: u32, key: usize, keyLength: u32): i32 {
  const reader = <usize>load<u32>(lookup.readers + (<usize>index << 2));
  if (reader == 0) return -2 - <i32>index;
  const searched = <i32>(index << LOOKUP_BLOCK_SHIFT);
  const position = changetype<Position>(reader);
  const slot = lookup.pointIndexes + (<usize>index << 2);
  let pointIndex = <usize>load<u32>(slot);
  if (pointIndex == 0) {
    pointIndex = pointIndexBuild(position);
    store<u32>(slot, <u32>pointIndex);
  }
  const found = pointIndexGet(pointIndex, position.block.data, key, keyLength);
  if (found == POINT_INDEX_ABSENT) return searched;
  if (found >= 0) {
    lookupHit.trailerLow = <u32>pointIndexTrailer;
    lookupHit.trailerHigh = <u32>(pointIndexTrailer >>> 32);
    lookupHit.valuePointer = pointIndexValuePointer;
    lookupHit.valueLength = pointIndexValueLength;
    return searched | LOOKUP_FOUND | <i32>(pointIndexTrailer & 0xff);
  }
  // The prefixes could not decide (long keys): search the block as a seek does.
  const kind = blockGet(position, key, keyLength);
  if (kind < 0) return searched;
  const trailer = load<u64>(position.keyPointer + keyLength - TRAILER_BYTES);
  lookupHit.trailerLow = <u32>trailer;
  lookupHit.trailerHigh = <u32>(trailer >>> 32);
  lookupHit.valuePointer = position.valuePointer;
  lookupHit.valueLength = position.valueLength;
  return searched | LOOKUP_FOUND | kind;
}
