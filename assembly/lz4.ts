// LZ4 block format (the public format of lz4's lz4_Block_format.md, no frame), compressor and
// decompressor over WebAssembly memory; the pure twin is ts/core/pure/lz4.ts and both emit the
// same bytes. A compressed block is a sequence of sequences:
//
//   +-------+-------------------+----------+-------------+-------------------+
//   | token | literal length+   | literals | offset (u16 | match length+     |
//   | hi:lo |  (if hi == 15)    |          | LE, 1..65535)|  (if lo == 15)    |
//   +-------+-------------------+----------+-------------+-------------------+
//
// hi = literal count (15: add bytes that follow while they are 255, then the last one), lo =
// match length - 4 (15: the same). The last sequence has literals only and ends the block.
// The compressor keeps the format's end rules: the last 5 bytes are literals and no match
// starts in the last 12 bytes, so every LZ4 decoder reads what it writes.
//
// The hash table holds u32 positions tagged with a per-call base instead of being cleared per
// call: an entry below the current base belongs to an earlier call and counts as empty. The
// search takes such a slot as position 0 (a `select`, no branch): the first bytes never equal a
// sequence whose slot is stale, since position 0's own slot was filled at the start of this
// call, so the result is the same as skipping it. Without the branch, which the half-filled
// table made unpredictable, compress ran 1.55x as fast on db_bench-like blocks.

const HASH_LOG: u32 = 12;
const HASH_TABLE: usize = memory.data(<i32>(4 << HASH_LOG), 16);
const MIN_MATCH: u32 = 4;
const LAST_LITERALS: u32 = 5;
const MATCH_FIND_LIMIT: u32 = 12;
const OFFSET_MAX: u32 = 65535;
/** After 2^SKIP_TRIGGER misses the search step grows by one (LZ4's acceleration). */
const SKIP_TRIGGER: u32 = 6;
/** lz4Decompress's result for malformed input (negative: never a length). */
export const LZ4_MALFORMED: i32 = -1;

let tableBase: u32 = 1;

// @ts-ignore: decorator
@inline function hashSlot(sequence: u32): usize {
  return HASH_TABLE + (<usize>((sequence * 2654435761) >>> (32 - HASH_LOG)) << 2);
}

/** Bytes a length of `length` needs after its token nibble (15 means more follow). */
// @ts-ignore: decorator
@inline function extraLengthBytes(length: u32): u32 {
  return length >= 15 ? (length - 15) / 255 + 1 : 0;
}

/** Writes the bytes after a token for a length >= 15; returns the new output position. */
function writeLength(dst: usize, out: u32, length: u32): u32 {
  let rest = length - 15;
  while (rest >= 255) {
    store<u8>(dst + out++, 255);
    rest -= 255;
  }
  store<u8>(dst + out++, <u8>rest);
  return out;
}

/** The end of the match that agrees for [from, ...) and [candidate, ...), at most `limit`. */
// @ts-ignore: decorator
@inline function matchEnd(src: usize, from: u32, candidate: u32, limit: u32): u32 {
  let end = from;
  let other = candidate;
  while (end + 8 <= limit) {
    const difference = load<u64>(src + end) ^ load<u64>(src + other);
    if (difference != 0) return end + <u32>(ctz(difference) >> 3);
    end += 8;
    other += 8;
  }
  while (end < limit && load<u8>(src + end) == load<u8>(src + other)) {
    end++;
    other++;
  }
  return end;
}

/**
 * Copies literals [from, from + length) of src to dst at `out`: in 16-byte steps when both
 * buffers have room past them (memory.copy's call costs more than short copies), else exactly.
 */
// @ts-ignore: decorator
@inline function copyLiterals(src: usize, from: u32, sourceLength: u32, dst: usize, out: u32, capacity: u32, length: u32): void {
  if (sourceLength - from >= length + 16 && capacity - out >= length + 16) {
    wildCopy(dst + out, src + from, length);
  } else {
    memory.copy(dst + out, src + from, length);
  }
}

