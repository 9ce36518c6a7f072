/**
 * The version: which tables each level holds, the value-log head, the next file number and the
 * last sequence; the edits that change it (one manifest record each, JSON behind a CRC), how an
 * edit applies, and the checks a replayed state must pass.
 */
import { fromHex, toHex, viewOf } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { compareInternalKeys } from "../core/entry.ts";
import { PgzError, corruption } from "../errors.ts";
import {
  FILE_NUMBER_MAX,
  MAGIC_MANIFEST_RECORD,
  MANIFEST_PAYLOAD_BYTES_MAX,
  MANIFEST_RECORD_HEADER_BYTES,
  roundUpToPage,
} from "../format.ts";
import type { TableMeta } from "./sstable.ts";
import type { LogPosition } from "../vlog/log.ts";

export const LEVEL_COUNT = 7;

/** What an edit changes; a snapshot edit (first in every manifest) states everything. */
export interface VersionEdit {
  formatVersion?: number;
  snapshot?: boolean;
  added?: { level: number; table: TableMeta }[];
  removed?: { level: number; fileNumber: number }[];
  logHead?: LogPosition;
  nextFileNumber?: number;
  lastSequence?: number;
  /** Value-log bytes per segment found unreferenced (added up; a snapshot states totals). */
  discardedLogBytes?: Record<string, number>;
  /** Segments whose live values were rewritten by GC: gone, or to be deleted at open. */
  collectedSegments?: number[];
  /** For segments wholly before the log head: bytes of records entries point at. */
  segmentPointerBytes?: Record<string, number>;
}

export interface VersionState {
  /** levels[0] newest first; deeper levels sorted by smallest key. */
  levels: TableMeta[][];
  logHead: LogPosition;
  nextFileNumber: number;
  lastSequence: number;
  discardedLogBytes: Record<string, number>;
  collectedSegments: number[];
  segmentPointerBytes: Record<string, number>;
}

interface TableJson {
  fileNumber: number;
  size: number;
  entries: number;
  smallest: string;
  largest: string;
}

function tableToJson(table: TableMeta): TableJson {
  return { fileNumber: table.fileNumber, size: table.size, entries: table.entries, smallest: toHex(table.smallest), largest: toHex(table.largest) };
}

function tableFromJson(json: TableJson): TableMeta {
  return { fileNumber: json.fileNumber, size: json.size, entries: json.entries, smallest: fromHex(json.smallest), largest: fromHex(json.largest) };
}

export function encodeEdit(core: Core, edit: VersionEdit): Uint8Array {
  const json = {
    ...edit,
    added: edit.added?.map(({ level, table }) => ({ level, table: tableToJson(table) })),
  };
  const payload = new TextEncoder().encode(JSON.stringify(json));
  // Readers refuse larger records (and so bound the manifest's size, MANIFEST_FILE_BYTES_MAX).
  if (payload.length > MANIFEST_PAYLOAD_BYTES_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", `a manifest edit of ${payload.length} bytes is over the limit of ${MANIFEST_PAYLOAD_BYTES_MAX}`);
  const pages = new Uint8Array(roundUpToPage(MANIFEST_RECORD_HEADER_BYTES + payload.length));
  const view = viewOf(pages);
  view.setUint32(4, MAGIC_MANIFEST_RECORD, true);
  view.setUint32(8, payload.length, true);
  pages.set(payload, MANIFEST_RECORD_HEADER_BYTES);
  view.setUint32(0, core.crc32cMask(core.crc32c(pages.subarray(4, MANIFEST_RECORD_HEADER_BYTES + payload.length))), true);
  return pages;
}

/**
 * Decodes the edit at file offset `offset`, or undefined if no valid record starts there;
 * `bytes` holds the file from offset `base` on.
 */
export function decodeEdit(core: Core, bytes: Uint8Array, offset: number, name: string, base = 0): { edit: VersionEdit; next: number } | undefined {
  const at = offset - base;
  if (at + MANIFEST_RECORD_HEADER_BYTES > bytes.length) return undefined;
  const view = viewOf(bytes);
  if (view.getUint32(at + 4, true) !== MAGIC_MANIFEST_RECORD) return undefined;
  const length = view.getUint32(at + 8, true);
  const end = at + MANIFEST_RECORD_HEADER_BYTES + length;
  if (length > MANIFEST_PAYLOAD_BYTES_MAX || end > bytes.length) return undefined;
  if (view.getUint32(at, true) !== core.crc32cMask(core.crc32c(bytes.subarray(at + 4, end)))) return undefined;
  let json: Omit<VersionEdit, "added"> & { added?: { level: number; table: TableJson }[] };
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at + MANIFEST_RECORD_HEADER_BYTES, end)));
  } catch {
    throw corruption("manifest record is not valid JSON despite a good checksum", { file: name, offset });
  }
  if (!isEditShape(json)) throw corruption("manifest record is not a version edit despite a good checksum", { file: name, offset });
  const edit: VersionEdit = { ...json, added: json.added?.map(({ level, table }) => ({ level, table: tableFromJson(table) })) };
  return { edit, next: offset + roundUpToPage(end - at) };
}


const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
const isHex = (value: unknown) => typeof value === "string" && /^(?:[0-9a-f]{2})*$/.test(value);

