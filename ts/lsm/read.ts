/**
 * Batched point lookups (db.getMany): the tree is walked source by source rather than key by
 * key, with the keys sorted once when a deeper level is to be walked. The keys are written once
 * into the core's point batch; each memtable answers every key not found yet in one core call
 * (Memtable.getMany, its searches interleaved), then each level-0 table, and each table of a
 * deeper level for the keys in its range, answers all of its keys in one core call while their
 * blocks are cached (TableLookup.getMany). What each source finds is copied out once, straight
 * into the results by the caller's index (PointBatch.copyFound): no object per key.
 */
import { assert } from "../assert.ts";
import { compareBytes, compareUserKey } from "../core/entry.ts";
import type { BlockReader, Memtable, PointBatch, PointResults } from "../core/types.ts";
import type { BlockCache } from "./cache.ts";
import type { Table, TableMeta } from "./sstable.ts";

/** What the walk needs from the tree: its sources, newest first. */
export interface PointSources {
  memtables(): Memtable[];
  levels(): readonly TableMeta[][];
  table(meta: TableMeta): Table;
  /** A point batch to set per lookup (the tree's: getMany runs to the end synchronously). */
  pointBatch(): PointBatch;
  cache(): BlockCache<BlockReader>;
}

/**
 * The newest version visible at `sequence` of each of `keys`: results.values[i] for keys[i]
 * (undefined for none or a tombstone), the keys whose value is a value pointer listed. A
 * repeated key is looked up again: each gets a value of its own.
 */
export function getMany(sources: PointSources, keys: readonly Uint8Array[], sequence: number): PointResults {
  const results: PointResults = { values: new Array<Uint8Array | undefined>(keys.length).fill(undefined), pointerKeys: [], pointerSequences: [] };
  if (keys.length === 0) return results;
  const levels = sources.levels();
  // Only the walk of a deeper level needs the keys in order; memtables and level-0 tables
  // answer each key on its own, and sorting costs about a tenth of a batch.
  const sorted = levels.some((tables, level) => level > 0 && tables.length > 0);
  const walk = new BatchWalk(sources, keys, sorted ? sortedIndexes(keys) : identityOrder(keys.length), sequence, results);
  for (const memtable of sources.memtables()) {
    if (walk.pendingCount === 0) return results;
    if (memtable.count > 0) walk.askMemtable(memtable);
  }
  for (let level = 0; level < levels.length && walk.pendingCount > 0; level++) {
    if (level === 0) {
      for (const meta of levels[0]!) walk.askTable(sources.table(meta), 0, keys.length);
    } else if (levels[level]!.length > 0) {
      walk.askLevel(levels[level]!);
    }
  }
  return results;
}

/** One getMany's keys as slots of the core's point batch (slot i is keys[order[i]]), asked of source after source. */
class BatchWalk {
  private readonly batch: PointBatch;
  private readonly cache: BlockCache<BlockReader>;
  pendingCount: number;

  constructor(
    private readonly sources: PointSources,
    private readonly keys: readonly Uint8Array[],
    /** Indexes into `keys` (at least keys.length of them), ascending by key when a level walk needs it. */
    private readonly order: readonly number[],
    sequence: number,
    private readonly results: PointResults,
  ) {
    this.batch = sources.pointBatch();
    this.cache = sources.cache();
    this.batch.set(keys, order, keys.length, sequence);
    this.pendingCount = keys.length;
  }

  /** Every slot not found yet, asked of the memtable in one call. */
  askMemtable(memtable: Memtable): void {
    memtable.getMany(this.batch, 0, this.keys.length);
    this.takeFound();
  }

  /** Copies out what the last call found (before any other core call may move or free it). */
  private takeFound(): void {
    this.batch.copyFound(this.order, this.results);
    this.pendingCount -= this.batch.foundCount;
  }

  /**
   * Slots [from, to) not found yet, asked of `table`. Values are copied out before the blocks the
   * call named are loaded (a load may evict a block a value lies in), then those slots are
   * asked again; the block loaded last stays cached, so each round resolves a slot or more.
   */
  askTable(table: Table, from: number, to: number): void {
    const batch = this.batch;
    let loaded = -1;
    for (let retry = false; ; retry = true) {
      table.lookupMany(batch, from, to, retry, this.cache);
      this.takeFound();
      const needed = batch.neededCount;
      if (needed === 0) return;
      const lastLoaded = loaded;
      for (let i = 0; i < needed; i++) {
        const block = batch.neededBlock(i);
        assert(block !== lastLoaded, "a block just cached is in the lookup");
        // Slots in key order that need a block mostly need the block the slot before needed.
        if (block !== loaded) table.cachedBlock(block, this.cache);
        loaded = block;
      }
    }
  }

  /**
   * A sorted level: slots ascend by key, so each table's keys are one run of slots, found by
   * moving forward through the level's tables.
   */
  askLevel(tables: readonly TableMeta[]): void {
    const { keys, order } = this;
    const count = keys.length;
    let tableIndex = 0;
    let slot = 0;
    while (slot < count && tableIndex < tables.length) {
      const meta = tables[tableIndex]!;
      // The table's bounds are internal keys: compared by their user keys.
      while (slot < count && compareUserKey(meta.smallest, keys[order[slot]!]!) > 0) slot++;
      const from = slot;
      while (slot < count && compareUserKey(meta.largest, keys[order[slot]!]!) >= 0) slot++;
      if (slot > from) this.askTable(this.sources.table(meta), from, slot);
      tableIndex++;
    }
  }
}

/** order[i] = i for the first `count` entries at least: kept and grown (up to IDENTITY_KEPT_MAX), since a walk only reads it. */
const identity: number[] = [];
const IDENTITY_KEPT_MAX = 64 * 1024;

function identityOrder(count: number): readonly number[] {
  if (count > IDENTITY_KEPT_MAX) return Array.from({ length: count }, (_, index) => index);
  while (identity.length < count) identity.push(identity.length);
  return identity;
}

/**
 * Indexes of `keys` in ascending key order. Sorting compares 6 bytes as a number first (after
 * the bytes every key shares), so most comparisons need no byte loop.
 */
function sortedIndexes(keys: readonly Uint8Array[]): number[] {
  const shared = sharedPrefixBytes(keys);
  const prefixes = new Float64Array(keys.length);
  for (let i = 0; i < keys.length; i++) prefixes[i] = prefixNumber(keys[i]!, shared);
  const order = Array.from({ length: keys.length }, (_, index) => index);
  return order.sort((a, b) => prefixes[a]! - prefixes[b]! || compareBytes(keys[a]!, keys[b]!));
}

/** Leading bytes all of `keys` share (at most the shortest key). */
function sharedPrefixBytes(keys: readonly Uint8Array[]): number {
  if (keys.length === 0) return 0;
  const first = keys[0]!;
  let shared = first.length;
  for (let i = 1; i < keys.length && shared > 0; i++) {
    const key = keys[i]!;
    let same = 0;
    const length = Math.min(shared, key.length);
    while (same < length && key[same] === first[same]) same++;
    shared = same;
  }
  return shared;
}

/** Bytes [from, from + 6) of `key` as base-257 digits (a missing byte is 0, below every byte): order-preserving. */
function prefixNumber(key: Uint8Array, from: number): number {
  let number = 0;
  for (let i = from; i < from + 6; i++) number = number * 257 + (i < key.length ? key[i]! + 1 : 0);
  return number;
}
