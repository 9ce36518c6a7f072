/**
 * Reading the value log back: the segments in a directory, a segment scanned batch by batch,
 * the proof that damage is not a torn tail, replay at open, and `check()`'s walk of every record.
 */
import { getUint64, viewOf } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { PgzError, corruption } from "../errors.ts";
import { FileWindow, isAllZero } from "../storage/file-window.ts";
import {
  KEY_BYTES_MAX,
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
  parseFileName,
  segmentFileName,
} from "../format.ts";
import type { Storage, StorageFile } from "../storage/io.ts";
import type { LogPosition } from "./log.ts";
import { checkSegmentHeader, decodeRecord, recordStart, type LogRecord } from "./record.ts";

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

/**
 * Verifies every record checksum of every segment; returns the problems found. `pinned` is
 * check() beside a live writer: only the segments its reader pinned, and the newest only up to
 * where the replay ended (past it the writer may be mid-append).
 */
export function verifyLog(core: Core, storage: Storage, databaseId: Uint8Array, pinned?: { segments: number[]; logEnd: LogPosition }): { file: string; offset: number; message: string }[] {
  const problems: { file: string; offset: number; message: string }[] = [];
  const segments = pinned?.segments ?? listSegments(storage);
  for (const [index, segment] of segments.entries()) {
    const name = segmentFileName(segment);
    const newest = index === segments.length - 1;
    const file = storage.open(name);
    try {
      const window = openSegment(core, file, segment, databaseId);
      if (!window) {
        if (!newest) problems.push({ file: name, offset: 0, message: "blank value log segment before the newest one" });
        continue;
      }
      const scan = scanSegment(core, window, SEGMENT_HEADER_BYTES, () => {});
      // Recovery cut any torn tail, so anything but zeros after the last batch is damage.
      const damaged =
        pinned && newest ? segment === pinned.logEnd.segment && scan.batchEnd < pinned.logEnd.offset : scan.batchEnd < window.size && !window.zeroFrom(scan.batchEnd);
      if (damaged) problems.push({ file: name, offset: scan.stop < window.size ? scan.stop : scan.batchEnd, message: "record checksum or header mismatch" });
    } catch (error) {
      if (!(error instanceof PgzError)) throw error;
      problems.push({ file: name, offset: error.offset ?? 0, message: error.message });
    } finally {
      file.close();
    }
  }
  return problems;
}
