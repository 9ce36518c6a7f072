// Batch point lookups (db.getMany): the keys of one batch are written into core memory once and
// asked of table after table, one call per table for every key it is to answer, instead of a
// key write and a call per key and table. The pure twin is ts/core/pure/lookup-batch.ts.
//
//   batch := u32 slotCapacity | u32 keyCapacity | u32 foundCount | u32 neededCount
//            | slot[slotCapacity] | u32 found[slotCapacity] | u32 needed[slotCapacity]
//            | key bytes[keyCapacity]
//   slot  := u32 keyOffset | u32 keyLength | u32 hashed | u32 hash | u32 state | i32 result
//            | u32 trailerLow | u32 trailerHigh | u32 valuePointer | u32 valueLength     (40 bytes)
//
// The host writes each slot's key (user key and trailer, at keys + keyOffset), keyLength,
// hashed = 0 and state = BATCH_PENDING. tableLookupGetMany asks one table about slots
// [from, to) not yet found: a slot found there becomes BATCH_FOUND with its entry (trailer and
// value, which lives in a cached block: the host copies it before it loads another block) and
// is listed in found; a slot whose block is not cached becomes BATCH_NEEDED, result naming the
// block, and is listed in needed. The host loads those blocks and asks again with retry set,
// which asks only the BATCH_NEEDED slots.
import { TRAILER_BYTES } from "./format";
import { bloomLineOf } from "./bloom";
import { compareBytes, compareInternalKeys } from "./entry";
import { Memtable, linkAt, linkPrefix, nodeKey, nodeKeyLength } from "./skiplist";
import {
  LOOKUP_ABSENT, LOOKUP_FOUND, TOUCH_STAGES, TableLookup, lookupHit, pointKeyHash, tableLookupBlock, tableLookupInBlock, tableLookupTouch,
} from "./lookup";

const HEADER_BYTES: usize = 16;
const SLOT_BYTES: usize = 40;
const BATCH_PENDING: u32 = 0;
const BATCH_NEEDED: u32 = 1;
const BATCH_FOUND: u32 = 2;

// @ts-ignore: decorator
@inline function slotAt(batch: usize, slot: u32): usize {
  return batch + HEADER_BYTES + <usize>slot * SLOT_BYTES;
}

// @ts-ignore: decorator
@inline function foundList(batch: usize): usize {
  return batch + HEADER_BYTES + <usize>load<u32>(batch) * SLOT_BYTES;
}

// @ts-ignore: decorator
@inline function neededList(batch: usize): usize {
  return foundList(batch) + (<usize>load<u32>(batch) << 2);
}

// @ts-ignore: decorator
@inline function keyBytes(batch: usize): usize {
  return neededList(batch) + (<usize>load<u32>(batch) << 2);
}

export function pointBatchNew(slotCapacity: u32, keyCapacity: u32): usize {
  const batch = heap.alloc(HEADER_BYTES + <usize>slotCapacity * (SLOT_BYTES + 8) + <usize>keyCapacity);
  store<u32>(batch, slotCapacity);
  store<u32>(batch, keyCapacity, 4);
  store<u32>(batch, 0, 8);
  store<u32>(batch, 0, 12);
  return batch;
}

export function pointBatchFree(batch: usize): void {
  heap.free(batch);
}

/** The layout the host writes: header bytes | slot bytes << 8. */
export function pointBatchLayout(): u32 {
  return <u32>HEADER_BYTES | (<u32>SLOT_BYTES << 8);
}

/**
 * Slots asked together: their lookups run stage by stage (filter line, fences, point index,
 * entry), each stage over every lane before the next, so the lanes' cache misses overlap.
 */
const LANES: u32 = 16;
/** Per lane: its slot, then the block the fences chose for it (-1: ruled out). */
const laneSlots: usize = memory.data(<i32>LANES * 4, 4);
const laneBlocks: usize = memory.data(<i32>LANES * 4, 4);
/** A sum of the bytes the touches loaded, stored so that the loads are kept. */
let touched: u32 = 0;

/** Asks `lookup` about slots [from, to) (only the BATCH_NEEDED ones when retry): see above. */
export function tableLookupGetMany(lookup: TableLookup, batch: usize, from: u32, to: u32, retry: bool): void {
  assert(from <= to && to <= load<u32>(batch));
  store<u32>(batch, 0, 8);
  store<u32>(batch, 0, 12);
  let slot = from;
  while (slot < to) {
    let lanes: u32 = 0;
    for (; slot < to && lanes < LANES; slot++) {
      const state = load<u32>(slotAt(batch, slot), 16);
      if (state == BATCH_FOUND || (retry && state != BATCH_NEEDED)) continue;
      checkSlotKey(batch, slot);
      store<u32>(laneSlots + (<usize>lanes << 2), slot);
      lanes++;
    }
    findLaneBlocks(lookup, batch, lanes);
    for (let stage: u32 = 0; stage < TOUCH_STAGES; stage++) touchLanes(lookup, batch, lanes, stage);
    for (let lane: u32 = 0; lane < lanes; lane++) answerLane(lookup, batch, lane);
  }
}

