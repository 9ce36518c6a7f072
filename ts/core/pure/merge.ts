/**
 * The k-way merge of the pure core, the twin of assembly/merge.ts: a binary heap of source
 * indices ordered by each source's current entry (internal-key order, reversed when the merge
 * is; ties go to the lower source index). Sources are runs owned by the host and read in place;
 * when one is used up the merge stops and asks for its next run (protocol on Merge in
 * ts/core/types.ts).
 *
 * Visible mode keeps one piece of state across fills and needs, in merge-owned memory (`held`):
 * forward, the user key already decided (its newest visible version came first); reverse, the
 * candidate entry (run-encoded) for the current user key, whose versions arrive oldest first,
 * replaced by every strictly newer visible version and yielded when the user key changes. Equal
 * internal keys thus resolve to the lowest source index in both directions.
 */
import { invalidArgument } from "../../errors.ts";
import { KIND_DELETE, MERGE_DONE, TRAILER_BYTES, type Merge, type MergeOptions, type Run } from "../types.ts";
import { asPureRun, type PureRun } from "./run.ts";
import { copyBytes } from "./bytes.ts";
import { MERGE_BYTES_TARGET, checkBytesTarget, checkMergeArguments, checkSourceIndex, notAwaiting } from "../checks.ts";

const SOURCE_AWAITING = 0;
const SOURCE_ACTIVE = 1;
const SOURCE_DONE = 2;

const TWO_POW_24 = 0x100_0000;

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** Internal-key order of a[aAt, aAt + aLength) and b[bAt, bAt + bLength). */
function compareInternal(a: Uint8Array, aAt: number, aLength: number, b: Uint8Array, bAt: number, bLength: number): number {
  const aUser = aLength - TRAILER_BYTES;
  const bUser = bLength - TRAILER_BYTES;
  const shorter = aUser < bUser ? aUser : bUser;
  for (let i = 0; i < shorter; i++) {
    const difference = a[aAt + i]! - b[bAt + i]!;
    if (difference !== 0) return difference;
  }
  if (aUser !== bUser) return aUser - bUser;
  // Trailers sort descending: the newest version first.
  const aHigh = readU32(a, aAt + aUser + 4);
  const bHigh = readU32(b, bAt + bUser + 4);
  if (aHigh !== bHigh) return aHigh > bHigh ? -1 : 1;
  const aLow = readU32(a, aAt + aUser);
  const bLow = readU32(b, bAt + bUser);
  return aLow === bLow ? 0 : aLow > bLow ? -1 : 1;
}

/** Sequence of the internal key ending at `end` (exclusive) in `bytes`. */
function sequenceBefore(bytes: Uint8Array, end: number): number {
  return readU32(bytes, end - 4) * TWO_POW_24 + (readU32(bytes, end - 8) >>> 8);
}

class PureMerge implements Merge {
  private readonly runs: (PureRun | null)[];
  private readonly states: Uint8Array;
  private readonly offsets: Int32Array;
  private readonly ends: Int32Array;
  private readonly buffers: Uint8Array[];
  private readonly heap: Int32Array;
  private heapSize = 0;
  private awaitingCount: number;
  private readonly reverse: boolean;
  private readonly visible: boolean;
  private readonly sequence: number;
  /** Visible mode: the decided user key (forward) or the candidate entry (reverse). */
  private held = new Uint8Array(256);
  private heldLength = 0;
  private holding = false;
  private freed = false;

  constructor(private readonly sourceCount: number, options: MergeOptions) {
    this.runs = new Array<PureRun | null>(sourceCount).fill(null);
    this.states = new Uint8Array(sourceCount);
    this.offsets = new Int32Array(sourceCount);
    this.ends = new Int32Array(sourceCount);
    this.buffers = new Array<Uint8Array>(sourceCount).fill(this.held);
    this.heap = new Int32Array(sourceCount);
    this.awaitingCount = sourceCount;
    this.reverse = options.reverse === true;
    this.visible = options.mode === "visible";
    this.sequence = this.visible ? options.sequence : 0;
  }

