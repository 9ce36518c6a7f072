/**
 * MVCC on sequence numbers: every committed write has one, and a snapshot is a sequence that
 * reads stop at. (Transactions build on this.)
 */
import { PgzError } from "./errors.ts";
import type { DB, IterateOptions } from "./db.ts";

export class Snapshot {
  private released = false;

  constructor(
    private readonly db: DB,
    /** Reads see every write with a sequence <= this, and nothing newer. */
    readonly sequence: number,
    private readonly onRelease: () => void,
  ) {}

  private checkLive(): void {
    if (this.released) throw new PgzError("PGZ_CLOSED", "the snapshot was released");
  }

  get(key: Uint8Array | string): Uint8Array | undefined {
    this.checkLive();
    return this.db.getAt(key, this.sequence);
  }

  iterate(options: IterateOptions = {}): Generator<[Uint8Array, Uint8Array], void, undefined> {
    this.checkLive();
    return this.db.iterateAt(options, this.sequence);
  }

  /** Lets compaction reclaim the versions this snapshot pinned. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
