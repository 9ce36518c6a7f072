// The memtable's batch insert (skiplist.ts has the list and its node layout; the pure twin is
// ts/core/pure/skiplist.ts, which inserts in the same order and builds the same list).
import { compareInternalKeys } from "./entry";
import { TRAILER_BYTES } from "./format";
import {
  HEIGHT_MAX, LINK_BYTES, splice, linkAt, nodeNext, linkPrefix, decideSharedPrefix, nodeKeyLength, nodeKey, nodeBytes, allocateNode, allocateValue, randomHeight, findGreaterOrEqual, Memtable,
} from "./skiplist";

/**
 * Inserts every entry of the run at [run, run + length) (validated by the host). Returns -1,
 * or the index of the first entry whose internal key is already present: that entry and the
 * ones after it are not inserted (sequences are unique per write, so a duplicate is a bug).
 *
 * The run goes in chunks of up to BATCH_ENTRIES entries in run order; each chunk is sorted by
 * internal key, searched with BATCH_LANES searches interleaved (their cache misses overlap:
 * a lone search waits on one miss per step), then linked in sorted order, so heights are
 * drawn in that order (the pure twin does the same, so both build the same list). A chunk
 * that repeats a key is inserted one entry at a time instead, to stop at the duplicate.
 */
export function memtableInsert(memtable: Memtable, run: usize, length: u32): i32 {
  let offset: u32 = 0;
  let index: i32 = 0;
  while (offset < length) {
    let count: u32 = 0;
    let end = offset;
    while (end < length && count < BATCH_ENTRIES) {
      store<u32>(batchEntries + (<usize>count << 2), <u32>(run + end));
      end += 8 + load<u32>(run + end) + load<u32>(run + end, 4);
      count++;
    }
    if (!insertChunk(memtable, count)) {
      const duplicate = insertOneByOne(memtable, run + offset, end - offset);
      if (duplicate >= 0) return index + duplicate;
    }
    decideSharedPrefix(memtable);
    offset = end;
    index += <i32>count;
  }
  return -1;
}

// Run entries: u32 keyLength, u32 valueLength, key, value.
// @ts-ignore: decorator
@inline function entryKeyLength(entry: usize): u32 {
  return load<u32>(entry);
}

// @ts-ignore: decorator
@inline function entryKey(entry: usize): usize {
  return entry + 8;
}

/** Entries per sorted chunk, and searches interleaved at once. */
const BATCH_ENTRIES: u32 = 1024;
const BATCH_LANES: u32 = 8;
/** The chunk's entry pointers (sorted in place), with a merge buffer of the same size. */
const batchEntries: usize = memory.data(<i32>BATCH_ENTRIES * 4, 4);
const batchMerge: usize = memory.data(<i32>BATCH_ENTRIES * 4, 4);
/** Per sorted entry: its predecessor at each level of the list as searched (HEIGHT_MAX u32). */
const batchSplices: usize = memory.data(<i32>(BATCH_ENTRIES * HEIGHT_MAX * 4), 4);
/** Per lane of the interleaved search: the entry, node, level, node known not less, prefix. */
const laneEntry: usize = memory.data(<i32>BATCH_LANES * 4, 4);
const laneNode: usize = memory.data(<i32>BATCH_LANES * 4, 4);
const laneLevel: usize = memory.data(<i32>BATCH_LANES * 4, 4);
const laneKnown: usize = memory.data(<i32>BATCH_LANES * 4, 4);
const lanePrefix: usize = memory.data(<i32>BATCH_LANES * 8, 8);
/** Per level, while a chunk is linked: the last node it linked there, and that node's old predecessor. */
const lastLinked: usize = memory.data(<i32>HEIGHT_MAX * 4, 4);
const lastGap: usize = memory.data(<i32>HEIGHT_MAX * 4, 4);

function compareEntries(a: usize, b: usize): i32 {
  return compareInternalKeys(entryKey(a), entryKeyLength(a), entryKey(b), entryKeyLength(b));
}

