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
import { crc32cCompute } from "./crc32c";
import { maskCrc, copyBytes } from "./block-bytes";

/** blockOpen results below this are corruption codes, not reader pointers. */
const OPEN_ERROR_LIMIT: usize = 16;
const CORRUPT_TOO_SHORT: usize = 1;
const CORRUPT_CHECKSUM: usize = 2;
const CORRUPT_TRAILER: usize = 3;
const CORRUPT_RESTARTS: usize = 4;
const CORRUPT_ENTRY: usize = 5;
/** Largest key or value a block may hold (ENTRY_LENGTH_MAX of ts/core/types.ts). */
const ENTRY_LENGTH_MAX: u64 = 0x7fff_ffff;

/** Details of the last corruption found by blockOpen, read by the host to build its error. */
let corruptionExpected: u32 = 0;
let corruptionActual: u32 = 0;
let corruptionOffset: u32 = 0;

export function blockCorruptionExpected(): u32 { return corruptionExpected; }
export function blockCorruptionActual(): u32 { return corruptionActual; }
export function blockCorruptionOffset(): u32 { return corruptionOffset; }

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
@inline export function restartAt(block: Block, index: u32): u32 {
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
export function positionNew(block: Block): Position {
  const at = heap.alloc(offsetof<Position>() + keyCapacity(block));
  return positionInit(at, block, at + offsetof<Position>());
}

export function positionFree(position: Position): void {
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
export function decodeAt(position: Position, offset: u32): void {
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
