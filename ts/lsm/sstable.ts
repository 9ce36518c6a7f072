/**
 * Immutable sorted tables (layout in ts/format.ts, docs/FORMAT.md): packed data blocks built by
 * the core's block builder, each stored raw or LZ4-compressed (ts/lsm/table-block.ts), an index
 * block, one bloom filter over the table's user keys, and a footer page. A Table keeps its index
 * decoded in JS (for iterators and compactions) and, for point reads, a lookup in the core
 * holding its filter, its index's block keys and its cached blocks. Writing one is
 * ts/lsm/table-builder.ts.
 */
import { assert } from "../assert.ts";
import { bytesEqual, getUint64, magicBytes, setUint64, toHex, viewOf } from "../bytes.ts";
import { CacheSlots, type BlockCache } from "./cache.ts";
import { compareInternalKeys } from "../core/entry.ts";
import { LOOKUP_ABSENT, LOOKUP_BLOCKS_MAX, LOOKUP_BLOCK_SHIFT, LOOKUP_FOUND, POINT_INDEX_BYTES_PER_ENTRY, lookupBlockNeeded } from "../core/types.ts";
import type { BlockReader, Core, Hit, PointBatch, PointKey, TableLookup } from "../core/types.ts";
import { PgzError, corruption, locateCorruption } from "../errors.ts";
import {
  DATABASE_ID_BYTES,
  DATA_BLOCK_BYTES_TARGET,
  FOOTER_BYTES,
  FOOTER_FIELD_OFFSETS,
  FORMAT_VERSION,
  MAGIC_TABLE,
  PAGE_SIZE,
  tableFileName,
} from "../format.ts";
import { decodeBlockHandle, openStoredBlock, type BlockHandle } from "./table-block.ts";
import { LazyTableLookup } from "./table-lookup.ts";
import { blockPrefixesOf, startsWith, userKeyPrefix, type BlockPrefixes } from "./block-prefixes.ts";
import { readExactly, type HandleCache, type Storage, type StorageFile } from "../storage/io.ts";

export interface TableMeta {
  fileNumber: number;
  size: number;
  entries: number;
  /** Smallest and largest internal keys in the table. */
  smallest: Uint8Array;
  largest: Uint8Array;
}

/** The decoded fields of a table footer (layout in ts/format.ts, FOOTER_FIELD_OFFSETS). */
export interface TableFooter {
  fileNumber: number;
  entries: number;
  indexOffset: number;
  indexLength: number;
  filterOffset: number;
  filterLength: number;
  blockCount: number;
  filterChecksum: number;
  smallestKeyChecksum: number;
  /** The id of the database that wrote the table (DATABASE_ID_BYTES). */
  databaseId: Uint8Array;
}

const FIELD = FOOTER_FIELD_OFFSETS;

/** The footer page: magic, version, the fields at FOOTER_FIELD_OFFSETS, then its own CRC. */
export function encodeFooter(core: Core, footer: TableFooter): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const view = viewOf(page);
  page.set(magicBytes(MAGIC_TABLE), 0);
  view.setUint32(FIELD.version, FORMAT_VERSION, true);
  setUint64(view, FIELD.fileNumber, footer.fileNumber);
  setUint64(view, FIELD.entries, footer.entries);
  setUint64(view, FIELD.indexOffset, footer.indexOffset);
  setUint64(view, FIELD.filterOffset, footer.filterOffset);
  view.setUint32(FIELD.indexLength, footer.indexLength, true);
  view.setUint32(FIELD.filterLength, footer.filterLength, true);
  view.setUint32(FIELD.blockCount, footer.blockCount, true);
  view.setUint32(FIELD.filterChecksum, footer.filterChecksum, true);
  view.setUint32(FIELD.smallestKeyChecksum, footer.smallestKeyChecksum, true);
  page.set(footer.databaseId, FIELD.databaseId);
  view.setUint32(FIELD.checksum, core.crc32cMask(core.crc32c(page.subarray(0, FIELD.checksum))), true);
  return page;
}

/**
 * Decodes the FOOTER_BYTES at `footerOffset` (the last page) of table file `name`: checksum,
 * magic and version first, then that the index and filter lie before the footer. The one footer
 * decoder: Table.open and `pgz dump` both use it.
 */