/** Sorts the chunk's entry pointers by internal key (bottom-up merge sort, stable). */
function sortChunk(count: u32): void {
  let from = batchEntries;
  let to = batchMerge;
  for (let width: u32 = 1; width < count; width <<= 1) {
    for (let low: u32 = 0; low < count; low += width << 1) {
      const middle = min(low + width, count);
      const high = min(low + (width << 1), count);
      let left = low;
      let right = middle;
      for (let out = low; out < high; out++) {
        const takeLeft = right >= high || (left < middle && compareEntries(load<u32>(from + (<usize>left << 2)), load<u32>(from + (<usize>right << 2))) <= 0);
        store<u32>(to + (<usize>out << 2), load<u32>(from + (<usize>(takeLeft ? left++ : right++) << 2)));
      }
    }
    const swap = from;
    from = to;
    to = swap;
  }
  if (from != batchEntries) memory.copy(batchEntries, from, <usize>count << 2);
}

/** Starts lane `lane` on sorted entry `entry`. */
// @ts-ignore: decorator
@inline function laneStart(memtable: Memtable, lane: usize, entry: u32): void {
  const pointer = <usize>load<u32>(batchEntries + (<usize>entry << 2));
  store<u32>(laneEntry + (lane << 2), entry);
  store<u32>(laneNode + (lane << 2), <u32>memtable.head);
  store<u32>(laneLevel + (lane << 2), memtable.height - 1);
  store<u32>(laneKnown + (lane << 2), 0);
  store<u64>(lanePrefix + (lane << 3), linkPrefix(memtable, entryKey(pointer), entryKeyLength(pointer) - TRAILER_BYTES));
}

/**
 * Inserts the chunk of `count` entries in batchEntries; false, with nothing inserted, when an
 * entry repeats a key of the chunk or of the memtable.
 */
function insertChunk(memtable: Memtable, count: u32): bool {
  sortChunk(count);
  for (let i: u32 = 1; i < count; i++) {
    if (compareEntries(load<u32>(batchEntries + (<usize>(i - 1) << 2)), load<u32>(batchEntries + (<usize>i << 2))) == 0) return false;
  }
  // Search: every entry's predecessors in the list as it is, several searches in step.
  const searchHeight = memtable.height;
  const lanes: u32 = min(count, BATCH_LANES);
  for (let lane: u32 = 0; lane < lanes; lane++) laneStart(memtable, lane, lane);
  let started = lanes;
  let active = lanes;
  while (active > 0) {
    for (let lane: usize = 0; lane < <usize>lanes; lane++) {
      const entry = load<u32>(laneEntry + (lane << 2));
      if (entry == <u32>-1) continue;
      const node = <usize>load<u32>(laneNode + (lane << 2));
      const level = load<u32>(laneLevel + (lane << 2));
      const link = linkAt(node, level);
      const next = <usize>load<u32>(link);
      let less = false;
      if (next != 0 && next != <usize>load<u32>(laneKnown + (lane << 2))) {
        const nextPrefix = load<u64>(link, 4);
        const prefix = load<u64>(lanePrefix + (lane << 3));
        if (nextPrefix != prefix) {
          less = nextPrefix < prefix;
        } else {
          const pointer = <usize>load<u32>(batchEntries + (<usize>entry << 2));
          less = compareInternalKeys(nodeKey(next), nodeKeyLength(next), entryKey(pointer), entryKeyLength(pointer)) < 0;
        }
      }
      if (less) {
        store<u32>(laneNode + (lane << 2), <u32>next);
        continue;
      }
      store<u32>(laneKnown + (lane << 2), <u32>next);
      store<u32>(batchSplices + ((<usize>entry * HEIGHT_MAX + level) << 2), <u32>node);
      if (level > 0) {
        store<u32>(laneLevel + (lane << 2), level - 1);
        continue;
      }
      // Found: a node equal to the entry's key is a duplicate.
      if (next != 0) {
        const pointer = <usize>load<u32>(batchEntries + (<usize>entry << 2));
        if (compareInternalKeys(nodeKey(next), nodeKeyLength(next), entryKey(pointer), entryKeyLength(pointer)) == 0) return false;
      }
      if (started < count) {
        laneStart(memtable, lane, started++);
      } else {
        store<u32>(laneEntry + (lane << 2), <u32>-1);
        active--;
      }
    }
  }
  // Link in sorted order. At each level the predecessor is the larger of the old node found
  // above and the last node this chunk linked there (smaller than the entry: sorted order),
  // and that node is the larger exactly when it went into the same gap of the old list.
  memory.fill(lastLinked, 0, <usize>HEIGHT_MAX << 2);
  for (let entry: u32 = 0; entry < count; entry++) {
    const pointer = <usize>load<u32>(batchEntries + (<usize>entry << 2));
    const key = entryKey(pointer);
    const keyLength = entryKeyLength(pointer);
    const valueLength = load<u32>(pointer, 4);
    const prefix = linkPrefix(memtable, key, keyLength - TRAILER_BYTES);
    const height = randomHeight(memtable);
    if (height > memtable.height) memtable.height = height;
    const node = newNode(memtable, key, keyLength, valueLength, height);
    let previous: usize = 0;
    for (let level: u32 = 0; level < height; level++) {
      const gap = level < searchHeight ? <usize>load<u32>(batchSplices + ((<usize>entry * HEIGHT_MAX + level) << 2)) : memtable.head;
      const slot = <usize>level << 2;
      const linked = <usize>load<u32>(lastLinked + slot);
      const before = linked != 0 && <usize>load<u32>(lastGap + slot) == gap ? linked : gap;
      store<u32>(lastLinked + slot, <u32>node);
      store<u32>(lastGap + slot, <u32>gap);
      if (level == 0) previous = before;
      const beforeLink = linkAt(before, level);
      const link = linkAt(node, level);
      store<u32>(link, load<u32>(beforeLink));
      store<u64>(link, load<u64>(beforeLink, 4), 4);
      store<u32>(beforeLink, <u32>node);
      store<u64>(beforeLink, prefix, 4);
    }
    store<u32>(node, previous == memtable.head ? 0 : <u32>previous);
    const following = nodeNext(node, 0);
    if (following != 0) store<u32>(following, <u32>node);
  }
  return true;
}

