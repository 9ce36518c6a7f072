/**
 * A batch of point keys in WebAssembly memory (assembly/lookup-batch.ts has the layout): set()
 * writes every key once, with no call, and each table asked about them costs one call
 * (WasmTableLookup.getMany), whose found and needed lists are read here.
 */
import { invalidArgument } from "../../errors.ts";
import { checkSequence } from "../entry.ts";
import { assert } from "../../assert.ts";
import { copyOfRange } from "../slab.ts";
import { KIND_DELETE, KIND_POINTER, KIND_SEEK, LOOKUP_BLOCK_SHIFT, TRAILER_BYTES, type Hit, type PointBatch, type PointResults } from "../types.ts";
import type { WasmRuntime } from "./runtime.ts";

export interface BatchExports {
  pointBatchNew(slotCapacity: number, keyCapacity: number): number;
  pointBatchFree(batch: number): void;
  pointBatchLayout(): number;
  tableLookupGetMany(lookup: number, batch: number, from: number, to: number, retry: number): void;
}

/** assembly/lookup-batch.ts's header and slot sizes. */
const HEADER_BYTES = 16;
const SLOT_BYTES = 40;
const BATCH_LAYOUT = HEADER_BYTES | (SLOT_BYTES << 8);
const SLOT_STATE = 16;
const SLOT_RESULT = 20;
const BATCH_PENDING = 0;
const TWO_POW_24 = 0x100_0000;
/** Keys up to this size are written byte by byte: cheaper than TypedArray.set for a few bytes. */
const KEY_COPY_LOOP_BYTES_MAX = 32;

export class WasmPointBatch implements PointBatch {
  pointer = 0;
  count = 0;
  private slotCapacity = 0;
  private keyCapacity = 0;
  /** What set() read of each key's first byte, kept so the reads are not optimised away. */
  private touched = 0;

  constructor(readonly runtime: WasmRuntime, private readonly exports: BatchExports) {
    if (exports.pointBatchLayout() >>> 0 !== BATCH_LAYOUT) throw new Error("assembly/lookup-batch.ts layout differs from ts/core/wasm/lookup-batch.ts");
    this.reserve(0, 0);
  }

  set(keys: readonly Uint8Array[], order: readonly number[], count: number, sequence: number): void {
    if (this.pointer === 0) throw invalidArgument("point batch used after free()");
    this.runtime.checkUsable();
    checkSequence(sequence);
    if (!Number.isInteger(count) || count < 0 || count > order.length) throw invalidArgument(`a batch of ${count} keys from an order of ${order.length}`);
    // This loop also reads each key's first byte: the keys' cache misses overlap here (the loop
    // is short and its iterations independent), not one key after another in the copy below.
    let keyBytes = 0;
    let touched = 0;
    for (let i = 0; i < count; i++) {
      const key = keys[order[i]!];
      if (!(key instanceof Uint8Array)) throw invalidArgument("a point batch's keys must be Uint8Arrays");
      keyBytes += key.length + TRAILER_BYTES;
      touched |= key.length > 0 ? key[0]! : 0;
    }
    this.touched = touched;
    this.reserve(count, keyBytes);
    const memory = this.runtime.u8;
    const view = this.runtime.view;
    let slot = this.pointer + HEADER_BYTES;
    const keysAt = this.pointer + HEADER_BYTES + this.slotCapacity * (SLOT_BYTES + 8);
    let offset = 0;
    // The trailer, sequence << 8 | KIND_SEEK, as two little-endian words: the same for every key.
    const low = sequence % TWO_POW_24;
    const trailerLow = low * 256 + KIND_SEEK;
    const trailerHigh = (sequence - low) / TWO_POW_24;
    for (let i = 0; i < count; i++, slot += SLOT_BYTES) {
      const key = keys[order[i]!]!;
      const at = keysAt + offset;
      if (key.length <= KEY_COPY_LOOP_BYTES_MAX) {
        for (let byte = 0; byte < key.length; byte++) memory[at + byte] = key[byte]!;
      } else {
        memory.set(key, at);
      }
      view.setUint32(at + key.length, trailerLow, true);
      view.setUint32(at + key.length + 4, trailerHigh, true);
      view.setUint32(slot, offset, true);
      view.setUint32(slot + 4, key.length + TRAILER_BYTES, true);
      view.setUint32(slot + 8, 0, true);
      view.setUint32(slot + SLOT_STATE, BATCH_PENDING, true);
      offset += key.length + TRAILER_BYTES;
    }
    view.setUint32(this.pointer + 8, 0, true);
    view.setUint32(this.pointer + 12, 0, true);
    this.count = count;
  }

