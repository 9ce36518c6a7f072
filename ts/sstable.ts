/**
 * Immutable sorted tables (layout in ts/format.ts, docs/FORMAT.md): page-aligned data blocks
 * built by the core's block builder, an index block, one bloom filter over the table's user
 * keys, and a footer page. A Table keeps its index decoded in JS and its filter in the core.
 */
import { assert } from "./assert.ts";
import { bytesEqual, getUint64, magicBytes, setUint64, viewOf } from "./bytes.ts";
import { CacheSlots, type BlockCache } from "./cache.ts";
import { compareInternalKeys, hasUserKey, kindOf, sequenceOf } from "./core/entry.ts";
import type { BlockBuilder, BlockReader, BloomBuilder, BloomFilter, Core, Cursor, Run } from "./core/types.ts";
import { corruption, locateCorruption } from "./errors.ts";
import { TRAILER_BYTES } from "./core/types.ts";
import {
  BLOCK_HANDLE_BYTES,
  BLOOM_BITS_PER_KEY,
  DATA_BLOCK_BYTES_TARGET,
  FOOTER_BYTES,
  FORMAT_VERSION,
  MAGIC_TABLE,
  PAGE_SIZE,
  roundUpToPage,
  tableFileName,
} from "./format.ts";
import { readExactly, type Storage, type StorageFile } from "./io.ts";

export interface TableMeta {
  fileNumber: number;
  size: number;
  entries: number;
  /** Smallest and largest internal keys in the table. */
  smallest: Uint8Array;
  largest: Uint8Array;
}

interface BlockHandle {
  lastKey: Uint8Array;
  offset: number;
  length: number;
}

/** Collects page-padded pieces of a table file in order. */
class PageWriter {
  readonly pieces: Uint8Array[] = [];
  size = 0;

  /** Appends `bytes` padded to a page boundary; returns the offset it starts at. */
  append(bytes: Uint8Array): number {
    const offset = this.size;
    this.pieces.push(bytes);
    const padded = roundUpToPage(bytes.length);
    if (padded > bytes.length) this.pieces.push(new Uint8Array(padded - bytes.length));
    this.size += padded;
    return offset;
  }

  concat(): Uint8Array {
    const all = new Uint8Array(this.size);
    let offset = 0;
    for (const piece of this.pieces) {
      all.set(piece, offset);
      offset += piece.length;
    }
    return all;
  }
}

function encodeBlockHandle(offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(BLOCK_HANDLE_BYTES);
  const view = viewOf(bytes);
  setUint64(view, 0, offset);
  view.setUint32(8, length, true);
  return bytes;
}

function encodeFooter(core: Core, fields: { index: [number, number]; filter: [number, number]; filterChecksum: number; entries: number; blocks: number }): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const view = viewOf(page);
  page.set(magicBytes(MAGIC_TABLE), 0);
  view.setUint32(8, FORMAT_VERSION, true);
  setUint64(view, 16, fields.index[0]);
  view.setUint32(24, fields.index[1], true);
  setUint64(view, 28, fields.filter[0]);
  view.setUint32(36, fields.filter[1], true);
  setUint64(view, 40, fields.entries);
  view.setUint32(48, fields.blocks, true);
  view.setUint32(52, fields.filterChecksum, true);
  view.setUint32(56, core.crc32cMask(core.crc32c(page.subarray(0, 56))), true);
  return page;
}

/**
 * Builds one table from runs pushed in ascending internal-key order, in memory, then writes it
 * durably as file `fileNumber` on finish(). free() must follow either way.
 */
export class TableBuilder {
  private readonly dataBuilder: BlockBuilder;
  private readonly indexBuilder: BlockBuilder;
  private readonly bloom: BloomBuilder;
  private readonly writer = new PageWriter();
  private entries = 0;
  private blocks = 0;
  private smallest: Uint8Array | undefined;
  private largest: Uint8Array | undefined;

  constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    readonly fileNumber: number,
  ) {
    this.dataBuilder = core.newBlockBuilder();
    this.indexBuilder = core.newBlockBuilder(1);
    this.bloom = core.newBloomBuilder();
  }

  /** Bytes the table would have if finished now (data so far; index and filter are small). */
  get estimatedBytes(): number {
    return this.writer.size + this.dataBuilder.sizeEstimate;
  }

  get entryCount(): number {
    return this.entries;
  }

  private finishBlock(): void {
    this.largest = this.dataBuilder.lastKey();
    const block = this.dataBuilder.finish();
    const offset = this.writer.append(block);
    this.indexBuilder.add(this.largest, encodeBlockHandle(offset, block.length));
    this.blocks++;
  }

  /** Adds every entry of `run` (ascending, after everything added before). */
  addRun(run: Run): void {
    const count = run.count;
    if (count === 0) return;
    const bytes = run.bytes();
    const view = viewOf(bytes);
    const keyLength = view.getUint32(0, true);
    const entryBytes = keyLength + view.getUint32(4, true);
    this.smallest ??= bytes.slice(8, 8 + keyLength);
    // A block takes at least one entry per addFromRun call: close a nearly full block first so
    // the run's first entry does not push it past one page.
    if (this.dataBuilder.count > 0 && this.dataBuilder.sizeEstimate + entryBytes + ENTRY_OVERHEAD_BYTES_MAX > DATA_BLOCK_BYTES_TARGET) this.finishBlock();
    let from = 0;
    while (from < count) {
      const to = this.dataBuilder.addFromRun(run, from, DATA_BLOCK_BYTES_TARGET);
      this.bloom.addFromRun(run, from, to);
      this.entries += to - from;
      if (to < count) this.finishBlock();
      from = to;
    }
  }

  /** Writes the table (data, index, filter, footer) and syncs it; undefined if it is empty. */
  finish(): TableMeta | undefined {
    if (this.dataBuilder.count > 0) this.finishBlock();
    if (!this.smallest || !this.largest) return undefined;
    const index = this.indexBuilder.finish();
    const indexOffset = this.writer.append(index);
    const filter = this.bloom.finish(BLOOM_BITS_PER_KEY);
    const filterOffset = this.writer.append(filter);
    const filterChecksum = this.core.crc32cMask(this.core.crc32c(filter));
    this.writer.append(
      encodeFooter(this.core, { index: [indexOffset, index.length], filter: [filterOffset, filter.length], filterChecksum, entries: this.entries, blocks: this.blocks }),
    );
    const file = this.storage.open(tableFileName(this.fileNumber), { create: true });
    try {
      file.truncate(0);
      file.write(this.writer.concat(), 0);
      file.sync();
    } finally {
      file.close();
    }
    return { fileNumber: this.fileNumber, size: this.writer.size, entries: this.entries, smallest: this.smallest, largest: this.largest };
  }

  free(): void {
    this.dataBuilder.free();
    this.indexBuilder.free();
    this.bloom.free();
  }
}

/** Room for an entry's three varints and its restart slot beyond its key and value bytes. */
const ENTRY_OVERHEAD_BYTES_MAX = 20;

/**
 * Builds a table from runs (`fill` clears and refills `run`, returning 0 at the end) and
 * writes it durably. Returns undefined if the source was empty (no file is written).
 */
export function writeTable(core: Core, storage: Storage, fileNumber: number, fill: (run: Run) => number): TableMeta | undefined {
  const run = core.newRun(256 * 1024);
  const builder = new TableBuilder(core, storage, fileNumber);
  try {
    while (fill(run) > 0) builder.addRun(run);
    return builder.finish();
  } finally {
    run.free();
    builder.free();
  }
}

export interface TableHit {
  kind: number;
  sequence: number;
  value: Uint8Array;
}

/** An open table: its footer, decoded index and in-core filter; data blocks come via the cache. */
/**
 * The first 6 bytes of an internal key's user key as a number (big-endian, zero-padded: exact
 * in a double and order-preserving, so a prefix difference decides a comparison).
 */
function userKeyPrefix(internalKey: Uint8Array): number {
  const length = internalKey.length - TRAILER_BYTES;
  let prefix = 0;
  for (let i = 0; i < 6; i++) prefix = prefix * 256 + (i < length ? internalKey[i]! : 0);
  return prefix;
}

let readScratch = new Uint8Array(2 * PAGE_SIZE);

export class Table {
  /** Open iterators and compactions reading this table; it is deleted once obsolete and unread. */
  readers = 0;
  /** Removed from the version by a compaction. */
  obsolete = false;
  /** This table's entries in the shared block cache. */
  readonly cacheSlots = new CacheSlots<BlockReader>();
  /** userKeyPrefix of each block's last key, for findBlock. */
  private readonly blockPrefixes: Float64Array;

