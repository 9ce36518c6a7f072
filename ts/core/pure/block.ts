/**
 * Data blocks of an SSTable for the pure core, the twin of assembly/block.ts (LevelDB's layout;
 * ts/format.ts has the diagram):
 *
 *   block   := entry* restart* u32 restartCount | u32 entryCount | u32 maskedCrc32c
 *   entry   := varint shared | varint unshared | varint valueLength | key[shared..] | value
 *   restart := u32 LE offset of an entry whose shared is 0 (one every restartInterval entries)
 *
 * Varints are LEB128 u32; the CRC covers every byte before it. An empty block has no entries and
 * no restarts (restartCount 0, where LevelDB would write one restart at 0): it is exactly the
 * 12-byte trailer. openBlock copies the block (as the WASM core copies it into its memory) and
 * validates all of it once (CRC, trailer, restarts, every entry header), so positioning after
 * it decodes without bounds checks and cannot loop or read out of range.
 */
import { BLOCK_RESTART_INTERVAL, BLOCK_TRAILER_BYTES as BLOCK_TRAILER_BYTES_IMPORTED } from "../../format.ts";
import { invalidArgument } from "../../errors.ts";
import { ENTRY_LENGTH_MAX as ENTRY_LENGTH_MAX_IMPORTED, TRAILER_BYTES as TRAILER_BYTES_IMPORTED, type BlockBuilder, type BlockReader, type Cursor, type Hit, type Run } from "../types.ts";
import { asPureRun, type PureRun } from "./run.ts";
import { sequenceAt } from "../entry.ts";
import { copyOfRange } from "../slab.ts";
import { pureCrc32c } from "./crc32c.ts";
import { BlockCorruption, blockCorruptionError, checkEntry, checkRestartInterval, checkRunArguments, crc32cMask, type BlockCorruptionCode } from "../checks.ts";

// Module-local copies of imported constants: a loader that keeps imports as live bindings
// (tsx does) turns each use in a hot loop into a getter call.
const TRAILER_BYTES = TRAILER_BYTES_IMPORTED;
const BLOCK_TRAILER_BYTES = BLOCK_TRAILER_BYTES_IMPORTED;
const ENTRY_LENGTH_MAX = ENTRY_LENGTH_MAX_IMPORTED;
const FILL_BYTES_DEFAULT = 64 * 1024;
/** Below this length a byte loop beats subarray() + set() (which allocates a view). */
const COPY_LOOP_BYTES_MAX = 32;

/** The pure crc32c module's function (the same CRC32C the WASM core computes in place). */
const { crc32c } = pureCrc32c();

