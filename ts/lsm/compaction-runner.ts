/**
 * The tree's compactions: at most one running at a time (inline in paced steps, or on the worker),
 * picked by the policy (ts/lsm/compaction.ts) or queued by a full compaction, and committed in
 * one manifest edit each, after which its inputs are retired (deleted once no iterator reads them).
 */
import { assertLevelsDisjoint } from "./levels.ts";
import { CompactionJob, pickCompaction, planRange, type CompactionPlan } from "./compaction.ts";
import { RemoteCompaction, type RunningCompaction } from "./remote-compaction.ts";
import type { Table } from "./sstable.ts";
import { TableOpening } from "./table-image.ts";
import type { TreeEnvironment, TreeTables } from "./tree-tables.ts";

export class CompactionRunner {
  compactions = 0;
  compactionBytesRead = 0;
  compactionBytesWritten = 0;
  private job: RunningCompaction | undefined;
  private jobPins: Table[] = [];
  /** A finished worker job's outputs being opened from their images, a step per call (outputsOpened). */
  private openings: TableOpening[] | undefined;
  private opened: Table[] = [];
  /** Per level, the largest key of the last table compacted out of it (round-robin). */
  private readonly compactPointers: (Uint8Array | undefined)[] = [];
  /**
   * Levels a full compaction still has to push down (top first), run in background slices by
   * backgroundWork like any compaction: automatic GC starts one to find the overwritten values
   * that hide in different levels (see Pacer.idleTurn). `bottom` is where it ends.
   */
  private fullCompaction: number[] = [];
  private fullCompactionBottom = 1;

  constructor(
    private readonly environment: TreeEnvironment,
    private readonly tables: TreeTables,
  ) {}

  get running(): boolean {
    return this.job !== undefined;
  }

  /** Whether a finished worker job's outputs are being opened (a step of this thread is due). */
  get opening(): boolean {
    return this.openings !== undefined;
  }

  /** Whether a full compaction has levels left to push down. */
  get fullCompactionQueued(): boolean {
    return this.fullCompaction.length > 0;
  }

  /** Whether the policy wants a compaction (looked for only after the version changed). */
  policyDue(): boolean {
    if (!this.tables.versionChanged) return false;
    if (pickCompaction(this.tables.levels, this.environment.compactionSettings, this.compactPointers)) return true;
    this.tables.versionChanged = false;
    return false;
  }

  /** The next compaction to run: the full compaction's next level, or the policy's pick. */
  nextPlan(): CompactionPlan | undefined {
    return this.nextFullCompactionPlan() ?? this.policyPlan();
  }

  policyPlan(): CompactionPlan | undefined {
    return pickCompaction(this.tables.levels, this.environment.compactionSettings, this.compactPointers);
  }

  start(plan: CompactionPlan, oldestSnapshotSequence: number): void {
    const { core, storage, remote, allocateFileNumber, compactionSettings, manifest } = this.environment;
    const pinned = [...plan.inputs, ...plan.overlapping].map((meta) => this.tables.pin(meta));
    this.job = remote
      ? new RemoteCompaction(remote, plan, oldestSnapshotSequence, allocateFileNumber, compactionSettings)
      : new CompactionJob(core, storage, plan, (meta) => this.tables.of(meta), oldestSnapshotSequence, allocateFileNumber, compactionSettings, manifest.databaseId);
    this.jobPins = pinned;
  }

  /** The input bytes the running job has merged so far. */
  get bytesReadByJob(): number {
    return this.job!.bytesRead;
  }

  /**
   * Steps the running job; on any failure (a full disk, a failed sync) the job is dropped, never
   * resumed: its output files are orphans the next open deletes, and its inputs stay in force.
   */
  step(budget: number): boolean {
    try {
      return this.job!.step(budget);
    } catch (error) {
      this.drop();
      throw error;
    }
  }

  /** Runs the started job to its end and commits it. */
  finish(): void {
    while (!this.step(Number.MAX_SAFE_INTEGER));
    this.commit();
  }

