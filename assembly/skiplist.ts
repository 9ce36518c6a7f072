// The memtable: an arena-backed skiplist of internal keys -> value bytes (LevelDB / Badger
// style), the twin of ts/core/pure/skiplist.ts. The arena is made of large heap.alloc chunks;
// nothing is freed until the whole memtable is. Nodes (links and key) are bump-allocated from
// node chunks, values from separate value chunks: a search touches only nodes, and keeping the
// cold values out of them packs several times more nodes into the CPU caches (the pure twin
// gets the same from its struct-of-arrays layout).
//
// Node, at 4-byte aligned arena memory; a node pointer points at `prev`, so the links lie
// before it (link[level] at node - 12 * (level + 1)):
//
//   +---------------------------+----------+---------------+-----------------+-----------+-----+
//   | link[height-1] .. link[0] | u32 prev | u32 keyLength | u32 valueLength | u32 value | key |
//   +---------------------------+----------+---------------+-----------------+-----------+-----+
//                                ^ node                                        (pointer)
//   link := u32 next | u64 prefix of next's user key
//
// The prefix is the first 8 bytes of the next node's user key, big-endian, zero-padded: when
// it differs from the searched key's prefix it decides the order without loading the next node,
// which saves a cache miss on most steps of a search in a large memtable.
//
// A chunk starts with the pointer to the previously allocated chunk (the free list).
// arenaBytes counts the head node, every node (rounded up to 4 bytes) and every value, exactly
// as the pure twin counts them, so both cores report the same number.
//
// Heights come from xorshift32 with a fixed seed (the twin uses the same), so the shape of the
// list, and arenaBytes, are reproducible run to run and core to core.
import { compareBytes, compareInternalKeys } from "./entry";
import { TRAILER_BYTES } from "./format";
import { Run, runClear, runReserve } from "./run";

const HEIGHT_MAX: u32 = 16;
const RANDOM_SEED: u32 = 0x9e3779b9;
const NODE_HEADER_BYTES: u32 = 16;
const LINK_BYTES: u32 = 12;
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_HEADER_BYTES: usize = 8;
/** Nodes larger than this get a chunk of their own, so a huge entry wastes no chunk tail. */
const NODE_BYTES_LARGE: usize = CHUNK_BYTES >> 2;

/** Scratch for the predecessors found by a search, one per level (single-threaded module). */
const splice: usize = memory.data(<i32>HEIGHT_MAX * 4, 4);

// @ts-ignore: decorator
@unmanaged class Memtable {
  head: usize;
  height: u32;
  count: u32;
  arenaBytes: u32;
  random: u32;
  /** Newest chunk (node or value); each chunk links to the previous one. */
  chunks: usize;
  nodePosition: usize;
  nodeEnd: usize;
  valuePosition: usize;
  valueEnd: usize;
}

// @ts-ignore: decorator
@unmanaged class MemtableCursor {
  memtable: Memtable;
  node: usize;
  reverse: u32;
}

// @ts-ignore: decorator
@inline function linkAt(node: usize, level: u32): usize {
  return node - (<usize>level + 1) * LINK_BYTES;
}

// @ts-ignore: decorator
@inline function nodeNext(node: usize, level: u32): usize {
  return load<u32>(linkAt(node, level));
}

/** The first 8 bytes of the user key at `key`, big-endian, zero-padded past its end. */
// @ts-ignore: decorator
@inline function keyPrefix(key: usize, userLength: u32): u64 {
  // An internal key has at least 8 bytes (the trailer), so the load stays inside it.
  const prefix = bswap<u64>(load<u64>(key));
  if (userLength >= 8) return prefix;
  return userLength == 0 ? 0 : prefix & (<u64>-1 << ((8 - <u64>userLength) << 3));
}

// @ts-ignore: decorator
@inline function nodeKeyLength(node: usize): u32 {
  return load<u32>(node, 4);
}

// @ts-ignore: decorator
@inline function nodeKey(node: usize): usize {
  return node + NODE_HEADER_BYTES;
}

