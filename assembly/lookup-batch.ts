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
import { LOOKUP_ABSENT, LOOKUP_FOUND, TableLookup, lookupHit, tableLookupKey } from "./lookup";

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

/** Asks `lookup` about slots [from, to) (only the BATCH_NEEDED ones when retry): see above. */
export function tableLookupGetMany(lookup: TableLookup, batch: usize, from: u32, to: u32, retry: bool): void {
  assert(from <= to && to <= load<u32>(batch));
  const keys = keyBytes(batch);
  const keyCapacity = load<u32>(batch, 4);
  const found = foundList(batch);
  const needed = neededList(batch);
  let foundCount: u32 = 0;
  let neededCount: u32 = 0;
  for (let slot = from; slot < to; slot++) {
    const at = slotAt(batch, slot);
    const state = load<u32>(at, 16);
    if (state == BATCH_FOUND || (retry && state != BATCH_NEEDED)) continue;
    const keyOffset = load<u32>(at);
    const keyLength = load<u32>(at, 4);
    assert(keyLength >= TRAILER_BYTES);
    assert(keyOffset <= keyCapacity && keyLength <= keyCapacity - keyOffset);
    const result = tableLookupKey(lookup, keys + keyOffset, keyLength, at + 8);
    store<i32>(at, result, 20);
    if (result < LOOKUP_ABSENT) {
      store<u32>(at, BATCH_NEEDED, 16);
      store<u32>(needed + (<usize>neededCount << 2), slot);
      neededCount++;
    } else if (result >= 0 && (result & LOOKUP_FOUND) != 0) {
      store<u32>(at, BATCH_FOUND, 16);
      store<u32>(at, lookupHit.trailerLow, 24);
      store<u32>(at, lookupHit.trailerHigh, 28);
      store<u32>(at, <u32>lookupHit.valuePointer, 32);
      store<u32>(at, lookupHit.valueLength, 36);
      store<u32>(found + (<usize>foundCount << 2), slot);
      foundCount++;
    } else {
      store<u32>(at, BATCH_PENDING, 16);
    }
  }
  store<u32>(batch, foundCount, 8);
  store<u32>(batch, neededCount, 12);
}