export function decodeFooter(core: Core, bytes: Uint8Array, name: string, footerOffset: number): TableFooter {
  assert(bytes.length >= FOOTER_BYTES, "a whole footer");
  const view = viewOf(bytes);
  const stored = view.getUint32(FIELD.checksum, true);
  const actual = core.crc32cMask(core.crc32c(bytes.subarray(0, FIELD.checksum)));
  if (stored !== actual) throw corruption("table footer checksum mismatch", { file: name, offset: footerOffset, expected: stored, actual });
  if (!bytesEqual(bytes.subarray(0, 8), magicBytes(MAGIC_TABLE))) throw corruption("bad table magic", { file: name, offset: footerOffset });
  const version = view.getUint32(FIELD.version, true);
  if (version !== FORMAT_VERSION) throw corruption(`table format version ${version}; this pgz reads version ${FORMAT_VERSION}`, { file: name, offset: footerOffset + FIELD.version });
  const footer: TableFooter = {
    fileNumber: getUint64(view, FIELD.fileNumber),
    entries: getUint64(view, FIELD.entries),
    indexOffset: getUint64(view, FIELD.indexOffset),
    indexLength: view.getUint32(FIELD.indexLength, true),
    filterOffset: getUint64(view, FIELD.filterOffset),
    filterLength: view.getUint32(FIELD.filterLength, true),
    blockCount: view.getUint32(FIELD.blockCount, true),
    filterChecksum: view.getUint32(FIELD.filterChecksum, true),
    smallestKeyChecksum: view.getUint32(FIELD.smallestKeyChecksum, true),
    databaseId: bytes.slice(FIELD.databaseId, FIELD.databaseId + DATABASE_ID_BYTES),
  };
  for (const [offset, length] of [[footer.indexOffset, footer.indexLength], [footer.filterOffset, footer.filterLength]] as const) {
    if (offset % PAGE_SIZE !== 0 || offset + length > footerOffset) throw corruption("table footer points outside the file", { file: name, offset: footerOffset });
  }
  return footer;
}

/** Where the footer of a table of `size` bytes starts; corruption if the size is not whole pages. */
export function footerOffsetOf(size: number, name: string): number {
  if (size < PAGE_SIZE || size % PAGE_SIZE !== 0) throw corruption(`table size ${size} is not whole pages`, { file: name, offset: 0 });
  return size - PAGE_SIZE;
}

/**
 * Whether a table file (of the size the manifest records) is the one the manifest names
 * (`meta`) in this database (`databaseId`): its footer's database id, file number, entry count
 * and smallest key checksum, and the index's last key (the largest). A swapped or copied file
 * is corruption naming what differs.
 */
function checkIdentity(core: Core, meta: TableMeta, databaseId: Uint8Array, name: string, footer: TableFooter, largest: Uint8Array | undefined): void {
  const differs = (what: string, found: string | number, expected: string | number) =>
    corruption(`table is not the one the manifest names: ${what} ${found}, the manifest says ${expected}`, { file: name, offset: meta.size - PAGE_SIZE });
  if (!bytesEqual(footer.databaseId, databaseId)) {
    throw corruption(`table belongs to another database: its footer names database ${toHex(footer.databaseId)}, this one is ${toHex(databaseId)}`, {
      file: name,
      offset: meta.size - PAGE_SIZE + FIELD.databaseId,
    });
  }
  if (footer.fileNumber !== meta.fileNumber) throw differs("file number", footer.fileNumber, meta.fileNumber);
  if (footer.entries !== meta.entries) throw differs("entry count", footer.entries, meta.entries);
  const smallestKeyChecksum = core.crc32cMask(core.crc32c(meta.smallest));
  if (footer.smallestKeyChecksum !== smallestKeyChecksum) throw differs("smallest key checksum", footer.smallestKeyChecksum, smallestKeyChecksum);
  if (!largest || !bytesEqual(largest, meta.largest)) throw differs("largest key", largest ? toHex(largest) : "(none)", toHex(meta.largest));
}

let readScratch = new Uint8Array(2 * PAGE_SIZE);

const READAHEAD_BYTES = 256 * 1024;

/** A scan's window of data blocks read in one go (see Table.readBlock). */
export class Readahead {
  bytes = new Uint8Array(0);
  start = 0;
  length = 0;
  /** Bytes the next read brings in (grows as the scan goes on). */
  span = 0;
  constructor(readonly reverse: boolean) {}
}

/** An open table: its footer, decoded index and in-core lookup; data blocks come via the cache. */
export class Table {
  /** Open iterators and compactions reading this table; it is deleted once obsolete and unread. */
  readers = 0;
  /** Removed from the version by a compaction. */
  obsolete = false;
  private closed = false;
  /** This table's entries in the shared block cache. */
  readonly cacheSlots: CacheSlots<BlockReader>;
  /** Leading user-key bytes all block keys share (those of the first and last one share). */
  private readonly sharedPrefixBytes: number;
  /** userKeyPrefix of each block's last key after the shared bytes, for findBlock. */
  private readonly blockPrefixes: Float64Array;

