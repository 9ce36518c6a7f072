// Blocked (cache-local) bloom filters (ts/format.ts, docs/FORMAT.md): whole 64-byte lines,
// then one byte k. The builder keeps only the 32-bit hash of each key; the filter's size is
// known once the count is.
//
//   +--------+--------+-----+--------+-------+
//   | line 0 | line 1 | ... | line n | k (1) |   each line BLOOM_LINE_BYTES (64) bytes
//   +--------+--------+-----+--------+-------+
//
// A key's probes all fall in one line, (h * lines) >> 32: one cache miss per probed table, and
// a multiply-shift instead of LevelDB's h mod bits (a division per probe). Probe i tests bit
// p_i >>> 23 of that line (9 bits: 0..511), with p_0 = mix(h) and p_(i+1) = p_i * PROBE_MULTIPLIER,
// so one hash gives all k probes. The host computes k and the line count (one formula for both
// cores) and validates every argument before calling in.
import { BLOOM_HASH_SEED, BLOOM_LINE_BYTES, TRAILER_BYTES } from "./format";
import { Run } from "./run";

const HASH_MULTIPLIER: u32 = 0xc6a4a793;
/** Steps from one probe's bit position to the next (2^32 / golden ratio, as RocksDB's FastLocalBloom). */
const PROBE_MULTIPLIER: u32 = 0x9e3779b9;
/** A line's bit index is the top 9 bits of a probe word. */
const PROBE_SHIFT: u32 = 23;
const HASH_CAPACITY_INITIAL: u32 = 1024;

// @unmanaged: allocated with heap.alloc, freed by bloomBuilderFree; never touched by a GC.
// @ts-ignore: decorator
@unmanaged class BloomBuilder {
  hashes: usize;
  hashCount: u32;
  hashCapacity: u32;
  /** The last user key added by addFromRun, so a user key split across two calls counts once. */
  lastKey: usize;
  lastKeyLength: u32;
  lastKeyCapacity: u32;
  hasLastKey: bool;
  /** The finished filter, reused by the next finish. */
  output: usize;
  outputCapacity: u32;
}

/** LevelDB's Hash(data, n, seed) (util/hash.cc) with the bloom seed. */
export function bloomHash(key: usize, length: u32): u32 {
  let hash: u32 = BLOOM_HASH_SEED ^ (length * HASH_MULTIPLIER);
  const end = key + length;
  let at = key;
  while (at + 4 <= end) {
    hash = (hash + load<u32>(at)) * HASH_MULTIPLIER;
    hash ^= hash >>> 16;
    at += 4;
  }
  const tail = <u32>(end - at);
  if (tail == 3) hash += <u32>load<u8>(at, 2) << 16;
  if (tail >= 2) hash += <u32>load<u8>(at, 1) << 8;
  if (tail >= 1) {
    hash += <u32>load<u8>(at);
    hash *= HASH_MULTIPLIER;
    hash ^= hash >>> 24;
  }
  return hash;
}

export function bloomBuilderNew(): usize {
  const builder = changetype<BloomBuilder>(heap.alloc(offsetof<BloomBuilder>()));
  builder.hashes = heap.alloc(<usize>HASH_CAPACITY_INITIAL << 2);
  builder.hashCount = 0;
  builder.hashCapacity = HASH_CAPACITY_INITIAL;
  builder.lastKey = 0;
  builder.lastKeyLength = 0;
  builder.lastKeyCapacity = 0;
  builder.hasLastKey = false;
  builder.output = 0;
  builder.outputCapacity = 0;
  return changetype<usize>(builder);
}

export function bloomBuilderFree(pointer: usize): void {
  const builder = changetype<BloomBuilder>(pointer);
  heap.free(builder.hashes);
  if (builder.lastKey != 0) heap.free(builder.lastKey);
  if (builder.output != 0) heap.free(builder.output);
  heap.free(pointer);
}

export function bloomBuilderCount(pointer: usize): u32 {
  return changetype<BloomBuilder>(pointer).hashCount;
}

// @ts-ignore: decorator
@inline function appendHash(builder: BloomBuilder, hash: u32): void {
  if (builder.hashCount == builder.hashCapacity) {
    builder.hashCapacity <<= 1;
    builder.hashes = heap.realloc(builder.hashes, <usize>builder.hashCapacity << 2);
  }
  store<u32>(builder.hashes + (<usize>builder.hashCount << 2), hash);
  builder.hashCount++;
}

/** Adds one user key; it does not take part in addFromRun's merging of equal neighbours. */
export function bloomBuilderAdd(pointer: usize, key: usize, length: u32): void {
  const builder = changetype<BloomBuilder>(pointer);
  appendHash(builder, bloomHash(key, length));
  builder.hasLastKey = false;
}

// @ts-ignore: decorator
@inline function sameBytes(a: usize, aLength: u32, b: usize, bLength: u32): bool {
  return aLength == bLength && memory.compare(a, b, aLength) == 0;
}

