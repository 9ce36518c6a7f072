/**
 * Flushes: the oldest immutable memtable written to a level-0 table and recorded, with the new
 * value-log head, in one manifest edit. Inline, this thread builds the table in paced steps; with
 * the worker, each step copies entries out to it, and its reply commits the table.
 */
import { assert } from "../assert.ts";
import type { Cursor, Run } from "../core/types.ts";
import { decodeRun } from "../core/entry.ts";
import { VersionFilter, flushIsBottommost } from "./compaction.ts";
import { Table, type TableMeta } from "./sstable.ts";
import { TableBuilder } from "./table-builder.ts";
import type { LogPosition } from "../vlog/log.ts";
import { deserializeError, type BackgroundReply, type FlushResult } from "./background.ts";
import { TableOpening } from "./table-image.ts";
import type { MemtableSlot, MemtableSlots } from "./memtable-slot.ts";
import type { TreeEnvironment, TreeTables } from "./tree-tables.ts";

interface FlushInProgress {
  slot: MemtableSlot;
  cursor: Cursor;
  run: Run;
  /** Holds the surviving entries of a run that lost some. */
  staging: Run;
  versions: VersionFilter;
  builder: TableBuilder;
}

/** A flush on the background worker: the memtable's entries go out run by run, then its reply comes. */
interface RemoteFlush {
  slot: MemtableSlot;
  fileNumber: number;
  cursor: Cursor;
  run: Run;
  job: number;
  /** Every entry is sent and the worker is finishing the table. */
  sent: boolean;
  /** The worker's reply, kept until the table is opened. */
  reply?: BackgroundReply;
  /** The table being opened from the reply, in steps before the step that commits it. */
  opening?: TableOpening;
  table?: Table;
}

/** Entries a flush step copies out of the memtable at a time. */
const FLUSH_RUN_BYTES = 256 * 1024;
/**
 * With the worker, entries one paced copy takes at a time: a write paying for 24 KiB of copying
 * (a batch of 100 puts) carried a whole 256 KiB copy, 5.5 ms on average in the slow batches of a
 * loaded 2,500,000-key fill.
 */
const PACED_COPY_BYTES = 64 * 1024;

export class Flusher {
  flushes = 0;
  bytesFlushed = 0;
  private flush: FlushInProgress | undefined;
  private remoteFlush: RemoteFlush | undefined;

  constructor(
    private readonly environment: TreeEnvironment,
    private readonly slots: MemtableSlots,
    private readonly tables: TreeTables,
  ) {}

  /** Whether every entry of the flush in flight is with the worker, which is finishing its table. */
  get sent(): boolean {
    return this.remoteFlush?.sent === true;
  }

  /** Whether the worker's flushed table is being opened in steps on this thread. */
  get opening(): boolean {
    return this.remoteFlush?.opening !== undefined;
  }

  /** Flushes every immutable memtable, oldest first (the caller made the log durable up to the current memtable). */
  flushAll(): void {
    while (this.slots.immutables.length > 0) {
      this.step(Number.MAX_SAFE_INTEGER);
      this.waitForWorker();
    }
  }

  /** Waits for the worker's flush in flight (if any) and commits it. */
  waitForWorker(): void {
    const flush = this.remoteFlush;
    if (flush?.sent) this.applyReply(flush.reply ?? this.environment.remote!.wait(flush.job), true);
  }

  /** Applies the worker's finished flush if its reply (and the log sync off this thread) has come. */
  applyFinished(): void {
    const flush = this.remoteFlush;
    if (!flush?.sent) return;
    flush.reply ??= this.environment.remote!.take(flush.job);
    if (flush.reply) this.applyReply(flush.reply, false);
  }

  /**
   * Advances the flush of the oldest immutable memtable by about `budgetBytes` (a table is
   * written as it goes; returns the bytes done), and commits it when its last entry is in: the log is made durable
   * (the table may point into it), then one manifest edit adds the table, moves the log head
   * past the memtable, and records the pointer counts of the segments the head moves past.
   */
  step(budgetBytes: number): number {
    if (this.environment.remote) return this.remoteStep(budgetBytes);
    const flush = (this.flush ??= this.startInline());
    if (!flush) return 0;
    let done = 0;
    try {
      while (done < budgetBytes) {
        if (flush.cursor.fill(flush.run, FLUSH_RUN_BYTES) === 0) {
          this.commitInline(flush);
          break;
        }
        done += flush.run.byteLength;
        addFiltered(flush);
      }
      return done;
    } catch (error) {
      // Like a failed compaction, a failed flush is dropped; its file is deleted and the
      // memtable stays readable (its records are still in the log past the head).
      this.drop();
      throw error;
    }
  }

