/**
 * Batched point lookups (db.getMany): the tree is walked source by source rather than key by
 * key, with the keys sorted once when a deeper level is to be walked. Each memtable, each level-0 table and each deeper level is
 * asked about every key still unresolved before the next source is touched, so one table's
 * filter, index and blocks stay hot in the CPU caches for the whole batch, and a deeper level
 * finds each key's table by moving forward through its sorted tables instead of by a binary
 * search per key. Results come back in the caller's order.
 */
import { compareBytes, compareUserKey } from "../core/entry.ts";
import type { Hit, Memtable, PointKey } from "../core/types.ts";
import type { Table, TableMeta } from "./sstable.ts";

/** What the walk needs from the tree: its sources, newest first. */
export interface PointSources {
  memtables(): Memtable[];
  levels(): readonly TableMeta[][];
  table(meta: TableMeta): Table;
  /** A point key to set per lookup (the tree's: getMany, like get, runs to the end synchronously). */
  pointKey(): PointKey;
  tableGet(table: Table, key: PointKey): Hit | undefined;
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
  const batch = new Batch(sources, keys, sequence, sorted);
  for (const memtable of sources.memtables()) {
    if (memtable.count > 0) batch.askMemtable(memtable);
  }
  for (let level = 0; level < levels.length && batch.pendingCount > 0; level++) {
    const tables = levels[level]!;
    if (level === 0) {
      for (const meta of tables) batch.askTable(sources, sources.table(meta));
    } else if (tables.length > 0) {
      batch.askLevel(sources, tables);
    }
  }
  return batch.hits;
}

/**
 * The keys of one getMany and what is known of them. Each ask method puts the keys still
 * pending to one source, in ascending key order, and keeps those it did not resolve (compacted
 * in place, so no array per source). Plain loops, not a loop taking a callback: each call site
 * then sees one callee, which V8 inlines.
 */
class Batch {
  readonly hits: (Hit | undefined)[];
  /** Indexes into `keys` (ascending by key when a level walk needs it); the first pendingCount are unresolved. */
  private readonly order: number[];
  pendingCount: number;
  private readonly key: PointKey;

  constructor(
    sources: PointSources,
    private readonly keys: readonly Uint8Array[],
    private readonly sequence: number,
    sorted: boolean,
  ) {
    this.hits = new Array<Hit | undefined>(keys.length).fill(undefined);
    this.order = sorted ? sortedIndexes(keys) : Array.from({ length: keys.length }, (_, index) => index);
    this.pendingCount = this.order.length;
    this.key = sources.pointKey();
  }

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

  askTable(sources: PointSources, table: Table): void {
    let kept = 0;
    for (let i = 0; i < this.pendingCount; i++) {
      const index = this.order[i]!;
      this.key.set(this.keys[index]!, this.sequence);
      const hit = sources.tableGet(table, this.key);
      if (hit === undefined) this.order[kept++] = index;
      else this.hits[index] = hit;
    }
    this.pendingCount = kept;
  }

  /**
   * A sorted level: keys ascend, so a table that ends before this key ends before every later
   * one, and each key's table is found by moving forward, not by a search per key.
   */
  askLevel(sources: PointSources, tables: readonly TableMeta[]): void {
    let kept = 0;
    let tableIndex = 0;
    for (let i = 0; i < this.pendingCount; i++) {
      const index = this.order[i]!;
      const key = this.keys[index]!;
      while (tableIndex < tables.length && compareUserKey(tables[tableIndex]!.largest, key) < 0) tableIndex++;
      const meta = tables[tableIndex];
      const inRange = meta !== undefined && compareUserKey(meta.smallest, key) <= 0;
      if (inRange) this.key.set(key, this.sequence);
      const hit = inRange ? sources.tableGet(sources.table(meta), this.key) : undefined;
      if (hit === undefined) this.order[kept++] = index;
      else this.hits[index] = hit;
    }
    this.pendingCount = kept;
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
