/**
 * The value log, which is also the write-ahead log: numbered segment files of CRC'd records
 * packed into pages (byte layout in ts/format.ts and docs/FORMAT.md). Every write, whatever
 * the durability, goes here first; the memtable then holds each value inline or as a
 * ValuePointer to its record.
 */
import { assert } from "../assert.ts";
import { getUint64, magicBytes, setUint64, toHex, viewOf, bytesEqual } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { PgzError, corruption, invalidArgument } from "../errors.ts";
import { FileWindow, isAllZero } from "../storage/file-window.ts";
import {
  DATABASE_ID_BYTES,
  FILE_NUMBER_MAX,
  FORMAT_VERSION,
  KEY_BYTES_MAX,
  MAGIC_SEGMENT,
  PADDING_MARKER_BYTES,
  PAGE_SIZE,
  RECORD_BYTES_MAX,
  RECORD_DELETE,
  RECORD_FLAG_BATCH_END,
  RECORD_HEADER_BYTES,
  RECORD_PADDING,
  RECORD_PUT,
  SECTOR_BYTES,
  SEGMENT_FILE_BYTES_MAX,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_CHECKSUM_OFFSET,
  SEGMENT_HEADER_DATABASE_ID_OFFSET,
  VALUE_POINTER_BYTES,
  parseFileName,
  roundUpToPage,
  segmentFileName,
} from "../format.ts";
import type { HandleCache, Storage, StorageFile } from "../storage/io.ts";

/** How far a write goes before the call returns. */
export type Durability = "sync" | "os" | "buffered";

export interface LogOperation {
  type: "put" | "del";
  key: Uint8Array;
  value: Uint8Array;
}

export interface ValuePointer {
  segment: number;
  offset: number;
  length: number;
}

export interface LogPosition {
  segment: number;
  offset: number;
}

export function encodeValuePointer(pointer: ValuePointer): Uint8Array {
  // The writer keeps every field within 4 bytes (file numbers, segment sizes, record sizes).
  assert(Number.isInteger(pointer.segment) && pointer.segment >= 1 && pointer.segment <= FILE_NUMBER_MAX, `segment ${pointer.segment} does not fit a value pointer`);
  assert(Number.isInteger(pointer.offset) && pointer.offset >= 0 && pointer.offset < SEGMENT_FILE_BYTES_MAX, `offset ${pointer.offset} does not fit a value pointer`);
  assert(Number.isInteger(pointer.length) && pointer.length <= RECORD_BYTES_MAX, `length ${pointer.length} does not fit a value pointer`);
  const bytes = new Uint8Array(VALUE_POINTER_BYTES);
  const view = viewOf(bytes);
  view.setUint32(0, pointer.segment, true);
  view.setUint32(4, pointer.offset, true);
  view.setUint32(8, pointer.length, true);
  return bytes;
}

export function decodeValuePointer(bytes: Uint8Array): ValuePointer {
  if (bytes.length !== VALUE_POINTER_BYTES) throw corruption(`value pointer of ${bytes.length} bytes`);
  const view = viewOf(bytes);
  return { segment: view.getUint32(0, true), offset: view.getUint32(4, true), length: view.getUint32(8, true) };
}

/** Where the record that starts at or after `position` really starts (page-tail rule). */
export function recordStart(position: number): number {
  const left = PAGE_SIZE - (position % PAGE_SIZE);
  return left < RECORD_HEADER_BYTES ? position + left : position;
}

export function encodeSegmentHeader(core: Core, segment: number, databaseId: Uint8Array): Uint8Array {
  const header = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = viewOf(header);
  header.set(magicBytes(MAGIC_SEGMENT), 0);
  view.setUint32(8, FORMAT_VERSION, true);
  setUint64(view, 16, segment);
  header.set(databaseId, SEGMENT_HEADER_DATABASE_ID_OFFSET);
  view.setUint32(SEGMENT_HEADER_CHECKSUM_OFFSET, core.crc32cMask(core.crc32c(header.subarray(0, SEGMENT_HEADER_CHECKSUM_OFFSET))), true);
  return header;
}