/** Whether a decoded record has the types replay relies on (a good CRC does not prove that). */
function isEditShape(json: unknown): json is Omit<VersionEdit, "added"> & { added?: { level: number; table: TableJson }[] } {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return false;
  const edit = json as Record<string, unknown>;
  const isLevel = (value: unknown) => isCount(value) && (value as number) < LEVEL_COUNT;
  const optional = (name: string, check: (value: unknown) => boolean) => edit[name] === undefined || check(edit[name]);
  const isList = (check: (item: Record<string, unknown>) => boolean) => (value: unknown) =>
    Array.isArray(value) && value.every((item) => typeof item === "object" && item !== null && check(item as Record<string, unknown>));
  const isTable = (table: unknown) => {
    if (typeof table !== "object" || table === null) return false;
    const { fileNumber, size, entries, smallest, largest } = table as Record<string, unknown>;
    return isCount(fileNumber) && isCount(size) && isCount(entries) && isHex(smallest) && isHex(largest);
  };
  return (
    optional("formatVersion", isCount) &&
    optional("added", isList((item) => isLevel(item.level) && isTable(item.table))) &&
    optional("removed", isList((item) => isLevel(item.level) && isCount(item.fileNumber))) &&
    optional("logHead", (value) => typeof value === "object" && value !== null && isCount((value as LogPosition).segment) && isCount((value as LogPosition).offset)) &&
    optional("nextFileNumber", isCount) &&
    optional("lastSequence", isCount) &&
    optional("discardedLogBytes", (value) => typeof value === "object" && value !== null && Object.values(value).every(isCount)) &&
    optional("collectedSegments", (value) => Array.isArray(value) && value.every(isCount)) &&
    optional("segmentPointerBytes", (value) => typeof value === "object" && value !== null && Object.values(value).every(isCount))
  );
}

export function applyEdit(state: VersionState, edit: VersionEdit): void {
  if (edit.snapshot) for (const level of state.levels) level.length = 0;
  for (const { level, fileNumber } of edit.removed ?? []) {
    state.levels[level] = state.levels[level]!.filter((table) => table.fileNumber !== fileNumber);
  }
  for (const { level, table } of edit.added ?? []) {
    if (level === 0) state.levels[0]!.unshift(table);
    else state.levels[level]!.push(table);
  }
  for (let level = 1; level < state.levels.length; level++) {
    state.levels[level]!.sort((a, b) => compareInternalKeys(a.smallest, b.smallest));
  }
  if (edit.logHead) state.logHead = edit.logHead;
  if (edit.nextFileNumber !== undefined) state.nextFileNumber = Math.max(state.nextFileNumber, edit.nextFileNumber);
  if (edit.lastSequence !== undefined) state.lastSequence = Math.max(state.lastSequence, edit.lastSequence);
  if (edit.snapshot) {
    state.discardedLogBytes = {};
    state.collectedSegments = [];
    state.segmentPointerBytes = {};
  }
  Object.assign(state.segmentPointerBytes, edit.segmentPointerBytes ?? {});
  for (const [segment, bytes] of Object.entries(edit.discardedLogBytes ?? {})) {
    state.discardedLogBytes[segment] = (state.discardedLogBytes[segment] ?? 0) + bytes;
  }
  for (const segment of edit.collectedSegments ?? []) {
    delete state.discardedLogBytes[segment];
    delete state.segmentPointerBytes[segment];
    if (!state.collectedSegments.includes(segment)) state.collectedSegments.push(segment);
  }
}

/**
 * What is wrong with a replayed state that no sequence of pgz's own edits produces (a record
 * with a valid CRC can still say anything), or undefined.
 */
export function stateProblem(state: VersionState, manifestNumber: number): string | undefined {
  const { nextFileNumber, logHead } = state;
  if (nextFileNumber > FILE_NUMBER_MAX + 1) return `next file number ${nextFileNumber} is past the limit`;
  if (manifestNumber >= nextFileNumber) return `manifest number ${manifestNumber} is not below the next file number ${nextFileNumber}`;
  if (logHead.segment >= nextFileNumber) return `log head segment ${logHead.segment} is not below the next file number ${nextFileNumber}`;
  const seen = new Set<number>();
  for (const [level, tables] of state.levels.entries()) {
    for (const [index, table] of tables.entries()) {
      if (seen.has(table.fileNumber)) return `table ${table.fileNumber} is named twice`;
      seen.add(table.fileNumber);
      if (table.fileNumber < 1 || table.fileNumber >= nextFileNumber) return `table ${table.fileNumber} is not below the next file number ${nextFileNumber}`;
      if (compareInternalKeys(table.smallest, table.largest) > 0) return `table ${table.fileNumber} has its smallest key above its largest`;
      const previous = tables[index - 1];
      if (level > 0 && previous && compareInternalKeys(previous.largest, table.smallest) >= 0) {
        return `tables ${previous.fileNumber} and ${table.fileNumber} overlap in level ${level}`;
      }
    }
  }
  return undefined;
}

export function emptyState(): VersionState {
  return {
    levels: Array.from({ length: LEVEL_COUNT }, () => []),
    logHead: { segment: 0, offset: 0 },
    nextFileNumber: 1,
    lastSequence: 0,
    discardedLogBytes: {},
    collectedSegments: [],
    segmentPointerBytes: {},
  };
}