/** Bytewise-then-trailer-descending order of two internal keys given by array and range. */
function compareInternalKeysAt(a: Uint8Array, aStart: number, aLength: number, b: Uint8Array, bStart: number, bLength: number): number {
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

function commonPrefix(a: Uint8Array, aStart: number, b: Uint8Array, bStart: number, length: number): number {
  let i = 0;
  while (i < length && a[aStart + i] === b[bStart + i]) i++;
  return i;
}

function copyBytes(target: Uint8Array, targetStart: number, source: Uint8Array, sourceStart: number, length: number): void {
  if (length <= COPY_LOOP_BYTES_MAX) {
    for (let i = 0; i < length; i++) target[targetStart + i] = source[sourceStart + i]!;
  } else {
    target.set(source.subarray(sourceStart, sourceStart + length), targetStart);
  }
}

function varintLength(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : value < 0x1000_0000 ? 4 : 5;
}

function writeVarint(target: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    target[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[at] = value;
  return at + 1;
}

// ---------------------------------------------------------------------------------------------
// Builder.

class PureBlockBuilder implements BlockBuilder {
  private entries = new Uint8Array(4096);
  private entriesLength = 0;
  private restarts = new Uint32Array(64);
  private restartCount = 0;
  private entryCount = 0;
  /** Entries since the last restart (restartInterval forces the next entry to restart). */
  private sinceRestart = 0;
  private lastKeyBytes = new Uint8Array(64);
  private lastKeyLength = 0;
  private freed = false;

  constructor(private readonly restartInterval: number) {}

  get count(): number {
    this.checkLive();
    return this.entryCount;
  }

  get sizeEstimate(): number {
    this.checkLive();
    return this.entriesLength + this.restartCount * 4 + BLOCK_TRAILER_BYTES;
  }

  lastKey(): Uint8Array {
    this.checkLive();
    return this.lastKeyBytes.slice(0, this.lastKeyLength);
  }

  add(internalKey: Uint8Array, value: Uint8Array): void {
    this.checkLive();
    checkEntry(internalKey, value);
    const previousLength = this.lastKeyLength;
    if (this.entryCount > 0 && compareInternalKeysAt(this.lastKeyBytes, 0, previousLength, internalKey, 0, internalKey.length) >= 0) {
      throw invalidArgument("block keys must be strictly increasing");
    }
    const restart = this.startsRestart();
    const keyLength = internalKey.length;
    const shared = restart ? 0 : commonPrefix(this.lastKeyBytes, 0, internalKey, 0, previousLength < keyLength ? previousLength : keyLength);
    this.writeEntry(restart, shared, internalKey, 0, keyLength, value, 0, value.length);
    this.setLastKey(internalKey, 0, keyLength);
  }

  addFromRun(run: Run, from: number, blockBytesTarget: number): number {
    this.checkLive();
    const source: PureRun = asPureRun(run);
    const count = source.count;
    checkRunArguments(from, count, blockBytesTarget);
    const bytes = source.buffer;
    const view = source.view;
    let offset = 0;
    for (let i = 0; i < from; i++) offset += 8 + view.getUint32(offset, true) + view.getUint32(offset + 4, true);
    // Rollback state: the last key buffer is only written after the loop, so it needs none.
    const saved = [this.entriesLength, this.restartCount, this.entryCount, this.sinceRestart] as const;
    let previous: Uint8Array = this.lastKeyBytes;
    let previousStart = 0;
    let previousLength = this.lastKeyLength;
    let index = from;
    while (index < count) {
      const keyLength = view.getUint32(offset, true);
      const valueLength = view.getUint32(offset + 4, true);
      const keyStart = offset + 8;
      if (this.entryCount > 0 && compareInternalKeysAt(previous, previousStart, previousLength, bytes, keyStart, keyLength) >= 0) {
        [this.entriesLength, this.restartCount, this.entryCount, this.sinceRestart] = saved;
        throw invalidArgument(`run entry ${index} is not greater than the key before it`);
      }
      const restart = this.startsRestart();
      const shared = restart ? 0 : commonPrefix(previous, previousStart, bytes, keyStart, previousLength < keyLength ? previousLength : keyLength);
      const unshared = keyLength - shared;
      const size = varintLength(shared) + varintLength(unshared) + varintLength(valueLength) + unshared + valueLength;
      const estimate = this.entriesLength + size + (this.restartCount + (restart ? 1 : 0)) * 4 + BLOCK_TRAILER_BYTES;
      if (index > from && estimate > blockBytesTarget) break;
      this.writeEntry(restart, shared, bytes, keyStart, keyLength, bytes, keyStart + keyLength, valueLength);
      previous = bytes;
      previousStart = keyStart;
      previousLength = keyLength;
      offset = keyStart + keyLength + valueLength;
      index++;
    }
    if (index > from) this.setLastKey(previous, previousStart, previousLength);
    return index;
  }

  finish(): Uint8Array {
    this.checkLive();
    const restartBytes = this.restartCount * 4;
    const length = this.entriesLength + restartBytes + BLOCK_TRAILER_BYTES;
    const block = new Uint8Array(length);
    block.set(this.entries.subarray(0, this.entriesLength));
    const view = new DataView(block.buffer);
    let at = this.entriesLength;
    for (let r = 0; r < this.restartCount; r++, at += 4) view.setUint32(at, this.restarts[r]!, true);
    view.setUint32(at, this.restartCount, true);
    view.setUint32(at + 4, this.entryCount, true);
    view.setUint32(at + 8, crc32cMask(crc32c(block.subarray(0, length - 4))), true);
    this.entriesLength = 0;
    this.restartCount = 0;
    this.entryCount = 0;
    this.sinceRestart = 0;
    this.lastKeyLength = 0;
    return block;
  }

  free(): void {
    this.freed = true;
  }

  private checkLive(): void {
    if (this.freed) throw invalidArgument("block builder used after free()");
  }

  private startsRestart(): boolean {
    return this.entryCount === 0 || this.sinceRestart >= this.restartInterval;
  }

  /** Writes one entry whose shared prefix with the previous key is `shared` (0 at a restart). */
  private writeEntry(restart: boolean, shared: number, key: Uint8Array, keyStart: number, keyLength: number, value: Uint8Array, valueStart: number, valueLength: number): void {
    if (restart) this.pushRestart();
    const unshared = keyLength - shared;
    const size = varintLength(shared) + varintLength(unshared) + varintLength(valueLength) + unshared + valueLength;
    if (this.entriesLength + size > this.entries.length) this.growEntries(this.entriesLength + size);
    const entries = this.entries;
    let at = this.entriesLength;
    if (shared < 0x80 && unshared < 0x80 && valueLength < 0x80) {
      entries[at] = shared;
      entries[at + 1] = unshared;
      entries[at + 2] = valueLength;
      at += 3;
    } else {
      at = writeVarint(entries, at, shared);
      at = writeVarint(entries, at, unshared);
      at = writeVarint(entries, at, valueLength);
    }
    copyBytes(entries, at, key, keyStart + shared, unshared);
    copyBytes(entries, at + unshared, value, valueStart, valueLength);
    this.entriesLength += size;
    this.entryCount++;
    this.sinceRestart++;
  }

  private growEntries(needed: number): void {
    let capacity = this.entries.length;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.entries.subarray(0, this.entriesLength));
    this.entries = grown;
  }

  private pushRestart(): void {
    if (this.restartCount === this.restarts.length) {
      const grown = new Uint32Array(this.restarts.length * 2);
      grown.set(this.restarts);
      this.restarts = grown;
    }
    this.restarts[this.restartCount++] = this.entriesLength;
    this.sinceRestart = 0;
  }

  private setLastKey(key: Uint8Array, start: number, length: number): void {
    if (length > this.lastKeyBytes.length) {
      let capacity = this.lastKeyBytes.length;
      while (capacity < length) capacity *= 2;
      this.lastKeyBytes = new Uint8Array(capacity);
    }
    copyBytes(this.lastKeyBytes, 0, key, start, length);
    this.lastKeyLength = length;
  }
}

// ---------------------------------------------------------------------------------------------
// Reader.

/** A validated copy of a block, shared by its reader and the reader's cursors. */
class BlockData {
  /** Where the entries end and the restart array begins. */
  restartsOffset = 0;
  restartCount = 0;
  entryCount = 0;
  keyLengthMax = 0;
  /** Most entries between two restarts (sizes the reverse cursor's scratch). */
  intervalEntriesMax = 0;
  readonly view: DataView;
  freed = false;

  constructor(readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  restartAt(index: number): number {
    return this.view.getUint32(this.restartsOffset + index * 4, true);
  }

  /** Throws PGZ_CORRUPTION unless the trailer, restarts and every entry header are sound. */
  validate(): void {
    const { data, view } = this;
    const length = data.length;
    const fail = (code: BlockCorruptionCode, offset: number, expected = 0, actual = 0): never => {
      throw blockCorruptionError(code, length, offset, expected, actual);
    };
    if (length < BLOCK_TRAILER_BYTES) fail(BlockCorruption.TooShort, 0);
    const expected = view.getUint32(length - 4, true);
    const actual = crc32cMask(crc32c(data.subarray(0, length - 4)));
    if (expected !== actual) fail(BlockCorruption.Checksum, length - 4, expected, actual);
    const restartCount = view.getUint32(length - 12, true);
    const entryCount = view.getUint32(length - 8, true);
    const trailerStart = length - BLOCK_TRAILER_BYTES;
    if (restartCount > trailerStart >>> 2) fail(BlockCorruption.Trailer, trailerStart);
    const restartsOffset = trailerStart - restartCount * 4;
    if (entryCount === 0 ? restartCount !== 0 || restartsOffset !== 0 : restartCount === 0 || restartCount > entryCount) {
      fail(BlockCorruption.Trailer, trailerStart);
    }
    for (let r = 0; r < restartCount; r++) {
      const restart = view.getUint32(restartsOffset + r * 4, true);
      const previous = r === 0 ? 0 : view.getUint32(restartsOffset + (r - 1) * 4, true);
      if ((r === 0 ? restart !== 0 : restart <= previous) || restart >= restartsOffset) fail(BlockCorruption.Restarts, restartsOffset + r * 4);
    }
    this.restartsOffset = restartsOffset;
    this.restartCount = restartCount;
    this.entryCount = entryCount;
    this.validateEntries(fail);
  }

  private validateEntries(fail: (code: BlockCorruptionCode, offset: number) => never): void {
    const { data, restartsOffset, restartCount } = this;
    const end = restartsOffset;
    let at = 0;
    let restartIndex = 0;
    let nextRestart = restartCount > 0 ? 0 : Infinity;
    let count = 0;
    let keyLength = 0;
    let interval = 0;
    while (at < end) {
      const entryStart = at;
      if (at === nextRestart) {
        restartIndex++;
        nextRestart = restartIndex < restartCount ? this.restartAt(restartIndex) : Infinity;
        interval = 0;
      } else if (at > nextRestart) {
        fail(BlockCorruption.Restarts, entryStart);
      }
      const shared = readVarintChecked(data, at, end);
      if (shared < 0) fail(BlockCorruption.Entry, entryStart);
      at = varintEnd;
      const unshared = readVarintChecked(data, at, end);
      if (unshared < 0) fail(BlockCorruption.Entry, entryStart);
      at = varintEnd;
      const valueLength = readVarintChecked(data, at, end);
      if (valueLength < 0) fail(BlockCorruption.Entry, entryStart);
      at = varintEnd;
      if (interval === 0 ? shared !== 0 : shared > keyLength) fail(BlockCorruption.Entry, entryStart);
      const nextKeyLength = shared + unshared;
      if (nextKeyLength < TRAILER_BYTES || nextKeyLength > ENTRY_LENGTH_MAX) fail(BlockCorruption.Entry, entryStart);
      if (valueLength > ENTRY_LENGTH_MAX || end - at < unshared + valueLength) fail(BlockCorruption.Entry, entryStart);
      at += unshared + valueLength;
      keyLength = nextKeyLength;
      if (keyLength > this.keyLengthMax) this.keyLengthMax = keyLength;
      interval++;
      if (interval > this.intervalEntriesMax) this.intervalEntriesMax = interval;
      count++;
    }
    if (restartIndex !== restartCount) fail(BlockCorruption.Restarts, restartsOffset);
    if (count !== this.entryCount) fail(BlockCorruption.Trailer, restartsOffset);
  }
}

/** Where the last readVarint/readVarintChecked ended (a second result without an allocation). */
let varintEnd = 0;

/** Decodes a u32 varint in [at, end); -1 if it runs past end or overflows u32. */
function readVarintChecked(data: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at >= end) return -1;
    const byte = data[at++]!;
    if (shift === 28 && byte > 0x0f) return -1;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) {
      varintEnd = at;
      return value;
    }
  }
  return -1;
}

