/**
 * The value log, which is also the write-ahead log: numbered segment files of CRC'd records
 * packed into pages (byte layout in ts/format.ts and docs/FORMAT.md). Every write, whatever
 * the durability, goes here first; the memtable then holds each value inline or as a
 * ValuePointer to its record.
 */
import { assert } from "../assert.ts";
import { setUint64 } from "../bytes.ts";
import { copyOfLogValue } from "../core/slab.ts";
import { READ_BUFFER_BYTES_MAX, type Core } from "../core/types.ts";
import { PgzError, corruption, invalidArgument } from "../errors.ts";
import {
  PADDING_MARKER_BYTES,
  PAGE_SIZE,
  RECORD_BYTES_MAX,
  RECORD_DELETE,
  RECORD_FLAG_BATCH_END,
  RECORD_HEADER_BYTES,
  RECORD_PADDING,
  RECORD_PUT,
  SEGMENT_FILE_BYTES_MAX,
  SEGMENT_HEADER_BYTES,
  roundUpToPage,
  segmentFileName,
} from "../format.ts";
import type { HandleCache, Storage, StorageFile } from "../storage/io.ts";
import { checkSegmentHeader, checkedRecordValue, encodeSegmentHeader, recordStart, type LogOperation, type ValuePointer } from "./record.ts";

/**
 * Records up to this long (a 4 KiB value, key and header) are read into the core's reused read
 * buffer and their value copied into a slab; longer ones into a buffer of their own, handed out as
 * a view (bench:peers on this machine: 4 KiB values read faster the first way, 64 KiB the second).
 */
const REUSED_READ_RECORD_BYTES_MAX = 5 * 1024;

/** How far a write goes before the call returns. */
export type Durability = "sync" | "os" | "buffered";

export interface LogPosition {
  segment: number;
  offset: number;
}

/**
 * Bytes appended between the fdatasyncs the log starts on the thread pool by itself (as
 * RocksDB's wal_bytes_per_sync): sealing a full segment syncs it on the caller's thread, and
 * with these behind it that sync has at most this much left to write (it took 56-76 ms with
 * the whole 64 MiB segment dirty). Each costs a padding record of under a page.
 */
const SYNC_BEHIND_BYTES = 1024 * 1024;

export interface ValueLogOptions {
  segmentBytes: number;
  /** In "buffered" durability, bytes kept in user space before they are written. */
  bufferedBytes: number;
  allocateFileNumber: () => number;
  /** Read handles, shared with the tables. */
  files: HandleCache;
  /** Written into every segment header and checked at a segment's first read (Manifest.databaseId). */
  databaseId: Uint8Array;
  /** Told of each segment started, before its header is written (log accounting counts it from zero). */
  segmentStarted: (segment: number) => void;
  /** With the worker: asks it for a sync-behind fdatasync of `segment` (its appended pages are with the OS). */
  syncBehind?: (segment: number) => void;
}

export interface AppendResult {
  segment: number;
  /**
   * Record offset and length of each operation, in order: views of arrays the log reuses, valid
   * until its next append (the caller reads them right away; fresh arrays per batch were garbage).
   */
  offsets: Uint32Array;
  lengths: Uint32Array;
}

/**
 * Appends batches to the newest segment and reads values back by pointer. The bytes not yet
 * known to be in the OS live in `pending`, which always starts at a page boundary: each write
 * sends the pages [pendingStart, end) and keeps the last partial page for the next one.
 */
export class ValueLog {
  private segment = 0;
  private file: StorageFile | undefined;
  private pending = new Uint8Array(PAGE_SIZE * 64);
  /** append()'s per-record offsets, lengths, CRC ranges and CRCs (recordScratch). */
  private recordArrays = recordArrays(1024);
  private pendingStart = 0;
  /** The logical end of the log: where the next record goes. */
  private end = 0;
  /** Bytes of `pending` already handed to the OS (as of the last write). */
  private writtenEnd = 0;
  /**
   * How far the current segment was durable at the last fdatasync that completed: the next
   * padding record's sync marker claims it (never a sync still in flight).
   */
  private syncedEnd = 0;
  /** The log's end when the last fdatasync (of either kind) started in the current segment. */
  private syncStartedEnd = 0;
  /** Segments known to exist (their handles live in the shared HandleCache). */
  private readonly readers = new Set<number>();
  private failed: PgzError | undefined;
  /** Callers of requestSync() not yet covered by a sync that has started. */
  private syncWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** Files of sealed segments waiting for the fdatasync in flight before they close. */
  private readonly filesToClose: StorageFile[] = [];
  /** Callers covered by the fdatasync in flight. */
  private syncingWaiters: { resolve: () => void; reject: (error: unknown) => void }[] | undefined;
  bytesWritten = 0;
  syncs = 0;

  constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    private readonly options: ValueLogOptions,
  ) {}

  get position(): LogPosition {
    return { segment: this.segment, offset: recordStart(this.end) };
  }

  /**
   * How far the log is durable (survives power loss): the current segment up to the last
   * completed fdatasync; every earlier segment was synced whole when it was sealed.
   */
  get durablePosition(): LogPosition {
    return { segment: this.segment, offset: this.syncedEnd };
  }

  get currentSegment(): number {
    return this.segment;
  }

  /**
   * Starts a fresh segment (at open, and when the current one is full): the old one is synced
   * first, and the new one's header page is written and synced before the directory entry, so
   * no crash leaves a segment without a valid header. Records start on the next page, so the
   * synced header page is never rewritten.
   */
  startSegment(): void {
    // Allocated first: if the counter is exhausted, the current segment stays usable.
    const segment = this.options.allocateFileNumber();
    if (this.file) {
      this.write(true);
      // An fdatasync may still be in flight on the old file: close it when that settles.
      if (this.syncingWaiters) this.filesToClose.push(this.file);
      else this.file.close();
      this.file = undefined;
    }
    this.segment = segment;
    this.syncedEnd = 0;
    this.syncStartedEnd = 0;
    this.options.segmentStarted(this.segment);
    this.file = this.storage.open(segmentFileName(this.segment), { create: true });
    this.file.truncate(0);
    this.pending.fill(0);
    this.pending.set(encodeSegmentHeader(this.core, this.segment, this.options.databaseId), 0);
    this.pendingStart = 0;
    this.end = SEGMENT_HEADER_BYTES;
    this.writtenEnd = 0;
    this.write(true);
    this.storage.syncDirectory();
  }

  private ensureCapacity(bytes: number): void {
    const needed = bytes - this.pendingStart;
    if (needed <= this.pending.length) return;
    let capacity = this.pending.length;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.pending.subarray(0, this.end - this.pendingStart));
    this.pending = grown;
  }

  get hasFailed(): boolean {
    return this.failed !== undefined;
  }

  /** Fails every later write after a failed write or fsync, until the database is reopened. */
  private checkUsable(): void {
    if (this.failed) throw new PgzError("PGZ_IO", `the value log failed earlier (${this.failed.message}); reopen the database`, { cause: this.failed });
  }

  /**
   * Appends one batch (records with consecutive sequences from `firstSequence`, the last one
   * flagged BATCH_END) and makes it as durable as `durability` asks before returning.
   */
  append(operations: readonly LogOperation[], firstSequence: number, durability: Durability): AppendResult {
    this.checkUsable();
    assert(operations.length > 0, "empty batch");
    let size = 0;
    for (const operation of operations) size += RECORD_HEADER_BYTES + operation.key.length + operation.value.length + RECORD_HEADER_BYTES;
    if (this.end + size > this.options.segmentBytes && this.end > SEGMENT_HEADER_BYTES) this.startSegment();
    // Value pointers hold 4-byte offsets: a segment never grows past SEGMENT_FILE_BYTES_MAX.
    if (roundUpToPage(this.end + size) > SEGMENT_FILE_BYTES_MAX) {
      if (this.end > PAGE_SIZE) this.startSegment();
      if (roundUpToPage(this.end + size) > SEGMENT_FILE_BYTES_MAX) throw invalidArgument(`a batch of ${size} log bytes does not fit in one value log segment`);
    }
    this.ensureCapacity(this.end + size + PAGE_SIZE);

    const { offsets, lengths, starts, ends, checksums } = this.recordScratch(operations.length);
    const view = new DataView(this.pending.buffer);
    let position = this.end;
    for (let i = 0; i < operations.length; i++) {
      const operation = operations[i]!;
      position = recordStart(position);
      const length = RECORD_HEADER_BYTES + operation.key.length + operation.value.length;
      const at = position - this.pendingStart;
      if (at > this.end - this.pendingStart) this.pending.fill(0, this.end - this.pendingStart, at);
      view.setUint32(at + 4, length, true);
      this.pending[at + 8] = operation.type === "put" ? RECORD_PUT : RECORD_DELETE;
      this.pending[at + 9] = i === operations.length - 1 ? RECORD_FLAG_BATCH_END : 0;
      view.setUint16(at + 10, 0, true);
      view.setUint32(at + 12, operation.key.length, true);
      setUint64(view, at + 16, firstSequence + i);
      this.pending.set(operation.key, at + RECORD_HEADER_BYTES);
      this.pending.set(operation.value, at + RECORD_HEADER_BYTES + operation.key.length);
      starts[i] = at + 4;
      ends[i] = at + length;
      offsets[i] = position;
      lengths[i] = length;
      position += length;
      this.end = position;
    }
    this.core.crc32cEach(this.pending, starts, ends, checksums);
    for (let i = 0; i < operations.length; i++) view.setUint32(starts[i]! - 4, this.core.crc32cMask(checksums[i]!), true);
    this.bytesWritten += size;

    if (durability === "sync") this.write(true);
    else if (durability === "os" || this.end - this.pendingStart >= this.options.bufferedBytes) this.write(false);
    this.syncBehind();
    return { segment: this.segment, offsets, lengths };
  }

  /** Views of `count` entries of the arrays append() fills per record, grown when a batch needs more. */
  private recordScratch(count: number) {
    if (this.recordArrays[0].length < count) this.recordArrays = recordArrays(Math.max(count, 2 * this.recordArrays[0].length));
    const [offsets, lengths, starts, ends, checksums] = this.recordArrays.map((array) => array.subarray(0, count)) as RecordArrays;
    return { offsets, lengths, starts, ends, checksums };
  }

  /**
   * Starts an fdatasync off this thread once SYNC_BEHIND_BYTES were appended since the last one:
   * on the thread pool, or with the worker, there (options.syncBehind). The thread pool's next
   * one starts only after an event-loop turn settles the last, which a write loop that never
   * yields does not give: the whole segment stayed dirty, its seal took 50-90 ms and the kernel
   * throttled the log's writes. The worker's needs no turn; it claims nothing (syncedEnd moves
   * only with this thread's syncs), so nothing waits for it.
   */
  private syncBehind(): void {
    if (this.end - this.syncStartedEnd < SYNC_BEHIND_BYTES) return;
    if (this.options.syncBehind && this.file) {
      this.write(false);
      this.syncStartedEnd = this.end;
      this.options.syncBehind(this.segment);
      return;
    }
    if (this.syncingWaiters) return;
    // A failure is latched by startGroupSync (the next append reports it): nobody awaits this one.
    this.requestSync().catch(() => {});
  }

  /**
   * Pads the rest of the current page with a padding record (or zeros if it cannot hold one);
   * its value carries the sync marker when it has room (layout in ts/format.ts).
   */
  private padToPage(): void {
    const left = PAGE_SIZE - (this.end % PAGE_SIZE);
    if (left === PAGE_SIZE) return;
    const at = this.end - this.pendingStart;
    this.pending.fill(0, at, at + left);
    if (left >= RECORD_HEADER_BYTES) {
      const view = new DataView(this.pending.buffer);
      view.setUint32(at + 4, left, true);
      this.pending[at + 8] = RECORD_PADDING;
      if (left >= RECORD_HEADER_BYTES + PADDING_MARKER_BYTES) {
        setUint64(view, at + RECORD_HEADER_BYTES, this.syncedEnd);
        setUint64(view, at + RECORD_HEADER_BYTES + 8, this.segment);
      }
      view.setUint32(at, this.core.crc32cMask(this.core.crc32c(this.pending.subarray(at + 4, at + left))), true);
    }
    this.end += left;
  }

  /**
   * Hands the pending pages to the OS; with `sync`, pads to a page boundary first (a synced page
   * is never rewritten) and fdatasyncs.
   */
  write(sync: boolean): void {
    this.checkUsable();
    if (!this.file) return;
    if (sync) this.padToPage();
    const length = roundUpToPage(this.end - this.pendingStart);
    if (this.end > this.writtenEnd || sync) {
      const pages = this.pending.subarray(0, length);
      pages.fill(0, this.end - this.pendingStart);
      try {
        if (this.end > this.writtenEnd) this.file.write(pages, this.pendingStart);
        if (sync) {
          this.syncStartedEnd = this.end;
          this.file.sync();
          this.syncs++;
          this.syncedEnd = this.end;
        }
      } catch (error) {
        this.failed = error as PgzError;
        throw error;
      }
      this.writtenEnd = this.end;
    }
    // Keep only the last partial page; it is rewritten (with more records) by the next write.
    const keepFrom = Math.floor(this.end / PAGE_SIZE) * PAGE_SIZE;
    if (keepFrom > this.pendingStart) {
      this.pending.copyWithin(0, keepFrom - this.pendingStart, this.end - this.pendingStart);
      this.pendingStart = keepFrom;
    }
  }

  /**
   * Group commit: resolves once everything appended so far is durable. Every caller that asks
   * while one fdatasync is in flight shares the next one, so N concurrent callers cost about
   * two fdatasyncs, not N.
   */
  requestSync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
      this.startGroupSync();
    });
  }

  private startGroupSync(): void {
    if (this.syncingWaiters || this.syncWaiters.length === 0 || !this.file) return;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    this.syncingWaiters = waiters;
    const settle = (error?: unknown) => {
      for (const file of this.filesToClose.splice(0)) file.close();
      if (this.syncingWaiters !== waiters) return; // close() settled them already
      this.syncingWaiters = undefined;
      for (const waiter of waiters) (error ? waiter.reject(error) : waiter.resolve());
      this.startGroupSync();
    };
    try {
      this.checkUsable();
      this.padToPage();
      this.write(false);
      const segment = this.segment;
      const syncEnd = this.end;
      this.syncStartedEnd = syncEnd;
      this.file.syncAsync().then(
        () => {
          this.syncs++;
          if (this.segment === segment) this.syncedEnd = Math.max(this.syncedEnd, syncEnd);
          settle();
        },
        (error) => {
          if (this.syncingWaiters === waiters) this.failed ??= error as PgzError;
          settle(error);
        },
      );
    } catch (error) {
      settle(error);
    }
  }

  private readerFor(segment: number): StorageFile {
    const name = segmentFileName(segment);
    if (!this.readers.has(segment)) {
      if (!this.storage.exists(name)) throw corruption("a value pointer names a value log segment that is missing", { file: name, offset: 0 });
      this.readers.add(segment);
    }
    // Every open of the file proves it is the segment its name says, of this database (a copied
    // or swapped file has another number or database id in its header).
    return this.options.files.get(name, (handle) => {
      const header = new Uint8Array(SEGMENT_HEADER_BYTES);
      if (handle.read(header, 0) !== SEGMENT_HEADER_BYTES) throw corruption("segment shorter than its header", { file: name, offset: 0 });
      checkSegmentHeader(this.core, header, name, segment, this.options.databaseId);
    });
  }

  /** Reads the value a pointer names, its record checked whole (checkedRecordValue: CRC, length, type, key, sequence). */
  readValue(pointer: ValuePointer, key: Uint8Array, sequence: number): Uint8Array {
    if (pointer.segment === this.segment && pointer.offset >= this.pendingStart) {
      const bytes = this.pending.subarray(0, this.end - this.pendingStart);
      return copyOfLogValue(checkedRecordValue(this.core, bytes, this.pendingStart, pointer, key, sequence));
    }
    const name = segmentFileName(pointer.segment);
    const length = pointer.length;
    if (length < RECORD_HEADER_BYTES || length > RECORD_BYTES_MAX || pointer.offset + length > SEGMENT_FILE_BYTES_MAX) {
      throw corruption(`value pointer names a record of ${length} bytes`, { file: name, offset: pointer.offset });
    }
    // The handle first: opening one checks the segment header through the core, which may grow
    // core memory and so empty a readBuffer view taken before.
    const file = this.readerFor(pointer.segment);
    const reused = length <= REUSED_READ_RECORD_BYTES_MAX;
    const bytes = reused ? this.core.readBuffer(length) : this.ownReadBuffer(file, name, pointer);
    assert(bytes.length === length, `read buffer of ${bytes.length} bytes for a record of ${length}`);
    if (file.read(bytes, pointer.offset) !== length) throw corruption("value record truncated", { file: name, offset: pointer.offset });
    const value = checkedRecordValue(this.core, bytes, pointer.offset, pointer, key, sequence);
    // The core's read buffer is handed out again by the next read: the caller gets a copy.
    return reused ? copyOfLogValue(value) : value;
  }

  /**
   * A buffer of its own for a longer record, handed out with it (the value is a view of it). Past
   * the core's read buffer size, only once the file is known to hold the record (one fstat beside
   * a read of over 1 MiB): a pointer's length alone never decides how much memory a read takes.
   */
  private ownReadBuffer(file: StorageFile, name: string, pointer: ValuePointer): Uint8Array {
    if (pointer.length > READ_BUFFER_BYTES_MAX && pointer.offset + pointer.length > file.size()) {
      throw corruption("value record truncated", { file: name, offset: pointer.offset });
    }
    return new Uint8Array(pointer.length);
  }

  /** Closes the cached read handle of a segment about to be deleted. */
  dropReader(segment: number): void {
    this.options.files.drop(segmentFileName(segment));
    this.readers.delete(segment);
  }

  close(): void {
    try {
      if (this.file && !this.failed) this.write(true);
      // The synchronous sync above covers every waiter, including one whose fdatasync is in flight.
      const waiters = [...(this.syncingWaiters ?? []), ...this.syncWaiters];
      this.syncingWaiters = undefined;
      this.syncWaiters = [];
      for (const waiter of waiters) this.failed ? waiter.reject(this.failed) : waiter.resolve();
    } finally {
      this.file?.close();
      this.file = undefined;
      for (const file of this.filesToClose.splice(0)) file.close();
      for (const segment of this.readers) this.options.files.drop(segmentFileName(segment));
      this.readers.clear();
    }
  }
}

type RecordArrays = [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];

function recordArrays(count: number): RecordArrays {
  return [new Uint32Array(count), new Uint32Array(count), new Uint32Array(count), new Uint32Array(count), new Uint32Array(count)];
}
