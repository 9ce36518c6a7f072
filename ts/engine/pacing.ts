/**
 * Background pacing: when flushes and compactions run on the caller's thread. A write pays for
 * background work in proportion to the bytes it added (the stall policy); between foreground
 * work, idle turns go on one slice at a time, and automatic GC takes its turn there.
 */
import { GC_DISCARD_RATIO_DEFAULT } from "../api/options.ts";
import { logSpace, type GarbageCollector } from "../vlog/gc.ts";
import { sleep, slowdownMilliseconds, slowdownSteps } from "./slowdown.ts";
import type { EngineState } from "./state.ts";

/** Bytes of compaction input merged per byte written, while level 0 is within l0Files. */
const COMPACTION_PACE = 16;
/**
 * With the worker, what a write pays for on this thread is copying the waiting memtable's
 * entries out to it: twice the bytes written finishes that copy when the new memtable is half
 * full (well before it fills and a write would have to wait), in slices an eighth of
 * COMPACTION_PACE's, so no one batch carries milliseconds of copying.
 */
const WORKER_COPY_PACE = 2;
/** Past l0Files * this many level-0 tables a write finishes the compaction (a full stall). */
const L0_STOP_MULTIPLIER = 3;
/** Automatic GC collects a segment once this share of it is garbage. */
const AUTO_GC_DISCARD_RATIO = GC_DISCARD_RATIO_DEFAULT;
/** Bytes of log segments one idle turn of automatic GC collects at most (one segment at least). */
const IDLE_GC_BYTES = 4 * 1024 * 1024;
/** Bytes of compaction input one idle slice merges. */
const IDLE_SLICE_BYTES = 1024 * 1024;
/** With the worker, bytes of a memtable one idle slice copies out to it (one piece: the event loop turns between them). */
const IDLE_COPY_BYTES = 256 * 1024;

export class Pacer {
  compactionMilliseconds = 0;
  /** Writes that slept because the worker was behind (ts/engine/slowdown.ts). */
  slowdowns = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** manifest.editsWritten when automatic GC last found nothing to collect. */
  private gcLookedAtEdit = -1;
  /** log.bytesWritten when automatic GC last started a full compaction. */
  private logBytesAtFullCompaction = 0;

  constructor(
    private readonly state: EngineState,
    private readonly gc: GarbageCollector,
  ) {}

  /** The background work a write of `runBytes` to the memtable pays for. */
  afterWrite(runBytes: number): void {
    if (this.state.tree.memtable.memtable.arenaBytes >= this.state.settings.memtableBytes) this.rotateMemtable();
    this.payCompactionDebt(runBytes);
    this.scheduleIdleWork();
  }

  /**
   * The stall policy: a write that added `bytes` to the LSM does COMPACTION_PACE times as many
   * bytes of background work (first the waiting memtable's flush, then compaction input),
   * doubling per level-0 table beyond l0Files, and finishes one compaction outright once level
   * 0 reaches l0Files * L0_STOP_MULTIPLIER. So writes slow down gradually as background work
   * falls behind, and no write waits for more than one flush and one compaction.
   */
  private payCompactionDebt(bytes: number): void {
    const tree = this.state.tree;
    // With the worker: apply what it finished (the event loop may not have had a turn yet).
    tree.applyFinished();
    const due = tree.backgroundWorkDue;
    if (!due && !tree.workerBusy) return;
    const started = performance.now();
    const level0 = tree.levels[0]!.length;
    const { l0Files } = tree.compactionSettings;
    // With the worker, a stall is a wait for it (see Tree.stall); otherwise the work itself.
    if (level0 >= l0Files * L0_STOP_MULTIPLIER) tree.stall(this.state.oldestReadSequence());
    else if (due) tree.backgroundWork(bytes * (tree.buildsOnWorker ? WORKER_COPY_PACE : COMPACTION_PACE) * 2 ** Math.max(0, level0 - l0Files), this.state.oldestReadSequence());
    if (tree.buildsOnWorker) this.slowDown(bytes);
    this.compactionMilliseconds += performance.now() - started;
  }

  /** With the worker: a write sleeps while the worker is behind (ts/engine/slowdown.ts), then copies what it can. */
  private slowDown(bytes: number): void {
    const tree = this.state.tree;
    const memtableFill = tree.memtable.memtable.arenaBytes / this.state.settings.memtableBytes;
    const steps = slowdownSteps({ level0Tables: tree.levels[0]!.length, l0Files: tree.compactionSettings.l0Files, flushWaiting: tree.flushWaitsForWorker, memtableFill });
    if (steps === 0) return;
    this.slowdowns++;
    sleep(slowdownMilliseconds(bytes, steps));
    tree.applyFinished();
    if (tree.backgroundWorkDue) tree.backgroundWork(bytes * WORKER_COPY_PACE, this.state.oldestReadSequence());
  }