  private checkLive(): void {
    if (this.freed) throw invalidArgument("merge used after free()");
  }

  free(): void {
    this.freed = true;
  }

  setSource(index: number, run: Run | null): void {
    this.checkLive();
    checkSourceIndex(index, this.sourceCount);
    const source = run === null ? null : asPureRun(run);
    if (this.states[index] !== SOURCE_AWAITING) throw notAwaiting(index);
    if (source === null) {
      this.states[index] = SOURCE_DONE;
      this.awaitingCount--;
      return;
    }
    // An empty run leaves the source awaiting: the next fill asks again.
    if (source.byteLength === 0) return;
    this.runs[index] = source;
    this.states[index] = SOURCE_ACTIVE;
    this.offsets[index] = 0;
    this.ends[index] = source.byteLength;
    this.buffers[index] = source.buffer;
    this.awaitingCount--;
    const position = this.heapSize++;
    this.heap[position] = index;
    this.siftUp(position);
  }

  /** Whether source a's current entry comes before source b's in the merge's direction. */
  private comesBefore(a: number, b: number): boolean {
    const x = this.buffers[a]!;
    const y = this.buffers[b]!;
    const xAt = this.offsets[a]!;
    const yAt = this.offsets[b]!;
    let order = compareInternal(x, xAt + 8, readU32(x, xAt), y, yAt + 8, readU32(y, yAt));
    if (this.reverse) order = -order;
    return order !== 0 ? order < 0 : a < b;
  }

  private siftUp(position: number): void {
    const heap = this.heap;
    const index = heap[position]!;
    while (position > 0) {
      const parent = (position - 1) >> 1;
      const parentIndex = heap[parent]!;
      if (!this.comesBefore(index, parentIndex)) break;
      heap[position] = parentIndex;
      position = parent;
    }
    heap[position] = index;
  }

  private siftDown(position: number): void {
    const heap = this.heap;
    const size = this.heapSize;
    const index = heap[position]!;
    for (;;) {
      let child = position * 2 + 1;
      if (child >= size) break;
      let childIndex = heap[child]!;
      if (child + 1 < size) {
        const rightIndex = heap[child + 1]!;
        if (this.comesBefore(rightIndex, childIndex)) {
          child++;
          childIndex = rightIndex;
        }
      }
      if (!this.comesBefore(childIndex, index)) break;
      heap[position] = childIndex;
      position = child;
    }
    heap[position] = index;
  }

  /** Every active source's run must be alive and must not be `out` (fill clears it). */
  private checkSources(out: PureRun): void {
    for (let index = 0; index < this.sourceCount; index++) {
      if (this.states[index] !== SOURCE_ACTIVE) continue;
      const run = this.runs[index]!;
      if (run === out) throw invalidArgument(`out is the run of source ${index}`);
      run.checkLive();
      // Runs may have been reallocated by their owner since the last fill.
      this.buffers[index] = run.buffer;
      this.ends[index] = run.byteLength;
    }
  }

  private ensureHeld(bytes: number): void {
    if (bytes <= this.held.length) return;
    let capacity = this.held.length;
    while (capacity < bytes) capacity *= 2;
    this.held = new Uint8Array(capacity);
  }

  /** Forward visible: whether the entry is the one yielded for its user key. Updates `held`. */
  private forwardVisible(buffer: Uint8Array, entryAt: number, keyLength: number): boolean {
    const keyEnd = entryAt + 8 + keyLength;
    if (sequenceBefore(buffer, keyEnd) > this.sequence) return false;
    const userLength = keyLength - TRAILER_BYTES;
    const keyAt = entryAt + 8;
    if (this.holding && this.heldLength === userLength) {
      const held = this.held;
      let same = true;
      for (let i = 0; i < userLength; i++) {
        if (held[i] !== buffer[keyAt + i]) {
          same = false;
          break;
        }
      }
      if (same) return false;
    }
    this.ensureHeld(userLength);
    copyBytes(this.held, 0, buffer, keyAt, userLength);
    this.heldLength = userLength;
    this.holding = true;
    return (buffer[keyEnd - TRAILER_BYTES]! & 0xff) !== KIND_DELETE;
  }

