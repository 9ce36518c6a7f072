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
// The prefix is 8 bytes of the next node's user key, big-endian, zero-padded: when it differs
// from the searched key's prefix it decides the order without loading the next node, which saves
// a cache miss on most steps of a search in a large memtable. Which 8 bytes: the first, until the
// memtable holds SHARED_DECIDE_COUNT entries; then, if its keys all share their first `shared`
// bytes, the 8 after those (keys like "user:000123" share their first bytes, and a prefix of
// bytes every key has decides nothing). A key that does not share them sorts below or above
// every key that does, so its prefix is 0 or all ones: the order of prefixes still never
// contradicts the order of keys, and equal prefixes fall back to comparing the keys.
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

export const HEIGHT_MAX: u32 = 16;
const RANDOM_SEED: u32 = 0x9e3779b9;
const NODE_HEADER_BYTES: u32 = 16;
export const LINK_BYTES: u32 = 12;
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_HEADER_BYTES: usize = 8;
/** Nodes larger than this get a chunk of their own, so a huge entry wastes no chunk tail. */
const NODE_BYTES_LARGE: usize = CHUNK_BYTES >> 2;

/** Scratch for the predecessors found by a search, one per level (single-threaded module). */
export const splice: usize = memory.data(<i32>HEIGHT_MAX * 4, 4);

// @ts-ignore: decorator
@unmanaged export class Memtable {
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
  /** Leading user-key bytes the link prefixes skip (0: none), as those of the key at `reference`. */
  shared: u32;
  reference: usize;
  sharedDecided: u32;
}

// @ts-ignore: decorator
@unmanaged class MemtableCursor {
  memtable: Memtable;
  node: usize;
  reverse: u32;
}

// @ts-ignore: decorator
@inline export function linkAt(node: usize, level: u32): usize {
  return node - (<usize>level + 1) * LINK_BYTES;
}

// @ts-ignore: decorator
@inline export function nodeNext(node: usize, level: u32): usize {
  return load<u32>(linkAt(node, level));
}

/** The entry count at which a memtable decides which bytes its link prefixes hold. */
const SHARED_DECIDE_COUNT: u32 = 64;

/** The link prefix of the user key at `key` (an internal key: user key then trailer) in `memtable`. */
// @ts-ignore: decorator
@inline export function linkPrefix(memtable: Memtable, key: usize, userLength: u32): u64 {
  return memtable.shared == 0 ? keyPrefix(key, userLength) : prefixAfterShared(memtable, key, userLength);
}

function prefixAfterShared(memtable: Memtable, key: usize, userLength: u32): u64 {
  const shared = memtable.shared;
  const order = memory.compare(key, memtable.reference, min(shared, userLength));
  if (order != 0) return order < 0 ? 0 : u64.MAX_VALUE;
  // A key that ends inside the shared bytes sorts before every key that has them all.
  if (userLength < shared) return 0;
  return keyPrefix(key + shared, userLength - shared);
}

/**
 * Once the memtable holds SHARED_DECIDE_COUNT entries: the bytes its first and last keys share
 * (so every key between them shares them) become the bytes link prefixes skip, and every link's
 * prefix is recomputed (a walk of a few dozen to a few thousand nodes, once per memtable).
 */
export function decideSharedPrefix(memtable: Memtable): void {
  if (memtable.sharedDecided != 0 || memtable.count < SHARED_DECIDE_COUNT) return;
  memtable.sharedDecided = 1;
  const first = nodeNext(memtable.head, 0);
  const last = findLast(memtable);
  const limit = min(nodeKeyLength(first), nodeKeyLength(last)) - TRAILER_BYTES;
  let shared: u32 = 0;
  while (shared < limit && load<u8>(nodeKey(first) + shared) == load<u8>(nodeKey(last) + shared)) shared++;
  if (shared == 0) return;
  memtable.shared = shared;
  memtable.reference = nodeKey(first);
  for (let level: u32 = 0; level < memtable.height; level++) {
    let link = linkAt(memtable.head, level);
    let next = <usize>load<u32>(link);
    while (next != 0) {
      store<u64>(link, prefixAfterShared(memtable, nodeKey(next), nodeKeyLength(next) - TRAILER_BYTES), 4);
      link = linkAt(next, level);
      next = <usize>load<u32>(link);
    }
  }
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
@inline export function nodeKeyLength(node: usize): u32 {
  return load<u32>(node, 4);
}

// @ts-ignore: decorator
@inline export function nodeKey(node: usize): usize {
  return node + NODE_HEADER_BYTES;
}

/** Bytes of a node (without its value), rounded up to 4. */
// @ts-ignore: decorator
@inline export function nodeBytes(height: u32, keyLength: u32): u32 {
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
export function allocateNode(memtable: Memtable, bytes: usize): usize {
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
export function allocateValue(memtable: Memtable, bytes: usize): usize {
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

export function randomHeight(memtable: Memtable): u32 {
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
export function findGreaterOrEqual(memtable: Memtable, key: usize, keyLength: u32, recordSplice: bool): usize {
  const prefix = linkPrefix(memtable, key, keyLength - TRAILER_BYTES);
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
  memtable.shared = 0;
  memtable.reference = 0;
  memtable.sharedDecided = 0;
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
