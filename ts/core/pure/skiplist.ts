/**
 * The memtable of the pure core: the twin of assembly/skiplist.ts, a skiplist of internal keys
 * -> value bytes laid out as structs of arrays, so that V8 sees only typed arrays and small
 * integers (no object per node, nothing for the GC to trace).
 *
 * Nodes are records in one growing Int32Array; a node's id is the index of its record, and the
 * head is the record at 0, so 0 doubles as "no node" (nothing links to the head):
 *
 *   +------+-----------+-----------+-------------+---------+-----+-------------------+
 *   | prev | keyOffset | keyLength | valueLength | link[0] | ... | link[height - 1]  |
 *   +------+-----------+-----------+-------------+---------+-----+-------------------+
 *   link := next | prefix high | prefix low
 *
 * As in the WASM core, a link carries 8 bytes of the next node's user key (big-endian,
 * zero-padded, as two u32 halves): when it differs from the searched key's prefix it decides the
 * order without touching the next node's record or its key bytes in the arena. The first 8, or,
 * once the memtable has decided that its keys share their first `shared` bytes, the 8 after those
 * (assembly/skiplist.ts says why, and why a key that does not share them gets 0 or all ones).
 * Keys and values sit back to back in one growing byte arena (key at keyOffset, value right
 * after it). arenaBytes is not the size of these arrays: it counts every node as the WASM core
 * lays it out (links, 16-byte header and key rounded up to 4 bytes, then the value), plus the head,
 * so both cores report the same number. Heights come from the same seeded xorshift32, so both
 * cores build the same list.
 *
 * Duplicate internal keys are PGZ_INVALID_ARGUMENT (sequences are unique per write, so a duplicate
 * is a caller bug); entries of the run before the duplicate stay inserted.
 */
import { invalidArgument } from "../../errors.ts";
import { copyOfRange } from "../slab.ts";
import { KIND_SEEK, TRAILER_BYTES, type Cursor, type Memtable, type Hit, type PointBatch } from "../types.ts";
import { memtableGetMany } from "./lookup-batch.ts";
import { copyBytes } from "./bytes.ts";
import { KEY_LENGTH, KEY_OFFSET, LINKS, LINK_SLOTS, PREV, PureMemtableCursor, VALUE_LENGTH } from "./skiplist-cursor.ts";
import { readTrailerHigh, readTrailerLow, bigEndianHalf, compareToTarget, compareRunKeys, hitOfNode } from "./skiplist-keys.ts";
import { checkCursorStart, checkGetArguments, countRunEntries } from "../checks.ts";

export const HEIGHT_MAX = 16;
export const RANDOM_SEED = 0x9e3779b9;
/** Bytes of a node header in the WASM layout: prev, keyLength, valueLength, value (u32 each). */
const NODE_HEADER_BYTES = 16;
/** Bytes of one level of a node in the WASM layout: u32 next, u64 key prefix of next. */
const LINK_BYTES = 12;
/** The TS arena is one Uint8Array indexed by int32 offsets. */
const ARENA_BYTES_MAX = 0x7fff_ffff;


const TWO_POW_24 = 0x100_0000;
/** Entries per sorted chunk of an insert (as the WASM core). */
const BATCH_ENTRIES = 1024;
/** The entry count at which a memtable decides which bytes its link prefixes hold (as the WASM core). */
const SHARED_DECIDE_COUNT = 64;

/** Bytes the WASM arena spends on a node and its value: the number both cores report in arenaBytes. */
export function nodeBytes(height: number, keyLength: number, valueLength: number): number {
  return ((height * LINK_BYTES + NODE_HEADER_BYTES + keyLength + 3) & ~3) + valueLength;
}

