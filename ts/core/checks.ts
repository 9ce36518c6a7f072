/**
 * Argument checks and small definitions both cores share: the WASM adapters (ts/core/wasm/) and
 * the pure twin (ts/core/pure/) import them from here, never from each other, so each core's
 * own code stays its own and the differential tests compare two implementations. Grouped by
 * the core module they serve.
 */
import { corruption, invalidArgument, type PgzError } from "../errors.ts";
import { BLOCK_TRAILER_BYTES, BLOOM_LINE_BYTES, BLOOM_LINES_MAX } from "../format.ts";
import { RunReader } from "./entry.ts";
import { ENTRY_LENGTH_MAX, READ_BUFFER_BYTES_MAX, SEQUENCE_MAX, TRAILER_BYTES, type MergeOptions } from "./types.ts";

const TWO_POW_32 = 0x1_0000_0000;
/** LevelDB's kMaskDelta. */
const MASK_DELTA = 0xa282ead8;

// Runs (ts/core/pure/run.ts, ts/core/wasm/run.ts).

/** Validates run encoding and returns the number of entries; PGZ_INVALID_ARGUMENT if malformed. */
export function countRunEntries(bytes: Uint8Array): number {
  const reader = new RunReader(bytes);
  let count = 0;
  while (reader.next()) count++;
  return count;
}

// Blocks.

/** How a block is malformed; the WASM core reports the same codes (assembly/block.ts). */
export const BlockCorruption = { TooShort: 1, Checksum: 2, Trailer: 3, Restarts: 4, Entry: 5 } as const;
export type BlockCorruptionCode = (typeof BlockCorruption)[keyof typeof BlockCorruption];

/** The PgzError for a malformed block. */
export function blockCorruptionError(code: number, length: number, offset: number, expected: number, actual: number): PgzError {
  switch (code) {
    case BlockCorruption.TooShort:
      return corruption(`block of ${length} bytes is shorter than its ${BLOCK_TRAILER_BYTES}-byte trailer`);
    case BlockCorruption.Checksum:
      return corruption(`block checksum mismatch (expected 0x${expected.toString(16)}, actual 0x${actual.toString(16)})`, { expected, actual });
    case BlockCorruption.Trailer:
      return corruption(`block trailer counts are inconsistent with its ${length} bytes`);
    case BlockCorruption.Restarts:
      return corruption(`block restart array malformed at block offset ${offset}`);
    default:
      return corruption(`block entry malformed at block offset ${offset}`);
  }
}

function checkNonNegativeInteger(value: number, name: string, maximum: number): void {
  if (!Number.isInteger(value) || value < 0 || value > maximum) throw invalidArgument(`${name} ${value} is not an integer in [0, ${maximum}]`);
}

/** Checks the arguments of newBlockBuilder. */
export function checkRestartInterval(restartInterval: number): void {
  if (!Number.isInteger(restartInterval) || restartInterval < 1 || restartInterval > 0xffff_ffff) {
    throw invalidArgument(`restartInterval ${restartInterval} is not an integer in [1, 2^32)`);
  }
}

/** Checks add()'s arguments. */
export function checkEntry(key: Uint8Array, value: Uint8Array): void {
  if (key.length < TRAILER_BYTES) throw invalidArgument(`internal key of ${key.length} bytes is shorter than its trailer`);
  if (key.length > ENTRY_LENGTH_MAX || value.length > ENTRY_LENGTH_MAX) throw invalidArgument("key or value is too long");
}

/** Checks addFromRun()'s and fill()'s numeric arguments. */
export function checkRunArguments(from: number, count: number, bytesTarget: number): void {
  checkNonNegativeInteger(from, "run entry index", count);
  checkNonNegativeInteger(bytesTarget, "bytes target", 0xffff_ffff);
}

// Bloom filters.

/** LevelDB's k range; a larger k byte is "reserved": such a filter matches every key. */
export const BLOOM_PROBES_MAX = 30;
export const BLOOM_BITS_PER_KEY_MAX = 1000;
/** The bit array's bytes at most: BLOOM_LINES_MAX whole lines (ts/format.ts says why). */
export const BLOOM_BYTES_MAX = BLOOM_LINES_MAX * BLOOM_LINE_BYTES;
const BLOOM_LINE_BITS = BLOOM_LINE_BYTES * 8;

export interface BloomShape {
  /** Probes per key, 1..30. */
  k: number;
  /** Bytes of the lines (a whole number of BLOOM_LINE_BYTES; the filter is one byte longer). */
  bytes: number;
}

