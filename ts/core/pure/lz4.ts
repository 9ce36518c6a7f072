/**
 * LZ4 block format (the public format, no frame) in TypeScript: the twin of assembly/lz4.ts,
 * which has the byte grammar. Same hash, same search and the same end rules, so both cores
 * emit the same bytes; the decompressor checks every length and offset against both buffers,
 * so hostile input is PGZ_CORRUPTION, never a read past an array.
 */
import { checkCompressArguments, checkDecompressArguments, lz4CompressBound, lz4CorruptionError } from "../checks.ts";
import type { BlockReader } from "../types.ts";
import { openOwnedBlock } from "./block.ts";
import { copyBytes } from "./bytes.ts";

const HASH_LOG = 12;
const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MATCH_FIND_LIMIT = 12;
const OFFSET_MAX = 65535;
const SKIP_TRIGGER = 6;
/** Below this many bytes a byte loop beats subarray() + set() (which allocates a view). */
const COPY_LOOP_BYTES_MAX = 32;

/** Positions tagged with a per-call base (see assembly/lz4.ts): no clearing per call. */
const table = new Uint32Array(1 << HASH_LOG);
let tableBase = 1;

const hashOf = (sequence: number) => Math.imul(sequence, 2654435761 | 0) >>> (32 - HASH_LOG);
const read32 = (bytes: Uint8Array, at: number) => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
const extraLengthBytes = (length: number) => (length >= 15 ? Math.floor((length - 15) / 255) + 1 : 0);

function writeLength(out: Uint8Array, at: number, length: number): number {
  let rest = length - 15;
  while (rest >= 255) {
    out[at++] = 255;
    rest -= 255;
  }
  out[at++] = rest;
  return at;
}

function matchEnd(data: Uint8Array, from: number, candidate: number, limit: number): number {
  let end = from;
  let other = candidate;
  while (end < limit && data[end] === data[other]) {
    end++;
    other++;
  }
  return end;
}

/** Literals [anchor, start) then a match of `length` at `offset`; returns the new output end. */
function writeSequence(data: Uint8Array, anchor: number, start: number, out: Uint8Array, at: number, offset: number, length: number): number {
  const literalLength = start - anchor;
  const matchCode = length - MIN_MATCH;
  out[at++] = ((literalLength < 15 ? literalLength : 15) << 4) | (matchCode < 15 ? matchCode : 15);
  if (literalLength >= 15) at = writeLength(out, at, literalLength);
  copyBytes(out, at, data, anchor, literalLength);
  at += literalLength;
  out[at++] = offset & 0xff;
  out[at++] = offset >>> 8;
  if (matchCode >= 15) at = writeLength(out, at, matchCode);
  return at;
}

/** Starts a call on the hash table; returns the base its positions are tagged with. */
function takeBase(length: number): number {
  if (tableBase + length + 1 > 0xffff_ffff) {
    table.fill(0);
    tableBase = 1;
  }
  const base = tableBase;
  tableBase += length + 1;
  return base;
}

/** The compressed bytes, written into `out`; returns their length, or 0 if they exceed out.length. */
function compressInto(data: Uint8Array, out: Uint8Array): number {
  const length = data.length;
  const capacity = out.length;
  const base = takeBase(length);
  let anchor = 0;
  let at = 0;
  if (length > MATCH_FIND_LIMIT) {
    const searchEnd = length - MATCH_FIND_LIMIT;
    const matchLimit = length - LAST_LITERALS;
    table[hashOf(read32(data, 0))] = base;
    let position = 1;
    for (;;) {
      let attempts = 1 << SKIP_TRIGGER;
      let candidate = -1;
      while (position <= searchEnd) {
        const sequence = read32(data, position);
        const slot = hashOf(sequence);
        const stored = table[slot]!;
        table[slot] = base + position;
        if (stored >= base) {
          const earlier = stored - base;
          if (position - earlier <= OFFSET_MAX && read32(data, earlier) === sequence) {
            candidate = earlier;
            break;
          }
        }
        position += attempts++ >> SKIP_TRIGGER;
      }
      if (candidate < 0) break;
      const end = matchEnd(data, position + MIN_MATCH, candidate + MIN_MATCH, matchLimit);
      while (position > anchor && candidate > 0 && data[position - 1] === data[candidate - 1]) {
        position--;
        candidate--;
      }
      const literalLength = position - anchor;
      const matchLength = end - position;
      if (at + 1 + extraLengthBytes(literalLength) + literalLength + 2 + extraLengthBytes(matchLength - MIN_MATCH) > capacity) return 0;
      at = writeSequence(data, anchor, position, out, at, position - candidate, matchLength);
      position = end;
      anchor = end;
      if (position > searchEnd) break;
      table[hashOf(read32(data, position - 2))] = base + position - 2;
    }
  }
  const literalLength = length - anchor;
  if (at + 1 + extraLengthBytes(literalLength) + literalLength > capacity) return 0;
  out[at++] = (literalLength < 15 ? literalLength : 15) << 4;
  if (literalLength >= 15) at = writeLength(out, at, literalLength);
  copyBytes(out, at, data, anchor, literalLength);
  return at + literalLength;
}