class PureMemtable implements Memtable {
  nodes = new Int32Array(4096);
  /** The same memory as `nodes`, read as unsigned for the key prefixes. */
  prefixes = new Uint32Array(this.nodes.buffer);
  nodesLength = LINKS + HEIGHT_MAX * LINK_SLOTS;
  arena = new Uint8Array(1 << 20);
  arenaLength = 0;
  height = 1;
  entryCount = 0;
  arenaBytesUsed = nodeBytes(HEIGHT_MAX, 0, 0);
  freed = false;
  private random = RANDOM_SEED;
  private readonly splice = new Int32Array(HEIGHT_MAX);
  /** A chunk's run offsets (sorted in place), a merge buffer, and each entry's splice. */
  private readonly batchEntries = new Int32Array(BATCH_ENTRIES);
  private readonly batchMerge = new Int32Array(BATCH_ENTRIES);
  private readonly batchSplices = new Int32Array(BATCH_ENTRIES * HEIGHT_MAX);
  /** Per level, while a chunk is linked: the last node it linked there, and that node's old predecessor. */
  private readonly lastLinked = new Int32Array(HEIGHT_MAX);
  private readonly lastGap = new Int32Array(HEIGHT_MAX);
  /** Leading user-key bytes the link prefixes skip (0: none), as those of the key at arena[referenceAt]. */
  private shared = 0;
  private referenceAt = 0;
  private sharedDecided = false;
  /** The halves of the link prefix linkPrefix computed last (two fields: no array per call). */
  prefixHigh = 0;
  prefixLow = 0;

  checkLive(): void {
    if (this.freed) throw invalidArgument("memtable used after free()");
  }

  get count(): number {
    this.checkLive();
    return this.entryCount;
  }

  get arenaBytes(): number {
    this.checkLive();
    return this.arenaBytesUsed;
  }

  free(): void {
    this.freed = true;
    this.nodes = new Int32Array(0);
    this.prefixes = new Uint32Array(0);
    this.arena = new Uint8Array(0);
  }

  /**
   * The first node >= the target key, or 0; with `recordSplice`, splice[level] gets the last
   * node < target at every level below the list's height.
   */
  findGreaterOrEqual(target: Uint8Array, targetAt: number, targetUserLength: number, targetHigh: number, targetLow: number, recordSplice: boolean): number {
    const nodes = this.nodes;
    const prefixes = this.prefixes;
    const arena = this.arena;
    const splice = this.splice;
    this.linkPrefix(target, targetAt, targetUserLength);
    const prefixHigh = this.prefixHigh;
    const prefixLow = this.prefixLow;
    let node = 0;
    let level = this.height - 1;
    // A node already found >= target on a higher level need not be compared again.
    let knownNotLess = 0;
    for (;;) {
      const link = node + LINKS + level * LINK_SLOTS;
      const next = nodes[link]!;
      let less = false;
      if (next !== 0 && next !== knownNotLess) {
        const high = prefixes[link + 1]!;
        const low = prefixes[link + 2]!;
        if (high !== prefixHigh) less = high < prefixHigh;
        else if (low !== prefixLow) less = low < prefixLow;
        else less = compareToTarget(arena, nodes[next + KEY_OFFSET]!, nodes[next + KEY_LENGTH]!, target, targetAt, targetUserLength, targetHigh, targetLow) < 0;
      }
      if (less) {
        node = next;
      } else {
        knownNotLess = next;
        if (recordSplice) splice[level] = node;
        if (level === 0) return next;
        level--;
      }
    }
  }

  findLast(): number {
    const nodes = this.nodes;
    let node = 0;
    let level = this.height - 1;
    for (;;) {
      const next = nodes[node + LINKS + level * LINK_SLOTS]!;
      if (next !== 0) {
        node = next;
      } else {
        if (level === 0) return node;
        level--;
      }
    }
  }

  /** Sets prefixHigh and prefixLow to the link prefix of the user key bytes[at, at + userLength). */
  linkPrefix(bytes: Uint8Array, at: number, userLength: number): void {
    const shared = this.shared;
    if (shared === 0) {
      this.prefixHigh = bigEndianHalf(bytes, at, userLength);
      this.prefixLow = bigEndianHalf(bytes, at + 4, userLength - 4);
      return;
    }
    const arena = this.arena;
    const reference = this.referenceAt;
    const common = userLength < shared ? userLength : shared;
    for (let i = 0; i < common; i++) {
      const difference = bytes[at + i]! - arena[reference + i]!;
      if (difference !== 0) {
        this.prefixHigh = this.prefixLow = difference < 0 ? 0 : 0xffff_ffff;
        return;
      }
    }
    // A key that ends inside the shared bytes sorts before every key that has them all.
    this.prefixHigh = userLength < shared ? 0 : bigEndianHalf(bytes, at + shared, userLength - shared);
    this.prefixLow = userLength < shared ? 0 : bigEndianHalf(bytes, at + shared + 4, userLength - shared - 4);
  }

