// The data-block builder (the layout is in block.ts's header). The pure twin is
// ts/core/pure/block-builder.ts; both write identical bytes.
import { BLOCK_TRAILER_BYTES, TRAILER_BYTES } from "./format";
import { compareInternalKeys } from "./entry";
import { Run } from "./run";
import { crc32cCompute } from "./crc32c";
import { maskCrc, copyBytes } from "./block-bytes";

/** Expected failures, returned to the host, which throws the matching PgzError. */
const STATUS_OK: u32 = 0;
const STATUS_UNSORTED: u32 = 1;
/** Index of the run entry that broke key order in the last failed blockBuilderAddFromRun. */
let unsortedIndex: u32 = 0;

export function blockUnsortedIndex(): u32 { return unsortedIndex; }

// @ts-ignore: decorator
@inline function varintLength(value: u32): u32 {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : value < 0x1000_0000 ? 4 : 5;
}

// @ts-ignore: decorator
@inline function writeVarint(at: usize, value: u32): usize {
  while (value >= 0x80) {
    store<u8>(at, (value & 0x7f) | 0x80);
    value >>>= 7;
    at++;
  }
  store<u8>(at, value);
  return at + 1;
}

/** Length of the common prefix of [a, a + length) and [b, b + length). */
function commonPrefix(a: usize, b: usize, length: u32): u32 {
  let i: u32 = 0;
  while (i + 8 <= length) {
    const difference = load<u64>(a + i) ^ load<u64>(b + i);
    if (difference != 0) return i + (<u32>ctz(difference) >> 3);
    i += 8;
  }
  while (i < length && load<u8>(a + i) == load<u8>(b + i)) i++;
  return i;
}

// @ts-ignore: decorator
@unmanaged class BlockBuilder {
  /** Entry bytes; finish appends the restarts and the trailer after them. */
  entries: usize;
  entriesCapacity: u32;
  entriesLength: u32;
  /** Offsets of restart entries, u32 each. */
  restarts: usize;
  restartsCapacity: u32;
  restartCount: u32;
  entryCount: u32;
  /** Entries since the last restart (restartInterval forces the next entry to restart). */
  sinceRestart: u32;
  restartInterval: u32;
  lastKey: usize;
  lastKeyCapacity: u32;
  lastKeyLength: u32;
}

export function blockBuilderNew(restartInterval: u32): BlockBuilder {
  assert(restartInterval >= 1);
  const builder = changetype<BlockBuilder>(heap.alloc(offsetof<BlockBuilder>()));
  builder.entriesCapacity = 4096;
  builder.entries = heap.alloc(builder.entriesCapacity);
  builder.restartsCapacity = 64;
  builder.restarts = heap.alloc(builder.restartsCapacity << 2);
  builder.lastKeyCapacity = 64;
  builder.lastKey = heap.alloc(builder.lastKeyCapacity);
  builder.restartInterval = restartInterval;
  builderReset(builder);
  return builder;
}

export function blockBuilderFree(builder: BlockBuilder): void {
  heap.free(builder.entries);
  heap.free(builder.restarts);
  heap.free(builder.lastKey);
  heap.free(changetype<usize>(builder));
}

function builderReset(builder: BlockBuilder): void {
  builder.entriesLength = 0;
  builder.restartCount = 0;
  builder.entryCount = 0;
  builder.sinceRestart = 0;
  builder.lastKeyLength = 0;
}

export function blockBuilderCount(builder: BlockBuilder): u32 { return builder.entryCount; }

/** Size of the finished block if finish were called now. */
export function blockBuilderSizeEstimate(builder: BlockBuilder): u32 {
  return builder.entriesLength + (builder.restartCount << 2) + BLOCK_TRAILER_BYTES;
}

export function blockBuilderLastKeyPointer(builder: BlockBuilder): usize { return builder.lastKey; }
export function blockBuilderLastKeyLength(builder: BlockBuilder): u32 { return builder.lastKeyLength; }
/** Where finish left the finished block (valid until the next add). */
export function blockBuilderPointer(builder: BlockBuilder): usize { return builder.entries; }

function reserveEntries(builder: BlockBuilder, bytes: u32): void {
  const needed = <u64>builder.entriesLength + bytes;
  if (needed <= <u64>builder.entriesCapacity) return;
  let capacity = <u64>builder.entriesCapacity;
  while (capacity < needed) capacity <<= 1;
  builder.entries = heap.realloc(builder.entries, <usize>capacity);
  builder.entriesCapacity = <u32>capacity;
}

function pushRestart(builder: BlockBuilder): void {
  if (builder.restartCount == builder.restartsCapacity) {
    builder.restartsCapacity <<= 1;
    builder.restarts = heap.realloc(builder.restarts, builder.restartsCapacity << 2);
  }
  store<u32>(builder.restarts + (builder.restartCount << 2), builder.entriesLength);
  builder.restartCount++;
  builder.sinceRestart = 0;
}

function setLastKey(builder: BlockBuilder, key: usize, keyLength: u32): void {
  if (keyLength > builder.lastKeyCapacity) {
    let capacity = builder.lastKeyCapacity;
    while (capacity < keyLength) capacity <<= 1;
    heap.free(builder.lastKey);
    builder.lastKey = heap.alloc(capacity);
    builder.lastKeyCapacity = capacity;
  }
  copyBytes(builder.lastKey, key, keyLength);
  builder.lastKeyLength = keyLength;
}