  /** Room for `slots` slots and `keyBytes` bytes of keys (a new, larger batch when it has not). */
  private reserve(slots: number, keyBytes: number): void {
    if (this.pointer !== 0 && slots <= this.slotCapacity && keyBytes <= this.keyCapacity) return;
    if (this.pointer !== 0) this.exports.pointBatchFree(this.pointer);
    this.pointer = 0;
    this.slotCapacity = Math.max(slots, 2 * this.slotCapacity, 16);
    this.keyCapacity = Math.max(keyBytes, 2 * this.keyCapacity, 256);
    this.pointer = this.exports.pointBatchNew(this.slotCapacity, this.keyCapacity) >>> 0;
  }

  get foundCount(): number {
    if (this.pointer === 0) throw invalidArgument("point batch used after free()");
    return this.runtime.view.getUint32(this.pointer + 8, true);
  }

  foundSlot(i: number): number {
    if (!(i >= 0 && i < this.foundCount)) throw invalidArgument(`found slot ${i} of ${this.foundCount}`);
    return this.runtime.view.getUint32(this.pointer + HEADER_BYTES + this.slotCapacity * SLOT_BYTES + 4 * i, true);
  }

  get neededCount(): number {
    if (this.pointer === 0) throw invalidArgument("point batch used after free()");
    return this.runtime.view.getUint32(this.pointer + 12, true);
  }

  neededBlock(i: number): number {
    if (!(i >= 0 && i < this.neededCount)) throw invalidArgument(`needed slot ${i} of ${this.neededCount}`);
    const view = this.runtime.view;
    const slot = view.getUint32(this.pointer + HEADER_BYTES + this.slotCapacity * (SLOT_BYTES + 4) + 4 * i, true);
    return -2 - view.getInt32(this.slotAt(slot) + SLOT_RESULT, true);
  }

  hit(slot: number): Hit {
    const view = this.runtime.view;
    const at = this.slotAt(slot);
    const trailerLow = view.getUint32(at + 24, true);
    return {
      kind: trailerLow & 0xff,
      sequence: view.getUint32(at + 28, true) * TWO_POW_24 + (trailerLow >>> 8),
      value: this.runtime.copyValueOut(view.getUint32(at + 32, true), view.getUint32(at + 36, true)),
    };
  }

  copyFound(order: readonly number[], results: PointResults): void {
    const count = this.foundCount;
    const memory = this.runtime.u8;
    const view = this.runtime.view;
    const slots = this.pointer + HEADER_BYTES;
    const found = slots + this.slotCapacity * SLOT_BYTES;
    for (let i = 0; i < count; i++) {
      const slot = view.getUint32(found + 4 * i, true);
      assert(slot < this.count, "a found slot is one of the batch's");
      const at = slots + slot * SLOT_BYTES;
      const trailerLow = view.getUint32(at + 24, true);
      const kind = trailerLow & 0xff;
      const index = order[slot]!;
      if (kind === KIND_DELETE) continue;
      const valueAt = view.getUint32(at + 32, true);
      results.values[index] = copyOfRange(memory, valueAt, valueAt + view.getUint32(at + 36, true));
      if (kind !== KIND_POINTER) continue;
      results.pointerKeys.push(index);
      results.pointerSequences.push(view.getUint32(at + 28, true) * TWO_POW_24 + (trailerLow >>> 8));
    }
  }

  hitBlock(slot: number): number {
    return this.runtime.view.getInt32(this.slotAt(slot) + SLOT_RESULT, true) >>> LOOKUP_BLOCK_SHIFT;
  }

  private slotAt(slot: number): number {
    if (this.pointer === 0) throw invalidArgument("point batch used after free()");
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.count) throw invalidArgument(`slot ${slot} is not one of the batch's ${this.count}`);
    return this.pointer + HEADER_BYTES + slot * SLOT_BYTES;
  }

  free(): void {
    if (this.pointer !== 0) this.exports.pointBatchFree(this.pointer);
    this.pointer = 0;
    this.count = 0;
  }
}