  /** As assembly/skiplist.ts decideSharedPrefix: once, at SHARED_DECIDE_COUNT entries. */
  private decideSharedPrefix(): void {
    if (this.sharedDecided || this.entryCount < SHARED_DECIDE_COUNT) return;
    this.sharedDecided = true;
    const nodes = this.nodes;
    const arena = this.arena;
    const first = nodes[LINKS]!;
    const last = this.findLast();
    const [firstAt, lastAt] = [nodes[first + KEY_OFFSET]!, nodes[last + KEY_OFFSET]!];
    const limit = Math.min(nodes[first + KEY_LENGTH]!, nodes[last + KEY_LENGTH]!) - TRAILER_BYTES;
    let shared = 0;
    while (shared < limit && arena[firstAt + shared] === arena[lastAt + shared]) shared++;
    if (shared === 0) return;
    this.shared = shared;
    this.referenceAt = firstAt;
    for (let level = 0; level < this.height; level++) {
      let link = LINKS + level * LINK_SLOTS;
      let next = nodes[link]!;
      while (next !== 0) {
        this.linkPrefix(arena, nodes[next + KEY_OFFSET]!, nodes[next + KEY_LENGTH]! - TRAILER_BYTES);
        nodes[link + 1] = this.prefixHigh;
        nodes[link + 2] = this.prefixLow;
        link = next + LINKS + level * LINK_SLOTS;
        next = nodes[link]!;
      }
    }
  }

  private randomHeight(): number {
    let x = this.random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.random = x;
    // Branching 1/4: two fresh bits per level, all from one draw (as the WASM core).
    let height = 1;
    while (height < HEIGHT_MAX && (x & 3) === 0) {
      height++;
      x >>>= 2;
    }
    return height;
  }

  private allocateNode(height: number, keyValueBytes: number): number {
    const node = this.nodesLength;
    const needed = node + LINKS + height * LINK_SLOTS;
    if (needed > this.nodes.length) {
      const grown = new Int32Array(Math.max(needed, this.nodes.length * 2));
      grown.set(this.nodes);
      this.nodes = grown;
      this.prefixes = new Uint32Array(grown.buffer);
    }
    this.nodesLength = needed;
    const at = this.arenaLength;
    const arenaNeeded = at + keyValueBytes;
    if (arenaNeeded > this.arena.length) {
      if (arenaNeeded > ARENA_BYTES_MAX) throw invalidArgument("memtable arena is over 2 GiB");
      const grown = new Uint8Array(Math.min(ARENA_BYTES_MAX, Math.max(arenaNeeded, this.arena.length * 2)));
      grown.set(this.arena.subarray(0, at));
      this.arena = grown;
    }
    this.arenaLength = arenaNeeded;
    this.nodes[node + KEY_OFFSET] = at;
    return node;
  }

  /**
   * Inserts the run in chunks of up to BATCH_ENTRIES entries, each sorted by internal key,
   * searched, then linked in sorted order, as the WASM core does (so heights are drawn in the
   * same order and both cores build the same list). A chunk that repeats a key goes one entry
   * at a time instead, so the entries before the duplicate stay inserted.
   */
  insert(run: Uint8Array): void {
    this.checkLive();
    if (!(run instanceof Uint8Array)) throw invalidArgument("run must be a Uint8Array");
    countRunEntries(run);
    const entries = this.batchEntries;
    let offset = 0;
    let index = 0;
    while (offset < run.length) {
      let count = 0;
      let end = offset;
      while (end < run.length && count < BATCH_ENTRIES) {
        entries[count++] = end;
        end += 8 + readTrailerLow(run, end) + readTrailerLow(run, end + 4);
      }
      if (!this.insertChunk(run, count)) this.insertOneByOne(run, offset, end, index);
      this.decideSharedPrefix();
      offset = end;
      index += count;
    }
  }

