/**
 * Log accounting: what the LSM needs to know about the value log when a flush moves the log
 * head. It owns the per-segment counts of bytes that memtable entries point at (values above
 * the threshold; everything else in a segment is garbage once it is flushed), makes the log
 * durable before a table may point into it, and retires the segments the head leaves behind
 * with nothing pointing into them.
 */
import type { Manifest } from "../lsm/manifest.ts";
import type { LogPosition, ValueLog } from "./log.ts";

/** The sequences a flush records and filters by, from the database around the tree. */
export interface SequenceSource {
  readonly lastSequence: number;
  /** The oldest sequence a snapshot, transaction or iterator reads at (the newest if none). */
  oldestReadSequence(): number;
  /** Deletes a segment nothing points into, now or once nothing holds it (GC's deletion). */
  retireSegment(segment: number): void;
}

export class LogAccounting {
  /** Per segment, the bytes of records some memtable entry points at. */
  private readonly pointerBytes = new Map<number, number>();

  constructor(
    private readonly log: ValueLog,
    private readonly manifest: Manifest,
    private readonly sequences: SequenceSource,
  ) {}

  /** A segment the log started: it is counted from zero. */
  segmentStarted(segment: number): void {
    this.pointerBytes.set(segment, 0);
  }

  /** A segment replay read records from: counted from zero if it is new here. */
  noteSegment(segment: number): void {
    if (!this.pointerBytes.has(segment)) this.pointerBytes.set(segment, 0);
  }

  /** A record of `length` bytes in `segment` that a memtable entry points at. */
  notePointer(segment: number, length: number): void {
    this.pointerBytes.set(segment, (this.pointerBytes.get(segment) ?? 0) + length);
  }

  /** After replay: replay counted pointers only after the head; an earlier flush recorded those before it. */
  addRecordedCounts(): void {
    const recorded = this.manifest.state.segmentPointerBytes;
    for (const [segment, pointerBytes] of this.pointerBytes) this.pointerBytes.set(segment, pointerBytes + (recorded[segment] ?? 0));
  }

  /** Makes the log durable up to now: a flushed table may point at any value in it. */
  syncLog(): void {
    this.log.write(true);
  }

  /**
   * Hands every appended record to the OS (a no-op but with buffered durability): then an
   * fdatasync of the segments by anyone, as the worker's at the end of a flush, makes them durable.
   */
  writeLogToOs(): void {
    this.log.write(false);
  }

  lastSequence(): number {
    return this.sequences.lastSequence;
  }

  /** Versions shadowed at or below this (no reader needs them) are not written to a table. */
  oldestReadSequence(): number {
    return this.sequences.oldestReadSequence();
  }

  /**
   * How many bytes of each segment up to the log head entries point at, for the flush edit
   * that moves the head: every segment the head leaves behind gets its final count in the very
   * edit that leaves it (no crash can separate the two), the head's own segment a count of its
   * part before the head. A segment is written by one process only; after a crash the count is
   * what replay saw plus what the last flush recorded.
   */
  pointerCountsUpTo(head: LogPosition): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [segment, pointerBytes] of this.pointerBytes) if (segment <= head.segment) counts[segment] = pointerBytes;
    return counts;
  }

  /**
   * With nothing in memtables, every record before `head` is in a table: moves the log head
   * there (recording each segment's final pointer count in the same edit) and retires the
   * segments it leaves behind that nothing points into.
   */
  moveHeadPastTables(head: LogPosition): void {
    this.manifest.apply({ logHead: head, nextFileNumber: head.segment + 1, lastSequence: this.sequences.lastSequence, segmentPointerBytes: this.pointerCountsUpTo(head) });
    this.retireFlushedSegments();
  }

  /**
   * After a flush: deletes segments the log head has left behind that nothing points into (they
   * only held inline values and deletes, all in tables now). GC counts the rest of a segment's
   * unreferenced bytes as garbage (ts/vlog/gc.ts).
   */
  retireFlushedSegments(): void {
    const unreferenced = this.unreferencedSegments(this.manifest.state.logHead, {});
    if (unreferenced.length > 0) this.manifest.apply({ collectedSegments: unreferenced });
    this.segmentsRetired(unreferenced);
  }

  /**
   * The segments before `head` that nothing points into and are not collected yet, with the
   * manifest's pointer counts updated by `counts` (those of an edit about to move the head
   * there): a flush's edit names them itself, so it needs no second edit, whose append would
   * have to wait on this thread for the flush edit's fdatasync (at most one edit is ever
   * written and not durable; Manifest.apply).
   */
  unreferencedSegments(head: LogPosition, counts: Record<string, number>): number[] {
    const { segmentPointerBytes, collectedSegments } = this.manifest.state;
    const merged = { ...segmentPointerBytes, ...counts };
    return Object.entries(merged)
      .filter(([segment, pointerBytes]) => Number(segment) < head.segment && pointerBytes === 0 && !collectedSegments.includes(Number(segment)))
      .map(([segment]) => Number(segment));
  }

  /** Once the edit that moved the head (and named `unreferenced` collected) is applied: deletes those segments. */
  segmentsRetired(unreferenced: readonly number[]): void {
    const { logHead } = this.manifest.state;
    for (const segment of this.pointerBytes.keys()) if (segment < logHead.segment) this.pointerBytes.delete(segment);
    for (const segment of unreferenced) this.sequences.retireSegment(segment);
  }
}
