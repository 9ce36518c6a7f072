/**
 * What snapshots and transactions need from the database, and no more: reads and iterations at
 * a sequence, pinning a sequence so compaction and GC keep what it reads, the current sequence,
 * and a batch write that transactions check against the conflict journal first.
 */
import type { ConflictJournal } from "../engine/conflicts.ts";
import type { BatchOperation, IterateOptions, WriteOptions } from "./options.ts";

export interface ReadView {
  /** Throws PGZ_CLOSED once the database is closed. */
  checkOpen(): void;
  /** The sequence of the newest write: what a read made now sees. */
  currentSequence(): number;
  getAt(key: Uint8Array | string, sequence: number): Uint8Array | undefined;
  iterateAt(options: IterateOptions, sequence: number): Generator<[Uint8Array, Uint8Array], void, undefined>;
  /** Keeps the versions `sequence` reads (and the log segments they point into) until release. */
  pin(reader: object, sequence: number): void;
  release(reader: object): void;
  /** The writes open transactions validate against; the write path records into it. */
  readonly conflicts: ConflictJournal;
  batch(operations: readonly BatchOperation[], options?: WriteOptions): void;
}
