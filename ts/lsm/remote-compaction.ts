/**
 * A compaction run by the background worker, seen from the tree as a running compaction like
 * CompactionJob: step() looks for its reply (a step with an unbounded budget waits for it), and
 * result() gives the manifest edit. The worker writes and fsyncs every output table before it
 * replies, so the edit the tree applies only ever names durable tables.
 */
import { assert } from "../assert.ts";
import { deserializeError, type BackgroundReply, type BackgroundSession } from "./background.ts";
import type { CompactionPlan, CompactionResult, CompactionSettings } from "./compaction.ts";

/** What the tree needs of a compaction in progress, inline (CompactionJob) or on the worker. */
export interface RunningCompaction {
  readonly plan: CompactionPlan;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Advances by about `budgetBytes` of input; true once the outputs are written. */
  step(budgetBytes: number): boolean;
  result(): CompactionResult;
  free(): void;
}

type WorkerResult = CompactionResult & { bytesRead: number; bytesWritten: number };

/**
 * File numbers reserved for a compaction's outputs: outputs are cut near tableBytes and hold at
 * most the input's entries, so twice the input's size in tables (and two more) always suffices.
 * Unused numbers are skipped for good, which costs nothing.
 */
function outputNumbersFor(plan: CompactionPlan, settings: CompactionSettings): number {
  const inputBytes = [...plan.inputs, ...plan.overlapping].reduce((sum, table) => sum + table.size, 0);
  return 2 * Math.ceil(inputBytes / settings.tableBytes) + 2;
}

export class RemoteCompaction implements RunningCompaction {
  private readonly job: number;
  private reply: BackgroundReply | undefined;
  private outcome: WorkerResult | undefined;

  constructor(
    private readonly session: BackgroundSession,
    readonly plan: CompactionPlan,
    oldestSnapshotSequence: number,
    allocateFileNumber: () => number,
    settings: CompactionSettings,
  ) {
    const fileNumbers = Array.from({ length: outputNumbersFor(plan, settings) }, () => allocateFileNumber());
    const { l0Files, levelRatio, level1Bytes, tableBytes, compression } = settings;
    this.job = session.start({ type: "compact", plan, oldestSnapshotSequence, fileNumbers, settings: { l0Files, levelRatio, level1Bytes, tableBytes, compression } });
  }

  get bytesRead(): number {
    return this.outcome?.bytesRead ?? 0;
  }

  get bytesWritten(): number {
    return this.outcome?.bytesWritten ?? 0;
  }

  step(budgetBytes: number): boolean {
    if (this.outcome) return true;
    this.reply = budgetBytes === Number.MAX_SAFE_INTEGER ? this.session.wait(this.job) : this.session.take(this.job);
    if (!this.reply) return false;
    if (!this.reply.ok) throw deserializeError(this.reply.error!);
    this.outcome = this.reply.result as WorkerResult;
    return true;
  }

  result(): CompactionResult {
    assert(this.outcome !== undefined, "compaction result before it finished");
    return this.outcome;
  }

  /**
   * A job dropped before its reply (close, a failure elsewhere) still waits for the worker to
   * stop writing: a database reopened at once must not meet a table still being written.
   */
  free(): void {
    if (this.reply || this.session.failure !== undefined) return;
    try {
      this.reply = this.session.wait(this.job);
    } catch {
      // The worker is lost: it writes nothing more.
    }
  }
}
