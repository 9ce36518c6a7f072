/**
 * The LSM tree: the mutable memtable, immutable memtables waiting to flush, and the tables of
 * each level. Reads go memtable -> immutables (newest first) -> L0 (newest first) -> L1... A
 * flush writes an immutable memtable to an L0 table and records it, with the new value-log
 * head, in one manifest edit.
 */
import { assert } from "../assert.ts";
import type { BlockCache } from "./cache.ts";
import type { BlockReader, Core, Cursor, Hit, Memtable, PointBatch, PointKey, Run } from "../core/types.ts";
import { decodeRun } from "../core/entry.ts";
import { CompactionJob, VersionFilter, flushIsBottommost, pickCompaction, planRange, type CompactionSettings } from "./compaction.ts";
import { corruption } from "../errors.ts";
import { manifestFileName, parseFileName, tableFileName } from "../format.ts";
import type { HandleCache, Storage } from "../storage/io.ts";
import type { Manifest } from "./manifest.ts";
import { getMany, type PointSources } from "./read.ts";
import { Table, type TableMeta } from "./sstable.ts";
import { TableSource } from "./table-source.ts";
import { TableBuilder } from "./table-builder.ts";
import type { LogAccounting } from "../vlog/accounting.ts";
import type { LogPosition } from "../vlog/log.ts";
import { deserializeError, type BackgroundReply, type BackgroundSession, type FlushResult } from "./background.ts";
import { TableOpening, openTableImage, type TableImage } from "./table-image.ts";
import { RemoteCompaction, type RunningCompaction } from "./remote-compaction.ts";
import { FileRemover } from "./removals.ts";
import { assertLevelsDisjoint, findTableInLevel } from "./levels.ts";

/** A memtable and the value-log position its first record was written at. */
class MemtableSlot {
  /** Open iterators reading it; it is freed once flushed and unread. */
  readers = 0;
  flushed = false;

  constructor(
    readonly memtable: Memtable,
    readonly logStart: LogPosition,
  ) {}

  release(): void {
    this.readers--;
    this.freeIfDone();
  }

  freeIfDone(): void {
    if (this.flushed && this.readers === 0) this.memtable.free();
  }
}

interface FlushInProgress {
  slot: MemtableSlot;
  cursor: Cursor;
  run: Run;
  /** Holds the surviving entries of a run that lost some. */
  staging: Run;
  versions: VersionFilter;
  builder: TableBuilder;
}

/** What an iterator's memtable source copies out per fill: at first, and at most. */
const MEMTABLE_FILL_BYTES_FIRST = 2 * 1024;
const MEMTABLE_FILL_BYTES_MAX = 64 * 1024;

/** A flush on the background worker: the memtable's entries go out run by run, then its reply comes. */
interface RemoteFlush {
  slot: MemtableSlot;
  fileNumber: number;
  cursor: Cursor;
  run: Run;
  job: number;
  /** Every entry is sent and the worker is finishing the table. */
  sent: boolean;
  /** The log fsync the table may need (its pointers), done off this thread while the worker works. */
  logSynced: boolean;
  /** The worker's reply, kept until the log sync is done too. */
  reply?: BackgroundReply;
  /** The table being opened from the reply, in steps before the step that commits it. */
  opening?: TableOpening;
  table?: Table;
}

/** Entries a flush step copies out of the memtable at a time. */
const FLUSH_RUN_BYTES = 256 * 1024;

/** One input of an iterator's merge: refills a run, and lets go of what it pinned. */
export interface Source {
  fill(run: Run): number;
  release(): void;
}

