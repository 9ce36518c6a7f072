/**
 * A data block of the pure core, validated once when opened (the layout is in block.ts's header
 * and ts/format.ts), so that positioning in it later needs no bounds checks.
 */
import { BLOCK_TRAILER_BYTES as BLOCK_TRAILER_BYTES_IMPORTED } from "../../format.ts";
import { ENTRY_LENGTH_MAX as ENTRY_LENGTH_MAX_IMPORTED, TRAILER_BYTES as TRAILER_BYTES_IMPORTED } from "../types.ts";
import { pureCrc32c } from "./crc32c.ts";
import { BlockCorruption, blockCorruptionError, crc32cMask, type BlockCorruptionCode } from "../checks.ts";

// Module-local copies of imported constants: a loader that keeps imports as live bindings
// (tsx does) turns each use in a hot loop into a getter call.
const TRAILER_BYTES = TRAILER_BYTES_IMPORTED;
const BLOCK_TRAILER_BYTES = BLOCK_TRAILER_BYTES_IMPORTED;
const ENTRY_LENGTH_MAX = ENTRY_LENGTH_MAX_IMPORTED;

/** The pure crc32c module's function (the same CRC32C the WASM core computes in place). */
const { crc32c } = pureCrc32c();

/** A validated copy of a block, shared by its reader and the reader's cursors. */
export class BlockData {
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

/** Where the last readVarintChecked ended (a second result without an allocation). */
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