  private startInline(): FlushInProgress | undefined {
    const slot = this.slots.immutables[0];
    if (!slot) return undefined;
    const { core, storage, manifest, compactionSettings, accounting } = this.environment;
    return {
      slot,
      cursor: slot.memtable.cursor(false),
      run: core.newRun(FLUSH_RUN_BYTES),
      staging: core.newRun(FLUSH_RUN_BYTES),
      versions: new VersionFilter(accounting.oldestReadSequence(), this.isBottommost(slot)),
      builder: new TableBuilder(core, storage, this.environment.allocateFileNumber(), manifest.databaseId, compactionSettings.compression),
    };
  }

  /**
   * A flush writes to level 0, above older versions of its keys, so its tombstones stay and its
   * sequences are kept: unless no table meets the memtable's key range (the first flush, or keys
   * written in order), when it is bottommost as a compaction to the last level is.
   */
  private isBottommost(slot: MemtableSlot): boolean {
    const run = this.environment.core.newRun(1024);
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
      return smallest !== undefined && largest !== undefined && flushIsBottommost(this.tables.levels, { smallest, largest });
    } finally {
      run.free();
    }
  }

  private commitInline(flush: FlushInProgress): void {
    const meta = flush.builder.finish();
    this.drop();
    this.environment.accounting.syncLog();
    const { core, storage, manifest, files } = this.environment;
    this.commit(flush.slot, flush.builder.fileNumber, meta && Table.open(core, storage, meta, manifest.databaseId, files), flush.versions.discardedLogBytes);
  }

  /**
   * Records a written (and fsynced) level-0 table of the oldest immutable memtable, or none when
   * a bottommost flush kept no entry (tombstones over nothing); the log is durable up to the
   * current memtable (the table may point into it).
   */
  private commit(slot: MemtableSlot, fileNumber: number, table: Table | undefined, discardedLogBytes: Record<string, number>): void {
    const { immutables } = this.slots;
    assert(immutables[0] === slot, "a flush commits out of order");
    const nextStart = (immutables[1] ?? this.slots.memtable).logStart;
    // The worker synced the directory itself (the new file's name) before it replied.
    if (!this.environment.remote) this.environment.storage.syncDirectory();
    let unreferenced: number[];
    try {
      unreferenced = this.applyEdit(fileNumber, table?.meta, nextStart, discardedLogBytes);
    } catch (error) {
      table?.close();
      throw error;
    }
    if (table) this.tables.add(table);
    immutables.shift();
    slot.flushed = true;
    slot.freeIfDone();
    this.flushes++;
    this.tables.versionChanged = true;
    this.bytesFlushed += table?.meta.size ?? 0;
    this.environment.accounting.segmentsRetired(unreferenced);
  }

  /** The flush's one manifest edit; returns the segments it retired (left behind, nothing pointing into them). */
  private applyEdit(fileNumber: number, meta: TableMeta | undefined, nextStart: LogPosition, discardedLogBytes: Record<string, number>): number[] {
    const { accounting } = this.environment;
    const segmentPointerBytes = accounting.pointerCountsUpTo(nextStart);
    const unreferenced = accounting.unreferencedSegments(nextStart, segmentPointerBytes);
    this.environment.manifest.apply({
      added: meta ? [{ level: 0, table: meta }] : undefined,
      logHead: nextStart,
      // The head may already be in a segment numbered after the table (the log rolled over
      // while the flush ran): every number the edit names stays below nextFileNumber.
      nextFileNumber: Math.max(fileNumber, nextStart.segment) + 1,
      lastSequence: accounting.lastSequence(),
      segmentPointerBytes,
      discardedLogBytes,
      ...(unreferenced.length > 0 ? { collectedSegments: unreferenced } : {}),
    });
    return unreferenced;
  }

  /**
   * The flush of the oldest immutable memtable on the worker: each step copies up to
   * `budgetBytes` of its entries out to the worker; after the last, the worker finishes the
   * table and its reply commits it (applyFinished). Returns the bytes sent.
   */
  private remoteStep(budgetBytes: number): number {
    const remote = this.environment.remote!;
    const flush = (this.remoteFlush ??= this.startRemote());
    if (!flush) return 0;
    let done = 0;
    // A paced step waits for a copy buffer to come back rather than allocate one (a waiting write does not).
    const waiting = budgetBytes === Number.MAX_SAFE_INTEGER;
    while (!flush.sent && done < budgetBytes && (waiting || !remote.copyBuffersOut)) {
      if (flush.cursor.fill(flush.run, waiting ? FLUSH_RUN_BYTES : PACED_COPY_BYTES) === 0) {
        this.finishSending(flush);
        break;
      }
      done += flush.run.byteLength;
      const bytes = remote.copyForTransfer(flush.run.bytes());
      remote.start({ type: "flush-run", bytes }, flush.job, [bytes.buffer as ArrayBuffer]);
    }
    return done;
  }

  private startRemote(): RemoteFlush | undefined {
    const slot = this.slots.immutables[0];
    if (!slot) return undefined;
    const { core, remote, compactionSettings, accounting } = this.environment;
    const { compression } = compactionSettings;
    const fileNumber = this.environment.allocateFileNumber();
    const job = remote!.start({ type: "flush-start", fileNumber, oldestReadSequence: accounting.oldestReadSequence(), bottommost: this.isBottommost(slot), compression });
    return { slot, fileNumber, cursor: slot.memtable.cursor(false), run: core.newRun(FLUSH_RUN_BYTES), job, sent: false };
  }

  /**
   * The table may point at any record of the memtable: the worker makes the log durable up to
   * the memtable's end before it replies, by an fdatasync of the segment that end is in (every
   * earlier segment was synced whole when it was sealed). Its reply then needs no sync on this
   * thread, nor an event-loop turn for one done off it (a caller writing in a loop gives none).
   */
  private finishSending(flush: RemoteFlush): void {
    const { remote, accounting } = this.environment;
    accounting.writeLogToOs();
    const logSegment = (this.slots.immutables[1] ?? this.slots.memtable).logStart.segment;
    remote!.start({ type: "flush-finish", logSegment }, flush.job);
    flush.sent = true;
    flush.cursor.free();
    flush.run.free();
  }

  /**
   * Opens the worker's flushed table in steps (TableOpening), and in a later step commits it (all
   * at once with `wait`), so no one step carries much.
   */
  private applyReply(reply: BackgroundReply, wait: boolean): void {
    const flush = this.remoteFlush!;
    // A failed flush is dropped (the worker deleted its file); the memtable stays readable.
    if (!reply.ok) {
      this.remoteFlush = undefined;
      throw deserializeError(reply.error!);
    }
    const { meta, discardedLogBytes, image } = reply.result as FlushResult;
    if (meta && !flush.table) {
      assert(image !== undefined, "a flushed table comes with its image");
      const { core, manifest, files } = this.environment;
      flush.opening ??= new TableOpening(core, meta, manifest.databaseId, files, image);
      flush.table = flush.opening.step(wait ? Number.MAX_SAFE_INTEGER : undefined);
      if (!wait) return;
    }
    assert(meta === undefined || flush.table !== undefined, "a flush waited for is opened whole");
    this.remoteFlush = undefined;
    this.commit(flush.slot, flush.fileNumber, flush.table, discardedLogBytes);
  }

  /**
   * Drops the flush in progress: the memtable's records are in the log. The worker finishes what
   * it is writing first (close), so nothing writes once this returns.
   */
  close(): void {
    const remote = this.environment.remote;
    try {
      if (this.remoteFlush?.sent && !this.remoteFlush.reply && remote!.failure === undefined) remote!.wait(this.remoteFlush.job);
    } catch {
      // The worker is lost: it writes nothing more.
    }
  }

  /** Frees the flush in progress; an unfinished table file is deleted by TableBuilder.free. */
  drop(): void {
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
}

/**
 * Overwritten versions nobody can read are dropped here already, so the log records of their
 * values count as garbage as soon as the memtable is written (not only after the table's first
 * compaction). The copy outlives the next fill, as the filter needs.
 */
function addFiltered(flush: FlushInProgress): void {
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
