/**
 * Point lookups in one table, the twin of assembly/lookup.ts (the result codes are described in
 * ts/core/types.ts): a table's bloom filter, the last internal key of each data block (from its
 * index block) and the readers of the blocks the host has cached (each with a point index,
 * ./point-index.ts, built on its first lookup), held together so a read asks a table once. A point key keeps its bloom hash from the first table that needs it to the next
 * set(), so every table a read asks probes its filter with one hash.
 */
import { invalidArgument, corruption } from "../../errors.ts";
import { BLOOM_LINE_BYTES } from "../../format.ts";
import { compareInternalKeys } from "../entry.ts";
import { BLOOM_PROBES_MAX, checkFilter } from "../checks.ts";
import {
  LOOKUP_ABSENT,
  LOOKUP_BLOCKS_MAX,
  LOOKUP_BLOCK_SHIFT,
  LOOKUP_FOUND,
  TRAILER_BYTES,
  type BlockReader,
  type Hit,
  type PointBatch,
  type PointKey,
  type TableLookup,
} from "../types.ts";
import { bloomHash, bloomMayContainHash } from "./bloom.ts";
import { PureBlockReader, openOwnedBlock } from "./block.ts";
import { POINT_INDEX_ABSENT, PointIndex, sharedUserKeyBytes } from "./point-index.ts";
import { BATCH_FOUND, BATCH_NEEDED, BATCH_PENDING, LookupKey, PurePointBatch } from "./lookup-batch.ts";

class PurePointKey extends LookupKey implements PointKey {
  freed = false;

  set(userKey: Uint8Array, sequence: number): void {
    if (this.freed) throw invalidArgument("point key used after free()");
    if (!(userKey instanceof Uint8Array)) throw invalidArgument("a point key's user key must be a Uint8Array");
    this.write(userKey, sequence);
  }

  free(): void {
    this.freed = true;
  }
}

/** The 6 user-key bytes of an internal key from `from` on, as a number (big-endian, zero-padded). */
function userKeyPrefix(internalKey: Uint8Array, from: number): number {
  const length = internalKey.length - TRAILER_BYTES;
  let prefix = 0;
  for (let i = from; i < from + 6; i++) prefix = prefix * 256 + (i < length ? internalKey[i]! : 0);
  return prefix;
}

class PureTableLookup implements TableLookup {
  /** Undefined when the filter matches everything (k > BLOOM_PROBES_MAX). */
  private readonly filter: Uint8Array | undefined;
  private readonly probes: number;
  /** Lines of the filter (BLOOM_LINE_BYTES each). */
  private readonly lines: number;
  /** The last internal key of each data block. */
  private readonly fences: Uint8Array[] = [];
  private readonly sharedBytes: number;
  private readonly prefixes: Float64Array;
  private readonly readers: (PureBlockReader | undefined)[];
  /** Each cached block's point index, built on its first lookup. */
  private readonly pointIndexes: (PointIndex | undefined)[];
  /** Where the last search found its entry: an entry of a point index, or a Hit (long keys), or neither. */
  private foundIndex: PointIndex | undefined;
  private foundOrdinal = 0;
  private foundHit: Hit | undefined;
  /** The object hit() fills for a point-index entry (TableLookup.hit: read before the next call). */
  private readonly reusedHit: Hit = { kind: 0, sequence: 0, value: new Uint8Array(0) };
  private freed = false;

  constructor(filter: Uint8Array, index: Uint8Array) {
    const probes = checkFilter(filter);
    this.filter = probes > BLOOM_PROBES_MAX ? undefined : filter.slice();
    this.probes = probes;
    this.lines = (filter.length - 1) / BLOOM_LINE_BYTES;
    if (!(index instanceof Uint8Array)) throw invalidArgument("an index block must be a Uint8Array");
    const reader = openOwnedBlock(index.slice());
    if (reader.count >= LOOKUP_BLOCKS_MAX) throw corruption(`index of ${reader.count} blocks is too large`);
    for (let valid = reader.first(); valid; valid = reader.next()) this.fences.push(reader.key());
    reader.free();
    this.sharedBytes = sharedUserKeyBytes(this.fences);
    this.prefixes = Float64Array.from(this.fences, (fence) => userKeyPrefix(fence, this.sharedBytes));
    this.readers = new Array<PureBlockReader | undefined>(this.fences.length).fill(undefined);
    this.pointIndexes = new Array<PointIndex | undefined>(this.fences.length).fill(undefined);
  }

  get blockCount(): number {
    this.checkLive();
    return this.fences.length;
  }

  setBlock(index: number, reader: BlockReader | undefined): void {
    this.checkLive();
    if (!Number.isInteger(index) || index < 0 || index >= this.fences.length) throw invalidArgument(`block ${index} is not one of this table's ${this.fences.length}`);
    if (reader !== undefined && !(reader instanceof PureBlockReader)) throw invalidArgument("a table lookup takes block readers of its own core");
    this.readers[index] = reader;
    this.pointIndexes[index] = undefined;
  }

