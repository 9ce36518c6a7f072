/**
 * The LSM tree: the mutable memtable, immutable memtables waiting to flush, and the tables of
 * each level. Reads go memtable -> immutables (newest first) -> L0 (newest first) -> L1... A
 * flush (ts/lsm/flush.ts) writes an immutable memtable to an L0 table and records it, with the
 * new value-log head, in one manifest edit; compactions (ts/lsm/compaction-runner.ts) merge
 * tables down the levels. This module paces the two and answers reads.
 */
import type { BlockCache } from "./cache.ts";
import type { BlockReader, Core, Hit, PointBatch, PointKey, PointResults } from "../core/types.ts";
import type { CompactionSettings } from "./compaction.ts";
import type { HandleCache, Storage } from "../storage/io.ts";
import type { Manifest } from "./manifest.ts";
import { getMany, type PointSources } from "./read.ts";
import type { LogAccounting } from "../vlog/accounting.ts";
import type { LogPosition } from "../vlog/log.ts";
import type { BackgroundSession } from "./background.ts";
import { FileRemover } from "./removals.ts";
import { findTableInLevel } from "./levels.ts";
import { MemtableSlot } from "./memtable-slot.ts";
import type { Table } from "./sstable.ts";
import { levelSource, memtableSource, tableSource, type Source } from "./tree-sources.ts";
import { TreeTables, type TreeEnvironment } from "./tree-tables.ts";
import { Flusher } from "./flush.ts";
import { CompactionRunner } from "./compaction-runner.ts";

export class Tree {
  memtable: MemtableSlot;
  /** Oldest first. */
  readonly immutables: MemtableSlot[] = [];
  /** With the worker, unlinks there the files `storage.remove` decides to delete (ts/lsm/removals.ts). */
  readonly removals: FileRemover;
  private readonly environment: TreeEnvironment;
  private readonly live: TreeTables;
  private readonly flusher: Flusher;
  private readonly compaction: CompactionRunner;
  /** The key of every point read, set by each (nothing keeps it past the call): no allocation per read. */
  private readonly pointKey: PointKey;
  /** The keys of a getMany, set by each. */
  private readonly pointBatch: PointBatch;

  constructor(
    core: Core,
    storage: Storage,
    manifest: Manifest,
    private readonly cache: BlockCache<BlockReader>,
    allocateFileNumber: () => number,
    readonly compactionSettings: CompactionSettings,
    /** The table cache: bounds the table files open at once. */
    files: HandleCache,
    /** What a flush needs from the value log: its durability, pointer counts and retirement. */
    accounting: LogAccounting,
    /** With `background: "worker"`: where flushes and compactions build their tables. */
    remote?: BackgroundSession,
  ) {
    this.environment = { core, storage, manifest, cache, allocateFileNumber, compactionSettings, files, accounting, remote };
    // First: a missing or unreadable table throws before anything else needs freeing.
    this.live = new TreeTables(this.environment);
    this.memtable = new MemtableSlot(core.newMemtable(), manifest.state.logHead);
    this.pointKey = core.newPointKey();
    this.pointBatch = core.newPointBatch();
    this.removals = new FileRemover(remote, manifest);
    this.flusher = new Flusher(this.environment, this, this.live);
    this.compaction = new CompactionRunner(this.environment, this.live);
  }

  get levels() {
    return this.environment.manifest.state.levels;
  }

  /** Every table of the current version, by file number. */
  get tables() {
    return this.live.byNumber;
  }

  get flushes(): number {
    return this.flusher.flushes;
  }

  get bytesFlushed(): number {
    return this.flusher.bytesFlushed;
  }

  get compactions(): number {
    return this.compaction.compactions;
  }

  get compactionBytesRead(): number {
    return this.compaction.compactionBytesRead;
  }