  /** Sorts batchEntries[0, count) (run offsets) by internal key: bottom-up merge sort, stable. */
  private sortChunk(run: Uint8Array, count: number): void {
    let from = this.batchEntries;
    let to = this.batchMerge;
    for (let width = 1; width < count; width *= 2) {
      for (let low = 0; low < count; low += 2 * width) {
        const middle = Math.min(low + width, count);
        const high = Math.min(low + 2 * width, count);
        let left = low;
        let right = middle;
        for (let out = low; out < high; out++) {
          const takeLeft = right >= high || (left < middle && compareRunKeys(run, from[left]!, from[right]!) <= 0);
          to[out] = takeLeft ? from[left++]! : from[right++]!;
        }
      }
      [from, to] = [to, from];
    }
    if (from !== this.batchEntries) this.batchEntries.set(from.subarray(0, count));
  }

  /**
   * Inserts the chunk of `count` entries at the run offsets in batchEntries; false, with nothing
   * inserted, when an entry repeats a key of the chunk or of the memtable.
   */
  private insertChunk(run: Uint8Array, count: number): boolean {
    this.sortChunk(run, count);
    const entries = this.batchEntries;
    for (let i = 1; i < count; i++) if (compareRunKeys(run, entries[i - 1]!, entries[i]!) === 0) return false;
    // Search: every entry's predecessors in the list as it is. The WASM core runs 8 searches in
    // step so their cache misses overlap; the same here (search state in typed arrays) measured
    // slower than one search at a time (385,000-400,000 vs 458,000 inserts/s, bench:core).
    const searchHeight = this.height;
    const splices = this.batchSplices;
    for (let i = 0; i < count; i++) {
      const keyAt = entries[i]! + 8;
      const userLength = readTrailerLow(run, entries[i]!) - TRAILER_BYTES;
      const high = readTrailerHigh(run, keyAt + userLength);
      const low = readTrailerLow(run, keyAt + userLength);
      const found = this.findGreaterOrEqual(run, keyAt, userLength, high, low, true);
      if (found !== 0 && compareToTarget(this.arena, this.nodes[found + KEY_OFFSET]!, this.nodes[found + KEY_LENGTH]!, run, keyAt, userLength, high, low) === 0) return false;
      for (let level = 0; level < searchHeight; level++) splices[i * HEIGHT_MAX + level] = this.splice[level]!;
    }
    // Link in sorted order. At each level the predecessor is the larger of the old node found
    // above and the last node this chunk linked there (smaller than the entry: sorted order),
    // and that node is the larger exactly when it went into the same gap of the old list.
    const lastLinked = this.lastLinked.fill(0);
    const lastGap = this.lastGap;
    for (let i = 0; i < count; i++) {
      const offset = entries[i]!;
      const keyLength = readTrailerLow(run, offset);
      const keyAt = offset + 8;
      const userLength = keyLength - TRAILER_BYTES;
      this.linkPrefix(run, keyAt, userLength);
      const prefixHigh = this.prefixHigh;
      const prefixLow = this.prefixLow;
      const height = this.randomHeight();
      if (height > this.height) this.height = height;
      const node = this.insertNode(run, keyAt, keyLength, readTrailerLow(run, offset + 4), height);
      for (let level = 0; level < height; level++) {
        const gap = level < searchHeight ? splices[i * HEIGHT_MAX + level]! : 0;
        const linked = lastLinked[level]!;
        this.splice[level] = linked !== 0 && lastGap[level] === gap ? linked : gap;
        lastLinked[level] = node;
        lastGap[level] = gap;
      }
      this.link(this.nodes[this.splice[0]! + LINKS]!, node, height, prefixHigh, prefixLow);
    }
    return true;
  }

