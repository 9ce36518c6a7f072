// Data blocks of an SSTable, LevelDB's layout (ts/format.ts has the diagram):
//
//   block := entry* restart* u32 restartCount | u32 entryCount | u32 maskedCrc32c
//   entry := varint shared | varint unshared | varint valueLength | key[shared..] | value
//   restart := u32 LE offset of an entry whose shared is 0 (one every restartInterval entries)
//
// Varints are LEB128 u32. The CRC covers every byte before it. An empty block has no entries
// and no restarts (restartCount 0; LevelDB would write one restart at 0): it is exactly the
// 12-byte trailer. The pure twin is ts/core/pure/block.ts; both write identical bytes.
//
// A reader validates the whole block once at open (CRC, trailer, restarts, every entry header),
// so the positioning code after it can decode without bounds checks and never traps.
import { BLOCK_TRAILER_BYTES, TRAILER_BYTES } from "./format";
import { compareBytes, compareInternalKeys } from "./entry";
import { Run, runReserve } from "./run";
import { crc32cCompute } from "./crc32c";

/** Expected failures, returned to the host, which throws the matching PgzError. */
const STATUS_OK: u32 = 0;
const STATUS_UNSORTED: u32 = 1;
/** blockOpen results below this are corruption codes, not reader pointers. */
const OPEN_ERROR_LIMIT: usize = 16;
const CORRUPT_TOO_SHORT: usize = 1;
const CORRUPT_CHECKSUM: usize = 2;
const CORRUPT_TRAILER: usize = 3;
const CORRUPT_RESTARTS: usize = 4;
const CORRUPT_ENTRY: usize = 5;
/** Largest key or value a block may hold (ENTRY_LENGTH_MAX of ts/core/types.ts). */
const ENTRY_LENGTH_MAX: u64 = 0x7fff_ffff;
const CRC_MASK_DELTA: u32 = 0xa282ead8;

/** Details of the last corruption found by blockOpen, read by the host to build its error. */
let corruptionExpected: u32 = 0;
let corruptionActual: u32 = 0;
let corruptionOffset: u32 = 0;
/** Index of the run entry that broke key order in the last failed blockBuilderAddFromRun. */
let unsortedIndex: u32 = 0;

export function blockCorruptionExpected(): u32 { return corruptionExpected; }
export function blockCorruptionActual(): u32 { return corruptionActual; }
export function blockCorruptionOffset(): u32 { return corruptionOffset; }
export function blockUnsortedIndex(): u32 { return unsortedIndex; }

// @ts-ignore: decorator
@inline function maskCrc(crc: u32): u32 {
  return ((crc >>> 15) | (crc << 17)) + CRC_MASK_DELTA;
}

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

/**
 * Copies `length` bytes between buffers that do not overlap. Keys are mostly short, and for
 * short lengths a word loop beats memory.copy, which V8 compiles to a call out of the module.
 */
// @ts-ignore: decorator
@inline function copyBytes(target: usize, source: usize, length: u32): void {
  if (length <= 32) {
    let i: u32 = 0;
    while (i + 8 <= length) {
      store<u64>(target + i, load<u64>(source + i));
      i += 8;
    }
    while (i < length) {
      store<u8>(target + i, load<u8>(source + i));
      i++;
    }
  } else {
    memory.copy(target, source, length);
  }
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

// ---------------------------------------------------------------------------------------------
// Builder.

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

// ---------------------------------------------------------------------------------------------
// Reader.

/** A validated block copy, shared by its reader and the reader's cursors. */
// @ts-ignore: decorator
@unmanaged export class Block {
  data: usize;
  /** Where the entries end and the restart array begins. */
  restartsOffset: u32;
  restartCount: u32;
  entryCount: u32;
  keyLengthMax: u32;
  /** Most entries between two restarts (sizes the reverse cursor's scratch). */
  intervalEntriesMax: u32;
}

/**
 * A position in a block: the reader's, or a cursor's. The host reads the first five fields
 * straight from memory (offsets checked by blockPositionLayout).
 */
// @ts-ignore: decorator
@unmanaged export class Position {
  keyPointer: usize;
  keyLength: u32;
  valuePointer: usize;
  valueLength: u32;
  valid: u32;
  /** Offset of the current entry and of the one after it. */
  offset: u32;
  nextOffset: u32;
  /** The restart interval holding the current entry (a reverse cursor: the entry before endOffset). */
  restartIndex: u32;
  block: Block;
  /** Reverse cursor: entries before this offset remain to be emitted. */
  endOffset: u32;
  /** Reverse cursor: run sizes of one interval's entries. */
  scratch: usize;
}

export function blockPositionLayout(): u32 {
  return offsetof<Position>("keyLength") | (offsetof<Position>("valuePointer") << 8)
    | (offsetof<Position>("valueLength") << 16) | (offsetof<Position>("valid") << 24);
}

// @ts-ignore: decorator
@inline function restartAt(block: Block, index: u32): u32 {
  return load<u32>(block.data + block.restartsOffset + (index << 2));
}

/** Decodes a varint in [at, end); 0 if it runs past end or overflows u32, else where it ends. */
let varintValue: u32 = 0;
function readVarintChecked(at: usize, end: usize): usize {
  let value: u32 = 0;
  for (let shift: u32 = 0; shift < 35; shift += 7) {
    if (at >= end) return 0;
    const byte = <u32>load<u8>(at++);
    if (shift == 28 && byte > 0x0f) return 0;
    value |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      varintValue = value;
      return at;
    }
  }
  return 0;
}

