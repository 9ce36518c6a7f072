/**
 * Blocked (cache-local) bloom filters (ts/format.ts, docs/FORMAT.md), the twin of assembly/bloom.ts:
 *
 *   +--------+--------+-----+--------+-------+
 *   | line 0 | line 1 | ... | line n | k (1) |   each line BLOOM_LINE_BYTES (64) bytes
 *   +--------+--------+-----+--------+-------+
 *
 * The builder keeps only each key's 32-bit hash (LevelDB's Hash with BLOOM_HASH_SEED) in a
 * growable Uint32Array; finish() sizes the filter from the count. A key's probes all fall in
 * line (h * lines) >> 32; probe i tests bit p_i >>> 23 of it, p_0 = mix(h), p_(i+1) =
 * p_i * PROBE_MULTIPLIER. The shape and validation helpers (ts/core/checks.ts) are shared with
 * the WebAssembly wrapper so both cores size and reject filters identically.
 */
import { invalidArgument } from "../../errors.ts";
import { BLOOM_HASH_SEED, BLOOM_LINE_BYTES } from "../../format.ts";
import { TRAILER_BYTES, type BloomBuilder, type BloomFilter, type Run } from "../types.ts";
import { asPureRun } from "./run.ts";
import { BLOOM_PROBES_MAX, bloomShape, checkBloomKey, checkFilter, checkRunRange } from "../checks.ts";

const HASH_MULTIPLIER = 0xc6a4a793;
/** Steps from one probe's bit position to the next (2^32 / golden ratio, as RocksDB's FastLocalBloom). */
const PROBE_MULTIPLIER = 0x9e3779b9;
/** A line's bit index is the top 9 bits of a probe word. */
const PROBE_SHIFT = 23;
const TWO_TO_32 = 4294967296;
/** LevelDB's Hash(data, n, seed) (util/hash.cc) of data[start, end), unsigned. */
export function bloomHash(data: Uint8Array, start: number, end: number): number {
  let hash = BLOOM_HASH_SEED ^ Math.imul(end - start, HASH_MULTIPLIER);
  let i = start;
  for (const last = end - 4; i <= last; i += 4) {
    const word = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    hash = Math.imul(hash + word, HASH_MULTIPLIER);
    hash ^= hash >>> 16;
  }
  const tail = end - i;
  if (tail === 3) hash += data[i + 2]! << 16;
  if (tail >= 2) hash += data[i + 1]! << 8;
  if (tail >= 1) {
    hash = Math.imul(hash + data[i]!, HASH_MULTIPLIER);
    hash ^= hash >>> 24;
  }
  return hash >>> 0;
}

function sameBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = aStart, j = bStart; i < aEnd; i++, j++) if (a[i] !== b[j]) return false;
  return true;
}

class PureBloomBuilder implements BloomBuilder {
  private hashes = new Uint32Array(1024);
  private hashCount = 0;
  /** The last user key added by addFromRun, so a user key split across two calls counts once. */
  private lastKey: Uint8Array | undefined = undefined;
  private freed = false;

  get count(): number {
    this.checkLive();
    return this.hashCount;
  }

  private checkLive(): void {
    if (this.freed) throw invalidArgument("bloom builder used after free()");
  }

  private append(hash: number): void {
    if (this.hashCount === this.hashes.length) {
      const grown = new Uint32Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.hashCount++] = hash;
  }

  add(userKey: Uint8Array): void {
    this.checkLive();
    checkBloomKey(userKey);
    this.append(bloomHash(userKey, 0, userKey.length));
    this.lastKey = undefined;
  }

