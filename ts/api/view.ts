/**
 * What snapshots and transactions need from the database, and no more: reads and iterations at
 * a sequence, pinning a sequence so compaction and GC keep what it reads, the current sequence,
 * and a batch write that transactions check against the conflict journal first.
 */
import type { ConflictJournal } from "../engine/conflicts.ts";
import type { BatchOperation, Encodable, IterateOptions, ReadOptions, WriteOptions } from "./options.ts";

export interface ReadView {
  /** Throws PGZ_CLOSED once the database is closed. */
  checkOpen(): void;
  /** The sequence of the newest write: what a read made now sees. */
  currentSequence(): number;
  /** Reads follow the database's encodings unless `options` say otherwise (transactions pass BINARY). */
  getAt<V = Uint8Array>(key: Encodable, sequence: number, options?: ReadOptions): V | undefined;
  iterateAt<K = Uint8Array, V = Uint8Array>(options: IterateOptions, sequence: number): Generator<[K, V], void, undefined>;
  /** Keeps the versions `sequence` reads (and the log segments they point into) until release. */
  pin(reader: object, sequence: number): void;
  release(reader: object): void;
  /** The writes open transactions validate against; the write path records into it. */
  readonly conflicts: ConflictJournal;
  batch(operations: readonly BatchOperation[], options?: WriteOptions): void;
}