/** Decodes a varint of a validated block. */
function readVarint(data: Uint8Array, at: number): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = data[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
    shift += 7;
  }
  varintEnd = at;
  return value;
}

/** The entry header last read by readHeader. */
let headerShared = 0;
let headerUnshared = 0;
let headerValueLength = 0;

/** Reads the header of the entry at `at` of a validated block; returns where its key starts. */
function readHeader(data: Uint8Array, at: number): number {
  const shared = data[at]!;
  const unshared = data[at + 1]!;
  const valueLength = data[at + 2]!;
  // Entries are followed by the 12-byte trailer, so at + 2 is inside the block.
  if ((shared | unshared | valueLength) < 0x80) {
    headerShared = shared;
    headerUnshared = unshared;
    headerValueLength = valueLength;
    return at + 3;
  }
  headerShared = readVarint(data, at);
  headerUnshared = readVarint(data, varintEnd);
  headerValueLength = readVarint(data, varintEnd);
  return varintEnd;
}

/** A position in a block: the reader's, or a cursor's (which has its own key buffer). */
class Position {
  key: Uint8Array;
  keyLength = 0;
  valueOffset = 0;
  valueLength = 0;
  valid = false;
  /** Offsets of the current entry and of the one after it. */
  offset = 0;
  nextOffset = 0;
  /** The restart interval holding the current entry (a reverse cursor: the entry before endOffset). */
  restartIndex = 0;