/**
 * A node of `height` levels (links not set) holding a copy of the key at [key, key + keyLength)
 * and of the value after it; counted in arenaBytes and count.
 */
function newNode(memtable: Memtable, key: usize, keyLength: u32, valueLength: u32, height: u32): usize {
  const bytes = nodeBytes(height, keyLength);
  const node = allocateNode(memtable, bytes) + height * LINK_BYTES;
  const value: usize = valueLength == 0 ? 0 : allocateValue(memtable, valueLength);
  store<u32>(node, keyLength, 4);
  store<u32>(node, valueLength, 8);
  store<u32>(node, <u32>value, 12);
  memory.copy(nodeKey(node), key, keyLength);
  memory.copy(value, key + keyLength, valueLength);
  memtable.arenaBytes += bytes + valueLength;
  memtable.count++;
  return node;
}

/** The one-at-a-time insert, for a chunk with a duplicate: stops at it and returns its index. */
function insertOneByOne(memtable: Memtable, run: usize, length: u32): i32 {
  let offset: u32 = 0;
  let index: i32 = 0;
  while (offset < length) {
    const entry = run + offset;
    const keyLength = load<u32>(entry);
    const valueLength = load<u32>(entry, 4);
    const key = entry + 8;
    const found = findGreaterOrEqual(memtable, key, keyLength, true);
    if (found != 0 && compareInternalKeys(nodeKey(found), nodeKeyLength(found), key, keyLength) == 0) return index;
    const height = randomHeight(memtable);
    if (height > memtable.height) {
      for (let level = memtable.height; level < height; level++) {
        store<u32>(splice + (<usize>level << 2), <u32>memtable.head);
      }
      memtable.height = height;
    }
    const node = newNode(memtable, key, keyLength, valueLength, height);
    const prefix = linkPrefix(memtable, key, keyLength - TRAILER_BYTES);
    for (let level: u32 = 0; level < height; level++) {
      const before = linkAt(<usize>load<u32>(splice + (<usize>level << 2)), level);
      const link = linkAt(node, level);
      store<u32>(link, load<u32>(before));
      store<u64>(link, load<u64>(before, 4), 4);
      store<u32>(before, <u32>node);
      store<u64>(before, prefix, 4);
    }
    const before = <usize>load<u32>(splice);
    store<u32>(node, before == memtable.head ? 0 : <u32>before);
    if (found != 0) store<u32>(found, <u32>node);
    offset += 8 + keyLength + valueLength;
    index++;
  }
  return -1;
}