/** Bytes of a node (without its value), rounded up to 4. */
// @ts-ignore: decorator
@inline function nodeBytes(height: u32, keyLength: u32): u32 {
  return (height * LINK_BYTES + NODE_HEADER_BYTES + keyLength + 3) & ~3;
}

// @ts-ignore: decorator
@inline function nodeValue(node: usize): usize {
  return load<u32>(node, 12);
}

function newChunk(memtable: Memtable, bytes: usize): usize {
  const chunk = heap.alloc(bytes);
  store<usize>(chunk, memtable.chunks);
  memtable.chunks = chunk;
  return chunk;
}

/** Bump-allocates `bytes` (a multiple of 4) for a node. */
function allocateNode(memtable: Memtable, bytes: usize): usize {
  if (bytes > NODE_BYTES_LARGE) return newChunk(memtable, bytes + CHUNK_HEADER_BYTES) + CHUNK_HEADER_BYTES;
  if (memtable.nodePosition + bytes > memtable.nodeEnd) {
    const chunk = newChunk(memtable, CHUNK_BYTES);
    memtable.nodePosition = chunk + CHUNK_HEADER_BYTES;
    memtable.nodeEnd = chunk + CHUNK_BYTES;
  }
  const at = memtable.nodePosition;
  memtable.nodePosition = at + bytes;
  return at;
}

/** Bump-allocates `bytes` for a value. */
function allocateValue(memtable: Memtable, bytes: usize): usize {
  if (bytes > NODE_BYTES_LARGE) return newChunk(memtable, bytes + CHUNK_HEADER_BYTES) + CHUNK_HEADER_BYTES;
  if (memtable.valuePosition + bytes > memtable.valueEnd) {
    const chunk = newChunk(memtable, CHUNK_BYTES);
    memtable.valuePosition = chunk + CHUNK_HEADER_BYTES;
    memtable.valueEnd = chunk + CHUNK_BYTES;
  }
  const at = memtable.valuePosition;
  memtable.valuePosition = at + bytes;
  return at;
}

function randomHeight(memtable: Memtable): u32 {
  let x = memtable.random;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  memtable.random = x;
  // Branching 1/4: two fresh bits per level, all from one draw (15 levels need 30 bits).
  let height: u32 = 1;
  while (height < HEIGHT_MAX && (x & 3) == 0) {
    height++;
    x >>= 2;
  }
  return height;
}

/**
 * The first node >= key, or 0. With `recordSplice`, splice[level] gets the last node < key
 * at every level (the head at levels above the list's height are filled by the insert).
 */
function findGreaterOrEqual(memtable: Memtable, key: usize, keyLength: u32, recordSplice: bool): usize {
  const prefix = keyPrefix(key, keyLength - TRAILER_BYTES);
  let node = memtable.head;
  let level = memtable.height - 1;
  // A node already found >= key on a higher level need not be compared again.
  let knownNotLess: usize = 0;
  while (true) {
    const link = linkAt(node, level);
    const next = <usize>load<u32>(link);
    let less = false;
    if (next != 0 && next != knownNotLess) {
      const nextPrefix = load<u64>(link, 4);
      less = nextPrefix != prefix ? nextPrefix < prefix : compareInternalKeys(nodeKey(next), nodeKeyLength(next), key, keyLength) < 0;
    }
    if (less) {
      node = next;
    } else {
      knownNotLess = next;
      if (recordSplice) store<u32>(splice + (<usize>level << 2), <u32>node);
      if (level == 0) return next;
      level--;
    }
  }
}

function findLast(memtable: Memtable): usize {
  let node = memtable.head;
  let level = memtable.height - 1;
  while (true) {
    const next = nodeNext(node, level);
    if (next != 0) {
      node = next;
    } else {
      if (level == 0) return node == memtable.head ? 0 : node;
      level--;
    }
  }
}