  constructor(readonly block: BlockData) {
    this.key = new Uint8Array(Math.max(16, block.keyLengthMax));
  }

  /** Decodes the entry at `offset`, whose shared prefix is in the key buffer. */
  decodeAt(offset: number): void {
    const data = this.block.data;
    const at = readHeader(data, offset);
    const shared = headerShared;
    const unshared = headerUnshared;
    copyBytes(this.key, shared, data, at, unshared);
    this.keyLength = shared + unshared;
    this.valueOffset = at + unshared;
    this.valueLength = headerValueLength;
    this.offset = offset;
    this.nextOffset = this.valueOffset + headerValueLength;
    this.valid = true;
  }

  first(): boolean {
    if (this.block.entryCount === 0) return (this.valid = false);
    this.restartIndex = 0;
    this.decodeAt(0);
    return true;
  }

  last(): boolean {
    const block = this.block;
    if (block.entryCount === 0) return (this.valid = false);
    this.restartIndex = block.restartCount - 1;
    this.decodeAt(block.restartAt(this.restartIndex));
    while (this.nextOffset < block.restartsOffset) this.decodeAt(this.nextOffset);
    return true;
  }

  next(): boolean {
    if (!this.valid) return false;
    const block = this.block;
    const offset = this.nextOffset;
    if (offset >= block.restartsOffset) return (this.valid = false);
    const following = this.restartIndex + 1;
    if (following < block.restartCount && block.restartAt(following) === offset) this.restartIndex = following;
    this.decodeAt(offset);
    return true;
  }