// @ts-ignore: decorator
@inline function startsRestart(builder: BlockBuilder): bool {
  return builder.entryCount == 0 || builder.sinceRestart >= builder.restartInterval;
}

/** Writes one entry whose shared prefix with the previous key is `shared` (0 at a restart). */
// @ts-ignore: decorator
@inline function writeEntry(builder: BlockBuilder, restart: bool, shared: u32, size: u32, key: usize, keyLength: u32, value: usize, valueLength: u32): void {
  if (restart) pushRestart(builder);
  reserveEntries(builder, size);
  const unshared = keyLength - shared;
  let at = builder.entries + builder.entriesLength;
  at = writeVarint(at, shared);
  at = writeVarint(at, unshared);
  at = writeVarint(at, valueLength);
  copyBytes(at, key + shared, unshared);
  copyBytes(at + unshared, value, valueLength);
  builder.entriesLength += size;
  builder.entryCount++;
  builder.sinceRestart++;
}

// @ts-ignore: decorator
@inline function entrySize(shared: u32, keyLength: u32, valueLength: u32): u32 {
  const unshared = keyLength - shared;
  return varintLength(shared) + varintLength(unshared) + varintLength(valueLength) + unshared + valueLength;
}

/** Appends one entry; STATUS_UNSORTED (nothing changed) unless key > the last key. */
export function blockBuilderAdd(builder: BlockBuilder, key: usize, keyLength: u32, value: usize, valueLength: u32): u32 {
  assert(keyLength >= TRAILER_BYTES);
  if (builder.entryCount > 0 && compareInternalKeys(builder.lastKey, builder.lastKeyLength, key, keyLength) >= 0) {
    return STATUS_UNSORTED;
  }
  const restart = startsRestart(builder);
  const previousLength = builder.lastKeyLength;
  const shared = restart ? 0 : commonPrefix(builder.lastKey, key, previousLength < keyLength ? previousLength : keyLength);
  writeEntry(builder, restart, shared, entrySize(shared, keyLength, valueLength), key, keyLength, value, valueLength);
  setLastKey(builder, key, keyLength);
  return STATUS_OK;
}

/**
 * Appends run entries from index `from` while the size estimate stays within `target` (at
 * least one entry per call). Returns the index of the first entry not taken, or -1 if an entry
 * is not greater than its predecessor: then the builder is rolled back to its state at the
 * call (unsortedIndex names the entry). The host checked `from` <= run.count.
 */
export function blockBuilderAddFromRun(builder: BlockBuilder, run: Run, from: u32, target: u32): i32 {
  const base = run.pointer;
  const count = run.count;
  let offset: usize = 0;
  for (let i: u32 = 0; i < from; i++) offset += 8 + <usize>load<u32>(base + offset) + <usize>load<u32>(base + offset, 4);
  // Rollback state: the last key buffer is only written after the loop, so it needs none.
  const savedEntriesLength = builder.entriesLength;
  const savedRestartCount = builder.restartCount;
  const savedEntryCount = builder.entryCount;
  const savedSinceRestart = builder.sinceRestart;
  let previous = builder.lastKey;
  let previousLength = builder.lastKeyLength;
  let index = from;
  while (index < count) {
    const keyLength = load<u32>(base + offset);
    const valueLength = load<u32>(base + offset, 4);
    const key = base + offset + 8;
    if (builder.entryCount > 0 && compareInternalKeys(previous, previousLength, key, keyLength) >= 0) {
      builder.entriesLength = savedEntriesLength;
      builder.restartCount = savedRestartCount;
      builder.entryCount = savedEntryCount;
      builder.sinceRestart = savedSinceRestart;
      unsortedIndex = index;
      return -1;
    }
    const restart = startsRestart(builder);
    const shared = restart ? 0 : commonPrefix(previous, key, previousLength < keyLength ? previousLength : keyLength);
    const size = entrySize(shared, keyLength, valueLength);
    const estimate = <u64>builder.entriesLength + size + ((<u64>builder.restartCount + (restart ? 1 : 0)) << 2) + BLOCK_TRAILER_BYTES;
    if (index > from && estimate > <u64>target) break;
    writeEntry(builder, restart, shared, size, key, keyLength, key + keyLength, valueLength);
    previous = key;
    previousLength = keyLength;
    offset += 8 + <usize>keyLength + valueLength;
    index++;
  }
  if (index > from) setLastKey(builder, previous, previousLength);
  return <i32>index;
}

/** Appends restarts and trailer, resets the builder and returns the block's length. */
export function blockBuilderFinish(builder: BlockBuilder): u32 {
  const restartBytes = builder.restartCount << 2;
  reserveEntries(builder, restartBytes + BLOCK_TRAILER_BYTES);
  let at = builder.entries + builder.entriesLength;
  memory.copy(at, builder.restarts, restartBytes);
  at += restartBytes;
  store<u32>(at, builder.restartCount);
  store<u32>(at, builder.entryCount, 4);
  const length = builder.entriesLength + restartBytes + BLOCK_TRAILER_BYTES;
  store<u32>(at, maskCrc(crc32cCompute(builder.entries, length - 4, 0)), 8);
  builderReset(builder);
  return length;
}