  /**
   * A full memtable becomes immutable and is flushed in steps by later writes (the stall
   * policy). Should it fill again before its predecessor is flushed, that flush finishes first:
   * at most one memtable waits.
   */
  private rotateMemtable(): void {
    const tree = this.state.tree;
    if (tree.immutables.length > 0) tree.flushImmutables();
    tree.rotate(this.state.log.position);
  }

  /** Flushes the memtable (and any waiting one) now: flush(), compact(), gc(), close(). */
  rotateAndFlush(): void {
    this.state.tree.rotate(this.state.log.position);
    this.state.tree.flushImmutables();
    this.state.tree.waitForWorker();
  }

  /**
   * Between foreground work (an idle event loop), background work goes on one slice per turn
   * (idleTurn) until none is due. Scheduled after every write; a turn with nothing to do costs
   * one timer.
   */
  scheduleIdleWork(): void {
    const state = this.state;
    if (this.idleTimer !== undefined || state.closed || state.failed !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (state.closed || state.failed !== undefined) return;
      // Nobody awaits idle work: a failure is kept and the next write reports it.
      let more = false;
      state.runBackgroundWork(() => (more = this.idleTurn()));
      if (more) this.scheduleIdleWork();
    }, 0);
    // Do not keep the process alive for background work alone (Node and Bun have unref; Deno's
    // setTimeout returns a number).
    (this.idleTimer as { unref?: () => void }).unref?.();
  }

  /** Stops idle work (close). */
  stop(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
  }

  /**
   * One slice of idle work, the most urgent first; true if more is due. Flushes and compactions
   * come first, then opening the point-read lookup of a table the worker wrote. Then, with
   * automatic GC: a memtable whose log records span sealed segments is written out (the log head
   * cannot pass its records, so none of those segments could ever be collected, however much of
   * them is overwritten); GC collects up to IDLE_GC_BYTES of segments per turn while any is at
   * least AUTO_GC_DISCARD_RATIO garbage; and when garbage may hide between levels, one full
   * compaction (in slices) counts it. So space comes back without
   * anyone calling gc(), and each step ends: a flush moves the head to the current segment, each
   * collection removes segments, and a full compaction waits for a quarter of log growth.
   */
  private idleTurn(): boolean {
    const { tree, log, manifest } = this.state;
    if (tree.backgroundWorkDue) {
      tree.backgroundWork(tree.buildsOnWorker ? IDLE_COPY_BYTES : IDLE_SLICE_BYTES, this.state.oldestReadSequence());
      return true;
    }
    // A table the worker wrote opens its point-read lookup here rather than in a point read.
    if (tree.openDeferredLookup()) return true;
    // As inline, where a running job is work due: nothing else starts until the worker's reply,
    // which schedules the next turn (a flush overtaking a full compaction would hide garbage).
    if (tree.workerBusy) return false;
    if (!this.state.settings.autoGc) return false;
    const memtableSpansSealedSegments = log.currentSegment > manifest.state.logHead.segment && tree.memtable.memtable.count > 0;
    if (memtableSpansSealedSegments && tree.immutables.length === 0) {
      tree.rotate(log.position);
      return true;
    }
    // Candidates change only with the manifest (garbage counts, the head): look again only then.
    if (manifest.editsWritten !== this.gcLookedAtEdit) {
      if (this.gc.collect(AUTO_GC_DISCARD_RATIO, Infinity, IDLE_GC_BYTES).segmentsCollected.length > 0) return true;
      this.gcLookedAtEdit = manifest.editsWritten;
    }
    if (!this.garbageMayHide()) return false;
    this.logBytesAtFullCompaction = log.bytesWritten;
    tree.startFullCompaction();
    return true;
  }

  /**
   * Whether overwritten values may hide from GC: compaction counts a value as garbage only when
   * it drops the last pointer to it, so a pointer whose newer version sits in another level (or
   * another level-0 table) is not counted until the two meet. When there is more than one sorted
   * run, values live in the log, and the log has grown by a quarter (at least one segment) since
   * the last such compaction, one full compaction in idle slices brings them to light. Its cost
   * is the LSM, which holds keys and pointers only where values are in the log: small next to
   * the log space it lets GC reclaim; and it runs at most once per quarter of log growth.
   */
  private garbageMayHide(): boolean {
    if (this.state.tree.sortedRuns < 2) return false;
    const grown = this.state.log.bytesWritten - this.logBytesAtFullCompaction;
    if (grown < this.state.settings.segmentBytes) return false;
    const pointerBytes = this.state.manifest.state.segmentPointerBytes;
    if (!Object.values(pointerBytes).some((bytes) => bytes > 0)) return false;
    return grown * 4 >= logSpace(this.state.storage, this.state.manifest.state).totalBytes;
  }
}