  /** Like LevelDB: re-scans forward from the restart before the current entry. */
  prev(): boolean {
    if (!this.valid) return false;
    const original = this.offset;
    if (original === 0) return (this.valid = false);
    const block = this.block;
    if (block.restartAt(this.restartIndex) === original) this.restartIndex--;
    this.decodeAt(block.restartAt(this.restartIndex));
    while (this.nextOffset < original) this.decodeAt(this.nextOffset);
    return true;
  }

  seek(target: Uint8Array): boolean {
    const block = this.block;
    const data = block.data;
    if (block.entryCount === 0) return (this.valid = false);
    const targetLength = target.length;
    // Binary search for the last restart whose key is < target; restart keys are stored whole.
    let left = 0;
    let right = block.restartCount - 1;
    while (left < right) {
      const middle = (left + right + 1) >>> 1;
      const key = readHeader(data, block.restartAt(middle));
      if (compareInternalKeysAt(data, key, headerUnshared, target, 0, targetLength) < 0) left = middle;
      else right = middle - 1;
    }
    this.restartIndex = left;
    this.decodeAt(block.restartAt(left));
    while (compareInternalKeysAt(this.key, 0, this.keyLength, target, 0, targetLength) < 0) {
      if (!this.next()) return false;
    }
    return true;
  }

  copyFrom(other: Position): void {
    copyBytes(this.key, 0, other.key, 0, other.keyLength);
    this.keyLength = other.keyLength;
    this.valueOffset = other.valueOffset;
    this.valueLength = other.valueLength;
    this.valid = other.valid;
    this.offset = other.offset;
    this.nextOffset = other.nextOffset;
    this.restartIndex = other.restartIndex;
  }
}