/** k = floor(bitsPerKey * 0.69) in [1, 30] (LevelDB's); count * bitsPerKey bits rounded up to whole lines, at least one. */
export function bloomShape(count: number, bitsPerKey: number): BloomShape {
  if (!Number.isInteger(bitsPerKey) || bitsPerKey < 1 || bitsPerKey > BLOOM_BITS_PER_KEY_MAX) {
    throw invalidArgument(`bitsPerKey ${String(bitsPerKey)} is not an integer in [1, ${BLOOM_BITS_PER_KEY_MAX}]`);
  }
  const k = Math.min(BLOOM_PROBES_MAX, Math.max(1, Math.floor(bitsPerKey * 0.69)));
  const lines = Math.max(1, Math.ceil((count * bitsPerKey) / BLOOM_LINE_BITS));
  if (lines > BLOOM_LINES_MAX) throw invalidArgument(`bloom filter of ${count} keys at ${bitsPerKey} bits per key is too large`);
  return { k, bytes: lines * BLOOM_LINE_BYTES };
}

/** Validates a filter (whole lines, then k); returns its k (a k above 30 means "match everything"). */
export function checkFilter(filter: unknown): number {
  if (!(filter instanceof Uint8Array)) throw invalidArgument("bloom filter must be a Uint8Array");
  const lineBytes = filter.length - 1;
  if (lineBytes < BLOOM_LINE_BYTES) throw corruption(`bloom filter of ${filter.length} bytes is shorter than one ${BLOOM_LINE_BYTES}-byte line and k`);
  if (lineBytes % BLOOM_LINE_BYTES !== 0) throw corruption(`bloom filter of ${filter.length} bytes is not whole ${BLOOM_LINE_BYTES}-byte lines and k`);
  if (lineBytes > BLOOM_BYTES_MAX) throw corruption(`bloom filter of ${filter.length} bytes is too large`);
  const k = filter[lineBytes]!;
  if (k === 0) throw corruption("bloom filter has k = 0 probes");
  return k;
}

export function checkBloomKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw invalidArgument("bloom key must be a Uint8Array");
}

/** addFromRun's range: integers with 0 <= from <= to <= count. */
export function checkRunRange(from: number, to: number, count: number): void {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > count) {
    throw invalidArgument(`run range [${from}, ${to}) is not inside ${count} entries`);
  }
}

// CRC32C.

export function checkCrcData(data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw invalidArgument("crc32c data must be a Uint8Array");
}

/** A CRC argument must be an unsigned 32-bit integer. */
export function checkCrc(crc: unknown, name: string): number {
  if (typeof crc !== "number" || !Number.isInteger(crc) || crc < 0 || crc >= TWO_POW_32) {
    throw invalidArgument(`${name} ${String(crc)} is not an unsigned 32-bit integer`);
  }
  return crc;
}

export function checkReadBufferLength(length: unknown): asserts length is number {
  if (typeof length !== "number" || !Number.isInteger(length) || length < 1 || length > READ_BUFFER_BYTES_MAX) {
    throw invalidArgument(`read buffer length ${String(length)} is not an integer in [1, ${READ_BUFFER_BYTES_MAX}]`);
  }
}

/** A read buffer's next capacity: doubled, so a run of growing records grows it a few times only. */
export function readBufferCapacity(length: number, capacity: number): number {
  return Math.min(Math.max(length, 2 * capacity), READ_BUFFER_BYTES_MAX);
}

/** Validates crc32cEach's arguments: equal lengths, every range inside `data`. */
export function checkRanges(data: unknown, starts: unknown, ends: unknown, out: unknown): void {
  checkCrcData(data);
  if (!(starts instanceof Uint32Array) || !(ends instanceof Uint32Array) || !(out instanceof Uint32Array)) {
    throw invalidArgument("crc32cEach starts, ends and out must be Uint32Arrays");
  }
  if (starts.length !== ends.length || out.length !== starts.length) {
    throw invalidArgument(`crc32cEach lengths differ: ${starts.length} starts, ${ends.length} ends, ${out.length} out`);
  }
  for (let i = 0; i < starts.length; i++) {
    if (starts[i]! > ends[i]! || ends[i]! > data.length) {
      throw invalidArgument(`crc32cEach range ${i} [${starts[i]}, ${ends[i]}) is not inside ${data.length} bytes`);
    }
  }
}

/** LevelDB's Mask: rotate right by 15 bits, then add a constant (mod 2^32). */
export function crc32cMask(crc: number): number {
  checkCrc(crc, "crc");
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) % TWO_POW_32;
}

export function crc32cUnmask(masked: number): number {
  checkCrc(masked, "masked crc");
  const rotated = (masked - MASK_DELTA + TWO_POW_32) % TWO_POW_32;
  return ((rotated >>> 17) | (rotated << 15)) >>> 0;
}

