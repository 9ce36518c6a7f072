/**
 * The state every engine flow shares: the open files and structures (log, tree, caches), the
 * sequence counter, the readers that pin old versions, and the failure latch. The flows (write,
 * read, pacing, recovery; GC in ts/vlog/gc.ts) work on it; only the write path advances
 * `lastSequence`.
 */
import { BlockCache } from "../lsm/cache.ts";
import type { BlockReader, Core } from "../core/types.ts";
import { PgzError } from "../errors.ts";
import { FILE_NUMBER_MAX } from "../format.ts";
import { HandleCache, type Storage } from "../storage/io.ts";
import { Tree } from "../lsm/tree.ts";
import type { Manifest } from "../lsm/manifest.ts";
import type { Settings } from "../api/options.ts";
import { LogAccounting } from "../vlog/accounting.ts";
import { ChangeFeed } from "../vlog/changes.ts";
import type { SegmentRetirer } from "../vlog/gc.ts";
import { ValueLog } from "../vlog/log.ts";
import type { LogPosition } from "../vlog/log.ts";
import { ConflictJournal } from "./conflicts.ts";
import { BackgroundSession } from "../lsm/background.ts";

/** A read-only open's version (ts/engine/reader.ts): the segments it pins and where its replayed log ends. */
export interface ReadOnlyView {
  segments: number[];
  logEnd: LogPosition;
}

export class EngineState {
  closed = false;
  lastSequence: number;
  private nextFileNumber: number;
  readonly cache: BlockCache<BlockReader>;
  /** Open read handles of tables and log segments, bounded by openFilesMax. */
  readonly files: HandleCache;
  readonly log: ValueLog;
  readonly accounting: LogAccounting;
  readonly tree: Tree;
  userBytesWritten = 0;
  /** A failed write or sync (PGZ_IO), or any failure of background work: writes are refused. */
  failed: unknown;
  /** Snapshots and running iterators, with the sequence each reads at. */
  readonly readers = new Map<object, number>();
  /** Writes open transactions validate against; the write path notifies it. */
  readonly conflicts = new ConflictJournal();
  /** Change streams and named consumers (ts/vlog/changes.ts): they hold log segments. */
  readonly changes: ChangeFeed;
  /** Deletes retired segments once nothing holds them: the Engine's GarbageCollector, set when it is made. */
  retirer: SegmentRetirer = { retire: () => {}, deleteCollectedSegments: () => {} };
  /** Set by a read-only open (ts/engine/recovery.ts): writes are refused, nothing is flushed. */
  readOnlyView: ReadOnlyView | undefined;
  /** With `background: "worker"`: this database's session on the background worker. */
  readonly background: BackgroundSession | undefined;

  constructor(
    readonly core: Core,
    readonly storage: Storage,
    readonly manifest: Manifest,
    readonly settings: Settings,
  ) {
    // First: it reads the CONSUMERS file, which may be damaged, before anything holds a file open.
    this.changes = new ChangeFeed({
      core,
      storage,
      databaseId: manifest.databaseId,
      lastSequence: () => this.lastSequence,
      durablePosition: () => this.log.durablePosition,
      endPosition: () => this.log.position,
      requestSync: () => this.log.requestSync(),
      holdsReleased: () => this.retirer.deleteCollectedSegments(),
    });
    this.cache = new BlockCache(settings.blockCacheBytes);
    this.lastSequence = manifest.state.lastSequence;
    // Raised past the log segments found on disk once replay has checked them (recovery).
    this.nextFileNumber = manifest.state.nextFileNumber;
    const allocateFileNumber = () => this.allocateFileNumber();
    this.files = new HandleCache(storage, settings.openFilesMax);
    this.log = new ValueLog(core, storage, {
      segmentBytes: settings.segmentBytes,
      bufferedBytes: settings.bufferedBytes,
      allocateFileNumber,
      files: this.files,
      databaseId: manifest.databaseId,
      segmentStarted: (segment) => this.accounting.segmentStarted(segment),
      syncBehind: settings.background === "worker" ? (segment) => this.background?.syncLogBehind(segment) : undefined,
    });
    this.accounting = new LogAccounting(this.log, manifest, this);
    const { l0Files, levelRatio, level1Bytes, tableBytes, compression } = settings;
    this.background = settings.background === "worker" ? new BackgroundSession(storage.directory, core.name, manifest.databaseId, settings.openFilesMax) : undefined;
    this.tree = new Tree(core, storage, manifest, this.cache, allocateFileNumber, { l0Files, levelRatio, level1Bytes, tableBytes, compression }, this.files, this.accounting, this.background);
  }

  private allocateFileNumber(): number {
    // Value pointers name segments in 4 bytes (FILE_NUMBER_MAX); the counter never wraps.
    if (this.nextFileNumber > FILE_NUMBER_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", `file numbers exhausted (the limit is ${FILE_NUMBER_MAX})`);
    return this.nextFileNumber++;
  }

  /** Lifts the file-number counter to at least `next` (recovery: past the segments on disk). */
  raiseNextFileNumber(next: number): void {
    this.nextFileNumber = Math.max(this.nextFileNumber, next);
  }

  /**
   * Whether a retired segment may be deleted once no snapshot needs it: the one check every
   * deletion makes (change streams and named consumers hold segments here).
   */
  segmentDeletable(segment: number): boolean {
    return !this.changes.holds(segment);
  }

  /** A segment nothing points into any more (retired or collected): deleted now or once its holds end. */
  retireSegment(segment: number): void {
    this.retirer.retire(segment);
  }

  /** Throws PGZ_CLOSED after close() (snapshots and transactions check through it too). */
  checkOpen(): void {
    if (this.closed) throw new PgzError("PGZ_CLOSED", "the database is closed");
  }

  /**
   * Runs work that writes files (flushes, compactions, GC). A failed write or sync may have lost
   * data the OS said it had, so after any PGZ_IO the database refuses writes until reopened
   * (the lesson of PostgreSQL's fsync handling: a retried fsync can report success for lost data).
   */
  guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof PgzError && error.code === "PGZ_IO") this.failed ??= error;
      throw error;
    }
  }

  checkWritable(): void {
    if (this.readOnlyView) throw new PgzError("PGZ_READ_ONLY", `${this.storage.directory} is open read-only (readOnly: true)`);
    if (this.failed === undefined) return;
    // A bug (not a PgzError) is thrown as itself, never dressed up as a user-facing error.
    if (!(this.failed instanceof PgzError)) throw this.failed;
    const what = this.failed.code === "PGZ_IO" ? "a write failed earlier" : "background work failed earlier";
    throw new PgzError(this.failed.code, `${what} (${this.failed.message}); reopen the database`, { cause: this.failed, file: this.failed.file, offset: this.failed.offset });
  }

  /**
   * Runs the background work a write pays for (flushes and compaction steps, the stall policy)
   * after the write itself is done: logged as durably as asked and visible. Its failure must not
   * make the write throw, since a write's error has to mean "not written"; it is kept, and the
   * next write (and stats().backgroundError) reports it.
   */
  runBackgroundWork(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.failed ??= error;
    }
  }

  /** The oldest sequence a snapshot, transaction or iterator reads at (the newest if none). */
  oldestReadSequence(): number {
    let oldest = this.lastSequence;
    for (const sequence of this.readers.values()) if (sequence < oldest) oldest = sequence;
    return oldest;
  }

  /** Closes the log (syncing it), frees core memory and closes every file; the lock stays. */
  releaseResources(): void {
    try {
      this.log.close();
    } finally {
      this.cache.clear();
      this.tree.close();
      this.background?.close();
      this.files.clear();
    }
  }
}