export class PureBlockReader implements BlockReader {
  private readonly position: Position;

  constructor(readonly block: BlockData) {
    this.position = new Position(block);
  }

  get count(): number {
    this.checkLive();
    return this.block.entryCount;
  }

  get valid(): boolean {
    this.checkLive();
    return this.position.valid;
  }

  seek(internalKey: Uint8Array): boolean {
    this.checkLive();
    if (internalKey.length < TRAILER_BYTES) throw invalidArgument(`internal key of ${internalKey.length} bytes is shorter than its trailer`);
    return this.position.seek(internalKey);
  }

  first(): boolean {
    this.checkLive();
    return this.position.first();
  }

  last(): boolean {
    this.checkLive();
    return this.position.last();
  }

  next(): boolean {
    this.checkLive();
    return this.position.next();
  }

  prev(): boolean {
    this.checkLive();
    return this.position.prev();
  }

  key(): Uint8Array {
    const position = this.currentPosition();
    return position.key.slice(0, position.keyLength);
  }

  value(): Uint8Array {
    const position = this.currentPosition();
    return this.block.data.slice(position.valueOffset, position.valueOffset + position.valueLength);
  }

  /** The block's bytes and where the current entry's value lies in them (a point index keeps offsets). */
  valueRange(): { data: Uint8Array; offset: number; length: number } {
    const position = this.currentPosition();
    return { data: this.block.data, offset: position.valueOffset, length: position.valueLength };
  }

  get(seekKey: Uint8Array): Hit | undefined {
    if (!this.seek(seekKey)) return undefined;
    const position = this.position;
    const key = position.key;
    const keyLength = position.keyLength;
    if (keyLength !== seekKey.length) return undefined;
    const userKeyLength = keyLength - TRAILER_BYTES;
    for (let i = 0; i < userKeyLength; i++) if (key[i] !== seekKey[i]) return undefined;
    return {
      kind: key[userKeyLength]!,
      sequence: sequenceAt(key, userKeyLength),
      value: copyOfRange(this.block.data, position.valueOffset, position.valueOffset + position.valueLength),
    };
  }

  cursor(reverse: boolean): Cursor {
    this.checkLive();
    return reverse ? new ReverseCursor(this.position) : new ForwardCursor(this.position);
  }

  free(): void {
    this.block.freed = true;
  }

  private checkLive(): void {
    if (this.block.freed) throw invalidArgument("block reader used after free()");
  }

  private currentPosition(): Position {
    this.checkLive();
    if (!this.position.valid) throw invalidArgument("block reader is not positioned on an entry");
    return this.position;
  }
}

/** Appends the entry at `position` to `run`. */
function appendPosition(run: PureRun, position: Position): void {
  const keyLength = position.keyLength;
  const valueLength = position.valueLength;
  const at = run.reserve(8 + keyLength + valueLength);
  run.view.setUint32(at, keyLength, true);
  run.view.setUint32(at + 4, valueLength, true);
  copyBytes(run.buffer, at + 8, position.key, 0, keyLength);
  copyBytes(run.buffer, at + 8 + keyLength, position.block.data, position.valueOffset, valueLength);
  run.byteLength = at + 8 + keyLength + valueLength;
  run.count++;
}

abstract class BlockCursor implements Cursor {
  protected readonly position: Position;
  private freed = false;

  constructor(protected readonly block: BlockData) {
    this.position = new Position(block);
  }

  fill(run: Run, bytesTarget = FILL_BYTES_DEFAULT): number {
    if (this.freed) throw invalidArgument("block cursor used after free()");
    if (this.block.freed) throw invalidArgument("block reader used after free()");
    const target = asPureRun(run);
    checkRunArguments(0, 0, bytesTarget);
    target.clear();
    return this.fillFrom(target, bytesTarget);
  }

  protected abstract fillFrom(run: PureRun, bytesTarget: number): number;