// Merges.

/** Most sources one merge takes. */
export const MERGE_SOURCE_COUNT_MAX = 1024;
/** Default bytes a fill aims for. */
export const MERGE_BYTES_TARGET = 64 * 1024;

/** Checks newMerge's arguments. */
export function checkMergeArguments(sourceCount: number, options: MergeOptions): void {
  if (!Number.isInteger(sourceCount) || sourceCount < 1 || sourceCount > MERGE_SOURCE_COUNT_MAX) {
    throw invalidArgument(`sourceCount ${sourceCount} is not an integer in [1, ${MERGE_SOURCE_COUNT_MAX}]`);
  }
  if (typeof options !== "object" || options === null) throw invalidArgument("merge options are required");
  if (options.mode !== "all" && options.mode !== "visible") throw invalidArgument(`merge mode ${String(options.mode)} is not "all" or "visible"`);
  if (options.mode === "visible") {
    const sequence = options.sequence;
    if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence > SEQUENCE_MAX) {
      throw invalidArgument(`sequence ${sequence} is not an integer in [0, 2^53)`);
    }
  }
}

/** Checks setSource's index. */
export function checkSourceIndex(index: number, sourceCount: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= sourceCount) {
    throw invalidArgument(`source index ${index} is not an integer in [0, ${sourceCount})`);
  }
}

export const notAwaiting = (index: number) => invalidArgument(`source ${index} is not awaiting a run (set it once, then only when fill asks)`);

// Memtable (skiplist).

/** Default bytes a cursor fill aims for. */
export const CURSOR_BYTES_TARGET = 64 * 1024;

/** Checks get()'s arguments. */
export function checkGetArguments(userKey: Uint8Array, sequence: number): void {
  if (!(userKey instanceof Uint8Array)) throw invalidArgument("userKey must be a Uint8Array");
  if (!Number.isSafeInteger(sequence) || sequence < 0 || sequence > SEQUENCE_MAX) {
    throw invalidArgument(`sequence ${sequence} is not an integer in [0, 2^53)`);
  }
}

/** Checks a cursor's start key (an internal key, or undefined). */
export function checkCursorStart(start: Uint8Array | undefined): void {
  if (start === undefined) return;
  if (!(start instanceof Uint8Array) || start.length < TRAILER_BYTES) {
    throw invalidArgument("cursor start must be an internal key (at least 8 bytes)");
  }
}

/** Checks a fill's bytesTarget; returns it clamped to u32 for the WASM core. */
export function checkBytesTarget(bytesTarget: number): number {
  if (!Number.isInteger(bytesTarget) || bytesTarget < 0) throw invalidArgument(`bytesTarget ${bytesTarget} is not a non-negative integer`);
  return bytesTarget > 0xffff_ffff ? 0xffff_ffff : bytesTarget;
}

// LZ4 (assembly/lz4.ts and its twin ts/core/pure/lz4.ts).

/** Largest input either side takes: lengths stay exact in 32-bit arithmetic. */
export const LZ4_INPUT_BYTES_MAX = 0x7fff_0000;
export function lz4CompressBound(length: number): number {
  return length + Math.floor(length / 255) + 16;
}

/** Checks a compress call's arguments. */
export function checkCompressArguments(data: Uint8Array, capacityBytes: number): void {
  if (data.length > LZ4_INPUT_BYTES_MAX) throw invalidArgument(`lz4 input of ${data.length} bytes is over ${LZ4_INPUT_BYTES_MAX}`);
  if (!Number.isInteger(capacityBytes) || capacityBytes < 0 || capacityBytes > lz4CompressBound(LZ4_INPUT_BYTES_MAX)) {
    throw invalidArgument(`lz4 capacity ${capacityBytes} is not an integer in range`);
  }
}

/** Checks a decompress call's arguments. */
export function checkDecompressArguments(compressed: Uint8Array, length: number): void {
  if (compressed.length > LZ4_INPUT_BYTES_MAX) throw invalidArgument(`lz4 input of ${compressed.length} bytes is over ${LZ4_INPUT_BYTES_MAX}`);
  if (!Number.isInteger(length) || length < 0 || length > LZ4_INPUT_BYTES_MAX) throw invalidArgument(`lz4 length ${length} is not an integer in range`);
}

/** The PGZ_CORRUPTION of a block that does not decode to `length` bytes (no file: the caller adds it). */
export function lz4CorruptionError(compressedLength: number, length: number): Error {
  return corruption(`lz4 block of ${compressedLength} bytes does not decode to ${length} bytes`);
}