  /** Reverse visible: yields the held candidate if the entry starts another user key; returns 1 if yielded. */
  private reverseVisible(out: PureRun, buffer: Uint8Array, entryAt: number, keyLength: number, bytes: number): number {
    let yielded = 0;
    const keyAt = entryAt + 8;
    if (this.holding) {
      const held = this.held;
      const heldKeyLength = readU32(held, 0);
      if (heldKeyLength !== keyLength || !userKeysEqual(held, 8, buffer, keyAt, keyLength - TRAILER_BYTES)) {
        yielded = this.flushCandidate(out);
      } else if (compareInternal(held, 8, heldKeyLength, buffer, keyAt, keyLength) <= 0) {
        // Same user key, not newer (an equal key from a higher source index): keep the candidate.
        return 0;
      }
    }
    if (sequenceBefore(buffer, keyAt + keyLength) <= this.sequence) {
      this.ensureHeld(bytes);
      copyBytes(this.held, 0, buffer, entryAt, bytes);
      this.holding = true;
    }
    return yielded;
  }

  private flushCandidate(out: PureRun): number {
    this.holding = false;
    const held = this.held;
    const keyLength = readU32(held, 0);
    if (held[keyLength]! === KIND_DELETE) return 0;
    const bytes = 8 + keyLength + readU32(held, 4);
    const at = out.reserve(bytes);
    copyBytes(out.buffer, at, held, 0, bytes);
    out.byteLength = at + bytes;
    out.count++;
    return 1;
  }

  private firstAwaiting(): number {
    return this.states.indexOf(SOURCE_AWAITING);
  }

  fill(run: Run, bytesTarget = MERGE_BYTES_TARGET): number {
    this.checkLive();
    const out = asPureRun(run);
    const target = checkBytesTarget(bytesTarget);
    this.checkSources(out);
    out.clear();
    const { heap, offsets, ends, buffers, visible, reverse } = this;
    let count = 0;
    while (count === 0 || out.byteLength < target) {
      if (this.awaitingCount !== 0) return count !== 0 ? count : -2 - this.firstAwaiting();
      if (this.heapSize === 0) {
        if (visible && reverse && this.holding) {
          count += this.flushCandidate(out);
          continue;
        }
        return count !== 0 ? count : MERGE_DONE;
      }
      const index = heap[0]!;
      const buffer = buffers[index]!;
      const entryAt = offsets[index]!;
      const keyLength = readU32(buffer, entryAt);
      const bytes = 8 + keyLength + readU32(buffer, entryAt + 4);
      if (!visible || (!reverse && this.forwardVisible(buffer, entryAt, keyLength))) {
        const at = out.reserve(bytes);
        copyBytes(out.buffer, at, buffer, entryAt, bytes);
        out.byteLength = at + bytes;
        out.count++;
        count++;
      } else if (reverse) {
        count += this.reverseVisible(out, buffer, entryAt, keyLength, bytes);
      }
      const next = entryAt + bytes;
      offsets[index] = next;
      if (next < ends[index]!) {
        this.siftDown(0);
      } else {
        this.states[index] = SOURCE_AWAITING;
        this.runs[index] = null;
        this.awaitingCount++;
        const size = --this.heapSize;
        if (size > 0) {
          heap[0] = heap[size]!;
          this.siftDown(0);
        }
      }
    }
    return count;
  }
}

function userKeysEqual(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

export function pureMerge() {
  return { newMerge: (sourceCount: number, options: MergeOptions): Merge => {
    checkMergeArguments(sourceCount, options);
    return new PureMerge(sourceCount, options);
  } };
}
