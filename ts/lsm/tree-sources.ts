/**
 * The inputs of an iterator's merge over the tree: a memtable, a level-0 table, or a whole
 * sorted level read as one source. Each refills a run and lets go of what it pinned. A table's
 * source is kept (one per table) for the next iterator that reads the table, so a seek allocates
 * no source per table: it restarts the one the last seek used.
 */
import { compareInternalKeys } from "../core/entry.ts";
import type { BlockCache } from "./cache.ts";
import type { BlockReader, Cursor, Run } from "../core/types.ts";
import type { MemtableSlot } from "./memtable-slot.ts";
import type { Table } from "./sstable.ts";
import { TableSource } from "./table-source.ts";

/** One input of an iterator's merge: refills a run, and lets go of what it pinned. */
export interface Source {
  fill(run: Run): number;
  release(): void;
}

/** What an iterator's memtable source copies out per fill: at first, and at most. */
const MEMTABLE_FILL_BYTES_FIRST = 2 * 1024;
const MEMTABLE_FILL_BYTES_MAX = 64 * 1024;

/** A memtable read from `start`; the slot stays allocated until the source is released. */
class MemtableSource implements Source {
  private readonly cursor: Cursor;
  // Small first (a seek reads a few entries), then doubling, as the iterator's merge does.
  private bytesTarget = MEMTABLE_FILL_BYTES_FIRST;

  constructor(
    private readonly slot: MemtableSlot,
    reverse: boolean,
    start: Uint8Array | undefined,
  ) {
    slot.readers++;
    this.cursor = slot.memtable.cursor(reverse, start);
  }

  fill(run: Run): number {
    const count = this.cursor.fill(run, this.bytesTarget);
    this.bytesTarget = Math.min(2 * this.bytesTarget, MEMTABLE_FILL_BYTES_MAX);
    return count;
  }

  release(): void {
    this.cursor.free();
    this.slot.release();
  }
}

export function memtableSource(slot: MemtableSlot, reverse: boolean, start: Uint8Array | undefined): Source {
  return new MemtableSource(slot, reverse, start);
}

/** Unpins a table an iterator pinned (TreeTables.unpin: deletes it once obsolete and unread). */
export type Unpin = (table: Table) => void;

/**
 * Each table's kept source. Keyed weakly: a table compacted away and closed takes its source
 * with it; the next seek finds the new version's tables and none of these. Entries stay (a
 * source in use is marked, not removed): a WeakMap that gains and loses keys on every seek
 * rehashes into new tables, garbage that outlives the seek.
 */
const keptSources = new WeakMap<Table, TableSource>();

/** A source over `table` from `start`: the table's kept one when no other iterator holds it. */
function takeTableSource(table: Table, reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>): TableSource {
  const kept = keptSources.get(table);
  if (kept !== undefined && !kept.inUse) {
    kept.restart(reverse, start);
    kept.inUse = true;
    return kept;
  }
  const source = new TableSource(table, reverse, start, cache);
  if (kept === undefined) keptSources.set(table, source);
  source.inUse = true;
  return source;
}

/** Gives `source` back: the kept one waits for the next iterator, another is dropped. */
function giveTableSource(source: TableSource): void {
  source.idle();
  source.inUse = false;
}

/** A level-0 table read from `start`, pinned until released. */
class Level0Source implements Source {
  constructor(
    private readonly source: TableSource,
    private readonly unpin: Unpin,
  ) {}

  fill(run: Run): number {
    return this.source.fill(run);
  }

  release(): void {
    giveTableSource(this.source);
    this.unpin(this.source.table);
  }
}

export function tableSource(table: Table, reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>, unpin: Unpin): Source {
  return new Level0Source(takeTableSource(table, reverse, start, cache), unpin);
}

/**
 * A sorted, non-overlapping level read as one source: its tables one after another, from the
 * one whose range holds `start` (found by binary search: a seek reads no table before it).
 */
class LevelSource implements Source {
  private index: number;
  private current: TableSource | undefined;

  constructor(
    /** The level's tables, pinned, in key order. */
    private readonly tables: Table[],
    private readonly reverse: boolean,
    private readonly start: Uint8Array | undefined,
    private readonly cache: BlockCache<BlockReader>,
    private readonly unpin: Unpin,
  ) {
    this.index = start === undefined ? (reverse ? tables.length - 1 : 0) : firstTableAt(tables, reverse, start);
  }

  fill(run: Run): number {
    const tables = this.tables;
    while (this.index >= 0 && this.index < tables.length) {
      this.current ??= takeTableSource(tables[this.index]!, this.reverse, this.start, this.cache);
      const count = this.current.fill(run);
      if (count > 0) return count;
      giveTableSource(this.current);
      this.current = undefined;
      this.index += this.reverse ? -1 : 1;
    }
    run.clear();
    return 0;
  }

  release(): void {
    if (this.current) giveTableSource(this.current);
    this.current = undefined;
    for (const table of this.tables) this.unpin(table);
  }
}

/**
 * Forward: the first table whose largest key is >= `start` (the ones before hold only smaller
 * keys). Reverse: the last table whose smallest key is <= `start`. Internal keys compare by
 * user key, then newest first, as the tables' own bounds do.
 */
function firstTableAt(tables: Table[], reverse: boolean, start: Uint8Array): number {
  let low = 0;
  let high = tables.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const meta = tables[middle]!.meta;
    const before = reverse ? compareInternalKeys(meta.smallest, start) <= 0 : compareInternalKeys(meta.largest, start) < 0;
    if (before) low = middle + 1;
    else high = middle;
  }
  return reverse ? low - 1 : low;
}

export function levelSource(tables: Table[], reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>, unpin: Unpin): Source {
  return new LevelSource(tables, reverse, start, cache, unpin);
}
