/**
 * A table's data blocks as stored on disk (layout in ts/format.ts and docs/FORMAT.md): raw, as
 * the core's block builder made them, or LZ4-compressed with a CRC over the bytes on disk, and
 * the 16-byte handle the index keeps for each. The one encoder and decoder of both: tables,
 * check() and `pgz dump` go through here.
 *
 *   compressed block:  | LZ4 block format bytes | u32 LE masked CRC32C of them |
 *   handle:            | u64 offset | u32 stored length | u32 raw length (0: stored raw) |
 */
import { assert } from "../assert.ts";
import { getUint64, setUint64, viewOf } from "../bytes.ts";
import { LZ4_INPUT_BYTES_MAX } from "../core/checks.ts";
import type { BlockReader, Core } from "../core/types.ts";
import { corruption } from "../errors.ts";
import {
  BLOCK_COMPRESSION_SAVINGS_MIN_DIVISOR,
  BLOCK_HANDLE_BYTES,
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

export function encodeBlockHandle(offset: number, length: number, rawLength: number): Uint8Array {
  const bytes = new Uint8Array(BLOCK_HANDLE_BYTES);
  const view = viewOf(bytes);
  setUint64(view, 0, offset);
  view.setUint32(8, length, true);
  view.setUint32(12, rawLength, true);
  return bytes;
}

/**
 * Decodes one index value; undefined if it is not a handle this format can hold (wrong size, a
 * raw length past what the decompressor takes, or a compressed block too short for its CRC).
 */
export function decodeBlockHandle(lastKey: Uint8Array, value: Uint8Array): BlockHandle | undefined {
  if (value.length !== BLOCK_HANDLE_BYTES) return undefined;
  const view = viewOf(value);
  const handle = { lastKey, offset: getUint64(view, 0), length: view.getUint32(8, true), rawLength: view.getUint32(12, true) };
  if (handle.rawLength > LZ4_INPUT_BYTES_MAX) return undefined;
  if (handle.rawLength !== BLOCK_STORED_RAW && handle.length < COMPRESSED_BLOCK_TRAILER_BYTES) return undefined;
  return handle;
}