export class Tree {
  memtable: MemtableSlot;
  /** Oldest first. */
  readonly immutables: MemtableSlot[] = [];
  readonly tables = new Map<number, Table>();
  flushes = 0;
  bytesFlushed = 0;
  private job: RunningCompaction | undefined;
  private flush: FlushInProgress | undefined;
  private remoteFlush: RemoteFlush | undefined;
  /** Per level, the largest key of the last table compacted out of it (round-robin). */
  private readonly compactPointers: (Uint8Array | undefined)[] = [];
  compactions = 0;
  compactionBytesRead = 0;
  compactionBytesWritten = 0;
  /** With the worker, unlinks there the files `storage.remove` decides to delete (ts/lsm/removals.ts). */
  readonly removals: FileRemover;

  constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    private readonly manifest: Manifest,
    private readonly cache: BlockCache<BlockReader>,
    private readonly allocateFileNumber: () => number,
    readonly compactionSettings: CompactionSettings,
    /** The table cache: bounds the table files open at once. */
    private readonly files: HandleCache,
    /** What a flush needs from the value log: its durability, pointer counts and retirement. */
    private readonly accounting: LogAccounting,
    /** With `background: "worker"`: where flushes and compactions build their tables. */
    private readonly remote?: BackgroundSession,
  ) {
    this.memtable = new MemtableSlot(core.newMemtable(), manifest.state.logHead);
    this.pointKey = core.newPointKey();
    this.pointBatch = core.newPointBatch();
    this.removals = new FileRemover(remote, manifest);
    try {
      for (const level of manifest.state.levels) {
        for (const meta of level) {
          const name = tableFileName(meta.fileNumber);
          // Only a manifest that lost acknowledged edits can name a table that is gone.
          if (!storage.exists(name)) throw corruption(`the manifest names table ${name}, which is missing`, { file: manifestFileName(manifest.currentManifestNumber), offset: 0 });
          this.tables.set(meta.fileNumber, Table.open(core, storage, meta, manifest.databaseId, this.files));
        }
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  get levels() {
    return this.manifest.state.levels;
  }

  /** The newest version of `userKey` visible at `sequence` (a tombstone counts), if any. */
  get(userKey: Uint8Array, sequence: number): Hit | undefined {
    // After open or a rotation the memtable is empty; skipping it saves a core call per read.
    const memtable = this.memtable.memtable;
    const fromMemory = memtable.count > 0 ? memtable.get(userKey, sequence) : undefined;
    if (fromMemory) return fromMemory;
    for (let i = this.immutables.length - 1; i >= 0; i--) {
      const hit = this.immutables[i]!.memtable.get(userKey, sequence);
      if (hit) return hit;
    }
    const key = this.pointKey;
    key.set(userKey, sequence);
    for (const meta of this.levels[0]!) {
      const hit = this.tables.get(meta.fileNumber)!.get(key, this.cache);
      if (hit) return hit;
    }
    for (let level = 1; level < this.levels.length; level++) {
      const meta = findTableInLevel(this.levels[level]!, userKey);
      if (!meta) continue;
      const hit = this.tables.get(meta.fileNumber)!.get(key, this.cache);
      if (hit) return hit;
    }
    return undefined;
  }

  /** Lookups of many keys in one walk of the tree (ts/lsm/read.ts); `hits[i]` is for `userKeys[i]`. */
  getMany(userKeys: readonly Uint8Array[], sequence: number): (Hit | undefined)[] {
    return getMany(this.pointSources, userKeys, sequence);
  }

  private readonly pointSources: PointSources = {
    memtables: () => [this.memtable.memtable, ...this.immutables.map((slot) => slot.memtable).reverse()],
    levels: () => this.levels,
    table: (meta) => this.tables.get(meta.fileNumber)!,
    pointBatch: () => this.pointBatch,
    cache: () => this.cache,
  };

  /** The key of every point read, set by each (nothing keeps it past the call): no allocation per read. */
  private readonly pointKey: PointKey;
  /** The keys of a getMany, set by each. */
  private readonly pointBatch: PointBatch;

  /** Moves the memtable to the immutables; the new one starts at `logStart`. */
  rotate(logStart: LogPosition): void {
    if (this.memtable.memtable.count === 0) return;
    this.immutables.push(this.memtable);
    this.memtable = new MemtableSlot(this.core.newMemtable(), logStart);
  }

  /**
   * Writes every immutable memtable to an L0 table, oldest first, each with a manifest edit
   * that also moves the value-log head past it (with pointer counts for the segments up to the
   * new head). The caller has made the log durable up to the
   * current memtable (tables may point into it).
   */
  flushImmutables(): void {
    while (this.immutables.length > 0) {
      this.flushStep(Number.MAX_SAFE_INTEGER);
      this.waitForFlush();
    }
  }

  /** Waits for the worker's flush in flight (if any) and commits it. */
  private waitForFlush(): void {
    const flush = this.remoteFlush;
    if (flush?.sent) this.applyFlushReply(flush.reply ?? this.remote!.wait(flush.job), true);
  }

  /**
   * Advances the flush of the oldest immutable memtable by about `budgetBytes` (a table is
   * written as it goes; returns the bytes done), and commits it when its last entry is in: the log is made durable
   * (the table may point into it), then one manifest edit adds the table, moves the log head
   * past the memtable, and records the pointer counts of the segments the head moves past.
   */
  private flushStep(budgetBytes: number): number {
    if (this.remote) return this.remoteFlushStep(budgetBytes);
    if (!this.flush) {
      const slot = this.immutables[0];
      if (!slot) return 0;
      this.flush = {
        slot,
        cursor: slot.memtable.cursor(false),
        run: this.core.newRun(FLUSH_RUN_BYTES),
        staging: this.core.newRun(FLUSH_RUN_BYTES),
        versions: new VersionFilter(this.accounting.oldestReadSequence(), this.flushIsBottommost(slot)),
        builder: new TableBuilder(this.core, this.storage, this.allocateFileNumber(), this.manifest.databaseId, this.compactionSettings.compression),
      };
    }
    const flush = this.flush;
    let done = 0;
    try {
      while (done < budgetBytes) {
        if (flush.cursor.fill(flush.run, FLUSH_RUN_BYTES) === 0) {
          this.commitFlush(flush);
          break;
        }
        done += flush.run.byteLength;
        // Overwritten versions nobody can read are dropped here already, so the log records of
        // their values count as garbage as soon as the memtable is written (not only after the
        // table's first compaction). The copy outlives the next fill, as the filter needs.
        const entries = flush.run.bytes().slice();
        const kept = flush.versions.filter(entries);
        if (kept === entries) {
          flush.builder.addRun(flush.run);
        } else if (kept.length > 0) {
          flush.staging.clear();
          flush.staging.appendEncoded(kept);
          flush.builder.addRun(flush.staging);
        }
      }
      return done;
    } catch (error) {
      // Like a failed compaction, a failed flush is dropped; its file is deleted and the
      // memtable stays readable (its records are still in the log past the head).
      this.dropFlush();
      throw error;
    }
  }

  /**
   * A flush writes to level 0, above older versions of its keys, so its tombstones stay and its
   * sequences are kept: unless no table meets the memtable's key range (the first flush, or keys
   * written in order), when it is bottommost as a compaction to the last level is.
   */
  private flushIsBottommost(slot: MemtableSlot): boolean {
    const run = this.core.newRun(1024);
    const edgeKey = (reverse: boolean) => {
      const cursor = slot.memtable.cursor(reverse);
      try {
        return cursor.fill(run, 1) === 0 ? undefined : decodeRun(run.bytes())[0]!.key.slice();
      } finally {
        cursor.free();
      }
    };
    try {
      const smallest = edgeKey(false);
      const largest = edgeKey(true);
      return smallest !== undefined && largest !== undefined && flushIsBottommost(this.manifest.state.levels, { smallest, largest });
    } finally {
      run.free();
    }
  }

  private commitFlush(flush: FlushInProgress): void {
    const meta = flush.builder.finish();
    this.dropFlush();
    this.accounting.syncLog();
    this.commitFlushedTable(flush.slot, flush.builder.fileNumber, meta && Table.open(this.core, this.storage, meta, this.manifest.databaseId, this.files), flush.versions.discardedLogBytes);
  }

  /**
   * Records a written (and fsynced) level-0 table of the oldest immutable memtable, or none when
   * a bottommost flush kept no entry (tombstones over nothing); the log is durable up to the
   * current memtable (the table may point into it).
   */
  private commitFlushedTable(slot: MemtableSlot, fileNumber: number, table: Table | undefined, discardedLogBytes: Record<string, number>): void {
    assert(this.immutables[0] === slot, "a flush commits out of order");
    const nextStart = (this.immutables[1] ?? this.memtable).logStart;
    // The worker synced the directory itself (the new file's name) before it replied.
    if (!this.remote) this.storage.syncDirectory();
    try {
      this.applyFlushEdit(fileNumber, table?.meta, nextStart, discardedLogBytes);
    } catch (error) {
      table?.close();
      throw error;
    }
    if (table) this.tables.set(table.meta.fileNumber, table);
    this.immutables.shift();
    slot.flushed = true;
    slot.freeIfDone();
    this.flushes++;
    this.versionChanged = true;
    this.bytesFlushed += table?.meta.size ?? 0;
    this.accounting.retireFlushedSegments();
  }

  private applyFlushEdit(fileNumber: number, meta: TableMeta | undefined, nextStart: LogPosition, discardedLogBytes: Record<string, number>): void {
    this.manifest.apply({
      added: meta ? [{ level: 0, table: meta }] : undefined,
      logHead: nextStart,
      // The head may already be in a segment numbered after the table (the log rolled over
      // while the flush ran): every number the edit names stays below nextFileNumber.
      nextFileNumber: Math.max(fileNumber, nextStart.segment) + 1,
      lastSequence: this.accounting.lastSequence(),
      segmentPointerBytes: this.accounting.pointerCountsUpTo(nextStart),
      discardedLogBytes,
    });
  }

  /** A table a flush or compaction wrote: from the worker's image of it, or else from its file. */
  private openTable(meta: TableMeta, image: TableImage | undefined): Table {
    if (image) return openTableImage(this.core, meta, this.manifest.databaseId, this.files, image);
    return Table.open(this.core, this.storage, meta, this.manifest.databaseId, this.files);
  }

  /**
   * The flush of the oldest immutable memtable on the worker: each step copies up to
   * `budgetBytes` of its entries out to the worker; after the last, the worker finishes the
   * table and its reply commits it (applyFinished). Returns the bytes sent.
   */
  private remoteFlushStep(budgetBytes: number): number {
    const remote = this.remote!;
    if (!this.remoteFlush) {
      const slot = this.immutables[0];
      if (!slot) return 0;
      const { compression } = this.compactionSettings;
      const fileNumber = this.allocateFileNumber();
      const job = remote.start({ type: "flush-start", fileNumber, oldestReadSequence: this.accounting.oldestReadSequence(), bottommost: this.flushIsBottommost(slot), compression });
      this.remoteFlush = { slot, fileNumber, cursor: slot.memtable.cursor(false), run: this.core.newRun(FLUSH_RUN_BYTES), job, sent: false, logSynced: false };
    }
    const flush = this.remoteFlush;
    let done = 0;
    // A paced step waits for a copy buffer to come back rather than allocate one (a waiting write does not).
    while (!flush.sent && done < budgetBytes && (budgetBytes === Number.MAX_SAFE_INTEGER || !remote.copyBuffersOut)) {
      if (flush.cursor.fill(flush.run, FLUSH_RUN_BYTES) === 0) {
        remote.start({ type: "flush-finish" }, flush.job);
        flush.sent = true;
        // Every record of this memtable is appended already: the log's fdatasync runs on the
        // thread pool meanwhile, and its end calls the tree back like a reply does.
        this.accounting.requestLogSync().then(
          () => {
            flush.logSynced = true;
            remote.onReply();
          },
          () => {},
        );
        flush.cursor.free();
        flush.run.free();
        break;
      }
      done += flush.run.byteLength;
      const bytes = remote.copyForTransfer(flush.run.bytes());
      remote.start({ type: "flush-run", bytes }, flush.job, [bytes.buffer as ArrayBuffer]);
    }
    return done;
  }

  /**
   * Opens the worker's flushed table in steps (TableOpening), and in a later step commits it (all
   * at once with `wait`), so no one step carries much; a log sync still in flight is done here.
   */
  private applyFlushReply(reply: BackgroundReply, wait: boolean): void {
    const flush = this.remoteFlush!;
    // A failed flush is dropped (the worker deleted its file); the memtable stays readable.
    if (!reply.ok) {
      this.remoteFlush = undefined;
      throw deserializeError(reply.error!);
    }
    const { meta, discardedLogBytes, image } = reply.result as FlushResult;
    if (meta && !flush.table) {
      assert(image !== undefined, "a flushed table comes with its image");
      flush.opening ??= new TableOpening(this.core, meta, this.manifest.databaseId, this.files, image);
      flush.table = flush.opening.step(wait ? Number.MAX_SAFE_INTEGER : undefined);
      if (!wait) return;
    }
    assert(meta === undefined || flush.table !== undefined, "a flush waited for is opened whole");
    this.remoteFlush = undefined;
    if (!flush.logSynced) this.accounting.syncLog();
    this.commitFlushedTable(flush.slot, flush.fileNumber, flush.table, discardedLogBytes);
  }

  /** Applies the worker's finished flush and compaction, if their replies have come. */
  applyFinished(): void {
    if (!this.remote) return;
    this.manifest.checkBackgroundSync();
    this.removals.settle(false);
    const flush = this.remoteFlush;
    if (flush?.sent) {
      flush.reply ??= this.remote.take(flush.job);
      // Without a wait: only once the log sync off this thread is done too.
      if (flush.reply && (flush.logSynced || !flush.reply.ok)) this.applyFlushReply(flush.reply, false);
    }
    if (this.job && this.stepJob(0)) this.commitJob();
  }

  /** Waits for the worker's flush and compaction in flight and applies them (db.flush is a barrier). */
  waitForWorker(): void {
    if (!this.remote) return;
    this.waitForFlush();
    if (this.job && this.stepJob(Number.MAX_SAFE_INTEGER)) this.commitJob();
    this.removals.settle(true);
  }

  /** Whether tables are built on the background worker (this thread only copies entries out and commits). */
  get buildsOnWorker(): boolean {
    return this.remote !== undefined;
  }

  /** Whether the worker is building a table the foreground waits for. */
  get workerBusy(): boolean {
    return this.remote !== undefined && (this.remoteFlush?.sent === true || this.job !== undefined);
  }

  /** Frees the flush in progress; an unfinished table file is deleted by TableBuilder.free. */
  private dropFlush(): void {
    this.remoteFlush?.table?.close();
    if (this.remoteFlush && !this.remoteFlush.sent) {
      this.remoteFlush.cursor.free();
      this.remoteFlush.run.free();
    }
    this.remoteFlush = undefined;
    if (!this.flush) return;
    this.flush.cursor.free();
    this.flush.run.free();
    this.flush.staging.free();
    this.flush.builder.free();
    this.flush = undefined;
  }

  /**
   * The merge sources for an iterator, newest first (a merge puts lower indexes first on
   * ties), each positioned at `start` (an internal key) in the given direction.
   */
  sources(reverse: boolean, start: Uint8Array | undefined): Source[] {
    const sources: Source[] = [];
    for (const slot of [this.memtable, ...[...this.immutables].reverse()]) {
      // An empty memtable (the active one, after open or a rotation) has nothing to merge; it
      // gains only entries written after this read's sequence.
      if (slot.memtable.count === 0) continue;
      slot.readers++;
      const cursor: Cursor = slot.memtable.cursor(reverse, start);
      // Small first (a seek reads a few entries), then doubling, as the iterator's merge does.
      let bytesTarget = MEMTABLE_FILL_BYTES_FIRST;
      sources.push({
        fill: (run) => {
          const count = cursor.fill(run, bytesTarget);
          bytesTarget = Math.min(2 * bytesTarget, MEMTABLE_FILL_BYTES_MAX);
          return count;
        },
        release: () => {
          cursor.free();
          slot.release();
        },
      });
    }
    for (let level = 0; level < this.levels.length; level++) {
      const tables = this.levels[level]!.map((meta) => this.pin(meta));
      if (level === 0) {
        for (const table of tables) sources.push(tableSource(table, reverse, start, this.cache, () => this.unpin(table)));
      } else if (tables.length > 0) {
        sources.push(levelSource(tables, reverse, start, this.cache, () => tables.forEach((table) => this.unpin(table))));
      }
    }
    return sources;
  }

  private pin(meta: TableMeta): Table {
    const table = this.tables.get(meta.fileNumber)!;
    table.readers++;
    return table;
  }

  private unpin(table: Table): void {
    table.readers--;
    this.deleteIfUnused(table);
  }

  private deleteIfUnused(table: Table): void {
    if (!table.obsolete || table.readers > 0) return;
    this.retired.delete(table);
    const fileNumber = table.meta.fileNumber;
    this.cache.dropOwner(table.cacheSlots);
    table.close();
    this.storage.remove(tableFileName(fileNumber));
  }

  /** Set when the version changed (a flush, a compaction) and the tree may need compacting. */
  private versionChanged = true;

  /** Whether a flush or a compaction is running or due. */
  get backgroundWorkDue(): boolean {
    if (this.remote) return this.foregroundStepDue();
    if (this.job || this.immutables.length > 0 || this.fullCompaction.length > 0) return true;
    if (!this.versionChanged) return false;
    if (pickCompaction(this.levels, this.compactionSettings, this.compactPointers)) return true;
    this.versionChanged = false;
    return false;
  }

  /**
   * With the worker: whether a step on this thread is due (sending a memtable's entries, or
   * starting a compaction); work the worker is doing calls back when it is done (onReply).
   */
  private foregroundStepDue(): boolean {
    if (this.remoteFlush?.opening) return true;
    if (this.immutables.length > 0 && !this.remoteFlush?.sent) return true;
    if (this.job) return false;
    if (this.fullCompaction.length > 0) return true;
    if (!this.versionChanged) return false;
    if (pickCompaction(this.levels, this.compactionSettings, this.compactPointers)) return true;
    this.versionChanged = false;
    return false;
  }

  /**
   * Advances the pending flush, then compaction, by about `budgetBytes` of input, starting a
   * compaction if one is due. Returns true if work remains.
   */
  backgroundWork(budgetBytes: number, oldestSnapshotSequence: number): boolean {
    let budget = budgetBytes;
    this.applyFinished();
    if (this.immutables.length > 0) {
      budget -= this.flushStep(budget);
      // A flush the worker is finishing does not hold up the next compaction.
      if (this.immutables.length > 0 && !this.remoteFlush?.sent) return true;
      if (this.remote) budget = Math.max(budget, 1);
    }
    while (budget > 0) {
      if (!this.job) {
        const plan = this.nextFullCompactionPlan() ?? pickCompaction(this.levels, this.compactionSettings, this.compactPointers);
        if (!plan) return false;
        this.startJob(plan, oldestSnapshotSequence);
      }
      // A job that finishes within the budget leaves the rest to the next one; one that does
      // not has used it all.
      const job = this.job!;
      const before = job.bytesRead;
      if (!this.stepJob(budget)) break;
      budget -= Math.max(1, job.bytesRead - before);
      this.commitJob();
    }
    return this.backgroundWorkDue;
  }

  /**
   * The stall point of the policy: finishes the waiting flush and one compaction (the running
   * one, or else the most urgent), and no more.
   */
  stall(oldestSnapshotSequence: number): void {
    this.flushImmutables();
    if (!this.job) {
      const plan = pickCompaction(this.levels, this.compactionSettings, this.compactPointers);
      if (!plan) return;
      this.startJob(plan, oldestSnapshotSequence);
    }
    while (!this.stepJob(Number.MAX_SAFE_INTEGER));
    this.commitJob();
  }

  private startJob(plan: NonNullable<ReturnType<typeof pickCompaction>>, oldestSnapshotSequence: number): void {
    const pinned = [...plan.inputs, ...plan.overlapping].map((meta) => this.pin(meta));
    if (this.remote) {
      this.job = new RemoteCompaction(this.remote, plan, oldestSnapshotSequence, this.allocateFileNumber, this.compactionSettings);
      this.jobPins = pinned;
      return;
    }
    this.job = new CompactionJob(this.core, this.storage, plan, (meta) => this.tables.get(meta.fileNumber)!, oldestSnapshotSequence, this.allocateFileNumber, this.compactionSettings, this.manifest.databaseId);
    this.jobPins = pinned;
  }

  private jobPins: Table[] = [];

  /**
   * Steps the running job; on any failure (a full disk, a failed sync) the job is dropped, never
   * resumed: its output files are orphans the next open deletes, and its inputs stay in force.
   */
  private stepJob(budget: number): boolean {
    try {
      return this.job!.step(budget);
    } catch (error) {
      this.dropJob();
      throw error;
    }
  }

  private dropJob(): void {
    this.job?.free();
    this.job = undefined;
    for (const table of this.jobPins) this.unpin(table);
    this.jobPins = [];
  }
  /** Tables compacted away but still read by an iterator. */
  private readonly retired = new Set<Table>();

  /** Applies a finished compaction: one manifest edit, then the inputs are retired. */
  private commitJob(): void {
    const job = this.job!;
    this.job = undefined;
    try {
      const result = job.result();
      if (!this.remote) this.storage.syncDirectory();
      this.manifest.apply(result.edit);
      assertLevelsDisjoint(this.levels);
      result.added.forEach((meta, index) => this.tables.set(meta.fileNumber, this.openTable(meta, result.images?.[index])));
      for (const fileNumber of result.removed) {
        const table = this.tables.get(fileNumber)!;
        this.tables.delete(fileNumber);
        table.obsolete = true;
        this.retired.add(table);
      }
      const plan = job.plan;
      this.compactPointers[plan.level] = plan.inputs[plan.inputs.length - 1]!.largest;
      this.compactions++;
      this.versionChanged = true;
      this.compactionBytesRead += job.bytesRead;
      this.compactionBytesWritten += job.bytesWritten;
    } finally {
      job.free();
      for (const table of this.jobPins) this.unpin(table);
      this.jobPins = [];
    }
  }

  /**
   * Levels a full compaction still has to push down (top first), run in background slices by
   * backgroundWork like any compaction: automatic GC starts one to find the overwritten values
   * that hide in different levels (see DB.idleTurn). `bottom` is where it ends.
   */
  private fullCompaction: number[] = [];
  private fullCompactionBottom = 1;

  /** Sorted runs that may hold versions of one key: each level-0 table, each non-empty deeper level. */
  get sortedRuns(): number {
    return this.levels[0]!.length + this.levels.slice(1).filter((tables) => tables.length > 0).length;
  }

  /** Queues a full compaction (everything down to the deepest level holding data), run in slices. */
  startFullCompaction(): void {
    this.fullCompactionBottom = this.bottomLevel();
    this.fullCompaction = Array.from({ length: this.fullCompactionBottom + 1 }, (_, level) => level);
    this.versionChanged = true;
  }

  private nextFullCompactionPlan(): ReturnType<typeof planRange> {
    while (this.fullCompaction.length > 0) {
      const level = this.fullCompaction.shift()!;
      const bottom = this.fullCompactionBottom;
      const plan = planRange(this.levels, level, level === bottom ? bottom : level + 1, undefined);
      if (plan) return plan;
    }
    return undefined;
  }

  /** The deepest level that holds a table (level 1 at least). */
  private bottomLevel(): number {
    let bottom = 1;
    for (let level = 1; level < this.levels.length; level++) if (this.levels[level]!.length > 0) bottom = level;
    return bottom;
  }

  /**
   * db.compact: finishes the running compaction, then pushes everything overlapping `range`
   * down to the deepest level that holds data (level 1 at least), level by level, and rewrites
   * that bottom level in place, so shadowed versions and tombstones go everywhere in range.
   */
  compactRange(range: { smallest: Uint8Array; largest: Uint8Array } | undefined, oldestSnapshotSequence: number): void {
    while (this.job) this.backgroundWork(Number.MAX_SAFE_INTEGER, oldestSnapshotSequence);
    const bottom = this.bottomLevel();
    for (let level = 0; level <= bottom; level++) {
      const plan = planRange(this.levels, level, level === bottom ? bottom : level + 1, range);
      if (!plan) continue;
      this.startJob(plan, oldestSnapshotSequence);
      while (!this.stepJob(Number.MAX_SAFE_INTEGER));
      this.commitJob();
    }
  }

  close(): void {
    // An unfinished flush or compaction is dropped; the memtable's records are in the log. The
    // worker finishes what it is writing first, so nothing writes here once close returns.
    try {
      if (this.remoteFlush?.sent && !this.remoteFlush.reply && this.remote!.failure === undefined) this.remote!.wait(this.remoteFlush.job);
    } catch {
      // The worker is lost: it writes nothing more.
    }
    this.removals.close();
    this.dropFlush();
    this.dropJob();
    for (const slot of [this.memtable, ...this.immutables]) {
      slot.flushed = true;
      slot.freeIfDone();
    }
    // Retired tables are no longer in the manifest: the next open deletes their files.
    for (const table of [...this.tables.values(), ...this.retired]) table.close();
    this.pointKey.free();
    this.pointBatch.free();
    this.tables.clear();
    this.retired.clear();
  }

  /** Table files in the directory that no level references (left by a crash mid-flush). */
  orphanTables(): string[] {
    const live = new Set([...this.tables.keys()].map(tableFileName));
    // Only names pgz writes: a stray file is never deleted (parseFileName).
    return this.storage.list().filter((name) => parseFileName(name)?.kind === "table" && !live.has(name));
  }

  get memtableBytes(): number {
    return this.memtable.memtable.arenaBytes + this.immutables.reduce((sum, slot) => sum + slot.memtable.arenaBytes, 0);
  }
}

function tableSource(table: Table, reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>, release: () => void): Source {
  const source = new TableSource(table, reverse, start, cache);
  return { fill: (run) => source.fill(run), release };
}

/** A sorted, non-overlapping level read as one source: its tables one after another. */
function levelSource(tables: Table[], reverse: boolean, start: Uint8Array | undefined, cache: BlockCache<BlockReader>, release: () => void): Source {
  const order = reverse ? [...tables].reverse() : tables;
  let index = 0;
  let current: TableSource | undefined;
  return {
    fill(run) {
      while (index < order.length) {
        current ??= new TableSource(order[index]!, reverse, start, cache);
        const count = current.fill(run);
        if (count > 0) return count;
        current = undefined;
        index++;
      }
      run.clear();
      return 0;
    },
    release,
  };
}