/** Checks a segment header's checksum, magic and version; returns the segment and database it names. */
export function decodeSegmentHeader(core: Core, header: Uint8Array, name: string): { segment: number; databaseId: Uint8Array } {
  const view = viewOf(header);
  const stored = view.getUint32(SEGMENT_HEADER_CHECKSUM_OFFSET, true);
  const actual = core.crc32cMask(core.crc32c(header.subarray(0, SEGMENT_HEADER_CHECKSUM_OFFSET)));
  if (stored !== actual) throw corruption("segment header checksum mismatch", { file: name, offset: 0, expected: stored, actual });
  if (!bytesEqual(header.subarray(0, 8), magicBytes(MAGIC_SEGMENT))) throw corruption("bad segment magic", { file: name, offset: 0 });
  if (view.getUint32(8, true) !== FORMAT_VERSION) throw corruption(`unsupported segment format version ${view.getUint32(8, true)}`, { file: name, offset: 8 });
  const databaseId = header.slice(SEGMENT_HEADER_DATABASE_ID_OFFSET, SEGMENT_HEADER_DATABASE_ID_OFFSET + DATABASE_ID_BYTES);
  return { segment: getUint64(view, 16), databaseId };
}

/**
 * That a segment header is valid and names segment `segment` of database `databaseId`: a file
 * swapped in from another segment or copied from another database is corruption.
 */
export function checkSegmentHeader(core: Core, header: Uint8Array, name: string, segment: number, databaseId: Uint8Array): void {
  const decoded = decodeSegmentHeader(core, header, name);
  if (decoded.segment !== segment) throw corruption("segment header names another segment", { file: name, offset: 16 });
  if (!bytesEqual(decoded.databaseId, databaseId)) {
    throw corruption(`segment belongs to another database: its header names database ${toHex(decoded.databaseId)}, this one is ${toHex(databaseId)}`, {
      file: name,
      offset: SEGMENT_HEADER_DATABASE_ID_OFFSET,
    });
  }
}

/** A decoded record, with views into the buffer it was read from. */
export interface LogRecord {
  offset: number;
  length: number;
  type: number;
  flags: number;
  sequence: number;
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * Decodes the record at `offset` of `bytes` (which holds the segment from byte `base`), or
 * returns undefined if no complete, valid record starts there.
 */
export function decodeRecord(core: Core, bytes: Uint8Array, base: number, offset: number): LogRecord | undefined {
  const at = offset - base;
  if (at + RECORD_HEADER_BYTES > bytes.length) return undefined;
  const view = viewOf(bytes);
  const length = view.getUint32(at + 4, true);
  const keyLength = view.getUint32(at + 12, true);
  if (length < RECORD_HEADER_BYTES || at + length > bytes.length || keyLength > length - RECORD_HEADER_BYTES) return undefined;
  const stored = view.getUint32(at, true);
  if (stored !== core.crc32cMask(core.crc32c(bytes.subarray(at + 4, at + length)))) return undefined;
  return {
    offset,
    length,
    type: bytes[at + 8]!,
    flags: bytes[at + 9]!,
    sequence: getUint64(view, at + 16),
    key: bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + keyLength),
    value: bytes.subarray(at + RECORD_HEADER_BYTES + keyLength, at + length),
  };
}

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
}

export interface AppendResult {
  segment: number;
  /** Record offset and length of each operation, in order. */
  offsets: number[];
  lengths: number[];
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

    const offsets: number[] = [];
    const lengths: number[] = [];
    const starts = new Uint32Array(operations.length);
    const ends = new Uint32Array(operations.length);
    const view = new DataView(this.pending.buffer);
    let position = this.end;
    for (let i = 0; i < operations.length; i++) {
      const operation = operations[i]!;
      position = recordStart(position);
      const length = RECORD_HEADER_BYTES + operation.key.length + operation.value.length;
      const at = position - this.pendingStart;
      this.pending.fill(0, this.end - this.pendingStart, at);
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
      offsets.push(position);
      lengths.push(length);
      position += length;
      this.end = position;
    }
    const checksums = new Uint32Array(operations.length);
    this.core.crc32cEach(this.pending, starts, ends, checksums);
    for (let i = 0; i < operations.length; i++) view.setUint32(starts[i]! - 4, this.core.crc32cMask(checksums[i]!), true);
    this.bytesWritten += size;

    if (durability === "sync") this.write(true);
    else if (durability === "os" || this.end - this.pendingStart >= this.options.bufferedBytes) this.write(false);
    return { segment: this.segment, offsets, lengths };
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

