// The k-way merge, the twin of ts/core/pure/merge.ts: a binary heap of source indices ordered
// by each source's current entry (internal-key order, reversed when the merge is; ties go to
// the lower source index). Each source is a run owned by the host and read in place; when it
// is used up the merge stops and asks the host for the source's next run (protocol on Merge in
// ts/core/types.ts).
//
// Visible mode keeps one piece of state across fills and needs, in merge-owned memory (`held`):
// forward, the user key already decided (its newest visible version came first); reverse, the
// candidate entry (run-encoded) for the current user key, whose versions arrive oldest first,
// replaced by every newer visible version and yielded when the user key changes.
import { compareBytes, compareInternalKeys } from "./entry";
import { TRAILER_BYTES } from "./format";
import { Run, runClear, runReserve } from "./run";

const KIND_DELETE: u64 = 0;

const SOURCE_AWAITING: u32 = 0;
const SOURCE_ACTIVE: u32 = 1;
const SOURCE_DONE: u32 = 2;

/** mergeSetSource statuses. */
const STATUS_OK: i32 = 0;
const STATUS_NOT_AWAITING: i32 = 1;

const MERGE_DONE: i32 = -1;

// @ts-ignore: decorator
@unmanaged class Source {
  run: Run;
  /** Offset of the current entry in the run. */
  offset: u32;
  state: u32;
  /** run.pointer + offset and run.byteLength, refreshed at the start of every fill. */
  entry: usize;
  end: u32;
  padding: u32;
}

// @ts-ignore: decorator
@unmanaged class Merge {
  sourceCount: u32;
  reverse: u32;
  visible: u32;
  awaitingCount: u32;
  sequence: u64;
  sources: usize;
  heap: usize;
  heapSize: u32;
  /** Visible mode: whether `held` holds the decided user key (forward) or a candidate (reverse). */
  holding: u32;
  held: usize;
  heldLength: u32;
  heldCapacity: u32;
}

// @ts-ignore: decorator
@inline function sourceAt(merge: Merge, index: u32): Source {
  return changetype<Source>(merge.sources + <usize>index * offsetof<Source>());
}

// @ts-ignore: decorator
@inline function heapAt(merge: Merge, position: u32): u32 {
  return load<u32>(merge.heap + (<usize>position << 2));
}

// @ts-ignore: decorator
@inline function setHeapAt(merge: Merge, position: u32, index: u32): void {
  store<u32>(merge.heap + (<usize>position << 2), index);
}

/** Whether source a's current entry comes before source b's in the merge's direction. */
// @ts-ignore: decorator
@inline function comesBefore(merge: Merge, a: u32, b: u32): bool {
  const x = sourceAt(merge, a).entry;
  const y = sourceAt(merge, b).entry;
  let order = compareInternalKeys(x + 8, load<u32>(x), y + 8, load<u32>(y));
  if (merge.reverse != 0) order = -order;
  return order != 0 ? order < 0 : a < b;
}

function siftUp(merge: Merge, position: u32): void {
  const index = heapAt(merge, position);
  while (position > 0) {
    const parent = (position - 1) >> 1;
    const parentIndex = heapAt(merge, parent);
    if (!comesBefore(merge, index, parentIndex)) break;
    setHeapAt(merge, position, parentIndex);
    position = parent;
  }
  setHeapAt(merge, position, index);
}

function siftDown(merge: Merge, position: u32): void {
  const size = merge.heapSize;
  const index = heapAt(merge, position);
  while (true) {
    let child = position * 2 + 1;
    if (child >= size) break;
    let childIndex = heapAt(merge, child);
    if (child + 1 < size) {
      const rightIndex = heapAt(merge, child + 1);
      if (comesBefore(merge, rightIndex, childIndex)) {
        child++;
        childIndex = rightIndex;
      }
    }
    if (!comesBefore(merge, childIndex, index)) break;
    setHeapAt(merge, position, childIndex);
    position = child;
  }
  setHeapAt(merge, position, index);
}

export function mergeNew(sourceCount: u32, reverse: bool, visible: bool, sequence: f64): Merge {
  const merge = changetype<Merge>(heap.alloc(offsetof<Merge>()));
  merge.sourceCount = sourceCount;
  merge.reverse = reverse ? 1 : 0;
  merge.visible = visible ? 1 : 0;
  merge.awaitingCount = sourceCount;
  merge.sequence = <u64>sequence;
  const sourcesBytes = <usize>sourceCount * offsetof<Source>();
  merge.sources = heap.alloc(sourcesBytes);
  memory.fill(merge.sources, 0, sourcesBytes);
  merge.heap = heap.alloc(<usize>sourceCount << 2);
  merge.heapSize = 0;
  merge.holding = 0;
  merge.heldCapacity = 256;
  merge.held = heap.alloc(merge.heldCapacity);
  merge.heldLength = 0;
  return merge;
}

export function mergeFree(merge: Merge): void {
  heap.free(merge.sources);
  heap.free(merge.heap);
  heap.free(merge.held);
  heap.free(changetype<usize>(merge));
}

/** Where the host reads source states (u32 at sources + index * stride + 8). */
export function mergeSources(merge: Merge): usize {
  return merge.sources;
}

export function mergeSourceStride(): u32 {
  return offsetof<Source>();
}