  private constructor(
    private readonly core: Core,
    readonly meta: TableMeta,
    readonly name: string,
    private readonly file: StorageFile,
    readonly blocks: BlockHandle[],
    private readonly filter: BloomFilter,
    readonly entries: number,
  ) {
    this.blockPrefixes = Float64Array.from(blocks, (block) => userKeyPrefix(block.lastKey));
  }

  static open(core: Core, storage: Storage, meta: TableMeta): Table {
    const name = tableFileName(meta.fileNumber);
    const file = storage.open(name);
    try {
      const size = file.size();
      if (size < PAGE_SIZE || size % PAGE_SIZE !== 0) throw corruption(`table size ${size} is not whole pages`, { file: name, offset: 0 });
      const footerOffset = size - PAGE_SIZE;
      const footer = readExactly(file, footerOffset, FOOTER_BYTES);
      const view = viewOf(footer);
      const stored = view.getUint32(56, true);
      const actual = core.crc32cMask(core.crc32c(footer.subarray(0, 56)));
      if (stored !== actual) throw corruption("table footer checksum mismatch", { file: name, offset: footerOffset, expected: stored, actual });
      if (!bytesEqual(footer.subarray(0, 8), magicBytes(MAGIC_TABLE))) throw corruption("bad table magic", { file: name, offset: footerOffset });
      if (view.getUint32(8, true) !== FORMAT_VERSION) throw corruption("unsupported table format version", { file: name, offset: footerOffset + 8 });
      const indexOffset = getUint64(view, 16);
      const indexLength = view.getUint32(24, true);
      const filterOffset = getUint64(view, 28);
      const filterLength = view.getUint32(36, true);
      const entries = getUint64(view, 40);
      for (const [offset, length] of [[indexOffset, indexLength], [filterOffset, filterLength]] as const) {
        if (offset % PAGE_SIZE !== 0 || offset + length > footerOffset) throw corruption("table footer points outside the file", { file: name, offset: footerOffset });
      }
      const blocks = decodeIndex(core, readExactly(file, indexOffset, indexLength), name, indexOffset, indexOffset);
      const filterBytes = readExactly(file, filterOffset, filterLength);
      const filterStored = view.getUint32(52, true);
      const filterActual = core.crc32cMask(core.crc32c(filterBytes));
      if (filterStored !== filterActual) throw corruption("bloom filter checksum mismatch", { file: name, offset: filterOffset, expected: filterStored, actual: filterActual });
      let filter: BloomFilter;
      try {
        filter = core.openBloom(filterBytes);
      } catch (error) {
        throw locateCorruption(error, name, filterOffset);
      }
      return new Table(core, meta, name, file, blocks, filter, entries);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  close(): void {
    this.filter.free();
    this.file.close();
  }

  /** Reads and opens data block `index` (the caller frees it, or hands it to the cache). */
  readBlock(index: number): BlockReader {
    const handle = this.blocks[index]!;
    // openBlock keeps its own copy, so one scratch buffer serves every read.
    if (readScratch.length < handle.length) readScratch = new Uint8Array(Math.max(handle.length, 2 * readScratch.length));
    const bytes = readScratch.subarray(0, handle.length);
    const count = this.file.read(bytes, handle.offset);
    if (count !== handle.length) throw corruption(`data block truncated: wanted ${handle.length} bytes, got ${count}`, { file: this.name, offset: handle.offset });
    try {
      return this.core.openBlock(bytes);
    } catch (error) {
      throw locateCorruption(error, this.name, handle.offset);
    }
  }

  private cachedBlock(index: number, cache: BlockCache<BlockReader>): BlockReader {
    let block = cache.get(this.cacheSlots, index);
    if (!block) {
      block = this.readBlock(index);
      cache.set(this.cacheSlots, index, block, this.blocks[index]!.length);
    }
    return block;
  }

  /** Index of the first block whose last key is >= `internalKey`, or blocks.length. */
  findBlock(internalKey: Uint8Array): number {
    // Compare 6-byte user-key prefixes as numbers first; only equal prefixes need the bytes.
    const prefix = userKeyPrefix(internalKey);
    const prefixes = this.blockPrefixes;
    let low = 0;
    let high = this.blocks.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const blockPrefix = prefixes[middle]!;
      const less = blockPrefix !== prefix ? blockPrefix < prefix : compareInternalKeys(this.blocks[middle]!.lastKey, internalKey) < 0;
      if (less) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * The newest version of `userKey` visible at the sequence in `target` (its seekKey) in this
   * table, if any.
   */
  get(userKey: Uint8Array, target: Uint8Array, cache: BlockCache<BlockReader>): TableHit | undefined {
    if (!this.filter.mayContain(userKey)) return undefined;
    const index = this.findBlock(target);
    if (index >= this.blocks.length) return undefined;
    const block = this.cachedBlock(index, cache);
    try {
      if (!block.seek(target)) return undefined;
      const key = block.key();
      if (!hasUserKey(key, userKey)) return undefined;
      return { kind: kindOf(key), sequence: sequenceOf(key), value: block.value() };
    } catch (error) {
      throw locateCorruption(error, this.name, this.blocks[index]!.offset);
    }
  }

  /** Every block's bytes and checksum, for check(); returns problems found. */
  verify(): { offset: number; message: string }[] {
    const problems: { offset: number; message: string }[] = [];
    for (let index = 0; index < this.blocks.length; index++) {
      try {
        const block = this.readBlock(index);
        let count = 0;
        for (let valid = block.first(); valid; valid = block.next()) count++;
        block.free();
        if (count === 0) problems.push({ offset: this.blocks[index]!.offset, message: "empty data block" });
      } catch (error) {
        problems.push({ offset: this.blocks[index]!.offset, message: (error as Error).message });
      }
    }
    return problems;
  }
}

function decodeIndex(core: Core, bytes: Uint8Array, name: string, offset: number, dataEnd: number): BlockHandle[] {
  let reader: BlockReader;
  try {
    reader = core.openBlock(bytes);
  } catch (error) {
    throw locateCorruption(error, name, offset);
  }
  try {
    const handles: BlockHandle[] = [];
    let previousEnd = 0;
    for (let valid = reader.first(); valid; valid = reader.next()) {
      const value = reader.value();
      if (value.length !== BLOCK_HANDLE_BYTES) throw corruption("bad block handle in index", { file: name, offset });
      const view = viewOf(value);
      const handle = { lastKey: reader.key(), offset: getUint64(view, 0), length: view.getUint32(8, true) };
      if (handle.offset < previousEnd || handle.offset % PAGE_SIZE !== 0 || handle.offset + handle.length > dataEnd) {
        throw corruption("index points outside the data blocks", { file: name, offset });
      }
      previousEnd = handle.offset + handle.length;
      handles.push(handle);
    }
    return handles;
  } catch (error) {
    throw locateCorruption(error, name, offset);
  } finally {
    reader.free();
  }
}

/**
 * Feeds a merge with one table's entries, a block per run, in either direction, starting at the
 * first entry >= `start` (forward) or the last entry <= `start` (reverse).
 */
export class TableSource {
  private blockIndex: number;
  private started = false;

  constructor(
    private readonly table: Table,
    private readonly reverse: boolean,
    private readonly start: Uint8Array | undefined,
  ) {
    if (start === undefined) this.blockIndex = reverse ? table.blocks.length - 1 : 0;
    else this.blockIndex = Math.min(table.findBlock(start), reverse ? table.blocks.length - 1 : table.blocks.length);
  }

  /** Clears `run` and fills it with the next block's entries; 0 when the table is done. */
  fill(run: Run): number {
    while (this.blockIndex >= 0 && this.blockIndex < this.table.blocks.length) {
      const index = this.blockIndex;
      this.blockIndex += this.reverse ? -1 : 1;
      const block = this.table.readBlock(index);
      let cursor: Cursor | undefined;
      try {
        if (!this.started && this.start !== undefined && !this.position(block, this.start)) {
          this.started = true;
          continue;
        }
        this.started = true;
        if (!block.valid && !(this.reverse ? block.last() : block.first())) continue;
        cursor = block.cursor(this.reverse);
        const count = cursor.fill(run, 0xffff_ffff); // the whole rest of the block
        if (count > 0) return count;
      } catch (error) {
        throw locateCorruption(error, this.table.name, this.table.blocks[index]!.offset);
      } finally {
        cursor?.free();
        block.free();
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

assert(DATA_BLOCK_BYTES_TARGET <= PAGE_SIZE, "data blocks target one page");
