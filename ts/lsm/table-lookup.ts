/**
 * A table's in-core lookup (filter and index, for point reads), opened now or at its first use.
 * A table the worker flushed or compacted opens it at the next idle turn of the event loop
 * (TreeTables.openDeferredLookup) or at its first point read, whichever comes first, not in the
 * write that commits it: opening copies the filter and index into the core's memory, which cost
 * 6-8 ms of fresh-page faults and decoding on the caller's thread in that write (bench:latency).
 */
import { assert } from "../assert.ts";
import type { TableLookup } from "../core/types.ts";

export class LazyTableLookup {
  private opened: TableLookup | undefined;
  private freed = false;

  constructor(
    private readonly blockCount: number,
    private open: (() => TableLookup) | undefined,
  ) {}

  /** The lookup, opened by this call if not yet. */
  get lookup(): TableLookup {
    if (this.opened) return this.opened;
    assert(!this.freed && this.open !== undefined, "a freed table opens no lookup");
    this.opened = this.open();
    this.open = undefined;
    assert(this.opened.blockCount === this.blockCount, "the lookup and the decoded index agree");
    return this.opened;
  }

  /** Whether the lookup is still to open: not opened yet and its table not closed. */
  get pending(): boolean {
    return this.opened === undefined && !this.freed;
  }

  /** The lookup if it is open (a block leaving the cache leaves its slot only then). */
  get ifOpen(): TableLookup | undefined {
    return this.opened;
  }

  free(): void {
    this.freed = true;
    this.opened?.free();
    this.opened = undefined;
    this.open = undefined;
  }
}
