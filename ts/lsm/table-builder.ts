/**
 * Writing a table (layout in ts/lsm/sstable.ts, ts/format.ts and docs/FORMAT.md): runs pushed in
 * key order become packed data blocks (raw or LZ4, ts/lsm/table-block.ts), an index, a bloom
 * filter and the footer, written through a page buffer and synced on finish. Reading a table is
 * ts/lsm/sstable.ts.
 */
import { assert } from "../assert.ts";
import type { BlockBuilder, BloomBuilder, Core, Run } from "../core/types.ts";
import { BLOOM_BITS_PER_KEY, DATABASE_ID_BYTES, DATA_BLOCK_BYTES_TARGET, PAGE_SIZE, roundUpToPage, tableFileName, type Compression } from "../format.ts";
import { viewOf } from "../bytes.ts";
import { encodeFooter, type TableMeta } from "./sstable.ts";
import { encodeBlockHandle, encodeStoredBlock } from "./table-block.ts";
import type { Storage, StorageFile } from "../storage/io.ts";

/**
 * Writes a table file front to back through a buffer of WRITE_BUFFER_BYTES, so a table is never
 * held whole in memory. Data blocks are packed back to back; the index, filter and footer start
 * on page boundaries. Every write to the file is whole pages at a page-aligned offset.
 */
class PageWriter {
  private readonly buffer = new Uint8Array(WRITE_BUFFER_BYTES);
  private buffered = 0;
  /** File offset of the buffer's first byte (page-aligned: only whole pages are written). */
  private written = 0;
  /** Bytes appended so far: the offset of the next piece. */
  size = 0;

  constructor(private readonly file: StorageFile) {}

  /** Appends `bytes` right after the bytes before; returns the offset it starts at. */
  appendPacked(bytes: Uint8Array): number {
    const offset = this.size;
    let from = 0;
    while (from < bytes.length) {
      if (this.buffered === this.buffer.length) this.writeWholePages();
      const count = Math.min(bytes.length - from, this.buffer.length - this.buffered);
      this.buffer.set(bytes.subarray(from, from + count), this.buffered);
      this.buffered += count;
      this.size += count;
      from += count;
    }
    return offset;
  }

  /** Appends `bytes` on a page boundary, zero-padded to the next one; returns its offset. */
  append(bytes: Uint8Array): number {
    this.padToPage();
    const offset = this.appendPacked(bytes);
    this.padToPage();
    return offset;
  }

  private padToPage(): void {
    const padding = roundUpToPage(this.size) - this.size;
    if (padding > 0) this.appendPacked(ZERO_PAGE.subarray(0, padding));
  }

  /** Writes the buffered whole pages and keeps the partial last page buffered. */
  private writeWholePages(): void {
    const whole = this.buffered - (this.buffered % PAGE_SIZE);
    if (whole === 0) return;
    this.file.write(this.buffer.subarray(0, whole), this.written);
    this.buffer.copyWithin(0, whole, this.buffered);
    this.buffered -= whole;
    this.written += whole;
  }

  /** Writes everything; the size must be whole pages (the footer page ends every table). */
  flush(): void {
    assert(this.size % PAGE_SIZE === 0, "a table ends on a page boundary");
    this.writeWholePages();
  }
}

const WRITE_BUFFER_BYTES = 1024 * 1024;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/**
 * Builds one table from runs pushed in ascending internal-key order, in memory, then writes it
 * durably as file `fileNumber` on finish(). free() must follow either way.
 */
export class TableBuilder {
  private readonly dataBuilder: BlockBuilder;
  private readonly indexBuilder: BlockBuilder;
  private readonly bloom: BloomBuilder;
  private readonly file: StorageFile;
  private readonly writer: PageWriter;
  private finished = false;
  private entries = 0;
  private blocks = 0;
  private smallest: Uint8Array | undefined;
  private largest: Uint8Array | undefined;

  constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    readonly fileNumber: number,
    /** Written into the footer: the table belongs to this database (Manifest.databaseId). */
    private readonly databaseId: Uint8Array,
    /** Whether data blocks are LZ4-compressed where that pays (the `compression` option). */
    private readonly compression: Compression,
  ) {
    assert(databaseId.length === DATABASE_ID_BYTES, "a whole database id");
    this.file = storage.open(tableFileName(fileNumber), { create: true });
    this.file.truncate(0);
    this.writer = new PageWriter(this.file);
    this.dataBuilder = core.newBlockBuilder();
    this.indexBuilder = core.newBlockBuilder();
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
    const stored = encodeStoredBlock(this.core, this.dataBuilder.finish(), this.compression);
    this.writer.appendPacked(stored.bytes);
    this.indexBuilder.add(this.largest, encodeBlockHandle(stored.bytes.length, stored.rawLength));
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

  /** Writes the rest of the table (index, filter, footer) and syncs it; undefined if empty. */
  finish(): TableMeta | undefined {
    if (this.dataBuilder.count > 0) this.finishBlock();
    if (!this.smallest || !this.largest) return undefined;
    const index = this.indexBuilder.finish();
    const indexOffset = this.writer.append(index);
    const filter = this.bloom.finish(BLOOM_BITS_PER_KEY);
    const filterOffset = this.writer.append(filter);
    const filterChecksum = this.core.crc32cMask(this.core.crc32c(filter));
    const smallestKeyChecksum = this.core.crc32cMask(this.core.crc32c(this.smallest));
    this.writer.append(
      encodeFooter(this.core, {
        fileNumber: this.fileNumber,
        entries: this.entries,
        indexOffset,
        indexLength: index.length,
        filterOffset,
        filterLength: filter.length,
        blockCount: this.blocks,
        filterChecksum,
        smallestKeyChecksum,
        databaseId: this.databaseId,
      }),
    );
    this.writer.flush();
    this.file.sync();
    this.finished = true;
    return { fileNumber: this.fileNumber, size: this.writer.size, entries: this.entries, smallest: this.smallest, largest: this.largest };
  }

  /** Releases core memory and the file; a table not finished (or empty) is deleted. */
  free(): void {
    this.dataBuilder.free();
    this.indexBuilder.free();
    this.bloom.free();
    this.file.close();
    if (!this.finished) this.storage.remove(tableFileName(this.fileNumber));
  }
}

/** Room for an entry's three varints and its restart slot beyond its key and value bytes. */
const ENTRY_OVERHEAD_BYTES_MAX = 20;