function checkSlotKey(batch: usize, slot: u32): void {
  const at = slotAt(batch, slot);
  const keyOffset = load<u32>(at);
  const keyLength = load<u32>(at, 4);
  const keyCapacity = load<u32>(batch, 4);
  assert(keyLength >= TRAILER_BYTES);
  assert(keyOffset <= keyCapacity && keyLength <= keyCapacity - keyOffset);
}

/** Each lane's block (laneBlocks), after loading every lane's filter line first. */
function findLaneBlocks(lookup: TableLookup, batch: usize, lanes: u32): void {
  const keys = keyBytes(batch);
  let sink: u32 = 0;
  if (lookup.filter != 0) {
    for (let lane: u32 = 0; lane < lanes; lane++) {
      const at = slotAt(batch, load<u32>(laneSlots + (<usize>lane << 2)));
      const hash = pointKeyHash(keys + load<u32>(at), load<u32>(at, 4), at + 8);
      sink += load<u8>(bloomLineOf(lookup.filter, lookup.filterLength, hash));
    }
  }
  for (let lane: u32 = 0; lane < lanes; lane++) {
    const at = slotAt(batch, load<u32>(laneSlots + (<usize>lane << 2)));
    store<i32>(laneBlocks + (<usize>lane << 2), tableLookupBlock(lookup, keys + load<u32>(at), load<u32>(at, 4), at + 8));
  }
  touched += sink;
}

function touchLanes(lookup: TableLookup, batch: usize, lanes: u32, stage: u32): void {
  const keys = keyBytes(batch);
  let sink: u32 = 0;
  for (let lane: u32 = 0; lane < lanes; lane++) {
    const block = load<i32>(laneBlocks + (<usize>lane << 2));
    if (block < 0) continue;
    const at = slotAt(batch, load<u32>(laneSlots + (<usize>lane << 2)));
    sink += tableLookupTouch(lookup, <u32>block, keys + load<u32>(at), load<u32>(at, 4), stage);
  }
  touched += sink;
}

/** The lane's lookup in its block, recorded in its slot and listed as found or needed. */
function answerLane(lookup: TableLookup, batch: usize, lane: u32): void {
  const slot = load<u32>(laneSlots + (<usize>lane << 2));
  const block = load<i32>(laneBlocks + (<usize>lane << 2));
  const at = slotAt(batch, slot);
  const result = block < 0 ? LOOKUP_ABSENT : tableLookupInBlock(lookup, <u32>block, keyBytes(batch) + load<u32>(at), load<u32>(at, 4));
  store<i32>(at, result, 20);
  if (result < LOOKUP_ABSENT) {
    store<u32>(at, BATCH_NEEDED, 16);
    const neededCount = load<u32>(batch, 12);
    store<u32>(neededList(batch) + (<usize>neededCount << 2), slot);
    store<u32>(batch, neededCount + 1, 12);
  } else if (result >= 0 && (result & LOOKUP_FOUND) != 0) {
    store<u32>(at, BATCH_FOUND, 16);
    store<u32>(at, lookupHit.trailerLow, 24);
    store<u32>(at, lookupHit.trailerHigh, 28);
    store<u32>(at, <u32>lookupHit.valuePointer, 32);
    store<u32>(at, lookupHit.valueLength, 36);
    const foundCount = load<u32>(batch, 8);
    store<u32>(foundList(batch) + (<usize>foundCount << 2), slot);
    store<u32>(batch, foundCount + 1, 8);
  } else {
    store<u32>(at, BATCH_PENDING, 16);
  }
}

/** Searches of a memtable interleaved at once (as its insert does): per lane, its slot (-1: idle), node, level, node known not less, key prefix. */
const MEMTABLE_LANES: u32 = 8;
const searchSlots: usize = memory.data(<i32>MEMTABLE_LANES * 4, 4);
const searchNodes: usize = memory.data(<i32>MEMTABLE_LANES * 4, 4);
const searchLevels: usize = memory.data(<i32>MEMTABLE_LANES * 4, 4);
const searchKnown: usize = memory.data(<i32>MEMTABLE_LANES * 4, 4);
const searchPrefixes: usize = memory.data(<i32>MEMTABLE_LANES * 8, 8);

