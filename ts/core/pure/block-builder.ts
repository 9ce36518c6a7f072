/**
 * The pure core's data-block builder (the layout is in block.ts's header and ts/format.ts).
 */
import { BLOCK_TRAILER_BYTES as BLOCK_TRAILER_BYTES_IMPORTED } from "../../format.ts";
import { invalidArgument } from "../../errors.ts";
import type { BlockBuilder, Run } from "../types.ts";
import { asPureRun, type PureRun } from "./run.ts";
import { pureCrc32c } from "./crc32c.ts";
import { checkEntry, checkRunArguments, crc32cMask } from "../checks.ts";
import { copyBytes } from "./bytes.ts";
import { commonPrefix, compareInternalKeysAt } from "./block-keys.ts";

// A module-local copy: a loader that keeps imports as live bindings (tsx does) turns each use
// in a hot loop into a getter call.
const BLOCK_TRAILER_BYTES = BLOCK_TRAILER_BYTES_IMPORTED;

/** The pure crc32c module's function (the same CRC32C the WASM core computes in place). */
const { crc32c } = pureCrc32c();

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

export class PureBlockBuilder implements BlockBuilder {
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