  free(): void {
    this.freed = true;
  }
}

class ForwardCursor extends BlockCursor {
  constructor(reader: Position) {
    super(reader.block);
    if (reader.valid) this.position.copyFrom(reader);
    else this.position.first();
  }

  protected fillFrom(run: PureRun, bytesTarget: number): number {
    const position = this.position;
    let appended = 0;
    while (position.valid) {
      appendPosition(run, position);
      appended++;
      position.next();
      if (run.byteLength >= bytesTarget) break;
    }
    return appended;
  }
}

/**
 * Emits entries before endOffset, last first, one restart interval at a time: a pass over the
 * interval's headers sizes the entries, then a forward decode writes each emitted entry into
 * its mirrored slot of the run. Each entry is decoded twice instead of the interval/2 times a
 * prev() per entry would cost.
 */
class ReverseCursor extends BlockCursor {
  /** Entries before this offset remain to be emitted. */
  private endOffset = 0;
  private readonly sizes: Uint32Array;

  constructor(reader: Position) {
    super(reader.block);
    const block = reader.block;
    this.sizes = new Uint32Array(Math.max(1, block.intervalEntriesMax));
    if (reader.valid) {
      this.endOffset = reader.nextOffset;
      this.position.restartIndex = reader.restartIndex;
    } else if (block.entryCount > 0) {
      this.endOffset = block.restartsOffset;
      this.position.restartIndex = block.restartCount - 1;
    }
  }

  protected fillFrom(run: PureRun, bytesTarget: number): number {
    const { block, position, sizes } = this;
    const data = block.data;
    let appended = 0;
    while (this.endOffset > 0 && (appended === 0 || run.byteLength < bytesTarget)) {
      const start = block.restartAt(position.restartIndex);
      const end = this.endOffset;
      let count = 0;
      for (let at = start; at < end; count++) {
        at = readHeader(data, at);
        sizes[count] = 8 + headerShared + headerUnshared + headerValueLength;
        at += headerUnshared + headerValueLength;
      }
      // Take entries from the interval's end until the run reaches the target.
      let taken = 0;
      let total = 0;
      while (taken < count) {
        total += sizes[count - 1 - taken]!;
        taken++;
        if (run.byteLength + total >= bytesTarget) break;
      }
      const firstTaken = count - taken;
      const buffer = (run.reserve(total), run.buffer);
      const view = run.view;
      let slot = run.byteLength + total;
      let firstTakenOffset = start;
      let offset = start;
      for (let index = 0; index < count; index++) {
        position.decodeAt(offset);
        if (index >= firstTaken) {
          if (index === firstTaken) firstTakenOffset = offset;
          const keyLength = position.keyLength;
          const valueLength = position.valueLength;
          slot -= 8 + keyLength + valueLength;
          view.setUint32(slot, keyLength, true);
          view.setUint32(slot + 4, valueLength, true);
          copyBytes(buffer, slot + 8, position.key, 0, keyLength);
          copyBytes(buffer, slot + 8 + keyLength, data, position.valueOffset, valueLength);
        }
        offset = position.nextOffset;
      }
      run.byteLength += total;
      run.count += taken;
      appended += taken;
      if (taken === count) {
        this.endOffset = start;
        if (position.restartIndex > 0) position.restartIndex--;
      } else {
        this.endOffset = firstTakenOffset;
      }
    }
    return appended;
  }
}

export function pureBlock() {
  return {
    newBlockBuilder(restartInterval = BLOCK_RESTART_INTERVAL): BlockBuilder {
      checkRestartInterval(restartInterval);
      return new PureBlockBuilder(restartInterval);
    },
    openBlock(block: Uint8Array): BlockReader {
      return openOwnedBlock(block.slice());
    },
  };
}

/** Opens a block the reader may keep as it is (no copy): openBlock's copy, or a fresh decode. */
export function openOwnedBlock(block: Uint8Array): BlockReader {
  const data = new BlockData(block);
  data.validate();
  return new PureBlockReader(data);
}
