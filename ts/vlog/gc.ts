/**
 * Value-log garbage collection, as in WiscKey and Badger. Compaction counts, per segment, the
 * bytes of records it dropped the last pointer to (the manifest keeps the totals). GC picks a
 * sealed, fully flushed segment whose garbage is at least a ratio of its size, copies the records
 * the LSM still points at to the head of the log as new writes (so the LSM points at the copies),
 * syncs, records the segment as collected in the manifest, and deletes the file once no snapshot
 * or iterator that might follow an old pointer is left. A crash at any step loses nothing: the
 * copies are in the log before the segment is marked, and a marked segment is only deleted.
 */
import { RECORD_PUT, SEGMENT_HEADER_BYTES, segmentFileName } from "../format.ts";
import { KIND_POINTER, type Core, type Hit } from "../core/types.ts";
import { corruption } from "../errors.ts";
import type { Storage } from "../storage/io.ts";
import type { Manifest } from "../lsm/manifest.ts";
import type { VersionState } from "../lsm/version.ts";
import type { ValueLog } from "./log.ts";
import { decodeValuePointer, type LogOperation, type LogRecord } from "./record.ts";
import { listSegments, openSegment, scanSegment } from "./replay.ts";

/** Live records GC rewrites per batch. */
const GC_BATCH_RECORDS = 1000;

export interface GcReport {
  segmentsCollected: number[];
  recordsRewritten: number;
  bytesRewritten: number;
}

/** What GC needs from the database around it. */
export interface GcContext {
  core: Core;
  storage: Storage;
  manifest: Manifest;
  log: ValueLog;
  /** Snapshots and running iterators: a collected segment is deleted once those alive at its collection are gone. */
  readers: ReadonlyMap<object, number>;
  /** The newest version of `key` (a tombstone counts), if any. */
  newestVersion(key: Uint8Array): Hit | undefined;
  /** Writes copies of live records at new sequences through the write path (not the user's bytes). */
  rewrite(operations: LogOperation[]): void;
  /** The one check before any segment is deleted (change streams and consumers hold segments). */
  segmentDeletable(segment: number): boolean;
}

/** Deletes segments nothing points into, once nothing holds them. */
export interface SegmentRetirer {
  retire(segment: number): void;
  deleteCollectedSegments(): void;
}

export class GarbageCollector implements SegmentRetirer {
  /** Segments collected so far (stats().log.gcRuns). */
  runs = 0;
  /** Collected segments, each with the readers alive at its collection that may still follow old pointers into it. */
  private readonly collectedSegments: { segment: number; readers: Set<object> }[] = [];

  constructor(private readonly context: GcContext) {}

  /**
   * Collects up to `segmentsMax` segments whose garbage is at least `discardRatio`, most garbage
   * first, and stops adding segments once their sizes reach `bytesMax` (one at least): rewrites
   * their live records, syncs the log, marks them collected in one manifest edit, and deletes
   * each once no reader alive at its collection is left.
   */
  collect(discardRatio: number, segmentsMax: number, bytesMax = Infinity): GcReport {
    const report: GcReport = { segmentsCollected: [], recordsRewritten: 0, bytesRewritten: 0 };
    const candidates = this.pickCandidates(discardRatio, segmentsMax, bytesMax);
    if (candidates.length === 0) return report;
    for (const candidate of candidates) this.rewriteLiveRecords(candidate.segment, report);
    // One log sync and one manifest edit for all of them.
    if (report.recordsRewritten > 0) this.context.log.write(true);
    this.context.manifest.apply({ collectedSegments: report.segmentsCollected });
    const readers = new Set(this.context.readers.keys());
    for (const segment of report.segmentsCollected) this.collectedSegments.push({ segment, readers: new Set(readers) });
    this.runs += report.segmentsCollected.length;
    this.deleteCollectedSegments();
    return report;
  }

  private pickCandidates(discardRatio: number, segmentsMax: number, bytesMax: number): GcCandidate[] {
    const { storage, manifest } = this.context;
    const candidates: GcCandidate[] = [];
    let bytes = 0;
    for (const candidate of gcCandidates(storage, manifest.state, discardRatio).slice(0, segmentsMax)) {
      if (bytes >= bytesMax) break;
      candidates.push(candidate);
      bytes += candidate.sizeBytes;
    }
    return candidates;
  }

  private rewriteLiveRecords(segment: number, report: GcReport): void {
    const { core, storage, manifest } = this.context;
    const live = liveRecords(core, storage, manifest.databaseId, segment, (record) => this.pointsAt(record, segment));
    // The copies are ordinary writes at new sequences, made durable (in collect) before the
    // segments are marked collected, so a crash anywhere leaves every value readable.
    for (let start = 0; start < live.length; start += GC_BATCH_RECORDS) {
      const operations = live.slice(start, start + GC_BATCH_RECORDS).map((record): LogOperation => ({ type: "put", key: record.key, value: record.value }));
      this.context.rewrite(operations);
      for (const operation of operations) report.bytesRewritten += operation.key.length + operation.value.length;
    }
    report.segmentsCollected.push(segment);
    report.recordsRewritten += live.length;
  }

  /** Whether the newest version of the record's key points at that very record. */
  private pointsAt(record: LogRecord, segment: number): boolean {
    const hit = this.context.newestVersion(record.key);
    if (!hit || hit.kind !== KIND_POINTER) return false;
    const pointer = decodeValuePointer(hit.value);
    return pointer.segment === segment && pointer.offset === record.offset;
  }

  /**
   * A segment no entry points into (retired after a flush, or collected before a restart): no
   * reader needs it, but a change stream or consumer may; deleted once none does.
   */
  retire(segment: number): void {
    if (!this.context.storage.exists(segmentFileName(segment))) return;
    if (this.collectedSegments.some((collected) => collected.segment === segment)) return;
    this.collectedSegments.push({ segment, readers: new Set() });
    this.deleteCollectedSegments();
  }

  /** Deletes collected segments once every reader alive at their collection is gone and nothing holds them. */
  deleteCollectedSegments(): void {
    for (let i = this.collectedSegments.length - 1; i >= 0; i--) {
      const { segment, readers } = this.collectedSegments[i]!;
      for (const reader of readers) if (!this.context.readers.has(reader)) readers.delete(reader);
      if (readers.size > 0 || !this.context.segmentDeletable(segment)) continue;
      this.context.log.dropReader(segment);
      this.context.storage.remove(segmentFileName(segment));
      this.collectedSegments.splice(i, 1);
    }
  }
}

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

/**
 * The value log's segments, their total size, and the garbage compaction found in them. A
 * segment listed a moment ago and gone since is skipped: the background worker deletes spent
 * segments while this runs (ts/lsm/removals.ts), and so does a live writer beside a reader.
 */
export function logSpace(storage: Storage, state: VersionState): { segments: number; totalBytes: number; garbageBytes: number } {
  let segments = 0;
  let totalBytes = 0;
  let garbage = 0;
  for (const segment of listSegments(storage)) {
    let file;
    try {
      file = storage.open(segmentFileName(segment));
    } catch (error) {
      if (((error as { cause?: { code?: string } }).cause)?.code === "ENOENT") continue;
      throw error;
    }
    segments++;
    try {
      const size = file.size();
      totalBytes += size;
      garbage += garbageBytes(state, segment, size);
    } finally {
      file.close();
    }
  }
  return { segments, totalBytes, garbageBytes: garbage };
}