  get(key: PointKey): number {
    this.checkLive();
    if (!(key instanceof PurePointKey) || key.freed) throw invalidArgument("a table lookup takes a live point key of its own core");
    return this.search(key);
  }

  getMany(batch: PointBatch, from: number, to: number, retry: boolean): void {
    this.checkLive();
    if (!(batch instanceof PurePointBatch) || batch.freed) throw invalidArgument("a table lookup takes a live point batch of its own core");
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > batch.count) throw invalidArgument(`slots [${from}, ${to}) of a batch of ${batch.count}`);
    batch.found.length = 0;
    batch.needed.length = 0;
    for (let slot = from; slot < to; slot++) {
      const state = batch.states[slot];
      if (state === BATCH_FOUND || (retry && state !== BATCH_NEEDED)) continue;
      const result = this.search(batch.keys[slot]!);
      batch.results[slot] = result;
      if (result < LOOKUP_ABSENT) {
        batch.states[slot] = BATCH_NEEDED;
        batch.needed.push(slot);
      } else if (result >= 0 && (result & LOOKUP_FOUND) !== 0) {
        batch.states[slot] = BATCH_FOUND;
        // A slot keeps its hit past the next search: a new Hit, not the one hit() reuses.
        batch.hits[slot] = this.foundIndex !== undefined ? this.foundIndex.hit(this.foundOrdinal) : this.foundHit;
        batch.found.push(slot);
      } else {
        batch.states[slot] = BATCH_PENDING;
      }
    }
  }

  /** The key's newest version here, as get() answers; foundIndex and foundOrdinal, or foundHit, say where when found. */
  private search(key: LookupKey): number {
    this.foundIndex = undefined;
    this.foundHit = undefined;
    const target = key.bytes;
    if (this.filter !== undefined) {
      if (!key.hashed) {
        // Kept signed: an unsigned hash above 2^31 would be a heap number in the key.
        key.hash = bloomHash(target, 0, target.length - TRAILER_BYTES) | 0;
        key.hashed = true;
      }
      if (!bloomMayContainHash(this.filter, this.lines, this.probes, key.hash)) return LOOKUP_ABSENT;
    }
    const index = this.findFence(target);
    if (index >= this.fences.length) return LOOKUP_ABSENT;
    const reader = this.readers[index];
    if (reader === undefined) return -2 - index;
    const searched = index << LOOKUP_BLOCK_SHIFT;
    const pointIndex = (this.pointIndexes[index] ??= new PointIndex(reader));
    const found = pointIndex.get(target);
    if (found === POINT_INDEX_ABSENT) return searched;
    if (found >= 0) {
      this.foundIndex = pointIndex;
      this.foundOrdinal = found;
      return searched | LOOKUP_FOUND | pointIndex.kindOf(found);
    }
    // The prefixes could not decide (long keys): search the block as a seek does.
    this.foundHit = reader.get(target);
    return this.foundHit === undefined ? searched : searched | LOOKUP_FOUND | this.foundHit.kind;
  }

  hit(kind: number): Hit {
    this.checkLive();
    const index = this.foundIndex;
    if (index !== undefined && index.kindOf(this.foundOrdinal) === kind) return index.fill(this.foundOrdinal, this.reusedHit);
    const hit = this.foundHit;
    if (hit === undefined || hit.kind !== kind) throw invalidArgument("no entry found by the last get()");
    return hit;
  }

  /** Index of the first fence >= `target`, or blockCount; 6-byte prefixes first, as numbers. */
  private findFence(target: Uint8Array): number {
    const shared = this.sharedBytes;
    const first = this.fences[0];
    let usePrefix = first !== undefined && target.length - TRAILER_BYTES >= shared;
    for (let i = 0; usePrefix && i < shared; i++) usePrefix = target[i] === first![i];
    const prefix = usePrefix ? userKeyPrefix(target, shared) : 0;
    let low = 0;
    let high = this.fences.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const fencePrefix = this.prefixes[middle]!;
      const less = usePrefix && fencePrefix !== prefix ? fencePrefix < prefix : compareInternalKeys(this.fences[middle]!, target) < 0;
      if (less) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  free(): void {
    this.freed = true;
    this.readers.fill(undefined);
    this.pointIndexes.fill(undefined);
  }

  private checkLive(): void {
    if (this.freed) throw invalidArgument("table lookup used after free()");
  }
}

export function pureLookup() {
  return {
    newPointKey: (): PointKey => new PurePointKey(),
    newPointBatch: (): PointBatch => new PurePointBatch(),
    openTableLookup: (filter: Uint8Array, index: Uint8Array): TableLookup => new PureTableLookup(filter, index),
  };
}
