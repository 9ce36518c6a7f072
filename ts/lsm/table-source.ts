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
 * What a seek copies out of its first block at first: a few entries, not the rest of the block
 * (a seek that reads 11 entries over three tables needs about four from each). The rest follows
 * if the merge asks for it.
 */
const SEEK_FILL_BYTES_FIRST = 1024;

/**
 * Feeds a merge with one table's entries, a block per run, in either direction, starting at the
 * first entry >= `start` (forward) or the last entry <= `start` (reverse). restart() points it
 * at another start, so an iterator's sources are kept for the next seek (ts/lsm/tree-sources.ts).
 */
export class TableSource {
  /** Taken by an iterator (ts/lsm/tree-sources.ts keeps one source per table for the next). */
  inUse = false;
  private blockIndex = 0;
  private started = false;
  private reverse = false;
  private start: Uint8Array | undefined;
  /** Made on the first block read from the file: a seek that finds its blocks cached needs none. */
  private readahead: Readahead | undefined;
  /**
   * The seek's first block while it has entries the merge has not had yet: the cursor, the
   * cached reader it reads, the block's number and how many entries it gave.
   */
  private firstCursor: Cursor | undefined;
  private firstBlock: BlockReader | undefined;
  private firstIndex = 0;
  private firstTaken = 0;

  constructor(
    readonly table: Table,
    reverse: boolean,
    start: Uint8Array | undefined,
    /**
     * Where a seek's first block comes from: a seek that reads a few entries then finds it
     * cached, as a point read would, instead of paying a read (and a buffer) per table.
     */
    private readonly cache?: BlockCache<BlockReader>,
  ) {
    this.restart(reverse, start);
  }

  /** Starts over at `start` in the given direction, as a new source would. */
  restart(reverse: boolean, start: Uint8Array | undefined): void {
    const table = this.table;
    this.reverse = reverse;
    this.start = start;
    this.started = false;
    this.readahead = undefined;
    this.dropFirstCursor();
    if (start === undefined) this.blockIndex = reverse ? table.blocks.length - 1 : 0;
    else this.blockIndex = Math.min(table.findBlock(start), reverse ? table.blocks.length - 1 : table.blocks.length);
  }

  /** Lets go of what the last use kept (its start key and read-ahead buffer) while it waits for the next. */
  idle(): void {
    this.dropFirstCursor();
    this.start = undefined;
    this.readahead = undefined;
    this.blockIndex = -1;
  }

  /** Clears `run` and fills it with the next block's entries; 0 when the table is done. */
  fill(run: Run): number {
    if (this.firstCursor) {
      const count = this.fillRestOfFirst(run);
      if (count > 0) return count;
    }
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
        // A seek's first block (cached): a few entries now, and the cursor kept for the rest.
        const first = seeking && cached;
        const count = cursor.fill(run, first ? SEEK_FILL_BYTES_FIRST : 0xffff_ffff);
        if (count === 0) continue;
        if (first) {
          this.firstCursor = cursor;
          this.firstBlock = block;
          this.firstIndex = index;
          this.firstTaken = count;
          cursor = undefined; // kept, not freed: fillRestOfFirst frees it
        }
        return count;
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

  /** The rest of the seek's first block after what its first fill took; 0 if nothing is left. */
  private fillRestOfFirst(run: Run): number {
    try {
      // Between two fills the caller may read other blocks, and the cache evict (and free) this
      // one: its cursor would read freed memory. Then the block is taken again and walked past
      // the entries already given (a table's blocks never change).
      if (this.cache!.peek(this.table.cacheSlots, this.firstIndex) !== this.firstBlock) this.reopenFirst();
      return this.firstCursor ? this.firstCursor.fill(run, 0xffff_ffff) : 0;
    } catch (error) {
      throw locateCorruption(error, this.table.name, this.table.blocks[this.firstIndex]!.offset);
    } finally {
      this.dropFirstCursor();
    }
  }

  private reopenFirst(): void {
    const taken = this.firstTaken;
    this.dropFirstCursor();
    const block = this.table.cachedBlock(this.firstIndex, this.cache!);
    if (!this.position(block, this.start!)) return;
    for (let skipped = 0; skipped < taken; skipped++) if (!(this.reverse ? block.prev() : block.next())) return;
    this.firstCursor = block.cursor(this.reverse);
    this.firstBlock = block;
  }

  private dropFirstCursor(): void {
    this.firstCursor?.free();
    this.firstCursor = undefined;
    this.firstBlock = undefined;
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