  get compactionBytesWritten(): number {
    return this.compaction.compactionBytesWritten;
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
      const hit = this.live.of(meta).get(key, this.cache);
      if (hit) return hit;
    }
    for (let level = 1; level < this.levels.length; level++) {
      const meta = findTableInLevel(this.levels[level]!, userKey);
      if (!meta) continue;
      const hit = this.live.of(meta).get(key, this.cache);
      if (hit) return hit;
    }
    return undefined;
  }

  /** Lookups of many keys in one walk of the tree (ts/lsm/read.ts); `hits[i]` is for `userKeys[i]`. */
  getMany(userKeys: readonly Uint8Array[], sequence: number): PointResults {
    return getMany(this.pointSources, userKeys, sequence);
  }

  private readonly pointSources: PointSources = {
    memtables: () => [this.memtable.memtable, ...this.immutables.map((slot) => slot.memtable).reverse()],
    levels: () => this.levels,
    table: (meta) => this.live.of(meta),
    pointBatch: () => this.pointBatch,
    cache: () => this.cache,
  };

  /** Moves the memtable to the immutables; the new one starts at `logStart`. */
  rotate(logStart: LogPosition): void {
    if (this.memtable.memtable.count === 0) return;
    this.immutables.push(this.memtable);
    this.memtable = new MemtableSlot(this.environment.core.newMemtable(), logStart);
  }

  /**
   * Writes every immutable memtable to an L0 table, oldest first, each with a manifest edit
   * that also moves the value-log head past it (with pointer counts for the segments up to the
   * new head). The caller has made the log durable up to the
   * current memtable (tables may point into it).
   */
  flushImmutables(): void {
    this.flusher.flushAll();
  }

  /** Applies the worker's finished flush and compaction, if their replies have come. */
  applyFinished(): void {
    if (!this.environment.remote) return;
    this.environment.manifest.checkBackgroundSync();
    this.removals.settle(false);
    this.flusher.applyFinished();
    if (this.compaction.running && this.compaction.step(0) && this.compaction.outputsOpened()) this.compaction.commit();
  }

  /** Waits for the worker's flush and compaction in flight and applies them (db.flush is a barrier). */
  waitForWorker(): void {
    if (!this.environment.remote) return;
    this.flusher.waitForWorker();
    if (this.compaction.running && this.compaction.step(Number.MAX_SAFE_INTEGER)) this.compaction.commit();
    this.removals.settle(true);
  }

  /** Whether tables are built on the background worker (this thread only copies entries out and commits). */
  get buildsOnWorker(): boolean {
    return this.environment.remote !== undefined;
  }

  /** Opens one table's deferred point-read lookup (an idle turn's work); true if it opened one. */
  openDeferredLookup(): boolean {
    return this.live.openDeferredLookup();
  }

  /** Whether the worker is building a table the foreground waits for. */
  get workerBusy(): boolean {
    return this.environment.remote !== undefined && (this.flusher.sent || this.compaction.running);
  }

  /**
   * The merge sources for an iterator, newest first (a merge puts lower indexes first on
   * ties), each positioned at `start` (an internal key) in the given direction.
   */
  sources(reverse: boolean, start: Uint8Array | undefined): Source[] {
    const sources: Source[] = [];
    // An empty memtable (the active one, after open or a rotation) has nothing to merge; it
    // gains only entries written after this read's sequence.
    if (this.memtable.memtable.count > 0) sources.push(memtableSource(this.memtable, reverse, start));
    for (let i = this.immutables.length - 1; i >= 0; i--) {
      const slot = this.immutables[i]!;
      if (slot.memtable.count > 0) sources.push(memtableSource(slot, reverse, start));
    }
    const live = this.live;
    for (let level = 0; level < this.levels.length; level++) {
      const metas = this.levels[level]!;
      if (level === 0) {
        for (const meta of metas) sources.push(tableSource(live.pin(meta), reverse, start, this.cache, this.unpin));
      } else if (metas.length > 0) {
        sources.push(levelSource(metas.map((meta) => live.pin(meta)), reverse, start, this.cache, this.unpin));
      }
    }
    return sources;
  }

  /** Lets go of a table an iterator pinned (made once: sources() passes it to every source). */
  private readonly unpin = (table: Table): void => this.live.unpin(table);

  /**
   * Whether a memtable waits for the worker's flush: not once its reply has come and only the
   * opening of its table on this thread is left (the worker has kept up; a write sleeping for
   * it would only slow down the steps that finish it).
   */
  get flushWaitsForWorker(): boolean {
    return this.immutables.length > 0 && !this.flusher.opening;
  }

  /** Whether a flush or a compaction is running or due. */
  get backgroundWorkDue(): boolean {
    if (this.environment.remote) return this.foregroundStepDue();
    if (this.compaction.running || this.immutables.length > 0 || this.compaction.fullCompactionQueued) return true;
    return this.compaction.policyDue();
  }

  /**
   * With the worker: whether a step on this thread is due (sending a memtable's entries, or
   * starting a compaction); work the worker is doing calls back when it is done (onReply).
   */
  private foregroundStepDue(): boolean {
    if (this.flusher.opening || this.compaction.opening) return true;
    if (this.immutables.length > 0 && !this.flusher.sent) return true;
    if (this.compaction.running) return false;
    if (this.compaction.fullCompactionQueued) return true;
    return this.compaction.policyDue();
  }

  /**
   * Advances the pending flush, then compaction, by about `budgetBytes` of input, starting a
   * compaction if one is due. Returns true if work remains.
   */
  backgroundWork(budgetBytes: number, oldestSnapshotSequence: number): boolean {
    let budget = budgetBytes;
    this.applyFinished();
    if (this.immutables.length > 0) {
      budget -= this.flusher.step(budget);
      // Inline, the flush comes first. The worker serves a flush's requests between the slices of
      // a compaction (ts/lsm/worker-compaction.ts), so there a flush holds up no compaction: were
      // one started only between flushes, none would start while writes keep the flushes coming.
      if (!this.environment.remote && this.immutables.length > 0) return true;
      if (this.environment.remote) budget = Math.max(budget, 1);
    }
    const compaction = this.compaction;
    while (budget > 0) {
      if (!compaction.running) {
        const plan = compaction.nextPlan();
        if (!plan) break;
        compaction.start(plan, oldestSnapshotSequence);
      }
      // A job that finishes within the budget leaves the rest to the next one; one that does
      // not has used it all.
      const before = compaction.bytesReadByJob;
      if (!compaction.step(budget) || !compaction.outputsOpened()) break;
      budget -= Math.max(1, compaction.bytesReadByJob - before);
      compaction.commit();
    }
    return this.backgroundWorkDue;
  }

  /**
   * The stall point of the policy: finishes the waiting flush and one compaction (the running
   * one, or else the most urgent), and no more.
   */
  stall(oldestSnapshotSequence: number): void {
    this.flushImmutables();
    if (!this.compaction.running) {
      const plan = this.compaction.policyPlan();
      if (!plan) return;
      this.compaction.start(plan, oldestSnapshotSequence);
    }
    this.compaction.finish();
  }

  /** Sorted runs that may hold versions of one key: each level-0 table, each non-empty deeper level. */
  get sortedRuns(): number {
    return this.levels[0]!.length + this.levels.slice(1).filter((tables) => tables.length > 0).length;
  }

  /** Queues a full compaction (everything down to the deepest level holding data), run in slices. */
  startFullCompaction(): void {
    this.compaction.startFullCompaction();
  }

  /**
   * db.compact: finishes the running compaction, then pushes everything overlapping `range`
   * down to the deepest level that holds data (level 1 at least), level by level, and rewrites
   * that bottom level in place, so shadowed versions and tombstones go everywhere in range.
   */
  compactRange(range: { smallest: Uint8Array; largest: Uint8Array } | undefined, oldestSnapshotSequence: number): void {
    while (this.compaction.running) this.backgroundWork(Number.MAX_SAFE_INTEGER, oldestSnapshotSequence);
    this.compaction.compactRange(range, oldestSnapshotSequence);
  }

  close(): void {
    // An unfinished flush or compaction is dropped; the memtable's records are in the log. The
    // worker finishes what it is writing first, so nothing writes here once close returns.
    this.flusher.close();
    this.removals.close();
    this.flusher.drop();
    this.compaction.drop();
    for (const slot of [this.memtable, ...this.immutables]) {
      slot.flushed = true;
      slot.freeIfDone();
    }
    this.live.close();
    this.pointKey.free();
    this.pointBatch.free();
  }

  /** Table files in the directory that no level references (left by a crash mid-flush). */
  orphanTables(): string[] {
    return this.live.orphans();
  }

  get memtableBytes(): number {
    return this.memtable.memtable.arenaBytes + this.immutables.reduce((sum, slot) => sum + slot.memtable.arenaBytes, 0);
  }
}