/** Adds the user keys of entries [from, to) of `run`, reading it in place (host checked bounds). */
export function bloomBuilderAddFromRun(pointer: usize, run: Run, from: u32, to: u32): void {
  const builder = changetype<BloomBuilder>(pointer);
  assert(from <= to && to <= run.count);
  if (from == to) return;
  let at = run.pointer;
  for (let skipped: u32 = 0; skipped < from; skipped++) at += 8 + <usize>load<u32>(at) + <usize>load<u32>(at, 4);
  let previousKey: usize = builder.lastKey;
  let previousLength: u32 = builder.lastKeyLength;
  let hasPrevious = builder.hasLastKey;
  for (let index = from; index < to; index++) {
    const keyLength = load<u32>(at);
    assert(keyLength >= TRAILER_BYTES);
    const userKey = at + 8;
    const userKeyLength = keyLength - TRAILER_BYTES;
    if (!hasPrevious || !sameBytes(userKey, userKeyLength, previousKey, previousLength)) {
      appendHash(builder, bloomHash(userKey, userKeyLength));
    }
    previousKey = userKey;
    previousLength = userKeyLength;
    hasPrevious = true;
    at += 8 + <usize>keyLength + <usize>load<u32>(at, 4);
  }
  // Remember the last user key: the next call may continue with more versions of it.
  if (previousLength > builder.lastKeyCapacity || builder.lastKey == 0) {
    if (builder.lastKey != 0) heap.free(builder.lastKey);
    builder.lastKeyCapacity = previousLength < 64 ? 64 : previousLength;
    builder.lastKey = heap.alloc(builder.lastKeyCapacity);
  }
  memory.copy(builder.lastKey, previousKey, previousLength);
  builder.lastKeyLength = previousLength;
  builder.hasLastKey = true;
}

/**
 * MurmurHash3's 32-bit finaliser: the probe words must not repeat the bits of h that chose the
 * line (keys in one line share h's top bits).
 */
// @ts-ignore: decorator
@inline function probeWord(hash: u32): u32 {
  hash ^= hash >>> 16;
  hash *= 0x85ebca6b;
  hash ^= hash >>> 13;
  hash *= 0xc2b2ae35;
  return hash ^ (hash >>> 16);
}

/** The first byte of the line of a key hashed to `hash`, in a filter of `lines` lines. */
// @ts-ignore: decorator
@inline export function lineOf(filter: usize, lines: u32, hash: u32): usize {
  return filter + (<usize>((<u64>hash * <u64>lines) >>> 32) * BLOOM_LINE_BYTES);
}

/**
 * Writes the filter of every hash added (`bytes` bytes of lines, then k) into the builder's
 * output buffer, resets the builder, and returns the output's pointer (valid until the next
 * finish or free).
 */
export function bloomBuilderFinish(pointer: usize, k: u32, bytes: u32): usize {
  const builder = changetype<BloomBuilder>(pointer);
  assert(k >= 1 && k <= 30);
  assert(bytes >= BLOOM_LINE_BYTES && bytes % BLOOM_LINE_BYTES == 0);
  if (bytes + 1 > builder.outputCapacity) {
    if (builder.output != 0) heap.free(builder.output);
    builder.output = heap.alloc(bytes + 1);
    builder.outputCapacity = bytes + 1;
  }
  const output = builder.output;
  memory.fill(output, 0, bytes);
  const lines = bytes / BLOOM_LINE_BYTES;
  const hashes = builder.hashes;
  const end = hashes + (<usize>builder.hashCount << 2);
  for (let at = hashes; at < end; at += 4) {
    const hash = load<u32>(at);
    const line = lineOf(output, lines, hash);
    let word = probeWord(hash);
    for (let probe: u32 = 0; probe < k; probe++) {
      const bit = word >>> PROBE_SHIFT;
      const byte = line + (bit >>> 3);
      store<u8>(byte, load<u8>(byte) | (<u8>1 << <u8>(bit & 7)));
      word *= PROBE_MULTIPLIER;
    }
  }
  store<u8>(output + bytes, <u8>k);
  builder.hashCount = 0;
  builder.hasLastKey = false;
  return output;
}

/**
 * Whether the filter [filter, filter + length) may contain the key. The host validated the
 * filter: whole lines plus k, and k in 1..30 (a larger k matches everything and never gets here).
 */
export function bloomMayContain(filter: usize, length: u32, key: usize, keyLength: u32): bool {
  return bloomMayContainHash(filter, length, bloomHash(key, keyLength));
}

/** The line bloomMayContainHash reads for `hash` (a batch lookup loads it early: the misses of many keys overlap). */
export function bloomLineOf(filter: usize, length: u32, hash: u32): usize {
  return lineOf(filter, (length - 1) / BLOOM_LINE_BYTES, hash);
}

/** bloomMayContain for a key already hashed (a point lookup hashes once for every table). */
export function bloomMayContainHash(filter: usize, length: u32, hash: u32): bool {
  const k = <u32>load<u8>(filter + length - 1);
  const lines = (length - 1) / BLOOM_LINE_BYTES;
  assert(lines >= 1 && (length - 1) % BLOOM_LINE_BYTES == 0 && k >= 1 && k <= 30);
  const line = lineOf(filter, lines, hash);
  let word = probeWord(hash);
  for (let probe: u32 = 0; probe < k; probe++) {
    const bit = word >>> PROBE_SHIFT;
    if ((load<u8>(line + (bit >>> 3)) & (1 << (bit & 7))) == 0) return false;
    word *= PROBE_MULTIPLIER;
  }
  return true;
}