  private constructor(
    private readonly core: Core,
    readonly meta: TableMeta,
    /** The database the table must belong to (verify checks it again). */
    private readonly databaseId: Uint8Array,
    readonly name: string,
    private readonly files: HandleCache,
    readonly blocks: BlockHandle[],
    readonly lazyLookup: LazyTableLookup,
    readonly entries: number,
    prefixes: BlockPrefixes,
  ) {
    // A block the cache lets go of leaves the lookup's slot before its reader is freed (a block
    // is cached only through cachedBlock, which opens the lookup first).
    this.cacheSlots = new CacheSlots<BlockReader>(blocks.length, (index) => {
      if (!this.closed) lazyLookup.ifOpen?.setBlock(index, undefined);
    });
    assert(prefixes.blockPrefixes.length === blocks.length, "a prefix per block");
    this.sharedPrefixBytes = prefixes.sharedPrefixBytes;
    this.blockPrefixes = prefixes.blockPrefixes;
  }

  /** Opens a table: footer, index and filter are read now; data blocks through `files`. */
  static open(core: Core, storage: Storage, meta: TableMeta, databaseId: Uint8Array, files: HandleCache): Table {
    const parts = readTableParts(core, storage, meta, databaseId);
    return Table.fromParts(core, meta, databaseId, files, parts, blockPrefixesOf(parts.blocks));
  }

  /**
   * A table from what readTableParts read and checked: here (open), or on the background
   * worker, which hands them over with the table it wrote (ts/lsm/table-image.ts), so this
   * thread reads and decodes nothing per block.
   */
  static fromParts(core: Core, meta: TableMeta, databaseId: Uint8Array, files: HandleCache, parts: TableParts, prefixes: BlockPrefixes, lazy = false): Table {
    const name = tableFileName(meta.fileNumber);
    const { footer, blocks, filterBytes, indexBytes } = parts;
    if (blocks.length >= LOOKUP_BLOCKS_MAX) throw corruption(`the index has ${blocks.length} blocks, more than a table may`, { file: name, offset: footer.indexOffset });
    const lookup = new LazyTableLookup(blocks.length, () => {
      try {
        return core.openTableLookup(filterBytes, indexBytes);
      } catch (error) {
        // The index was decoded and its size checked already: a bad filter is what is left.
        throw locateCorruption(error, name, footer.filterOffset);
      }
    });
    // Opened now unless the worker read the table back and checked it (ts/lsm/table-lookup.ts).
    if (!lazy) lookup.lookup;
    return new Table(core, meta, databaseId, name, files, blocks, lookup, footer.entries, prefixes);
  }

  /** The point-read lookup (opened by the first use of a lazy one); `lazyLookup.ifOpen` says whether it is open. */
  private get lookup(): TableLookup {
    return this.lazyLookup.lookup;
  }

  close(): void {
    this.closed = true;
    this.lazyLookup.free();
    this.files.drop(this.name);
  }

  /**
   * The data file, through the handle cache. Each time the cache opens it, the file proves again
   * that it is this table (size, footer): one replaced since open is corruption, not data.
   */
  private file(): StorageFile {
    return this.files.get(this.name, this.verifyHandle);
  }

  /** Made once per table: file() runs on every block read, and allocates nothing. */
  private readonly verifyHandle = (handle: StorageFile): void => {
    checkIdentity(this.core, this.meta, this.databaseId, this.name, readFooterOfSize(this.core, handle, this.meta, this.name), this.meta.largest);
  };

  /**
   * Reads and opens data block `index` (the caller frees it, or hands it to the cache). With a
   * readahead, one read brings in READAHEAD_BYTES of neighbouring blocks in the direction of a
   * scan, so iterators and compactions do not pay a syscall per 4 KiB block.
   */
  readBlock(index: number, readahead?: Readahead): BlockReader {
    const handle = this.blocks[index]!;
    let bytes: Uint8Array;
    if (readahead) {
      if (handle.offset < readahead.start || handle.offset + handle.length > readahead.start + readahead.length) this.fill(readahead, handle);
      bytes = readahead.bytes.subarray(handle.offset - readahead.start, handle.offset - readahead.start + handle.length);
    } else {
      // openBlock keeps its own copy, so one scratch buffer serves every read.
      if (readScratch.length < handle.length) readScratch = new Uint8Array(Math.max(handle.length, 2 * readScratch.length));
      bytes = readScratch.subarray(0, handle.length);
      const count = this.file().read(bytes, handle.offset);
      if (count !== handle.length) throw corruption(`data block truncated: wanted ${handle.length} bytes, got ${count}`, { file: this.name, offset: handle.offset });
    }
    try {
      return openStoredBlock(this.core, bytes, handle.rawLength);
    } catch (error) {
      throw locateCorruption(error, this.name, handle.offset);
    }
  }

