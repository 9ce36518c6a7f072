/**
 * The value log, which is also the write-ahead log: numbered segment files of CRC'd records
 * packed into pages (byte layout in ts/format.ts and docs/FORMAT.md). Every write, whatever
 * the durability, goes here first; the memtable then holds each value inline or as a
 * ValuePointer to its record.
 */
import { assert } from "./assert.ts";
import { getUint64, magicBytes, setUint64, viewOf, bytesEqual } from "./bytes.ts";
import type { Core } from "./core/types.ts";
import { PgzError, corruption } from "./errors.ts";
import {
  FORMAT_VERSION,
  MAGIC_SEGMENT,
  PAGE_SIZE,
  RECORD_DELETE,
  RECORD_FLAG_BATCH_END,
  RECORD_HEADER_BYTES,
  RECORD_PADDING,
  RECORD_PUT,
  SEGMENT_HEADER_BYTES,
  VALUE_POINTER_BYTES,
  roundUpToPage,
  segmentFileName,
} from "./format.ts";
import type { HandleCache, Storage, StorageFile } from "./io.ts";

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

function encodeSegmentHeader(core: Core, segment: number): Uint8Array {
  const header = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = viewOf(header);
  header.set(magicBytes(MAGIC_SEGMENT), 0);
  view.setUint32(8, FORMAT_VERSION, true);
  setUint64(view, 16, segment);
  view.setUint32(24, core.crc32cMask(core.crc32c(header.subarray(0, 24))), true);
  return header;
}

