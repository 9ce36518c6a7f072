/**
 * A read-only view of the database fixed at one sequence (MVCC on sequence numbers: every
 * committed write has one, and a snapshot is a sequence that reads stop at). It pins that
 * sequence until released, so compaction keeps the versions it reads and GC the log segments
 * they point into. Snapshots do not survive a restart.
 */
import { PgzError } from "../errors.ts";
import type { Encodable, IterateOptions, ReadOptions } from "./options.ts";
import type { ReadView } from "./view.ts";

export class Snapshot {
  private released = false;
  /** Reads see every write with a sequence <= this, and nothing newer. */
  readonly sequence: number;

  constructor(private readonly view: ReadView) {
    view.checkOpen();
    this.sequence = view.currentSequence();
    view.pin(this, this.sequence);
  }

  private checkLive(): void {
    if (this.released) throw new PgzError("PGZ_CLOSED", "the snapshot was released");
  }

  /** Follows the database's encodings (open options, or per call) as db.get does. */
  get<V = Uint8Array>(key: Encodable, options?: ReadOptions): V | undefined {
    this.checkLive();
    return this.view.getAt<V>(key, this.sequence, options);
  }

  iterate<K = Uint8Array, V = Uint8Array>(options: IterateOptions = {}): Generator<[K, V], void, undefined> {
    this.checkLive();
    return this.view.iterateAt<K, V>(options, this.sequence);
  }

  /** Lets compaction reclaim the versions this snapshot pinned. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.view.release(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
