/**
 * The engine behind the DB facade: its shared state and its flows, wired together. Each flow
 * lives in its own module: writes (ts/engine/write.ts), reads (read.ts), background pacing
 * (pacing.ts), open and recovery (recovery.ts), stats and check (stats.ts), and value-log GC
 * (ts/vlog/gc.ts). Arguments are checked before they get here (ts/api/options.ts).
 */
import { encodeInternalKey } from "../core/entry.ts";
import { KIND_SEEK, SEQUENCE_MAX } from "../core/types.ts";
import { KEY_BYTES_MAX, SEGMENT_HEADER_BYTES } from "../format.ts";
import { GarbageCollector, type GcReport } from "../vlog/gc.ts";
import { Pacer } from "./pacing.ts";
import { ReadPath } from "./read.ts";
import type { EngineState } from "./state.ts";
import { WritePath } from "./write.ts";

export class Engine {
  readonly gc: GarbageCollector;
  readonly pacer: Pacer;
  readonly writes: WritePath;
  readonly reads: ReadPath;

  constructor(
    readonly state: EngineState,
    private readonly unlock: () => void,
  ) {
    const { core, storage, manifest, log, tree, readers } = state;
    this.gc = new GarbageCollector({
      core,
      storage,
      manifest,
      log,
      readers,
      newestVersion: (key) => tree.get(key, state.lastSequence),
      rewrite: (operations) => this.writes.writeBatch(operations, "os"),
      segmentDeletable: (segment) => state.segmentDeletable(segment),
    });
    state.retirer = this.gc;
    this.pacer = new Pacer(state, this.gc);
    this.writes = new WritePath(state, this.pacer);
    this.reads = new ReadPath(state, (reader) => this.release(reader));
    if (state.background) state.background.onReply = () => this.workerReplied();
  }

  /**
   * A reply of the background worker arrived (or the worker was lost): apply it now and let
   * idle work go on. A lost worker latches the database read-only like any background failure.
   */
  private workerReplied(): void {
    const { state } = this;
    if (state.closed) return;
    state.runBackgroundWork(() => {
      if (state.background!.failure !== undefined) throw state.background!.failure;
      state.tree.applyFinished();
    });
    this.pacer.scheduleIdleWork();
  }

  /** Pins `sequence` for `reader` (a snapshot): compaction keeps what it reads, GC what it points into. */
  pin(reader: object, sequence: number): void {
    this.state.readers.set(reader, sequence);
  }

  release(reader: object): void {
    this.state.readers.delete(reader);
    // After close the files are gone from this object's reach; the next open deletes them.
    if (!this.state.closed) this.gc.deleteCollectedSegments();
  }

  /** Writes the memtable to a table now (and any buffered writes to the log). */
  flush(): void {
    this.state.checkWritable();
    this.state.guard(() => this.pacer.rotateAndFlush());
  }

  /**
   * Compacts every table overlapping [gte, lt) (everything when neither is given) down through
   * the levels, dropping versions nobody can read and tombstones at the bottom.
   */
  compact(gte: Uint8Array | undefined, lt: Uint8Array | undefined): void {
    const state = this.state;
    state.checkWritable();
    state.guard(() => this.pacer.rotateAndFlush());
    const bounds = gte === undefined && lt === undefined ? undefined : {
      smallest: encodeInternalKey(gte ?? new Uint8Array(0), SEQUENCE_MAX, KIND_SEEK),
      // lt is exclusive; as a user-key range bound it only widens the set of tables picked.
      largest: encodeInternalKey(lt ?? new Uint8Array(KEY_BYTES_MAX + 1).fill(0xff), 0, 0),
    };
    state.guard(() => {
      state.tree.compactRange(bounds, state.oldestReadSequence());
      state.tree.waitForWorker();
    });
  }

  /** Value-log garbage collection on demand (db.gc): see GarbageCollector.collect. */
  collectGarbage(discardRatio: number, segmentsMax: number): GcReport {
    const state = this.state;
    state.checkWritable();
    return state.guard(() => {
      // Compaction is what finds garbage (it drops the versions nobody reads and counts their
      // values); with keys and pointers only in the LSM, compacting it all first is cheap next to
      // the log it lets GC reclaim. Automatic GC skips this and uses the counts as they come.
      this.pacer.rotateAndFlush();
      state.tree.compactRange(undefined, state.oldestReadSequence());
      const report = this.gc.collect(discardRatio, segmentsMax);
      // Its deletions run on the worker, if there is one: gc() returns once they are done.
      state.tree.waitForWorker();
      return report;
    });
  }

  /**
   * The last flush: the memtables go to tables, and then the current segment, whose records are
   * all in tables now, is left for a fresh one (one header page; the next open starts another
   * anyway), so it is deleted now when nothing points into it rather than kept until the next
   * open. A crash anywhere in between is a rollover and a flush, which recovery already handles.
   */
  private flushForClose(): void {
    const { tree, log, accounting } = this.state;
    if (tree.memtable.memtable.count > 0 || tree.immutables.length > 0) this.pacer.rotateAndFlush();
    if (log.position.offset <= SEGMENT_HEADER_BYTES) return;
    log.startSegment();
    accounting.moveHeadPastTables(log.position);
  }

  /**
   * Makes every write durable, writes the memtable to a table (as RocksDB does by default, so
   * the next open has no log to replay), and releases memory, files and the lock. Idempotent.
   */
  close(): void {
    const state = this.state;
    if (state.closed) return;
    state.closed = true;
    this.reads.close();
    this.pacer.stop();
    state.changes.close();
    let failure: unknown;
    try {
      // A reader writes nothing: its memtable (the replayed log tail) is simply dropped.
      if (!state.readOnlyView && state.failed === undefined && !state.log.hasFailed) this.flushForClose();
    } catch (error) {
      failure = error;
    }
    try {
      state.releaseResources();
    } catch (error) {
      failure ??= error;
    }
    state.manifest.close();
    // Nothing of this database may touch its core past here (stale handles get PGZ_CLOSED), and
    // after a clean close its memory goes to the next database opened on this thread.
    state.core.release(failure === undefined);
    this.unlock();
    if (failure !== undefined) throw failure;
  }
}