  addFromRun(run: Run, from: number, to: number): void {
    this.checkLive();
    const pure = asPureRun(run);
    checkRunRange(from, to, pure.count);
    if (from === to) return;
    const bytes = pure.buffer;
    const view = pure.view;
    let at = 0;
    for (let skipped = 0; skipped < from; skipped++) at += 8 + view.getUint32(at, true) + view.getUint32(at + 4, true);
    let previous = this.lastKey ?? bytes;
    let previousStart = 0;
    let previousEnd = this.lastKey === undefined ? -1 : this.lastKey.length;
    for (let index = from; index < to; index++) {
      const keyLength = view.getUint32(at, true);
      const userKeyStart = at + 8;
      const userKeyEnd = userKeyStart + keyLength - TRAILER_BYTES;
      if (previousEnd < 0 || !sameBytes(bytes, userKeyStart, userKeyEnd, previous, previousStart, previousEnd)) {
        this.append(bloomHash(bytes, userKeyStart, userKeyEnd));
      }
      previous = bytes;
      previousStart = userKeyStart;
      previousEnd = userKeyEnd;
      at = userKeyStart + keyLength + view.getUint32(at + 4, true);
    }
    this.lastKey = bytes.slice(previousStart, previousEnd);
  }

  finish(bitsPerKey: number): Uint8Array {
    this.checkLive();
    const { k, bytes } = bloomShape(this.hashCount, bitsPerKey);
    const filter = new Uint8Array(bytes + 1);
    const lines = bytes / BLOOM_LINE_BYTES;
    const hashes = this.hashes;
    for (let i = 0; i < this.hashCount; i++) {
      const hash = hashes[i]!;
      const line = lineStart(lines, hash);
      let word = probeWord(hash);
      for (let probe = 0; probe < k; probe++) {
        const bit = word >>> PROBE_SHIFT;
        filter[line + (bit >>> 3)]! |= 1 << (bit & 7);
        word = Math.imul(word, PROBE_MULTIPLIER);
      }
    }
    filter[bytes] = k;
    this.hashCount = 0;
    this.lastKey = undefined;
    return filter;
  }

  free(): void {
    this.freed = true;
  }
}

/**
 * MurmurHash3's 32-bit finaliser: the probe words must not repeat the bits of h that chose the
 * line (keys in one line share h's top bits).
 */
function probeWord(hash: number): number {
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/**
 * The first byte of the line of a key hashed to `hash` (signed or unsigned): (hash * lines) >> 32,
 * exact in a double since lines <= BLOOM_LINES_MAX (2^21) keeps the product below 2^53.
 */
function lineStart(lines: number, hash: number): number {
  return ((((hash >>> 0) * lines) / TWO_TO_32) | 0) * BLOOM_LINE_BYTES;
}

/** Whether `filter` (of `lines` lines, `k` <= BLOOM_PROBES_MAX probes) may hold the key hashed to `hash`. */
export function bloomMayContainHash(filter: Uint8Array, lines: number, k: number, hash: number): boolean {
  const line = lineStart(lines, hash);
  let word = probeWord(hash);
  for (let probe = 0; probe < k; probe++) {
    const bit = word >>> PROBE_SHIFT;
    if ((filter[line + (bit >>> 3)]! & (1 << (bit & 7))) === 0) return false;
    word = Math.imul(word, PROBE_MULTIPLIER);
  }
  return true;
}

class PureBloomFilter implements BloomFilter {
  private readonly filter: Uint8Array;
  private readonly k: number;
  private readonly lines: number;
  private freed = false;

  constructor(filter: Uint8Array) {
    this.k = checkFilter(filter);
    this.filter = filter.slice();
    this.lines = (filter.length - 1) / BLOOM_LINE_BYTES;
  }

  mayContain(userKey: Uint8Array): boolean {
    if (this.freed) throw invalidArgument("bloom filter used after free()");
    checkBloomKey(userKey);
    if (this.k > BLOOM_PROBES_MAX) return true;
    return bloomMayContainHash(this.filter, this.lines, this.k, bloomHash(userKey, 0, userKey.length));
  }

  free(): void {
    this.freed = true;
  }
}

export function pureBloom() {
  return {
    newBloomBuilder: (): BloomBuilder => new PureBloomBuilder(),
    openBloom: (filter: Uint8Array): BloomFilter => new PureBloomFilter(filter),
  };
}
