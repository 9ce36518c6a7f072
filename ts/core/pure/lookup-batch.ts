/**
 * A batch of point keys for TableLookup.getMany, the twin of assembly/lookup-batch.ts: each slot
 * holds its internal key and bloom hash (computed by the first table that needs it), its state
 * and what was found for it; each call lists the slots it found and those needing a block.
 */
import { invalidArgument } from "../../errors.ts";
import { checkSequence, writeTrailer } from "../entry.ts";
import { KIND_SEEK, LOOKUP_BLOCK_SHIFT, TRAILER_BYTES, type Hit, type PointBatch } from "../types.ts";

/** An internal key as a table lookup reads it, with its bloom hash once computed. */
export class LookupKey {
  bytes = new Uint8Array(TRAILER_BYTES);
  hash = 0;
  hashed = false;

  /** Writes `userKey` with a trailer at `sequence` (KIND_SEEK) and forgets the hash. */
  write(userKey: Uint8Array, sequence: number): void {
    if (this.bytes.length !== userKey.length + TRAILER_BYTES) this.bytes = new Uint8Array(userKey.length + TRAILER_BYTES);
    this.bytes.set(userKey);
    writeTrailer(this.bytes, userKey.length, sequence, KIND_SEEK);
    this.hashed = false;
  }
}

export const BATCH_PENDING = 0;
export const BATCH_NEEDED = 1;
export const BATCH_FOUND = 2;

export class PurePointBatch implements PointBatch {
  count = 0;
  readonly keys: LookupKey[] = [];
  states = new Uint8Array(0);
  /** Each slot's last TableLookup result code. */
  results = new Int32Array(0);
  readonly hits: (Hit | undefined)[] = [];
  readonly found: number[] = [];
  readonly needed: number[] = [];
  freed = false;

  set(keys: readonly Uint8Array[], order: readonly number[], count: number, sequence: number): void {
    this.checkLive();
    checkSequence(sequence);
    if (!Number.isInteger(count) || count < 0 || count > order.length) throw invalidArgument(`a batch of ${count} keys from an order of ${order.length}`);
    if (this.states.length < count) {
      this.states = new Uint8Array(count);
      this.results = new Int32Array(count);
    }
    while (this.keys.length < count) this.keys.push(new LookupKey());
    for (let i = 0; i < count; i++) {
      const key = keys[order[i]!];
      if (!(key instanceof Uint8Array)) throw invalidArgument("a point batch's keys must be Uint8Arrays");
      this.keys[i]!.write(key, sequence);
    }
    this.states.fill(BATCH_PENDING, 0, count);
    this.hits.length = 0;
    this.found.length = 0;
    this.needed.length = 0;
    this.count = count;
  }

  get foundCount(): number {
    this.checkLive();
    return this.found.length;
  }

  foundSlot(i: number): number {
    if (!(i >= 0 && i < this.foundCount)) throw invalidArgument(`found slot ${i} of ${this.found.length}`);
    return this.found[i]!;
  }

  get neededCount(): number {
    this.checkLive();
    return this.needed.length;
  }

  neededBlock(i: number): number {
    if (!(i >= 0 && i < this.neededCount)) throw invalidArgument(`needed slot ${i} of ${this.needed.length}`);
    return -2 - this.results[this.needed[i]!]!;
  }

  hit(slot: number): Hit {
    this.checkSlot(slot);
    const hit = this.hits[slot];
    if (hit === undefined || this.states[slot] !== BATCH_FOUND) throw invalidArgument(`slot ${slot} has found nothing`);
    return hit;
  }

  hitBlock(slot: number): number {
    this.checkSlot(slot);
    return this.results[slot]! >>> LOOKUP_BLOCK_SHIFT;
  }

  private checkSlot(slot: number): void {
    this.checkLive();
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.count) throw invalidArgument(`slot ${slot} is not one of the batch's ${this.count}`);
  }

  private checkLive(): void {
    if (this.freed) throw invalidArgument("point batch used after free()");
  }

  free(): void {
    this.freed = true;
    this.count = 0;
  }
}
