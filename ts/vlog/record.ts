/**
 * The value log's records on disk: a batch's operations, value pointers, the segment header and
 * one CRC'd record (byte layout in ts/format.ts and docs/FORMAT.md).
 */
import { assert } from "../assert.ts";
import { getUint64, magicBytes, setUint64, toHex, viewOf, bytesEqual } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { corruption } from "../errors.ts";
import {
  DATABASE_ID_BYTES,
  FILE_NUMBER_MAX,
  FORMAT_VERSION,
  MAGIC_SEGMENT,
  PAGE_SIZE,
  RECORD_BYTES_MAX,
  RECORD_HEADER_BYTES,
  RECORD_PUT,
  SEGMENT_FILE_BYTES_MAX,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_CHECKSUM_OFFSET,
  SEGMENT_HEADER_DATABASE_ID_OFFSET,
  VALUE_POINTER_BYTES,
  segmentFileName,
} from "../format.ts";

export interface LogOperation {
  type: "put" | "del";
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * The value of every delete: one shared empty array. A Uint8Array allocated per delete cost more
 * than the rest of the delete's argument checks (a typed array is made in the runtime, not inline).
 */
export const NO_VALUE = new Uint8Array(0);

export interface ValuePointer {
  segment: number;
  offset: number;
  length: number;
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

/**
 * The value of the record `pointer` names in `bytes` (which hold the segment from `base`), checked
 * whole: its CRC, length and type, and that it is the one the entry was written with, by its key
 * and sequence (a record of the same length at the same offset of another segment, or of a file
 * swapped in while open, would otherwise pass).
 */
export function checkedRecordValue(core: Core, bytes: Uint8Array, base: number, pointer: ValuePointer, key: Uint8Array, sequence: number): Uint8Array {
  const record = decodeRecord(core, bytes, base, pointer.offset);
  if (!record || record.length !== pointer.length || record.type !== RECORD_PUT) {
    throw corruption("value record checksum or header mismatch", { file: segmentFileName(pointer.segment), offset: pointer.offset });
  }
  if (record.sequence !== sequence || !bytesEqual(record.key, key)) {
    const message = `value record belongs to another write (sequence ${record.sequence}, expected ${sequence})`;
    throw corruption(message, { file: segmentFileName(pointer.segment), offset: pointer.offset });
  }
  return record.value;
}
