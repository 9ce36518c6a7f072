/** The tree's memtables: the mutable one and the immutable ones waiting to flush, each in a slot. */
import type { Memtable } from "../core/types.ts";
import type { LogPosition } from "../vlog/log.ts";

/** A memtable and the value-log position its first record was written at. */
export class MemtableSlot {
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

/** The tree's memtables as a flush sees them: it takes the oldest immutable and commits it. */
export interface MemtableSlots {
  readonly memtable: MemtableSlot;
  /** Oldest first. */
  readonly immutables: MemtableSlot[];
}
