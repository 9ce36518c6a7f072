/**
 * Compactions on the background worker, run in slices: each slice merges about SLICE_BYTES of
 * input, then yields to the worker's event loop, which serves the requests that came meanwhile
 * (a flush's entries, its finish, an unlink) before the next slice. So a flush never waits behind
 * a whole compaction, and compactions go on while flushes keep coming. One compaction runs at a
 * time; the foreground starts at most one per database.
 */
import type { Core } from "../core/types.ts";
import type { HandleCache, Storage } from "../storage/io.ts";
import { CompactionJob, type CompactionPlan, type CompactionResult, type CompactionSettings } from "./compaction.ts";
import { Table, type TableMeta } from "./sstable.ts";
import { readTableImage, type TableImage } from "./table-image.ts";

/** Input bytes one slice merges: a few milliseconds, the longest a flush's next request waits. */
const SLICE_BYTES = 512 * 1024;

export interface CompactionDatabase {
  core: Core;
  storage: Storage;
  files: HandleCache;
  databaseId: Uint8Array;
}

export interface CompactionRequest {
  plan: CompactionPlan;
  oldestSnapshotSequence: number;
  fileNumbers: number[];
  settings: CompactionSettings;
}

export type WorkerCompactionResult = CompactionResult & { images: TableImage[]; bytesRead: number; bytesWritten: number };

/** How a compaction ended: its result, or the error that dropped it. */
export type CompactionDone = (outcome: { result: WorkerCompactionResult } | { error: unknown }) => void;

interface QueuedCompaction {
  database: CompactionDatabase;
  job: CompactionJob;
  tables: Map<number, Table>;
  done: CompactionDone;
}

export class CompactionQueue {
  private readonly queue: QueuedCompaction[] = [];
  private scheduled = false;

  /** `beforeSlice` runs before every slice (the pause test hook: it may stop the thread there). */
  constructor(private readonly beforeSlice: (job: CompactionJob) => void) {}

  add(database: CompactionDatabase, request: CompactionRequest, done: CompactionDone): void {
    const { core, storage, files, databaseId } = database;
    const tables = new Map<number, Table>();
    const tableOf = (meta: TableMeta) => {
      let table = tables.get(meta.fileNumber);
      if (!table) tables.set(meta.fileNumber, (table = Table.open(core, storage, meta, databaseId, files)));
      return table;
    };
    const numbers = [...request.fileNumbers];
    const allocate = () => {
      const next = numbers.shift();
      if (next === undefined) throw new Error("a compaction wrote more tables than the file numbers reserved for it");
      return next;
    };
    const job = new CompactionJob(core, storage, request.plan, tableOf, request.oldestSnapshotSequence, allocate, request.settings, databaseId);
    this.queue.push({ database, job, tables, done });
    this.schedule();
  }

  /** Drops the compactions of a closed database (the foreground waits for none of them any more). */
  dropDatabase(database: CompactionDatabase): void {
    for (const queued of this.queue.filter((entry) => entry.database === database)) this.release(queued);
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // setImmediate: the event loop's poll phase (the port's messages) runs before the next slice.
    setImmediate(() => {
      this.scheduled = false;
      this.slice();
      this.schedule();
    });
  }

  private slice(): void {
    const queued = this.queue[0];
    if (!queued) return;
    let outcome: { result: WorkerCompactionResult } | { error: unknown };
    try {
      this.beforeSlice(queued.job);
      if (!queued.job.step(SLICE_BYTES)) return;
      outcome = { result: this.finish(queued) };
    } catch (error) {
      outcome = { error };
    }
    this.release(queued);
    queued.done(outcome);
  }

  /** Every output table is fsynced by TableBuilder.finish; their names by the directory sync here. */
  private finish({ database, job }: QueuedCompaction): WorkerCompactionResult {
    const { core, storage, databaseId } = database;
    storage.syncDirectory();
    const result = job.result();
    // The foreground opens the outputs from these (ts/lsm/table-image.ts), not from their files.
    const images = result.added.map((meta) => readTableImage(core, storage, meta, databaseId));
    return { ...result, images, bytesRead: job.bytesRead, bytesWritten: job.bytesWritten };
  }

  private release(queued: QueuedCompaction): void {
    const index = this.queue.indexOf(queued);
    if (index >= 0) this.queue.splice(index, 1);
    queued.job.free();
    for (const table of queued.tables.values()) table.close();
    // The inputs are deleted once the foreground applies the edit: no handle here may keep
    // their space allocated.
    queued.database.files.clear();
  }
}
