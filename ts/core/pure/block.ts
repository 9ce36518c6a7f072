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
import { BLOCK_RESTART_INTERVAL } from "../../format.ts";
import { invalidArgument } from "../../errors.ts";
import { TRAILER_BYTES as TRAILER_BYTES_IMPORTED, type BlockBuilder, type BlockReader, type Cursor, type Hit, type Run } from "../types.ts";
import { asPureRun, type PureRun } from "./run.ts";
import { sequenceAt } from "../entry.ts";
import { copyOfRange } from "../slab.ts";
import { checkRestartInterval, checkRunArguments } from "../checks.ts";
import { copyBytes } from "./bytes.ts";
import { compareInternalKeysAt } from "./block-keys.ts";
import { BlockData } from "./block-data.ts";
import { PureBlockBuilder } from "./block-builder.ts";

// A module-local copy: a loader that keeps imports as live bindings (tsx does) turns each use
// in a hot loop into a getter call.
const TRAILER_BYTES = TRAILER_BYTES_IMPORTED;
const FILL_BYTES_DEFAULT = 64 * 1024;

/** Where the last readVarint ended (a second result without an allocation). */
let varintEnd = 0;

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
