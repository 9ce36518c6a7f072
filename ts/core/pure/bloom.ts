/**
 * Bloom filters in LevelDB's layout (ts/format.ts), the twin of assembly/bloom.ts:
 *
 *   +--------------------------------------+-------+
 *   | bit array (bytes * 8 bits, >= 64)     | k (1) |
 *   +--------------------------------------+-------+
 *
 * The builder keeps only each key's 32-bit hash (LevelDB's Hash with BLOOM_HASH_SEED) in a
 * growable Uint32Array; finish() sizes the bit array from the count. Probe i of a key tests bit
 * (h + i * delta) mod bits, delta = rotate-right(h, 17). The shape and validation helpers
 * (ts/core/checks.ts) are shared with the WebAssembly wrapper so both cores size and reject
 * filters identically.
 */
import { invalidArgument } from "../../errors.ts";
import { BLOOM_HASH_SEED } from "../../format.ts";
import { TRAILER_BYTES, type BloomBuilder, type BloomFilter, type Run } from "../types.ts";
import { asPureRun } from "./run.ts";
import { BLOOM_PROBES_MAX, bloomShape, checkBloomKey, checkFilter, checkRunRange } from "../checks.ts";

const HASH_MULTIPLIER = 0xc6a4a793;
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
    const bits = bytes * 8;
    const hashes = this.hashes;
    for (let i = 0; i < this.hashCount; i++) {
      let hash = hashes[i]!;
      const delta = ((hash >>> 17) | (hash << 15)) >>> 0;
      for (let probe = 0; probe < k; probe++) {
        const bit = hash % bits;
        filter[bit >>> 3]! |= 1 << (bit & 7);
        hash = (hash + delta) >>> 0;
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

/** Whether `filter` (of `bits` bits, `k` <= BLOOM_PROBES_MAX probes) may hold the key hashed to `hash`. */
export function bloomMayContainHash(filter: Uint8Array, bits: number, k: number, hash: number): boolean {
  const delta = ((hash >>> 17) | (hash << 15)) >>> 0;
  for (let probe = 0; probe < k; probe++) {
    const bit = hash % bits;
    if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    hash = (hash + delta) >>> 0;
  }
  return true;
}

class PureBloomFilter implements BloomFilter {
  private readonly filter: Uint8Array;
  private readonly k: number;
  private readonly bits: number;
  private freed = false;

  constructor(filter: Uint8Array) {
    this.k = checkFilter(filter);
    this.filter = filter.slice();
    this.bits = (filter.length - 1) * 8;
  }

  mayContain(userKey: Uint8Array): boolean {
    if (this.freed) throw invalidArgument("bloom filter used after free()");
    checkBloomKey(userKey);
    if (this.k > BLOOM_PROBES_MAX) return true;
    return bloomMayContainHash(this.filter, this.bits, this.k, bloomHash(userKey, 0, userKey.length));
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