/** The fields of the entry header last read by readHeader. */
export let headerShared: u32 = 0;
export let headerUnshared: u32 = 0;
export let headerValueLength: u32 = 0;

/**
 * Reads the three varints of the entry header at `at` in a validated block; returns where the
 * key bytes start. Entries are followed by at least the 12-byte trailer, so the 4-byte load of
 * the fast path (all three varints one byte long) stays inside the block.
 */
// @ts-ignore: decorator
@inline export function readHeader(at: usize): usize {
  const head = load<u32>(at);
  if ((head & 0x808080) == 0) {
    headerShared = head & 0xff;
    headerUnshared = (head >>> 8) & 0xff;
    headerValueLength = (head >>> 16) & 0xff;
    return at + 3;
  }
  at = readVarintChecked(at, <usize>-1);
  headerShared = varintValue;
  at = readVarintChecked(at, <usize>-1);
  headerUnshared = varintValue;
  at = readVarintChecked(at, <usize>-1);
  headerValueLength = varintValue;
  return at;
}

/** Validates the trailer, restarts and every entry header; 0 if sound, else a corruption code. */
function validate(data: usize, length: u32, block: Block): usize {
  const restartCount = load<u32>(data + length - 12);
  const entryCount = load<u32>(data + length - 8);
  const trailerStart = length - BLOCK_TRAILER_BYTES;
  if (restartCount > trailerStart >> 2) return CORRUPT_TRAILER;
  const restartsOffset = trailerStart - (restartCount << 2);
  if (entryCount == 0) {
    if (restartCount != 0 || restartsOffset != 0) return CORRUPT_TRAILER;
  } else if (restartCount == 0 || restartCount > entryCount) {
    return CORRUPT_TRAILER;
  }
  for (let r: u32 = 0; r < restartCount; r++) {
    const restart = load<u32>(data + restartsOffset + (r << 2));
    const previous: u32 = r == 0 ? 0 : load<u32>(data + restartsOffset + ((r - 1) << 2));
    corruptionOffset = restartsOffset + (r << 2);
    if (r == 0 ? restart != 0 : restart <= previous) return CORRUPT_RESTARTS;
    if (restart >= restartsOffset) return CORRUPT_RESTARTS;
  }
  const end = data + restartsOffset;
  let at = data;
  let restartIndex: u32 = 0;
  let nextRestart: usize = restartCount > 0 ? data : <usize>-1;
  let count: u32 = 0;
  let keyLength: u32 = 0;
  let keyLengthMax: u32 = 0;
  let interval: u32 = 0;
  let intervalMax: u32 = 0;
  while (at < end) {
    corruptionOffset = <u32>(at - data);
    if (at == nextRestart) {
      restartIndex++;
      nextRestart = restartIndex < restartCount ? data + load<u32>(data + restartsOffset + (restartIndex << 2)) : <usize>-1;
      interval = 0;
    } else if (at > nextRestart) {
      return CORRUPT_RESTARTS;
    }
    at = readVarintChecked(at, end);
    if (at == 0) return CORRUPT_ENTRY;
    const shared = varintValue;
    at = readVarintChecked(at, end);
    if (at == 0) return CORRUPT_ENTRY;
    const unshared = varintValue;
    at = readVarintChecked(at, end);
    if (at == 0) return CORRUPT_ENTRY;
    const valueLength = varintValue;
    if (interval == 0 ? shared != 0 : shared > keyLength) return CORRUPT_ENTRY;
    const nextKeyLength = <u64>shared + unshared;
    if (nextKeyLength < <u64>TRAILER_BYTES || nextKeyLength > ENTRY_LENGTH_MAX) return CORRUPT_ENTRY;
    if (<u64>valueLength > ENTRY_LENGTH_MAX || <u64>(end - at) < <u64>unshared + valueLength) return CORRUPT_ENTRY;
    at += <usize>unshared + valueLength;
    keyLength = <u32>nextKeyLength;
    if (keyLength > keyLengthMax) keyLengthMax = keyLength;
    interval++;
    if (interval > intervalMax) intervalMax = interval;
    count++;
  }
  corruptionOffset = restartsOffset;
  if (restartIndex != restartCount) return CORRUPT_RESTARTS;
  if (count != entryCount) return CORRUPT_TRAILER;
  block.data = data;
  block.restartsOffset = restartsOffset;
  block.restartCount = restartCount;
  block.entryCount = entryCount;
  block.keyLengthMax = keyLengthMax;
  block.intervalEntriesMax = intervalMax;
  return 0;
}