  /**
   * Reads the value a pointer names, verifying the record's CRC, and that the record is the one
   * the entry was written with: its key and sequence (a record of the same length at the same
   * offset of another segment, or of a file swapped in while open, would otherwise pass).
   */
  readValue(pointer: ValuePointer, key: Uint8Array, sequence: number): Uint8Array {
    const name = segmentFileName(pointer.segment);
    let bytes: Uint8Array;
    let base: number;
    const pending = pointer.segment === this.segment && pointer.offset >= this.pendingStart;
    if (pending) {
      bytes = this.pending.subarray(0, this.end - this.pendingStart);
      base = this.pendingStart;
    } else {
      if (pointer.length < RECORD_HEADER_BYTES || pointer.length > RECORD_BYTES_MAX) throw corruption(`value pointer names a record of ${pointer.length} bytes`, { file: name, offset: pointer.offset });
      bytes = new Uint8Array(pointer.length);
      const count = this.readerFor(pointer.segment).read(bytes, pointer.offset);
      if (count !== pointer.length) throw corruption("value record truncated", { file: name, offset: pointer.offset });
      base = pointer.offset;
    }
    const record = decodeRecord(this.core, bytes, base, pointer.offset);
    if (!record || record.length !== pointer.length || record.type !== RECORD_PUT) {
      throw corruption("value record checksum or header mismatch", { file: name, offset: pointer.offset });
    }
    if (record.sequence !== sequence || !bytesEqual(record.key, key)) {
      throw corruption(`value record belongs to another write (sequence ${record.sequence}, expected ${sequence})`, { file: name, offset: pointer.offset });
    }
    // A record read from the file sits in a buffer of its own: hand out a view, not a copy.
    return pending ? record.value.slice() : record.value;
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

export interface ReplayedBatch {
  segment: number;
  records: LogRecord[];
}

/** Segment numbers present in the directory, ascending (only names pgz writes: parseFileName). */
export function listSegments(storage: Storage): number[] {
  const numbers: number[] = [];
  for (const name of storage.list()) {
    const parsed = parseFileName(name);
    if (parsed?.kind === "segment") numbers.push(parsed.fileNumber);
  }
  return numbers.sort((a, b) => a - b);
}

export interface SegmentScan {
  /** Where the last complete batch (or the padding after it) ends. */
  batchEnd: number;
  /** Where the first invalid record starts, or the segment's size if no record is invalid. */
  stop: number;
}

/** The record at `offset`, if a complete, valid one starts there. */
export function readRecord(core: Core, window: FileWindow, offset: number): LogRecord | undefined {
  const header = window.view(offset, RECORD_HEADER_BYTES);
  if (header.length < RECORD_HEADER_BYTES) return undefined;
  const length = viewOf(header).getUint32(4, true);
  if (length < RECORD_HEADER_BYTES || length > RECORD_BYTES_MAX || offset + length > window.size) return undefined;
  return decodeRecord(core, window.view(offset, length), offset, offset);
}

/**
 * Scans the records of a segment from `from`, calling `onBatch` for each complete batch (its
 * records are views that stay valid).
 */
export function scanSegment(core: Core, window: FileWindow, from: number, onBatch: (records: LogRecord[]) => void): SegmentScan {
  let position = from;
  let batchEnd = from;
  let batch: LogRecord[] = [];
  while (true) {
    position = recordStart(position);
    if (position >= window.size) return { batchEnd: Math.min(batchEnd, window.size), stop: window.size };
    const record = readRecord(core, window, position);
    if (!record) return { batchEnd, stop: position };
    position += record.length;
    if (record.type === RECORD_PADDING) {
      if (batch.length === 0) batchEnd = position;
      continue;
    }
    batch.push(record);
    if (record.flags & RECORD_FLAG_BATCH_END) {
      onBatch(batch);
      batch = [];
      batchEnd = position;
    }
  }
}

/**
 * Opens a segment for reading through a window and checks its size and header. Returns
 * undefined for a blank segment (empty or all zeros): one whose creation a crash cut short
 * before its header was synced, so it never held a record.
 */
export function openSegment(core: Core, file: StorageFile, segment: number, databaseId: Uint8Array): FileWindow | undefined {
  const window = new FileWindow(file);
  if (window.size > SEGMENT_FILE_BYTES_MAX) {
    throw corruption(`value log segment of ${window.size} bytes, larger than pgz ever writes`, { file: file.name, offset: SEGMENT_FILE_BYTES_MAX });
  }
  const header = window.view(0, SEGMENT_HEADER_BYTES);
  if (isAllZero(header) && window.zeroFrom(0)) return undefined;
  if (header.length < SEGMENT_HEADER_BYTES) throw corruption("segment shorter than its header", { file: file.name, offset: 0 });
  checkSegmentHeader(core, header, file.name, segment, databaseId);
  return window;
}

/** Little-endian u32 at `at` (no DataView per position in the search loop). */
function u32At(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * The length of the record whose header is at `at` of `bytes` (at segment offset `offset`) if
 * every header field is one the writer could have written, else 0. Cheap: it screens positions
 * before a CRC is computed.
 */
function plausibleRecordLength(bytes: Uint8Array, at: number, offset: number): number {
  if (at + RECORD_HEADER_BYTES > bytes.length || PAGE_SIZE - (offset % PAGE_SIZE) < RECORD_HEADER_BYTES) return 0;
  const length = u32At(bytes, at + 4);
  const type = bytes[at + 8]!;
  const keyLength = u32At(bytes, at + 12);
  if (length < RECORD_HEADER_BYTES || length > RECORD_BYTES_MAX) return 0;
  if (type !== RECORD_PUT && type !== RECORD_DELETE && type !== RECORD_PADDING) return 0;
  if (bytes[at + 9]! > RECORD_FLAG_BATCH_END || bytes[at + 10] !== 0 || bytes[at + 11] !== 0 || bytes[at + 23] !== 0) return 0;
  if (keyLength > KEY_BYTES_MAX || keyLength > length - RECORD_HEADER_BYTES) return 0;
  if (type === RECORD_PADDING && (keyLength !== 0 || (offset + length) % PAGE_SIZE !== 0)) return 0;
  return length;
}

/**
 * Where the first "lost" byte in [from, to) is: the start of the first sector remainder that
 * reads as all zeros (a page write that never landed, or landed only in part, leaves exactly
 * that: zeros from the old end to the sector's end), or the end of the file.
 */
function firstLostByte(window: FileWindow, from: number, to: number): number {
  const end = Math.min(to, window.size);
  for (let at = from; at < end; ) {
    const sectorEnd = Math.min(window.size, at - (at % SECTOR_BYTES) + SECTOR_BYTES);
    if (isAllZero(window.view(at, sectorEnd - at))) return at;
    at = sectorEnd;
  }
  return end;
}

/**
 * Whether the invalid record at `offset` could be a torn write. The writer appends whole
 * batches and writes whole pages, so in a torn image each 512-byte sector either holds its
 * final bytes or its older version, which is zero from the old end (before `offset`) on. An
 * invalid record therefore has a sector remainder inside it that is all zero; one without (a
 * sane header over bytes that are all there, but a wrong CRC) has flipped bits.
 */
function looksTorn(window: FileWindow, offset: number): boolean {
  if (firstLostByte(window, offset, offset + RECORD_HEADER_BYTES) < offset + RECORD_HEADER_BYTES) return true;
  const header = window.view(offset, RECORD_HEADER_BYTES);
  const length = plausibleRecordLength(header, 0, offset);
  if (length === 0) return false;
  // A padding record is zeros past its marker in any image: only its first bytes can be lost.
  const needed = header[8] === RECORD_PADDING ? Math.min(length, RECORD_HEADER_BYTES + PADDING_MARKER_BYTES) : length;
  return firstLostByte(window, offset, offset + needed) < offset + needed;
}

/** Whether an intact padding record's sync marker says the segment was durable past `offset`. */
function claimsDurablePast(record: LogRecord, segment: number, offset: number): boolean {
  if (record.type !== RECORD_PADDING || record.value.length < PADDING_MARKER_BYTES) return false;
  const view = viewOf(record.value);
  const durableEnd = getUint64(view, 0);
  return getUint64(view, 8) === segment && durableEnd > offset && durableEnd <= record.offset && durableEnd % PAGE_SIZE === 0;
}

/** Bytes the search may checksum for headers that look right but are not (crafted values). */
const PROOF_SEARCH_CHECKSUM_BYTES_MAX = 2 * RECORD_BYTES_MAX;

/**
 * Where an intact record after the invalid one at `damage` proves it is damage, not a torn
 * tail: any intact record if the damage does not look torn (flipped bits), else a sync marker
 * claiming durability past it. Undefined if nothing does, so the tail may be cut. Scans every
 * later position in bounded memory: whole zero pages at once, a cheap header check before any
 * CRC, intact records skipped whole.
 */
export function damageProof(core: Core, window: FileWindow, segment: number, damage: number): number | undefined {
  const torn = looksTorn(window, damage);
  let budget = PROOF_SEARCH_CHECKSUM_BYTES_MAX;
  let at = damage + 1;
  while (at + RECORD_HEADER_BYTES <= window.size) {
    const pageEnd = at - (at % PAGE_SIZE) + PAGE_SIZE;
    // The bytes of every header that starts in this page.
    const chunk = window.view(at, pageEnd - at + RECORD_HEADER_BYTES);
    let next = pageEnd;
    if (!isAllZero(chunk)) {
      for (let index = 0; at + index < pageEnd; index++) {
        const offset = at + index;
        const length = plausibleRecordLength(chunk, index, offset);
        if (length === 0 || offset + length > window.size) continue;
        const record = decodeRecord(core, window.view(offset, length), offset, offset);
        if (!record) {
          budget -= length;
          // Only crafted values get here; refuse rather than spend unbounded time.
          if (budget < 0) return offset;
          continue;
        }
        if (!torn || claimsDurablePast(record, segment, damage)) return offset;
        next = offset + length;
        break;
      }
    }
    at = next;
  }
  return undefined;
}

export interface ReplayOptions {
  /** Cut the newest segment at its first invalid record even when later records prove it damage. */
  salvage?: boolean;
}

/**
 * Replays every complete batch from `head` onward, in order, and truncates the newest
 * segment after its last complete batch when the rest is a torn tail (never acknowledged):
 * damage followed by proof that it is not one (damageProof) is PGZ_CORRUPTION unless
 * `salvage`. A damaged record in an older segment is corruption: that segment was synced
 * before the next one began.
 */
export function replayLog(core: Core, storage: Storage, databaseId: Uint8Array, head: LogPosition, onBatch: (batch: ReplayedBatch) => void, options: ReplayOptions = {}): void {
  const segments = listSegments(storage).filter((segment) => segment >= head.segment);
  const blank: number[] = [];
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index]!;
    const isLast = index === segments.length - 1;
    const file = storage.open(segmentFileName(segment), { write: isLast });
    try {
      const window = openSegment(core, file, segment, databaseId);
      if (!window) {
        // Only the newest segment can be blank after a crash (cut short before its header was
        // synced; the next open starts another). An older blank one is damage.
        if (!isLast) throw corruption("blank value log segment before the newest one", { file: file.name, offset: 0 });
        blank.push(segment);
        continue;
      }
      const from = segment === head.segment ? Math.max(head.offset, SEGMENT_HEADER_BYTES) : SEGMENT_HEADER_BYTES;
      const scan = scanSegment(core, window, from, (records) => onBatch({ segment, records }));
      const clean = scan.batchEnd === window.size;
      // Replayed records may be flushed into tables that point at them: the newest segment
      // (the only one not synced when it was sealed) is made durable first.
      if (isLast && clean) file.sync();
      if (clean) continue;
      const damage = scan.stop < window.size ? scan.stop : scan.batchEnd;
      if (!isLast) {
        if (!window.zeroFrom(scan.batchEnd)) throw corruption("damaged record in a sealed value log segment", { file: file.name, offset: damage });
        continue;
      }
      if (scan.stop < window.size && !options.salvage) {
        const proof = damageProof(core, window, segment, scan.stop);
        if (proof !== undefined) {
          throw corruption(`damaged record before an intact one (at offset ${proof}), so not a torn tail; open with salvageLog: true to cut the log there and lose every later write`, {
            file: file.name,
            offset: damage,
          });
        }
      }
      file.truncate(scan.batchEnd);
      file.sync();
    } finally {
      file.close();
    }
  }
  for (const segment of blank) storage.remove(segmentFileName(segment));
}

/** Verifies every record checksum of every segment; returns the problems found. */
export function verifyLog(core: Core, storage: Storage, databaseId: Uint8Array): { file: string; offset: number; message: string }[] {
  const problems: { file: string; offset: number; message: string }[] = [];
  const segments = listSegments(storage);
  for (const segment of segments) {
    const name = segmentFileName(segment);
    const file = storage.open(name);
    try {
      const window = openSegment(core, file, segment, databaseId);
      if (!window) {
        if (segment !== segments[segments.length - 1]) problems.push({ file: name, offset: 0, message: "blank value log segment before the newest one" });
        continue;
      }
      // Recovery cut any torn tail, so anything but zeros after the last batch is damage.
      const scan = scanSegment(core, window, SEGMENT_HEADER_BYTES, () => {});
      if (scan.batchEnd < window.size && !window.zeroFrom(scan.batchEnd)) {
        problems.push({ file: name, offset: scan.stop < window.size ? scan.stop : scan.batchEnd, message: "record checksum or header mismatch" });
      }
    } catch (error) {
      if (!(error instanceof PgzError)) throw error;
      problems.push({ file: name, offset: error.offset ?? 0, message: error.message });
    } finally {
      file.close();
    }
  }
  return problems;
}
