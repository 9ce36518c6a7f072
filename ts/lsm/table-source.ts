/**
 * A table's entries as a merge source: one block per run, in either direction, from a start key;
 * a seek's first block comes through the block cache, later blocks from it when it has them, and
 * a scan reads ahead (Readahead) the ones it does not.
 */
import { compareInternalKeys } from "../core/entry.ts";
import type { BlockReader, Cursor, Run } from "../core/types.ts";
import { locateCorruption } from "../errors.ts";
import type { BlockCache } from "./cache.ts";
import { Readahead, type Table } from "./sstable.ts";

/**
 * Feeds a merge with one table's entries, a block per run, in either direction, starting at the
 * first entry >= `start` (forward) or the last entry <= `start` (reverse).
 */
export class TableSource {
  private blockIndex: number;
  private started = false;
  /** Made on the first block read from the file: a seek that finds its blocks cached needs none. */
  private readahead: Readahead | undefined;

  constructor(
    private readonly table: Table,
    private readonly reverse: boolean,
    private readonly start: Uint8Array | undefined,
    /**
     * Where a seek's first block comes from: a seek that reads a few entries then finds it
     * cached, as a point read would, instead of paying a read (and a buffer) per table.
     */
    private readonly cache?: BlockCache<BlockReader>,
  ) {
    if (start === undefined) this.blockIndex = reverse ? table.blocks.length - 1 : 0;
    else this.blockIndex = Math.min(table.findBlock(start), reverse ? table.blocks.length - 1 : table.blocks.length);
  }

  /** Clears `run` and fills it with the next block's entries; 0 when the table is done. */
  fill(run: Run): number {
    while (this.blockIndex >= 0 && this.blockIndex < this.table.blocks.length) {
      const index = this.blockIndex;
      this.blockIndex += this.reverse ? -1 : 1;
      const seeking = !this.started && this.start !== undefined;
      // A block the cache has costs no read: a seek that runs into its next block finds it
      // there (peek neither counts nor marks it, so a long scan does not promote its blocks).
      const cachedBlock = seeking && this.cache ? this.table.cachedBlock(index, this.cache) : this.cache?.peek(this.table.cacheSlots, index);
      const cached = cachedBlock !== undefined;
      const block = cachedBlock ?? this.table.readBlock(index, (this.readahead ??= new Readahead(this.reverse)));
      let cursor: Cursor | undefined;
      try {
        this.started = true;
        // A cached reader stands wherever its last user left it: every block is positioned here.
        if (seeking ? !this.position(block, this.start!) : !(this.reverse ? block.last() : block.first())) continue;
        cursor = block.cursor(this.reverse);
        const count = cursor.fill(run, 0xffff_ffff); // the whole rest of the block
        if (count > 0) return count;
      } catch (error) {
        throw locateCorruption(error, this.table.name, this.table.blocks[index]!.offset);
      } finally {
        cursor?.free();
        if (!cached) block.free();
      }
    }
    run.clear();
    return 0;
  }

  /** Positions the first block at `start`; false if nothing in it is on the wanted side. */
  private position(block: BlockReader, start: Uint8Array): boolean {
    const found = block.seek(start);
    if (!this.reverse) return found;
    if (!found) return block.last();
    if (compareInternalKeys(block.key(), start) > 0) return block.prev();
    return true;
  }
}