/** Gives source `index` (awaiting) its next run, or run 0 when it has no more entries. */
export function mergeSetSource(merge: Merge, index: u32, run: Run): i32 {
  const source = sourceAt(merge, index);
  if (source.state != SOURCE_AWAITING) return STATUS_NOT_AWAITING;
  if (changetype<usize>(run) == 0) {
    source.state = SOURCE_DONE;
    merge.awaitingCount--;
    return STATUS_OK;
  }
  // An empty run leaves the source awaiting: the next fill asks again.
  if (run.byteLength == 0) return STATUS_OK;
  source.run = run;
  source.offset = 0;
  source.state = SOURCE_ACTIVE;
  source.entry = run.pointer;
  source.end = run.byteLength;
  merge.awaitingCount--;
  const position = merge.heapSize;
  setHeapAt(merge, position, index);
  merge.heapSize = position + 1;
  siftUp(merge, position);
  return STATUS_OK;
}

function ensureHeld(merge: Merge, bytes: u32): void {
  if (bytes <= merge.heldCapacity) return;
  let capacity = merge.heldCapacity;
  while (capacity < bytes) capacity <<= 1;
  merge.held = heap.realloc(merge.held, capacity);
  merge.heldCapacity = capacity;
}

// @ts-ignore: decorator
@inline function append(out: Run, entry: usize, bytes: u32): void {
  const at = runReserve(out, bytes);
  memory.copy(at, entry, bytes);
  out.byteLength += bytes;
  out.count++;
}

/** Forward visible: whether the entry is the one yielded for its user key. Updates `held`. */
function forwardVisible(merge: Merge, entry: usize, keyLength: u32): bool {
  const trailer = load<u64>(entry + keyLength);
  if ((trailer >> 8) > merge.sequence) return false;
  const userKeyLength = keyLength - TRAILER_BYTES;
  if (merge.holding != 0 && merge.heldLength == userKeyLength && compareBytes(merge.held, userKeyLength, entry + 8, userKeyLength) == 0) {
    return false;
  }
  ensureHeld(merge, userKeyLength);
  memory.copy(merge.held, entry + 8, userKeyLength);
  merge.heldLength = userKeyLength;
  merge.holding = 1;
  return (trailer & 0xff) != KIND_DELETE;
}

/** Reverse visible: yields the held candidate if `entry` starts another user key; returns 1 if yielded. */
function reverseVisible(merge: Merge, out: Run, entry: usize, keyLength: u32, bytes: u32): u32 {
  let yielded: u32 = 0;
  const trailer = load<u64>(entry + keyLength);
  const held = merge.held;
  if (merge.holding != 0) {
    const heldKeyLength = load<u32>(held);
    if (heldKeyLength != keyLength || compareBytes(held + 8, keyLength - TRAILER_BYTES, entry + 8, keyLength - TRAILER_BYTES) != 0) {
      yielded = flushCandidate(merge, out);
    } else if (trailer <= load<u64>(held + heldKeyLength)) {
      // Same user key, not newer (an equal key from a higher source index): keep the candidate.
      return 0;
    }
  }
  if ((trailer >> 8) <= merge.sequence) {
    ensureHeld(merge, bytes);
    memory.copy(merge.held, entry, bytes);
    merge.holding = 1;
  }
  return yielded;
}

function flushCandidate(merge: Merge, out: Run): u32 {
  merge.holding = 0;
  const held = merge.held;
  const keyLength = load<u32>(held);
  if ((load<u64>(held + keyLength) & 0xff) == KIND_DELETE) return 0;
  append(out, held, 8 + keyLength + load<u32>(held, 4));
  return 1;
}

function firstAwaiting(merge: Merge): u32 {
  for (let index: u32 = 0; index < merge.sourceCount; index++) {
    if (sourceAt(merge, index).state == SOURCE_AWAITING) return index;
  }
  assert(false, "no source is awaiting");
  return 0;
}

/**
 * Clears `out`, then appends merged entries until it holds `bytesTarget` bytes (at least one
 * entry). Returns the count, MERGE_DONE, or -2 - index when source `index` must get its next
 * run first (only when nothing was appended in this call).
 */
export function mergeFill(merge: Merge, out: Run, bytesTarget: u32): i32 {
  runClear(out);
  // Runs may have moved since the last fill (their owner may reallocate them between fills).
  for (let position: u32 = 0; position < merge.heapSize; position++) {
    const source = sourceAt(merge, heapAt(merge, position));
    source.entry = source.run.pointer + source.offset;
    source.end = source.run.byteLength;
  }
  const visible = merge.visible != 0;
  const reverse = merge.reverse != 0;
  let count: u32 = 0;
  while (count == 0 || out.byteLength < bytesTarget) {
    if (merge.awaitingCount != 0) return count != 0 ? <i32>count : -2 - <i32>firstAwaiting(merge);
    if (merge.heapSize == 0) {
      if (visible && reverse && merge.holding != 0) {
        count += flushCandidate(merge, out);
        continue;
      }
      return count != 0 ? <i32>count : MERGE_DONE;
    }
    const index = heapAt(merge, 0);
    const source = sourceAt(merge, index);
    const entry = source.entry;
    const keyLength = load<u32>(entry);
    const bytes = 8 + keyLength + load<u32>(entry, 4);
    if (!visible) {
      append(out, entry, bytes);
      count++;
    } else if (!reverse) {
      if (forwardVisible(merge, entry, keyLength)) {
        append(out, entry, bytes);
        count++;
      }
    } else {
      count += reverseVisible(merge, out, entry, keyLength, bytes);
    }
    const offset = source.offset + bytes;
    source.offset = offset;
    if (offset < source.end) {
      source.entry = entry + bytes;
      siftDown(merge, 0);
    } else {
      source.state = SOURCE_AWAITING;
      merge.awaitingCount++;
      const size = merge.heapSize - 1;
      merge.heapSize = size;
      if (size > 0) {
        setHeapAt(merge, 0, heapAt(merge, size));
        siftDown(merge, 0);
      }
    }
  }
  return <i32>count;
}