export function memtableNew(): Memtable {
  const memtable = changetype<Memtable>(heap.alloc(offsetof<Memtable>()));
  memtable.height = 1;
  memtable.count = 0;
  memtable.random = RANDOM_SEED;
  memtable.chunks = 0;
  memtable.nodePosition = 0;
  memtable.nodeEnd = 0;
  memtable.valuePosition = 0;
  memtable.valueEnd = 0;
  const headBytes = nodeBytes(HEIGHT_MAX, 0);
  const at = allocateNode(memtable, headBytes);
  memory.fill(at, 0, headBytes);
  memtable.head = at + HEIGHT_MAX * LINK_BYTES;
  memtable.arenaBytes = headBytes;
  return memtable;
}

export function memtableFree(memtable: Memtable): void {
  let chunk = memtable.chunks;
  while (chunk != 0) {
    const previous = load<usize>(chunk);
    heap.free(chunk);
    chunk = previous;
  }
  heap.free(changetype<usize>(memtable));
}

export function memtableCount(memtable: Memtable): u32 {
  return memtable.count;
}

export function memtableArenaBytes(memtable: Memtable): u32 {
  return memtable.arenaBytes;
}

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
  store<u64>(lanePrefix + (lane << 3), keyPrefix(entryKey(pointer), entryKeyLength(pointer) - TRAILER_BYTES));
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
    const prefix = keyPrefix(key, keyLength - TRAILER_BYTES);
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
    const prefix = keyPrefix(key, keyLength - TRAILER_BYTES);
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

/**
 * The node of the newest version of a user key at a sequence, given the seek key (user key,
 * trailer sequence << 8 | KIND_SEEK) at [key, key + keyLength); 0 when there is none.
 */
export function memtableGet(memtable: Memtable, key: usize, keyLength: u32): usize {
  const found = findGreaterOrEqual(memtable, key, keyLength, false);
  if (found == 0 || nodeKeyLength(found) != keyLength) return 0;
  return compareBytes(nodeKey(found), keyLength - TRAILER_BYTES, key, keyLength - TRAILER_BYTES) == 0 ? found : 0;
}

/** A cursor at the first node >= start (forward) or the last node <= start (reverse). */
export function memtableCursorNew(memtable: Memtable, reverse: bool, hasStart: bool, start: usize, startLength: u32): MemtableCursor {
  let node: usize = 0;
  if (!reverse) {
    node = hasStart ? findGreaterOrEqual(memtable, start, startLength, false) : nodeNext(memtable.head, 0);
  } else if (!hasStart) {
    node = findLast(memtable);
  } else {
    node = findGreaterOrEqual(memtable, start, startLength, false);
    if (node == 0) {
      node = findLast(memtable);
    } else if (compareInternalKeys(nodeKey(node), nodeKeyLength(node), start, startLength) != 0) {
      node = load<u32>(node);
    }
  }
  const cursor = changetype<MemtableCursor>(heap.alloc(offsetof<MemtableCursor>()));
  cursor.memtable = memtable;
  cursor.node = node;
  cursor.reverse = reverse ? 1 : 0;
  return cursor;
}

export function memtableCursorFree(cursor: MemtableCursor): void {
  heap.free(changetype<usize>(cursor));
}

/** Clears `run`, then copies entries until it holds `bytesTarget` bytes (at least one entry). */
export function memtableCursorFill(cursor: MemtableCursor, run: Run, bytesTarget: u32): u32 {
  runClear(run);
  let node = cursor.node;
  const reverse = cursor.reverse != 0;
  let count: u32 = 0;
  while (node != 0) {
    const keyLength = nodeKeyLength(node);
    const valueLength = load<u32>(node, 8);
    const bytes = 8 + keyLength + valueLength;
    const at = runReserve(run, bytes);
    store<u32>(at, keyLength);
    store<u32>(at, valueLength, 4);
    memory.copy(at + 8, nodeKey(node), keyLength);
    memory.copy(at + 8 + keyLength, nodeValue(node), valueLength);
    run.byteLength += bytes;
    count++;
    node = reverse ? <usize>load<u32>(node) : nodeNext(node, 0);
    if (run.byteLength >= bytesTarget) break;
  }
  run.count = count;
  cursor.node = node;
  return count;
}
