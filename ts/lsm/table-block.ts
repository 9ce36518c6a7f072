/**
 * A table's data blocks as stored on disk (layout in ts/format.ts and docs/FORMAT.md): raw, as
 * the core's block builder made them, or LZ4-compressed with a CRC over the bytes on disk, and
 * the handle the index keeps for each. The one encoder and decoder of both: tables, check()
 * and `pgz dump` go through here.
 *
 *   compressed block:  | LZ4 block format bytes | u32 LE masked CRC32C of them |
 *   handle:            | varint stored length | varint raw length (0: stored raw) |
 *
 * Blocks are packed back to back from offset 0, so a handle needs no offset: a block starts
 * where the one before it ends (decodeIndex adds the lengths up).
 */
import { assert } from "../assert.ts";
import { viewOf } from "../bytes.ts";
import { LZ4_INPUT_BYTES_MAX } from "../core/checks.ts";
import type { BlockReader, Core } from "../core/types.ts";
import { corruption } from "../errors.ts";
import {
  BLOCK_COMPRESSION_SAVINGS_MIN_DIVISOR,
  BLOCK_HANDLE_VARINT_BYTES_MAX,
  BLOCK_STORED_RAW,
  COMPRESSED_BLOCK_TRAILER_BYTES,
  type Compression,
} from "../format.ts";

export interface BlockHandle {
  lastKey: Uint8Array;
  offset: number;
  /** Bytes on disk. */
  length: number;
  /** Bytes of the decoded block, or BLOCK_STORED_RAW (0) when the block is stored as built. */
  rawLength: number;
}

/** What finishBlock writes: the bytes for the disk and the handle's raw length. */
export interface StoredBlock {
  bytes: Uint8Array;
  rawLength: number;
}

/**
 * The block as it goes to disk: compressed when `compression` asks for it and that saves at
 * least 1/BLOCK_COMPRESSION_SAVINGS_MIN_DIVISOR of it (LevelDB's rule), raw otherwise. The
 * compressor is given exactly the room that would pay, so a block that does not compress well
 * enough costs one short failed attempt, not a whole compression.
 */
export function encodeStoredBlock(core: Core, block: Uint8Array, compression: Compression): StoredBlock {
  if (compression === "none") return { bytes: block, rawLength: BLOCK_STORED_RAW };
  const storedMax = block.length - Math.ceil(block.length / BLOCK_COMPRESSION_SAVINGS_MIN_DIVISOR);
  const compressed = storedMax > COMPRESSED_BLOCK_TRAILER_BYTES ? core.lz4Compress(block, storedMax - COMPRESSED_BLOCK_TRAILER_BYTES) : undefined;
  if (!compressed) return { bytes: block, rawLength: BLOCK_STORED_RAW };
  const bytes = new Uint8Array(compressed.length + COMPRESSED_BLOCK_TRAILER_BYTES);
  bytes.set(compressed, 0);
  viewOf(bytes).setUint32(compressed.length, core.crc32cMask(core.crc32c(compressed)), true);
  assert(bytes.length <= storedMax, "a compressed block saves what it must");
  return { bytes, rawLength: block.length };
}

/**
 * Opens a stored block: checks a compressed one's CRC over the bytes on disk, decodes it to
 * exactly `rawLength` bytes, then opens the block (which checks the block's own CRC).
 * PGZ_CORRUPTION without a file: the caller adds it with locateCorruption.
 */
export function openStoredBlock(core: Core, stored: Uint8Array, rawLength: number): BlockReader {
  if (rawLength === BLOCK_STORED_RAW) return core.openBlock(stored);
  if (stored.length < COMPRESSED_BLOCK_TRAILER_BYTES) throw corruption(`compressed block of ${stored.length} bytes is shorter than its checksum`);
  const compressedLength = stored.length - COMPRESSED_BLOCK_TRAILER_BYTES;
  const compressed = stored.subarray(0, compressedLength);
  const expected = viewOf(stored).getUint32(compressedLength, true);
  const actual = core.crc32cMask(core.crc32c(compressed));
  if (expected !== actual) throw corruption(`compressed block checksum mismatch (expected 0x${expected.toString(16)}, actual 0x${actual.toString(16)})`, { expected, actual });
  return core.openCompressedBlock(compressed, rawLength);
}

export function encodeBlockHandle(length: number, rawLength: number): Uint8Array {
  const bytes = new Uint8Array(2 * BLOCK_HANDLE_VARINT_BYTES_MAX);
  const end = writeVarint(bytes, writeVarint(bytes, 0, length), rawLength);
  return bytes.slice(0, end);
}

/**
 * Decodes one index value, the block at `offset`; undefined if it is not a handle this format
 * can hold (not exactly two minimal varints of at most 32 bits, an empty block, a raw length
 * past what the decompressor takes, or a compressed block too short for its CRC).
 */
export function decodeBlockHandle(lastKey: Uint8Array, value: Uint8Array, offset: number): BlockHandle | undefined {
  const length = readVarint(value, 0);
  if (length < 0) return undefined;
  const rawLength = readVarint(value, varintEnd);
  if (rawLength < 0 || varintEnd !== value.length) return undefined;
  if (length === 0 || rawLength > LZ4_INPUT_BYTES_MAX) return undefined;
  if (rawLength !== BLOCK_STORED_RAW && length < COMPRESSED_BLOCK_TRAILER_BYTES) return undefined;
  return { lastKey, offset, length, rawLength };
}

/** LEB128: 7 bits a byte, low first, the high bit set on every byte but the last. */
function writeVarint(target: Uint8Array, at: number, value: number): number {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff, "a u32 varint");
  while (value >= 0x80) {
    target[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[at++] = value;
  return at;
}

/** Where the last readVarint ended (a module variable: a table open decodes thousands, allocation-free). */
let varintEnd = 0;

/** A u32 varint at `at` in its shortest form, or -1 (cut short, too long, or padded); sets varintEnd. */
function readVarint(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let shift = 0, i = at; i < bytes.length && i - at < BLOCK_HANDLE_VARINT_BYTES_MAX; shift += 7, i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte & 0x80) continue;
    // A last byte of 0 after others is padding (the same number has a shorter form).
    if ((byte === 0 && i > at) || value > 0xffff_ffff) return -1;
    varintEnd = i + 1;
    return value;
  }
  return -1;
}
