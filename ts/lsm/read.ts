/**
 * Batched point lookups (db.getMany): the tree is walked source by source rather than key by
 * key, with the keys sorted once when a deeper level is to be walked. Each memtable is asked
 * about every key still unresolved; the keys left are then written once into the core's point
 * batch, and each level-0 table, and each table of a deeper level for the keys in its range,
 * answers all of its keys in one core call while their blocks are cached (TableLookup.getMany).
 * Results come back in the caller's order.
 */
import { assert } from "../assert.ts";
import { compareBytes, compareUserKey } from "../core/entry.ts";
import type { BlockReader, Hit, Memtable, PointBatch } from "../core/types.ts";
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
 * The newest version visible at `sequence` of each of `keys` (tombstones included), as
 * `hits[i]` for `keys[i]`. A repeated key is looked up again: each gets a value of its own.
 */
export function getMany(sources: PointSources, keys: readonly Uint8Array[], sequence: number): (Hit | undefined)[] {
  const levels = sources.levels();
  // Only the walk of a deeper level needs the keys in order; memtables and level-0 tables
  // answer each key on its own, and sorting costs about a tenth of a batch.
  const sorted = levels.some((tables, level) => level > 0 && tables.length > 0);
  const batch = new Batch(keys, sequence, sorted);
  for (const memtable of sources.memtables()) {
    if (memtable.count > 0) batch.askMemtable(memtable);
  }
  if (batch.pendingCount === 0 || levels.every((tables) => tables.length === 0)) return batch.hits;
  const tables = new TableBatch(sources, batch);
  for (let level = 0; level < levels.length && tables.pendingCount > 0; level++) {
    if (level === 0) {
      for (const meta of levels[0]!) tables.askTable(sources.table(meta), 0, tables.count);
    } else if (levels[level]!.length > 0) {
      tables.askLevel(levels[level]!);
    }
  }
  tables.finish();
  return batch.hits;
}

/** The keys of one getMany and what is known of them, for the memtables' turn. */
class Batch {
  readonly hits: (Hit | undefined)[];
  /** Indexes into `keys` (ascending by key when a level walk needs it); the first pendingCount are unresolved. */
  readonly order: number[];
  pendingCount: number;

  constructor(
    readonly keys: readonly Uint8Array[],
    readonly sequence: number,
    sorted: boolean,
  ) {
    this.hits = new Array<Hit | undefined>(keys.length).fill(undefined);
    this.order = sorted ? sortedIndexes(keys) : Array.from({ length: keys.length }, (_, index) => index);
    this.pendingCount = this.order.length;
  }

  /** Keeps the keys the memtable did not resolve, in order (compacted in place: no array per source). */
  askMemtable(memtable: Memtable): void {
    let kept = 0;
    for (let i = 0; i < this.pendingCount; i++) {
      const index = this.order[i]!;
      const hit = memtable.get(this.keys[index]!, this.sequence);
      if (hit === undefined) this.order[kept++] = index;
      else this.hits[index] = hit;
    }
    this.pendingCount = kept;
  }
}

/** The keys the memtables left, as slots of the core's point batch (slot i is order[i]), asked of tables. */
class TableBatch {
  private readonly batch: PointBatch;
  private readonly cache: BlockCache<BlockReader>;
  /** The hit of each slot: the core skips slots found already. */
  private readonly slotHits: (Hit | undefined)[];
  readonly count: number;
  pendingCount: number;

  constructor(
    private readonly sources: PointSources,
    private readonly keys: Batch,
  ) {
    this.batch = sources.pointBatch();
    this.cache = sources.cache();
    this.count = keys.pendingCount;
    this.pendingCount = keys.pendingCount;
    this.batch.set(keys.keys, keys.order, this.count, keys.sequence);
    this.slotHits = new Array<Hit | undefined>(this.count).fill(undefined);
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
      const found = batch.foundCount;
      for (let i = 0; i < found; i++) {
        const slot = batch.foundSlot(i);
        this.slotHits[slot] = batch.hit(slot);
      }
      this.pendingCount -= found;
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
    const { keys, order } = this.keys;
    let tableIndex = 0;
    let slot = 0;
    while (slot < this.count && tableIndex < tables.length) {
      const meta = tables[tableIndex]!;
      // The table's bounds are internal keys: compared by their user keys.
      while (slot < this.count && compareUserKey(meta.smallest, keys[order[slot]!]!) > 0) slot++;
      const from = slot;
      while (slot < this.count && compareUserKey(meta.largest, keys[order[slot]!]!) >= 0) slot++;
      if (slot > from) this.askTable(this.sources.table(meta), from, slot);
      tableIndex++;
    }
  }

  /** Each slot's hit, in the caller's order. */
  finish(): void {
    for (let slot = 0; slot < this.count; slot++) {
      const hit = this.slotHits[slot];
      if (hit !== undefined) this.keys.hits[this.keys.order[slot]!] = hit;
    }
  }
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