export function checkSegmentHeader(core: Core, header: Uint8Array, name: string, segment: number): void {
  const view = viewOf(header);
  const stored = view.getUint32(24, true);
  const actual = core.crc32cMask(core.crc32c(header.subarray(0, 24)));
  if (stored !== actual) throw corruption("segment header checksum mismatch", { file: name, offset: 0, expected: stored, actual });
  if (!bytesEqual(header.subarray(0, 8), magicBytes(MAGIC_SEGMENT))) throw corruption("bad segment magic", { file: name, offset: 0 });
  if (view.getUint32(8, true) !== FORMAT_VERSION) throw corruption(`unsupported segment format version ${view.getUint32(8, true)}`, { file: name, offset: 8 });
  if (getUint64(view, 16) !== segment) throw corruption("segment header names another segment", { file: name, offset: 16 });
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
  /**
   * Per segment, the bytes of records some memtable entry points at (values above the
   * threshold): everything else in a segment is garbage once it is flushed.
   */
  readonly pointerBytes = new Map<number, number>();

  notePointer(segment: number, length: number): void {
    this.pointerBytes.set(segment, (this.pointerBytes.get(segment) ?? 0) + length);
  }

  constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    private readonly options: ValueLogOptions,
  ) {}

  get position(): LogPosition {
    return { segment: this.segment, offset: recordStart(this.end) };
  }

  get currentSegment(): number {
    return this.segment;
  }

  /** Starts a fresh segment (at open, and when the current one is full). */
  /**
   * Starts a fresh segment (at open, and when the current one is full): the old one is synced
   * first, and the new one's header page is written and synced before the directory entry, so
   * no crash leaves a segment without a valid header. Records start on the next page, so the
   * synced header page is never rewritten.
   */
  startSegment(): void {
    if (this.file) {
      this.write(true);
      // An fdatasync may still be in flight on the old file: close it when that settles.
      if (this.syncingWaiters) this.filesToClose.push(this.file);
      else this.file.close();
      this.file = undefined;
    }
    this.segment = this.options.allocateFileNumber();
    this.pointerBytes.set(this.segment, 0);
    this.file = this.storage.open(segmentFileName(this.segment), { create: true });
    this.file.truncate(0);
    this.pending.fill(0);
    this.pending.set(encodeSegmentHeader(this.core, this.segment), 0);
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

  /** Pads the rest of the current page with a padding record (or zeros if it cannot hold one). */
  private padToPage(): void {
    const left = PAGE_SIZE - (this.end % PAGE_SIZE);
    if (left === PAGE_SIZE) return;
    const at = this.end - this.pendingStart;
    this.pending.fill(0, at, at + left);
    if (left >= RECORD_HEADER_BYTES) {
      const view = new DataView(this.pending.buffer);
      view.setUint32(at + 4, left, true);
      this.pending[at + 8] = RECORD_PADDING;
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
      this.file.syncAsync().then(
        () => {
          this.syncs++;
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
    return this.options.files.get(name);
  }

  /** Reads the value a pointer names, verifying the record's CRC. */
  readValue(pointer: ValuePointer): Uint8Array {
    const name = segmentFileName(pointer.segment);
    let bytes: Uint8Array;
    let base: number;
    const pending = pointer.segment === this.segment && pointer.offset >= this.pendingStart;
    if (pending) {
      bytes = this.pending.subarray(0, this.end - this.pendingStart);
      base = this.pendingStart;
    } else {
      bytes = new Uint8Array(pointer.length);
      const count = this.readerFor(pointer.segment).read(bytes, pointer.offset);
      if (count !== pointer.length) throw corruption("value record truncated", { file: name, offset: pointer.offset });
      base = pointer.offset;
    }
    const record = decodeRecord(this.core, bytes, base, pointer.offset);
    if (!record || record.length !== pointer.length || record.type !== RECORD_PUT) {
      throw corruption("value record checksum or header mismatch", { file: name, offset: pointer.offset });
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

/** Segment numbers present in the directory, ascending. */
export function listSegments(storage: Storage): number[] {
  const numbers: number[] = [];
  for (const name of storage.list()) {
    const match = /^(\d+)\.vlog$/.exec(name);
    if (match) numbers.push(Number(match[1]));
  }
  return numbers.sort((a, b) => a - b);
}

/**
 * Scans the records of one segment's bytes from `from`: calls `onBatch` for each complete batch
 * and returns where the last complete batch (or padding after it) ends.
 */
export function scanSegment(core: Core, bytes: Uint8Array, from: number, onBatch: (records: LogRecord[]) => void): number {
  let position = from;
  let batchEnd = from;
  let batch: LogRecord[] = [];
  while (true) {
    position = recordStart(position);
    if (position >= bytes.length) break;
    const record = decodeRecord(core, bytes, 0, position);
    if (!record) break;
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
  return Math.min(batchEnd, bytes.length);
}

/**
 * Reads a whole segment and checks its header. Returns undefined for a blank segment (empty or
 * all zeros): one whose creation a crash cut short before its header was synced, so it never
 * held a record.
 */
export function readSegment(core: Core, file: StorageFile, segment: number): Uint8Array | undefined {
  const size = file.size();
  const bytes = new Uint8Array(size);
  if (file.read(bytes, 0) !== size) throw corruption("segment shrank while reading", { file: file.name });
  if (bytes.every((byte) => byte === 0)) return undefined;
  if (size < SEGMENT_HEADER_BYTES) throw corruption("segment shorter than its header", { file: file.name, offset: 0 });
  checkSegmentHeader(core, bytes.subarray(0, SEGMENT_HEADER_BYTES), file.name, segment);
  return bytes;
}

/**
 * Replays every complete batch from `head` onward, in order, and truncates a torn or corrupt
 * tail of the last segment (everything after the last complete batch). A damaged record in an
 * older segment is corruption: that segment was synced before the next one began.
 */
export function replayLog(core: Core, storage: Storage, head: LogPosition, onBatch: (batch: ReplayedBatch) => void): void {
  const segments = listSegments(storage).filter((segment) => segment >= head.segment);
  const blank: number[] = [];
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index]!;
    const isLast = index === segments.length - 1;
    const file = storage.open(segmentFileName(segment), { write: isLast });
    try {
      const bytes = readSegment(core, file, segment);
      if (!bytes) {
        // Only the newest segment can be blank after a crash (cut short before its header was
        // synced; the next open starts another). An older blank one is damage.
        if (!isLast) throw corruption("blank value log segment before the newest one", { file: file.name, offset: 0 });
        blank.push(segment);
        continue;
      }
      const from = segment === head.segment ? Math.max(head.offset, SEGMENT_HEADER_BYTES) : SEGMENT_HEADER_BYTES;
      const end = scanSegment(core, bytes, from, (records) => onBatch({ segment, records }));
      // Replayed records may be flushed into tables that point at them: the newest segment
      // (the only one not synced when it was sealed) is made durable first.
      if (isLast && end === bytes.length) file.sync();
      if (end === bytes.length) continue;
      if (!isLast) {
        if (bytes.subarray(end).some((byte) => byte !== 0)) {
          throw corruption("damaged record in a sealed value log segment", { file: file.name, offset: end });
        }
      } else {
        file.truncate(end);
        file.sync();
      }
    } finally {
      file.close();
    }
  }
  for (const segment of blank) storage.remove(segmentFileName(segment));
}

/** Verifies every record checksum of every segment; returns the problems found. */
export function verifyLog(core: Core, storage: Storage): { file: string; offset: number; message: string }[] {
  const problems: { file: string; offset: number; message: string }[] = [];
  const segments = listSegments(storage);
  for (const segment of segments) {
    const name = segmentFileName(segment);
    const file = storage.open(name);
    try {
      const bytes = readSegment(core, file, segment);
      if (!bytes) {
        if (segment !== segments[segments.length - 1]) problems.push({ file: name, offset: 0, message: "blank value log segment before the newest one" });
        continue;
      }
      const end = scanSegment(core, bytes, SEGMENT_HEADER_BYTES, () => {});
      if (end < bytes.length && bytes.subarray(end).some((byte) => byte !== 0)) {
        problems.push({ file: name, offset: end, message: "record checksum or header mismatch" });
      }
    } catch (error) {
      problems.push({ file: name, offset: (error as { offset?: number }).offset ?? 0, message: (error as Error).message });
    } finally {
      file.close();
    }
  }
  return problems;
}