/**
 * Initialises a position at `at`, with its key buffer at `keyBuffer` (both inside one
 * allocation: a random read then touches a line or two of bookkeeping, not three allocations).
 */
function positionInit(at: usize, block: Block, keyBuffer: usize): Position {
  const position = changetype<Position>(at);
  position.keyPointer = keyBuffer;
  position.keyLength = 0;
  position.valuePointer = 0;
  position.valueLength = 0;
  position.valid = 0;
  position.offset = 0;
  position.nextOffset = 0;
  position.restartIndex = 0;
  position.block = block;
  position.endOffset = 0;
  position.scratch = 0;
  return position;
}

// @ts-ignore: decorator
@inline function keyCapacity(block: Block): usize {
  const capacity: u32 = block.keyLengthMax > 16 ? block.keyLengthMax : 16;
  return <usize>capacity;
}

/** A cursor's position: [Position | key buffer]. */
function positionNew(block: Block): Position {
  const at = heap.alloc(offsetof<Position>() + keyCapacity(block));
  return positionInit(at, block, at + offsetof<Position>());
}

function positionFree(position: Position): void {
  if (position.scratch != 0) heap.free(position.scratch);
  heap.free(changetype<usize>(position));
}

/** Where validate() writes a block's fields before blockOpen moves them into the reader. */
const validated = changetype<Block>(memory.data(offsetof<Block>()));

/**
 * Takes ownership of the `length` bytes at `data` (from memoryAllocate) and returns a reader,
 * or a corruption code below OPEN_ERROR_LIMIT after freeing them (details in the globals).
 */
export function blockOpen(data: usize, length: u32): usize {
  if (length < BLOCK_TRAILER_BYTES) {
    heap.free(data);
    corruptionOffset = 0;
    return CORRUPT_TOO_SHORT;
  }
  const expected = load<u32>(data + length - 4);
  const actual = maskCrc(crc32cCompute(data, length - 4, 0));
  if (expected != actual) {
    heap.free(data);
    corruptionExpected = expected;
    corruptionActual = actual;
    corruptionOffset = length - 4;
    return CORRUPT_CHECKSUM;
  }
  const status = validate(data, length, validated);
  if (status != 0) {
    heap.free(data);
    return status;
  }
  // The reader is one allocation: [Position | Block | key buffer]; its cursors share the Block.
  const reader = heap.alloc(offsetof<Position>() + offsetof<Block>() + keyCapacity(validated));
  const block = changetype<Block>(reader + offsetof<Position>());
  memory.copy(changetype<usize>(block), changetype<usize>(validated), offsetof<Block>());
  positionInit(reader, block, reader + offsetof<Position>() + offsetof<Block>());
  assert(reader >= OPEN_ERROR_LIMIT);
  return reader;
}

export function blockReaderFree(reader: Position): void {
  heap.free(reader.block.data);
  positionFree(reader);
}