  /** The one-at-a-time insert of run[offset, end), for a chunk with a duplicate: throws at it. */
  private insertOneByOne(run: Uint8Array, offset: number, end: number, index: number): void {
    while (offset < end) {
      const keyLength = readTrailerLow(run, offset);
      const valueLength = readTrailerLow(run, offset + 4);
      const keyAt = offset + 8;
      const userLength = keyLength - TRAILER_BYTES;
      const high = readTrailerHigh(run, keyAt + userLength);
      const low = readTrailerLow(run, keyAt + userLength);
      const found = this.findGreaterOrEqual(run, keyAt, userLength, high, low, true);
      if (found !== 0 && compareToTarget(this.arena, this.nodes[found + KEY_OFFSET]!, this.nodes[found + KEY_LENGTH]!, run, keyAt, userLength, high, low) === 0) {
        throw invalidArgument(`run entry ${index} repeats an internal key already in the memtable`);
      }
      const height = this.randomHeight();
      if (height > this.height) {
        this.splice.fill(0, this.height, height);
        this.height = height;
      }
      const node = this.insertNode(run, keyAt, keyLength, valueLength, height);
      this.linkPrefix(run, keyAt, userLength);
      this.link(found, node, height, this.prefixHigh, this.prefixLow);
      offset = keyAt + keyLength + valueLength;
      index++;
    }
  }

  /** Allocates a node for the entry and copies its key and value into the arena. */
  private insertNode(run: Uint8Array, keyAt: number, keyLength: number, valueLength: number, height: number): number {
    const node = this.allocateNode(height, keyLength + valueLength);
    const nodes = this.nodes;
    nodes[node + KEY_LENGTH] = keyLength;
    nodes[node + VALUE_LENGTH] = valueLength;
    copyBytes(this.arena, nodes[node + KEY_OFFSET]!, run, keyAt, keyLength + valueLength);
    this.arenaBytesUsed += nodeBytes(height, keyLength, valueLength);
    this.entryCount++;
    return node;
  }

  /** Links a node after the spliced predecessors at each of its levels; `found` follows it. */
  private link(found: number, node: number, height: number, prefixHigh: number, prefixLow: number): void {
    const nodes = this.nodes;
    const splice = this.splice;
    for (let level = 0; level < height; level++) {
      const before = splice[level]! + LINKS + level * LINK_SLOTS;
      const link = node + LINKS + level * LINK_SLOTS;
      nodes[link] = nodes[before]!;
      nodes[link + 1] = nodes[before + 1]!;
      nodes[link + 2] = nodes[before + 2]!;
      nodes[before] = node;
      nodes[before + 1] = prefixHigh;
      nodes[before + 2] = prefixLow;
    }
    nodes[node + PREV] = splice[0]!;
    if (found !== 0) nodes[found + PREV] = node;
  }

  get(userKey: Uint8Array, sequence: number): Hit | undefined {
    this.checkLive();
    checkGetArguments(userKey, sequence);
    const low24 = sequence % TWO_POW_24;
    return this.find(userKey, userKey.length, (sequence - low24) / TWO_POW_24, (low24 * 256 + KIND_SEEK) >>> 0);
  }

  getMany(batch: PointBatch, from: number, to: number): void {
    this.checkLive();
    memtableGetMany(this, batch, from, to);
  }

  /** The newest version of the user key key[0, userLength) at the trailer (high, low) of a seek key. */
  private find(key: Uint8Array, userLength: number, high: number, low: number): Hit | undefined {
    const found = this.findGreaterOrEqual(key, 0, userLength, high, low, false);
    return found === 0 ? undefined : hitOfNode(this, found, key, userLength);
  }

  /** The first node >= start, the last node <= start (reverse), or the ends without start. */
  position(reverse: boolean, start: Uint8Array | undefined): number {
    if (start === undefined) return reverse ? this.findLast() : this.nodes[LINKS]!;
    const userLength = start.length - TRAILER_BYTES;
    const high = readTrailerHigh(start, userLength);
    const low = readTrailerLow(start, userLength);
    const found = this.findGreaterOrEqual(start, 0, userLength, high, low, false);
    if (!reverse) return found;
    if (found === 0) return this.findLast();
    const nodes = this.nodes;
    const order = compareToTarget(this.arena, nodes[found + KEY_OFFSET]!, nodes[found + KEY_LENGTH]!, start, 0, userLength, high, low);
    return order === 0 ? found : nodes[found + PREV]!;
  }

  cursor(reverse: boolean, start?: Uint8Array): Cursor {
    this.checkLive();
    checkCursorStart(start);
    return new PureMemtableCursor(this, reverse === true, this.position(reverse === true, start));
  }
}

export function pureSkiplist() {
  return { newMemtable: (): Memtable => new PureMemtable() };
}