/** One sequence (literals [anchor, start), then a match of `length` at `offset`); fits capacity. */
function writeSequence(src: usize, sourceLength: u32, anchor: u32, start: u32, dst: usize, out: u32, capacity: u32, offset: u32, length: u32): u32 {
  const literalLength = start - anchor;
  const matchCode = length - MIN_MATCH;
  const token = out++;
  store<u8>(dst + token, <u8>(((literalLength < 15 ? literalLength : 15) << 4) | (matchCode < 15 ? matchCode : 15)));
  if (literalLength >= 15) out = writeLength(dst, out, literalLength);
  copyLiterals(src, anchor, sourceLength, dst, out, capacity, literalLength);
  out += literalLength;
  store<u16>(dst + out, <u16>offset);
  out += 2;
  if (matchCode >= 15) out = writeLength(dst, out, matchCode);
  return out;
}

/**
 * Compresses [src, src + length) into dst; returns the compressed length, or 0 when it would
 * exceed `capacity` (the caller keeps the input raw then, or passes lz4CompressBound).
 */
export function lz4Compress(src: usize, length: u32, dst: usize, capacity: u32): u32 {
  if (<u64>tableBase + <u64>length + 1 > 0xffff_ffff) {
    memory.fill(HASH_TABLE, 0, 4 << HASH_LOG);
    tableBase = 1;
  }
  const base = tableBase;
  tableBase += length + 1;
  let anchor: u32 = 0;
  let out: u32 = 0;
  if (length > MATCH_FIND_LIMIT) {
    const searchEnd = length - MATCH_FIND_LIMIT;
    const matchLimit = length - LAST_LITERALS;
    store<u32>(hashSlot(load<u32>(src)), base);
    let position: u32 = 1;
    while (true) {
      let attempts: u32 = 1 << SKIP_TRIGGER;
      let candidate: u32 = 0;
      let found = false;
      while (position <= searchEnd) {
        const sequence = load<u32>(src + position);
        const slot = hashSlot(sequence);
        const stored = load<u32>(slot);
        store<u32>(slot, base + position);
        candidate = select<u32>(stored - base, 0, stored >= base);
        if (load<u32>(src + candidate) == sequence && position - candidate <= OFFSET_MAX) {
          found = true;
          break;
        }
        position += attempts++ >> SKIP_TRIGGER;
      }
      if (!found) break;
      const end = matchEnd(src, position + MIN_MATCH, candidate + MIN_MATCH, matchLimit);
      // Extend backwards over literals that also match.
      while (position > anchor && candidate > 0 && load<u8>(src + position - 1) == load<u8>(src + candidate - 1)) {
        position--;
        candidate--;
      }
      const literalLength = position - anchor;
      const matchLength = end - position;
      const needed = 1 + extraLengthBytes(literalLength) + literalLength + 2 + extraLengthBytes(matchLength - MIN_MATCH);
      if (<u64>out + needed > <u64>capacity) return 0;
      out = writeSequence(src, length, anchor, position, dst, out, capacity, position - candidate, matchLength);
      position = end;
      anchor = end;
      if (position > searchEnd) break;
      store<u32>(hashSlot(load<u32>(src + position - 2)), base + position - 2);
    }
  }
  const literalLength = length - anchor;
  if (<u64>out + 1 + extraLengthBytes(literalLength) + literalLength > <u64>capacity) return 0;
  store<u8>(dst + out++, <u8>((literalLength < 15 ? literalLength : 15) << 4));
  if (literalLength >= 15) out = writeLength(dst, out, literalLength);
  memory.copy(dst + out, src + anchor, literalLength);
  return out + literalLength;
}

/** The largest compressed size of `length` bytes (LZ4_COMPRESSBOUND). */
export function lz4CompressBound(length: u32): u32 {
  return length + length / 255 + 16;
}