/**
 * Reads a length continuation (bytes added while they are 255) from `at`; returns -1 if the
 * input ends first or the length passes `limit`. The position after it goes to lengthEnd.
 */
let lengthEnd = 0;
function readLength(data: Uint8Array, at: number, length: number, limit: number): number {
  for (;;) {
    if (at >= data.length) return -1;
    const byte = data[at++]!;
    length += byte;
    if (length > limit) return -1;
    if (byte !== 255) {
      lengthEnd = at;
      return length;
    }
  }
}

function copyMatch(out: Uint8Array, at: number, offset: number, length: number): void {
  const from = at - offset;
  if (offset >= length && length > COPY_LOOP_BYTES_MAX) {
    out.copyWithin(at, from, from + length);
  } else {
    // Overlapping (or short): each byte may repeat one written in this same copy.
    for (let i = 0; i < length; i++) out[at + i] = out[from + i]!;
  }
}

/** Decodes `data` into `out`; returns the decoded length, or -1 if malformed. */
function decompressInto(data: Uint8Array, out: Uint8Array): number {
  const length = data.length;
  const capacity = out.length;
  let position = 0;
  let at = 0;
  for (;;) {
    if (position >= length) return -1;
    const token = data[position++]!;
    let literalLength = token >>> 4;
    if (literalLength === 15) {
      literalLength = readLength(data, position, literalLength, capacity);
      if (literalLength < 0) return -1;
      position = lengthEnd;
    }
    if (literalLength > length - position || literalLength > capacity - at) return -1;
    copyBytes(out, at, data, position, literalLength);
    position += literalLength;
    at += literalLength;
    if (position === length) return at;
    if (length - position < 2) return -1;
    const offset = data[position]! | (data[position + 1]! << 8);
    position += 2;
    if (offset === 0 || offset > at) return -1;
    let matchLength = token & 15;
    if (matchLength === 15) {
      matchLength = readLength(data, position, matchLength, capacity);
      if (matchLength < 0) return -1;
      position = lengthEnd;
    }
    matchLength += MIN_MATCH;
    if (matchLength > capacity - at) return -1;
    copyMatch(out, at, offset, matchLength);
    at += matchLength;
  }
}

function decompress(compressed: Uint8Array, length: number): Uint8Array {
  checkDecompressArguments(compressed, length);
  const out = new Uint8Array(length);
  if (decompressInto(compressed, out) !== length) throw lz4CorruptionError(compressed.length, length);
  return out;
}

/** The compressor's output before its copy out: one buffer, grown as needed. */
let scratch = new Uint8Array(0);

export function pureLz4() {
  return {
    lz4Compress(data: Uint8Array, capacityBytes = lz4CompressBound(data.length)): Uint8Array | undefined {
      checkCompressArguments(data, capacityBytes);
      if (scratch.length < capacityBytes) scratch = new Uint8Array(Math.max(capacityBytes, 2 * scratch.length));
      const length = compressInto(data, scratch.subarray(0, capacityBytes));
      return length === 0 ? undefined : scratch.slice(0, length);
    },
    lz4Decompress: decompress,
    openCompressedBlock(compressed: Uint8Array, rawLength: number): BlockReader {
      // The decoded bytes are the reader's own: no second copy as openBlock makes.
      return openOwnedBlock(decompress(compressed, rawLength));
    },
  };
}