  /**
   * Whether the finished job's outputs are open. A worker's job hands back an image of each (ts/lsm/table-image.ts):
   * they are opened one step at a time, a step per call, so no write carries a whole
   * compaction's tables (opening a dozen 32 MiB tables at once took over 100 ms at scale).
   */
  outputsOpened(): boolean {
    const { added, images } = this.job!.result();
    if (!images) return true;
    const { core, manifest, files } = this.environment;
    this.openings ??= added.map((meta, index) => new TableOpening(core, meta, manifest.databaseId, files, images[index]!));
    if (this.opened.length < this.openings.length) {
      const table = this.openings[this.opened.length]!.step();
      if (table) this.opened.push(table);
    }
    return this.opened.length === this.openings.length;
  }

  drop(): void {
    this.closeOpened();
    this.job?.free();
    this.job = undefined;
    for (const table of this.jobPins) this.tables.unpin(table);
    this.jobPins = [];
  }

  /** Applies a finished compaction: one manifest edit, then the inputs are retired. */
  commit(): void {
    const job = this.job!;
    this.job = undefined;
    try {
      const result = job.result();
      if (!this.environment.remote) this.environment.storage.syncDirectory();
      this.environment.manifest.apply(result.edit);
      assertLevelsDisjoint(this.tables.levels);
      result.added.forEach((meta, index) => this.tables.add(this.opened[index] ?? this.tables.open(meta, result.images?.[index])));
      this.opened = [];
      for (const fileNumber of result.removed) this.tables.retire(fileNumber);
      const plan = job.plan;
      this.compactPointers[plan.level] = plan.inputs[plan.inputs.length - 1]!.largest;
      this.compactions++;
      this.tables.versionChanged = true;
      this.compactionBytesRead += job.bytesRead;
      this.compactionBytesWritten += job.bytesWritten;
    } finally {
      this.closeOpened();
      job.free();
      for (const table of this.jobPins) this.tables.unpin(table);
      this.jobPins = [];
    }
  }

  /** Closes outputs opened for a commit that did not take them (a failure, close). */
  private closeOpened(): void {
    for (const table of this.opened) table.close();
    this.opened = [];
    this.openings = undefined;
  }

  /** Queues a full compaction (everything down to the deepest level holding data), run in slices. */
  startFullCompaction(): void {
    this.fullCompactionBottom = this.bottomLevel();
    this.fullCompaction = Array.from({ length: this.fullCompactionBottom + 1 }, (_, level) => level);
    this.tables.versionChanged = true;
  }

  private nextFullCompactionPlan(): CompactionPlan | undefined {
    while (this.fullCompaction.length > 0) {
      const level = this.fullCompaction.shift()!;
      const bottom = this.fullCompactionBottom;
      const plan = planRange(this.tables.levels, level, level === bottom ? bottom : level + 1, undefined);
      if (plan) return plan;
    }
    return undefined;
  }

  /** The deepest level that holds a table (level 1 at least). */
  private bottomLevel(): number {
    const levels = this.tables.levels;
    let bottom = 1;
    for (let level = 1; level < levels.length; level++) if (levels[level]!.length > 0) bottom = level;
    return bottom;
  }

  /**
   * db.compact (after the running compaction is finished): pushes everything overlapping `range`
   * down to the deepest level that holds data (level 1 at least), level by level, and rewrites
   * that bottom level in place, so shadowed versions and tombstones go everywhere in range.
   */
  compactRange(range: { smallest: Uint8Array; largest: Uint8Array } | undefined, oldestSnapshotSequence: number): void {
    const bottom = this.bottomLevel();
    for (let level = 0; level <= bottom; level++) {
      const plan = planRange(this.tables.levels, level, level === bottom ? bottom : level + 1, range);
      if (!plan) continue;
      this.start(plan, oldestSnapshotSequence);
      this.finish();
    }
  }
}
