/**
 * Value-log garbage collection, as in WiscKey and Badger. Compaction counts, per segment, the
 * bytes of records it dropped the last pointer to (the manifest keeps the totals). GC picks a
 * sealed, fully flushed segment whose garbage is at least a ratio of its size, copies the records
 * the LSM still points at to the head of the log as new writes (so the LSM points at the copies),
 * syncs, records the segment as collected in the manifest, and deletes the file once no snapshot
 * or iterator that might follow an old pointer is left. A crash at any step loses nothing: the
 * copies are in the log before the segment is marked, and a marked segment is only deleted.
 */
import { RECORD_PUT, segmentFileName } from "../format.ts";
import type { Core } from "../core/types.ts";
import { corruption } from "../errors.ts";
import type { Storage } from "../storage/io.ts";
import type { VersionState } from "../lsm/manifest.ts";
import { listSegments, openSegment, scanSegment, type LogRecord } from "./log.ts";
import { SEGMENT_HEADER_BYTES } from "../format.ts";

export interface GcCandidate {
  segment: number;
  sizeBytes: number;
  discardedBytes: number;
}

/**
 * Segments GC may collect, most garbage first: older than the log head's segment (so every
 * record is already in a table and replay never needs them), not yet collected, and with
 * discarded / size >= `discardRatio`.
 */
export function gcCandidates(storage: Storage, state: VersionState, discardRatio: number): GcCandidate[] {
  const candidates: GcCandidate[] = [];
  for (const segment of listSegments(storage)) {
    if (segment >= state.logHead.segment || state.collectedSegments.includes(segment)) continue;
    if (state.discardedLogBytes[segment] === undefined && state.segmentPointerBytes[segment] === undefined) continue;
    const file = storage.open(segmentFileName(segment));
    let sizeBytes: number;
    try {
      sizeBytes = file.size();
    } finally {
      file.close();
    }
    const discardedBytes = garbageBytes(state, segment, sizeBytes);
    if (sizeBytes > 0 && discardedBytes / sizeBytes >= discardRatio) candidates.push({ segment, sizeBytes, discardedBytes });
  }
  return candidates.sort((a, b) => b.discardedBytes / b.sizeBytes - a.discardedBytes / a.sizeBytes);
}

/**
 * A segment's garbage: pointed-at records whose pointers compaction dropped, plus every byte no
 * entry ever pointed at (inline values, deletes, padding) once that count is known.
 */
export function garbageBytes(state: VersionState, segment: number, sizeBytes: number): number {
  const pointerBytes = state.segmentPointerBytes[segment];
  const unreferenced = pointerBytes === undefined ? 0 : Math.max(0, sizeBytes - pointerBytes);
  return Math.min(sizeBytes, (state.discardedLogBytes[segment] ?? 0) + unreferenced);
}

/**
 * The put records of `segment` that `isLive` says the LSM still points at, copied out of the
 * read window (the segment is read a window at a time).
 */
export function liveRecords(core: Core, storage: Storage, databaseId: Uint8Array, segment: number, isLive: (record: LogRecord) => boolean): LogRecord[] {
  const file = storage.open(segmentFileName(segment));
  try {
    const window = openSegment(core, file, segment, databaseId);
    const live: LogRecord[] = [];
    if (!window) return live;
    const scan = scanSegment(core, window, SEGMENT_HEADER_BYTES, (records) => {
      for (const record of records) if (record.type === RECORD_PUT && isLive(record)) live.push({ ...record, key: record.key.slice(), value: record.value.slice() });
    });
    // A sealed segment ends in padding or zeros; anything else is damage GC must not paper over.
    if (scan.batchEnd < window.size && !window.zeroFrom(scan.batchEnd)) {
      throw corruption("damaged record in a value log segment being collected", { file: file.name, offset: scan.stop < window.size ? scan.stop : scan.batchEnd });
    }
    return live;
  } finally {
    file.close();
  }
}