  /** Loads the readahead window holding `handle`, extending in the scan's direction. */
  private fill(readahead: Readahead, handle: BlockHandle): void {
    const last = this.blocks[this.blocks.length - 1]!;
    const dataEnd = last.offset + last.length;
    // Adaptive, as the kernel's: a scan's first read takes one block (a seek that reads a few
    // entries pays for no more), then each read doubles, up to READAHEAD_BYTES.
    readahead.span = Math.min(READAHEAD_BYTES, readahead.span === 0 ? handle.length : readahead.span * 2);
    const span = Math.max(readahead.span, handle.length);
    const start = readahead.reverse ? Math.max(0, handle.offset + handle.length - span) : handle.offset;
    const end = readahead.reverse ? handle.offset + handle.length : Math.min(dataEnd, handle.offset + span);
    if (readahead.bytes.length < end - start) readahead.bytes = new Uint8Array(end - start);
    const count = this.file().read(readahead.bytes.subarray(0, end - start), start);
    if (count !== end - start) throw corruption(`data blocks truncated: wanted ${end - start} bytes, got ${count}`, { file: this.name, offset: start });
    readahead.start = start;
    readahead.length = end - start;
  }

  /** Block `index` through the cache: the cache owns it (never free it), valid within one synchronous call. */
  cachedBlock(index: number, cache: BlockCache<BlockReader>): BlockReader {
    let block = cache.get(this.cacheSlots, index);
    if (!block) {
      block = this.readBlock(index);
      // The cache holds decoded blocks: it is charged what the block takes decoded, and the
      // point index the table's lookup may build beside it.
      const handle = this.blocks[index]!;
      cache.set(this.cacheSlots, index, block, (handle.rawLength || handle.length) + block.count * POINT_INDEX_BYTES_PER_ENTRY);
      this.lookup.setBlock(index, block);
    }
    return block;
  }

