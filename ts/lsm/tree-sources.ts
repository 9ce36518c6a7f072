/**
 * The inputs of an iterator's merge over the tree: a memtable, a level-0 table, or a whole
 * sorted level read as one source. Each refills a run and lets go of what it pinned.
 */
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
export function memtableSource(slot: MemtableSlot, reverse: boolean, start: Uint8Array | undefined): Source {
  slot.readers++;
  const cursor: Cursor = slot.memtable.cursor(reverse, start);
  // Small first (a seek reads a few entries), then doubling, as the iterator's merge does.
  let bytesTarget = MEMTABLE_FILL_BYTES_FIRST;
  return {
    fill: (run) => {
      const count = cursor.fill(run, bytesTarget);
      bytesTarget = Math.min(2 * bytesTarget, MEMTABLE_FILL_BYTES_MAX);
      return count;
    },
    release: () => {
      cursor.free();
      slot.release();
    },
  };
}

export function tableSource(table: Table, reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>, release: () => void): Source {
  const source = new TableSource(table, reverse, start, cache);
  return { fill: (run) => source.fill(run), release };
}

/** A sorted, non-overlapping level read as one source: its tables one after another. */
export function levelSource(tables: Table[], reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>, release: () => void): Source {
  const order = reverse ? [...tables].reverse() : tables;
  let index = 0;
  let current: TableSource | undefined;
  return {
    fill(run) {
      while (index < order.length) {
        current ??= new TableSource(order[index]!, reverse, start, cache);
        const count = current.fill(run);
        if (count > 0) return count;
        current = undefined;
        index++;
      }
      run.clear();
      return 0;
    },
    release,
  };
}
