/**
 * A read-only open beside a live writer (or none): it takes no lock and writes nothing in the
 * database but its registration in readers/ (ts/storage/readers.ts).
 *
 * The version it reads is the manifest as of one generation plus the log after the manifest's
 * head, up to the last complete batch found in the newest segment. Files a writer deletes are
 * protected this way: the writer marks a file obsolete in the manifest before it asks
 * filesInUse() and deletes. The reader reads the manifest, registers every file that version
 * reads, then reads the manifest generation again: unchanged means no edit came between its
 * read and its registration, so any later deletion of those files sees the registration. A
 * changed generation (an append, a rewrite) is simply read again.
 */
import { PgzError, corruption } from "../errors.ts";
import type { Core } from "../core/types.ts";
import { segmentFileName, tableFileName, SEGMENT_HEADER_BYTES } from "../format.ts";
import { Manifest, readGeneration, sameGeneration } from "../lsm/manifest.ts";
import type { Storage, StorageFile } from "../storage/io.ts";
import type { ReaderRegistration } from "../storage/readers.ts";
import type { LogPosition } from "../vlog/log.ts";
import type { LogRecord } from "../vlog/record.ts";
import { damageProof, listSegments, openSegment, scanSegment } from "../vlog/replay.ts";

/** How often a version that changed under the reader is read again before giving up. */
const ATTEMPTS_MAX = 50;

export interface ReaderVersion {
  manifest: Manifest;
  registration: ReaderRegistration;
  /** Every log segment the version may read (pinned), oldest first. */
  segments: number[];
}

function sleepMilliseconds(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}

/** Whether `error` is what a file deleted or replaced under a reader looks like. */
function isVanishedFile(error: unknown): boolean {
  if (!(error instanceof PgzError)) return false;
  const cause = error.cause as { code?: string } | undefined;
  return cause?.code === "ENOENT" || (error.code === "PGZ_CORRUPTION" && /missing manifest|no valid superblock|not valid JSON|manifest record|damaged manifest/.test(error.message));
}

/** Reads a version and pins its files; the registration is the caller's to release. */
export function openReaderVersion(core: Core, storage: Storage, registration: ReaderRegistration): ReaderVersion {
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    if (attempt > 0) sleepMilliseconds(Math.min(attempt, 20));
    let manifest: Manifest | undefined;
    try {
      manifest = Manifest.open(core, storage, { readOnly: true });
      const collected = new Set(manifest.state.collectedSegments);
      const segments = listSegments(storage).filter((segment) => !collected.has(segment));
      const tables = manifest.state.levels.flat().map((table) => table.fileNumber);
      registration.pin([...tables, ...segments]);
      const stable = sameGeneration(manifest.generation, readGeneration(core, storage)) && tables.every((table) => storage.exists(tableFileName(table)));
      if (stable) return { manifest, registration, segments };
    } catch (error) {
      if (!isVanishedFile(error)) {
        manifest?.close();
        registration.release();
        throw error;
      }
      lastError = error;
    }
    manifest?.close();
  }
  registration.release();
  throw new PgzError("PGZ_IO", `the database in ${storage.directory} kept changing while a read-only open read it`, { cause: lastError });
}

/**
 * Replays the log from `head` through the pinned `segments`, reading only: every complete
 * batch, in order. In the newest segment a half-written or torn batch at the end is where the
 * writer is, not damage; a sealed segment was complete before the next began, so damage there
 * is PGZ_CORRUPTION. Returns where the replayed log ends (the cut a backup copies up to).
 */
export function replayTail(core: Core, storage: Storage, databaseId: Uint8Array, head: LogPosition, segments: number[], onBatch: (segment: number, records: LogRecord[]) => void): LogPosition {
  const tail = segments.filter((segment) => segment >= head.segment);
  let end: LogPosition = head;
  for (const [index, segment] of tail.entries()) {
    const file = storage.open(segmentFileName(segment));
    try {
      const window = openSegment(core, file, segment, databaseId);
      // A blank segment is one a writer is creating (or a crash left): it holds no record.
      if (!window) continue;
      const from = segment === head.segment ? Math.max(head.offset, SEGMENT_HEADER_BYTES) : SEGMENT_HEADER_BYTES;
      const sealed = index < tail.length - 1;
      if (sealed) {
        const scan = scanSegment(core, window, from, (records) => onBatch(segment, records));
        if (scan.batchEnd < window.size && !window.zeroFrom(scan.batchEnd)) {
          throw corruption("damaged record in a sealed value log segment", { file: file.name, offset: scan.stop < window.size ? scan.stop : scan.batchEnd });
        }
        end = { segment, offset: scan.batchEnd };
      } else {
        end = { segment, offset: replayNewest(core, file, segment, databaseId, from, (records) => onBatch(segment, records)) };
      }
    } finally {
      file.close();
    }
  }
  return end;
}

/** Times the newest segment is read again when damage seems proven (a write seen in flight). */
const NEWEST_READS_MAX = 3;

/**
 * Replays the newest segment; returns where its last complete batch ends. A bad record with no
 * intact one after it is the writer's unfinished append. One followed by an intact record is
 * damage (damageProof, as at a writer's open), unless a second look shows it was a write in
 * flight: the batches are handed on only once the segment has read clean.
 */
function replayNewest(core: Core, file: StorageFile, segment: number, databaseId: Uint8Array, from: number, onBatch: (records: LogRecord[]) => void): number {
  for (let read = 1; ; read++) {
    const window = openSegment(core, file, segment, databaseId)!;
    const batches: LogRecord[][] = [];
    const scan = scanSegment(core, window, from, (records) => batches.push(records));
    const proof = scan.stop < window.size ? damageProof(core, window, segment, scan.stop) : undefined;
    if (proof === undefined) {
      for (const records of batches) onBatch(records);
      return scan.batchEnd;
    }
    if (read === NEWEST_READS_MAX) {
      throw corruption(`damaged record before an intact one (at offset ${proof}), so not a torn tail`, { file: file.name, offset: scan.stop });
    }
    sleepMilliseconds(20);
  }
}