  /** Index of the first block whose last key is >= `internalKey`, or blocks.length. */
  findBlock(internalKey: Uint8Array): number {
    // Compare 6-byte user-key prefixes (after the bytes every block key here shares) as numbers
    // first; only equal prefixes need the bytes. A key without the shared bytes is compared whole.
    const shared = this.sharedPrefixBytes;
    const usePrefix = startsWith(internalKey, this.blocks[0]!.lastKey, shared);
    const prefix = usePrefix ? userKeyPrefix(internalKey, shared) : 0;
    const prefixes = this.blockPrefixes;
    let low = 0;
    let high = this.blocks.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const blockPrefix = prefixes[middle]!;
      const less = usePrefix && blockPrefix !== prefix ? blockPrefix < prefix : compareInternalKeys(this.blocks[middle]!.lastKey, internalKey) < 0;
      if (less) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * The newest version of the point key's user key visible at its sequence in this table, if
   * any: one call into the core when the block is cached, else a read of it and a second call.
   */
  get(key: PointKey, cache: BlockCache<BlockReader>): Hit | undefined {
    let result = this.lookup.get(key);
    if (result < LOOKUP_ABSENT) {
      this.cachedBlock(lookupBlockNeeded(result), cache);
      result = this.lookup.get(key);
      assert(result >= LOOKUP_ABSENT, "a block just cached is in the lookup");
    } else if (result > LOOKUP_ABSENT) {
      cache.touch(this.cacheSlots, result >>> LOOKUP_BLOCK_SHIFT);
    }
    return result < 0 || (result & LOOKUP_FOUND) === 0 ? undefined : this.lookup.hit(result & 0xff);
  }

  /** TableLookup.getMany on this table (ts/lsm/read.ts drives it); the blocks of the slots found count as just read. */
  lookupMany(batch: PointBatch, from: number, to: number, retry: boolean, cache: BlockCache<BlockReader>): void {
    this.lookup.getMany(batch, from, to, retry);
    for (let i = 0; i < batch.foundCount; i++) cache.touch(this.cacheSlots, batch.hitBlock(batch.foundSlot(i)));
  }

  /**
   * For check(): that the file on disk now is still this table (as open checks it), then every
   * block's bytes and checksum, and that the entries run from the manifest's smallest key to its
   * largest; returns the problems found.
   */
  verify(storage: Storage): { offset: number; message: string }[] {
    try {
      readTableParts(this.core, storage, this.meta, this.databaseId);
    } catch (error) {
      if (!(error instanceof PgzError)) throw error;
      return [{ offset: error.offset ?? 0, message: error.message }];
    }
    const problems: { offset: number; message: string }[] = [];
    const readahead = new Readahead(false);
    let first: Uint8Array | undefined;
    let last: Uint8Array | undefined;
    let entries = 0;
    for (let index = 0; index < this.blocks.length; index++) {
      try {
        const block = this.readBlock(index, readahead);
        let count = 0;
        for (let valid = block.first(); valid; valid = block.next()) count++;
        if (count > 0) {
          block.first();
          first ??= block.key();
          block.last();
          last = block.key();
        }
        block.free();
        entries += count;
        if (count === 0) problems.push({ offset: this.blocks[index]!.offset, message: "empty data block" });
      } catch (error) {
        problems.push({ offset: this.blocks[index]!.offset, message: (error as Error).message });
      }
    }
    if (problems.length > 0) return problems;
    const differs = (what: string) => problems.push({ offset: 0, message: `the table's ${what} differs from the manifest's in ${this.name}` });
    if (entries !== this.meta.entries) differs(`entry count (${entries})`);
    if (!first || !bytesEqual(first, this.meta.smallest)) differs("smallest key");
    if (!last || !bytesEqual(last, this.meta.largest)) differs("largest key");
    return problems;
  }
}

/** The footer of table file `file`, once its size is the one the manifest records. */
function readFooterOfSize(core: Core, file: StorageFile, meta: TableMeta, name: string): TableFooter {
  const size = file.size();
  // A truncated or extended file is named as such before its footer page is looked for.
  if (size !== meta.size) throw corruption(`table is not the one the manifest names: size ${size}, the manifest says ${meta.size}`, { file: name, offset: 0 });
  const footerOffset = footerOffsetOf(size, name);
  return decodeFooter(core, readExactly(file, footerOffset, FOOTER_BYTES), name, footerOffset);
}

/** What an open table is made of, read from its file and checked (readTableParts). */
export interface TableParts {
  footer: TableFooter;
  blocks: BlockHandle[];
  filterBytes: Uint8Array;
  indexBytes: Uint8Array;
}

/**
 * Reads what an open table keeps (footer, index, filter bytes) from the file the manifest names,
 * checking every checksum and that the file is that table (checkIdentity).
 */
export function readTableParts(core: Core, storage: Storage, meta: TableMeta, databaseId: Uint8Array): TableParts {
  const name = tableFileName(meta.fileNumber);
  const file = storage.open(name);
  try {
    const footer = readFooterOfSize(core, file, meta, name);
    const indexBytes = readExactly(file, footer.indexOffset, footer.indexLength);
    const blocks = decodeIndex(core, indexBytes, name, footer.indexOffset, footer.indexOffset);
    checkIdentity(core, meta, databaseId, name, footer, blocks[blocks.length - 1]?.lastKey);
    if (blocks.length !== footer.blockCount) throw corruption(`the index has ${blocks.length} blocks, the footer says ${footer.blockCount}`, { file: name, offset: footer.indexOffset });
    const filterBytes = readExactly(file, footer.filterOffset, footer.filterLength);
    const filterActual = core.crc32cMask(core.crc32c(filterBytes));
    if (footer.filterChecksum !== filterActual) throw corruption("bloom filter checksum mismatch", { file: name, offset: footer.filterOffset, expected: footer.filterChecksum, actual: filterActual });
    return { footer, blocks, filterBytes, indexBytes };
  } finally {
    file.close();
  }
}

export function decodeIndex(core: Core, bytes: Uint8Array, name: string, offset: number, dataEnd: number): BlockHandle[] {
  let reader: BlockReader;
  try {
    reader = core.openBlock(bytes);
  } catch (error) {
    throw locateCorruption(error, name, offset);
  }
  try {
    const handles: BlockHandle[] = [];
    // Packed: each block starts where the one before it ends.
    let previousEnd = 0;
    for (let valid = reader.first(); valid; valid = reader.next()) {
      const handle = decodeBlockHandle(reader.key(), reader.value(), previousEnd);
      if (!handle) throw corruption("bad block handle in index", { file: name, offset });
      if (handle.offset + handle.length > dataEnd) throw corruption("index points outside the data blocks", { file: name, offset });
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

assert(DATA_BLOCK_BYTES_TARGET <= PAGE_SIZE, "data blocks target one page");
assert(FOOTER_BYTES === FOOTER_FIELD_OFFSETS.checksum + 4, "the footer ends with its checksum");
assert(FOOTER_BYTES <= PAGE_SIZE, "the footer fits its page");