/** Decodes the entry at `offset`, whose shared prefix is in the key buffer (validated block). */
function decodeAt(position: Position, offset: u32): void {
  const data = position.block.data;
  const at = readHeader(data + offset);
  const shared = headerShared;
  const unshared = headerUnshared;
  const valueLength = headerValueLength;
  copyBytes(position.keyPointer + shared, at, unshared);
  position.keyLength = shared + unshared;
  position.valuePointer = at + unshared;
  position.valueLength = valueLength;
  position.offset = offset;
  position.nextOffset = <u32>(at + unshared + valueLength - data);
  position.valid = 1;
}

export function blockFirst(position: Position): u32 {
  const block = position.block;
  if (block.entryCount == 0) {
    position.valid = 0;
    return 0;
  }
  position.restartIndex = 0;
  decodeAt(position, 0);
  return 1;
}

export function blockLast(position: Position): u32 {
  const block = position.block;
  if (block.entryCount == 0) {
    position.valid = 0;
    return 0;
  }
  const last = block.restartCount - 1;
  position.restartIndex = last;
  decodeAt(position, restartAt(block, last));
  while (position.nextOffset < block.restartsOffset) decodeAt(position, position.nextOffset);
  return 1;
}

export function blockNext(position: Position): u32 {
  if (position.valid == 0) return 0;
  const block = position.block;
  const offset = position.nextOffset;
  if (offset >= block.restartsOffset) {
    position.valid = 0;
    return 0;
  }
  const following = position.restartIndex + 1;
  if (following < block.restartCount && restartAt(block, following) == offset) position.restartIndex = following;
  decodeAt(position, offset);
  return 1;
}

/** Like LevelDB: re-scans forward from the restart before the current entry. */
export function blockPrev(position: Position): u32 {
  if (position.valid == 0) return 0;
  const original = position.offset;
  if (original == 0) {
    position.valid = 0;
    return 0;
  }
  const block = position.block;
  let restart = position.restartIndex;
  if (restartAt(block, restart) == original) restart--;
  position.restartIndex = restart;
  decodeAt(position, restartAt(block, restart));
  while (position.nextOffset < original) decodeAt(position, position.nextOffset);
  return 1;
}

/** Positions at the first entry >= the internal key [target, target + length). */
export function blockSeek(position: Position, target: usize, targetLength: u32): u32 {
  assert(targetLength >= TRAILER_BYTES);
  const block = position.block;
  if (block.entryCount == 0) {
    position.valid = 0;
    return 0;
  }
  // Binary search for the last restart whose key is < target; restart keys are stored whole.
  let left: u32 = 0;
  let right: u32 = block.restartCount - 1;
  while (left < right) {
    const middle = (left + right + 1) >> 1;
    // A restart entry's key is stored whole (shared is 0).
    const key = readHeader(block.data + restartAt(block, middle));
    if (compareInternalKeys(key, headerUnshared, target, targetLength) < 0) left = middle;
    else right = middle - 1;
  }
  position.restartIndex = left;
  decodeAt(position, restartAt(block, left));
  while (compareInternalKeys(position.keyPointer, position.keyLength, target, targetLength) < 0) {
    if (blockNext(position) == 0) return 0;
  }
  return 1;
}

/**
 * A point lookup: seeks the internal key [target, target + length) and returns the kind of the
 * entry found if it has the target's user key (the host reads its trailer and value from the
 * position), or -1.
 */
export function blockGet(position: Position, target: usize, targetLength: u32): i32 {
  if (blockSeek(position, target, targetLength) == 0) return -1;
  if (position.keyLength != targetLength) return -1;
  const userKeyLength = targetLength - TRAILER_BYTES;
  if (compareBytes(position.keyPointer, userKeyLength, target, userKeyLength) != 0) return -1;
  return <i32>load<u8>(position.keyPointer + userKeyLength);
}

// ---------------------------------------------------------------------------------------------
// Cursors: their own position (and key buffer), starting where the reader stands.