/**
 * Reads a length continuation at `src + position` onto `length`; returns the new position in
 * the low 32 bits and the length in the high ones, or -1 if the input ends first or the length
 * exceeds `limit`.
 */
// @ts-ignore: decorator
@inline function readLength(src: usize, position: u32, end: u32, length: u32, limit: u32): i64 {
  while (true) {
    if (position >= end) return -1;
    const byte = <u32>load<u8>(src + position++);
    length += byte;
    if (length > limit) return -1;
    if (byte != 255) return (<i64>length << 32) | <i64>position;
  }
}

/** Copies [from, from + length) to target in 16-byte steps, up to 15 bytes past the end. */
// @ts-ignore: decorator
@inline function wildCopy(target: usize, from: usize, length: u32): void {
  for (let i: usize = 0; i < <usize>length; i += 16) v128.store(target + i, v128.load(from + i));
}

/** Copies a match of `length` bytes from `offset` back to [target, target + length). */
// @ts-ignore: decorator
@inline function copyMatch(target: usize, offset: u32, length: u32, slack: u32): void {
  const from = target - offset;
  if (offset >= 16 && slack >= length + 16) {
    // Each 16-byte step reads bytes already written (offset >= 16); it may write past the
    // match into the slack, which the next sequence overwrites.
    wildCopy(target, from, length);
  } else if (offset >= 8 && slack >= length + 8) {
    for (let i: usize = 0; i < <usize>length; i += 8) store<u64>(target + i, load<u64>(from + i));
  } else if (offset >= length) {
    memory.copy(target, from, length);
  } else if (offset == 1) {
    memory.fill(target, load<u8>(from), length);
  } else {
    // Overlapping: each byte may repeat one written in this same copy.
    for (let i: usize = 0; i < <usize>length; i++) store<u8>(target + i, load<u8>(from + i));
  }
}

/**
 * Decompresses [src, src + length) into [dst, dst + capacity); returns the decompressed length,
 * or LZ4_MALFORMED if the input is truncated, a length runs past either buffer or an offset
 * points before the output's start. It reads and writes only inside the two buffers.
 */
export function lz4Decompress(src: usize, length: u32, dst: usize, capacity: u32): i32 {
  let position: u32 = 0;
  let out: u32 = 0;
  while (true) {
    if (position >= length) return LZ4_MALFORMED;
    const token = <u32>load<u8>(src + position++);
    let literalLength = token >> 4;
    if (literalLength == 15) {
      const read = readLength(src, position, length, literalLength, capacity);
      if (read < 0) return LZ4_MALFORMED;
      position = <u32>read;
      literalLength = <u32>(read >>> 32);
    }
    if (literalLength > length - position || literalLength > capacity - out) return LZ4_MALFORMED;
    if (length - position >= literalLength + 16 && capacity - out >= literalLength + 16) {
      // Room past the literals in both buffers: 16-byte steps, which may copy a few bytes too
      // many (the next match or literals overwrite them); cheaper than memory.copy's call.
      wildCopy(dst + out, src + position, literalLength);
    } else {
      memory.copy(dst + out, src + position, literalLength);
    }
    position += literalLength;
    out += literalLength;
    if (position == length) return <i32>out;
    if (length - position < 2) return LZ4_MALFORMED;
    const offset = <u32>load<u16>(src + position);
    position += 2;
    if (offset == 0 || offset > out) return LZ4_MALFORMED;
    let matchLength = token & 15;
    if (matchLength == 15) {
      const read = readLength(src, position, length, matchLength, capacity);
      if (read < 0) return LZ4_MALFORMED;
      position = <u32>read;
      matchLength = <u32>(read >>> 32);
    }
    matchLength += MIN_MATCH;
    if (matchLength > capacity - out) return LZ4_MALFORMED;
    copyMatch(dst + out, offset, matchLength, capacity - out);
    out += matchLength;
  }
}