/**
 * memtableGet for every slot [from, to) not found yet, MEMTABLE_LANES searches in step: each
 * lane takes one step down or along the list, then the next lane does, so the lanes' cache
 * misses overlap. A slot found becomes BATCH_FOUND with its entry and is listed in found.
 */
export function memtableGetMany(memtable: Memtable, batch: usize, from: u32, to: u32): void {
  assert(from <= to && to <= load<u32>(batch));
  store<u32>(batch, 0, 8);
  store<u32>(batch, 0, 12);
  const keys = keyBytes(batch);
  let next = from;
  let active: u32 = 0;
  for (let lane: u32 = 0; lane < MEMTABLE_LANES; lane++) {
    next = startSearch(memtable, batch, lane, next, to);
    if (load<i32>(searchSlots + (<usize>lane << 2)) >= 0) active++;
  }
  while (active > 0) {
    for (let lane: usize = 0; lane < <usize>MEMTABLE_LANES; lane++) {
      const slot = load<i32>(searchSlots + (lane << 2));
      if (slot < 0) continue;
      const at = slotAt(batch, <u32>slot);
      const key = keys + load<u32>(at);
      const keyLength = load<u32>(at, 4);
      const node = <usize>load<u32>(searchNodes + (lane << 2));
      const level = load<u32>(searchLevels + (lane << 2));
      const link = linkAt(node, level);
      const nextNode = <usize>load<u32>(link);
      let less = false;
      if (nextNode != 0 && nextNode != <usize>load<u32>(searchKnown + (lane << 2))) {
        const nextPrefix = load<u64>(link, 4);
        const prefix = load<u64>(searchPrefixes + (lane << 3));
        less = nextPrefix != prefix ? nextPrefix < prefix : compareInternalKeys(nodeKey(nextNode), nodeKeyLength(nextNode), key, keyLength) < 0;
      }
      if (less) {
        store<u32>(searchNodes + (lane << 2), <u32>nextNode);
        continue;
      }
      store<u32>(searchKnown + (lane << 2), <u32>nextNode);
      if (level > 0) {
        store<u32>(searchLevels + (lane << 2), level - 1);
        continue;
      }
      // nextNode is the first node >= the seek key: the key's newest visible version if it has the user key.
      if (nextNode != 0 && nodeKeyLength(nextNode) == keyLength && compareBytes(nodeKey(nextNode), keyLength - TRAILER_BYTES, key, keyLength - TRAILER_BYTES) == 0) {
        foundInMemtable(batch, <u32>slot, nextNode);
      }
      next = startSearch(memtable, batch, <u32>lane, next, to);
      if (load<i32>(searchSlots + (lane << 2)) < 0) active--;
    }
  }
}

/** Starts lane `lane` on the first slot from `next` not found yet (or idles it); returns the slot after. */
function startSearch(memtable: Memtable, batch: usize, lane: u32, next: u32, to: u32): u32 {
  while (next < to && load<u32>(slotAt(batch, next), 16) == BATCH_FOUND) next++;
  if (next >= to) {
    store<i32>(searchSlots + (<usize>lane << 2), -1);
    return next;
  }
  checkSlotKey(batch, next);
  const at = slotAt(batch, next);
  store<i32>(searchSlots + (<usize>lane << 2), <i32>next);
  store<u32>(searchNodes + (<usize>lane << 2), <u32>memtable.head);
  store<u32>(searchLevels + (<usize>lane << 2), memtable.height - 1);
  store<u32>(searchKnown + (<usize>lane << 2), 0);
  store<u64>(searchPrefixes + (<usize>lane << 3), linkPrefix(memtable, keyBytes(batch) + load<u32>(at), load<u32>(at, 4) - TRAILER_BYTES));
  return next + 1;
}

/** Records `node` (its trailer and value in the arena) as the slot's entry, listed in found. */
function foundInMemtable(batch: usize, slot: u32, node: usize): void {
  const at = slotAt(batch, slot);
  const trailer = nodeKey(node) + nodeKeyLength(node) - TRAILER_BYTES;
  store<u32>(at, BATCH_FOUND, 16);
  store<u32>(at, load<u32>(trailer), 24);
  store<u32>(at, load<u32>(trailer, 4), 28);
  store<u32>(at, load<u32>(node, 12), 32);
  store<u32>(at, load<u32>(node, 8), 36);
  const foundCount = load<u32>(batch, 8);
  store<u32>(foundList(batch) + (<usize>foundCount << 2), slot);
  store<u32>(batch, foundCount + 1, 8);
}

/** What the touches loaded, summed (exported so that the optimizer keeps the loads). */
export function pointBatchTouched(): u32 {
  return touched;
}