export function blockCursorNew(reader: Position, reverse: u32): Position {
  const block = reader.block;
  const cursor = positionNew(block);
  if (reverse != 0) {
    const scratchEntries: u32 = block.intervalEntriesMax > 0 ? block.intervalEntriesMax : 1;
    cursor.scratch = heap.alloc(<usize>scratchEntries << 2);
    if (reader.valid != 0) {
      cursor.endOffset = reader.nextOffset;
      cursor.restartIndex = reader.restartIndex;
    } else if (block.entryCount > 0) {
      cursor.endOffset = block.restartsOffset;
      cursor.restartIndex = block.restartCount - 1;
    }
  } else if (reader.valid != 0) {
    memory.copy(cursor.keyPointer, reader.keyPointer, reader.keyLength);
    cursor.keyLength = reader.keyLength;
    cursor.valuePointer = reader.valuePointer;
    cursor.valueLength = reader.valueLength;
    cursor.valid = 1;
    cursor.offset = reader.offset;
    cursor.nextOffset = reader.nextOffset;
    cursor.restartIndex = reader.restartIndex;
  } else {
    blockFirst(cursor);
  }
  return cursor;
}

export function blockCursorFree(cursor: Position): void {
  positionFree(cursor);
}

/** Appends the cursor's entry to `run` (runAppend, with copyBytes for the short key). */
// @ts-ignore: decorator
@inline function appendEntry(run: Run, cursor: Position): void {
  const keyLength = cursor.keyLength;
  const valueLength = cursor.valueLength;
  const size = 8 + keyLength + valueLength;
  const at = runReserve(run, size);
  store<u32>(at, keyLength);
  store<u32>(at, valueLength, 4);
  copyBytes(at + 8, cursor.keyPointer, keyLength);
  copyBytes(at + 8 + keyLength, cursor.valuePointer, valueLength);
  run.byteLength += size;
  run.count++;
}

/** Clears `run` and appends entries until it holds `target` bytes; returns how many. */
export function blockCursorFill(cursor: Position, run: Run, reverse: u32, target: u32): u32 {
  run.byteLength = 0;
  run.count = 0;
  if (reverse != 0) return fillReverse(cursor, run, target);
  let appended: u32 = 0;
  while (cursor.valid != 0) {
    appendEntry(run, cursor);
    appended++;
    blockNext(cursor);
    if (run.byteLength >= target) break;
  }
  return appended;
}

/**
 * Emits entries before endOffset, newest offset first, one restart interval at a time: a pass
 * over the interval's headers sizes the entries, then a forward decode writes each emitted
 * entry into its mirrored slot of the run. Each entry is decoded twice instead of the
 * interval/2 times a prev() per entry would cost.
 */
function fillReverse(cursor: Position, run: Run, target: u32): u32 {
  const block = cursor.block;
  const data = block.data;
  const sizes = cursor.scratch;
  let appended: u32 = 0;
  while (cursor.endOffset > 0 && (appended == 0 || run.byteLength < target)) {
    const start = restartAt(block, cursor.restartIndex);
    const end = cursor.endOffset;
    let count: u32 = 0;
    let at = data + start;
    while (at < data + end) {
      at = readHeader(at);
      assert(count < block.intervalEntriesMax);
      store<u32>(sizes + (count << 2), 8 + headerShared + headerUnshared + headerValueLength);
      count++;
      at += <usize>headerUnshared + headerValueLength;
    }
    // Take entries from the interval's end until the run reaches the target.
    let taken: u32 = 0;
    let total: u32 = 0;
    while (taken < count) {
      total += load<u32>(sizes + ((count - 1 - taken) << 2));
      taken++;
      if (run.byteLength + total >= target) break;
    }
    const firstTaken = count - taken;
    let slot = runReserve(run, total) + total;
    let offset = start;
    let firstTakenOffset = start;
    for (let index: u32 = 0; index < count; index++) {
      decodeAt(cursor, offset);
      if (index >= firstTaken) {
        if (index == firstTaken) firstTakenOffset = offset;
        const keyLength = cursor.keyLength;
        const valueLength = cursor.valueLength;
        slot -= 8 + <usize>keyLength + valueLength;
        store<u32>(slot, keyLength);
        store<u32>(slot, valueLength, 4);
        copyBytes(slot + 8, cursor.keyPointer, keyLength);
        copyBytes(slot + 8 + keyLength, cursor.valuePointer, valueLength);
      }
      offset = cursor.nextOffset;
    }
    run.byteLength += total;
    run.count += taken;
    appended += taken;
    if (taken == count) {
      cursor.endOffset = start;
      if (cursor.restartIndex > 0) cursor.restartIndex--;
    } else {
      cursor.endOffset = firstTakenOffset;
    }
  }
  cursor.valid = 0;
  return appended;
}
