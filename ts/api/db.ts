/**
 * The public database: a thin facade. It checks arguments (through ts/api/options.ts), then
 * hands the work to the engine (ts/engine/): the write path, the read path, recovery, pacing,
 * GC. Snapshots and transactions reach it through a narrow ReadView (ts/api/view.ts).
 */
import { PgzError, invalidArgument } from "../errors.ts";
import type { Core } from "../core/types.ts";
import type { Engine } from "../engine/engine.ts";
import { openEngine } from "../engine/recovery.ts";
import { checkEngine, engineStats, type CheckProblem, type CheckReport } from "../engine/stats.ts";
import {
  checkBatch,
  checkCompactRange,
  checkGcOptions,
  checkIterateOptions,
  checkKey,
  checkSequence,
  checkValue,
  resolveOptions,
  splitIterateEncodings,
  writeDurability,
  type BatchOperation,
  type Encodable,
  type EncodingOptions,
  type ReadOptions,
  type CompactRange,
  type Durability,
  type GcOptions,
  type IterateOptions,
  type OpenOptions,
  type WriteOptions,
} from "./options.ts";
import type { BackupReport, BackupSource } from "./backup.ts";
import { platform } from "../storage/platform.ts";
import { Snapshot } from "./snapshot.ts";
import { Transaction, runTransaction, type TransactionOptions, type TransactionRunOptions } from "./txn.ts";
import { runTransactionSync } from "./transaction-sync.ts";
import { decode, decodedPairs, encode, isBinary, resolveEncodings, ENCODING_OPTION_NAMES, type Encodings } from "./encoding.ts";
import type { ReadView } from "./view.ts";
import { checkOptions } from "../errors.ts";
import type { ChangeBatch, ChangeStream, ChangesOptions } from "../vlog/changes.ts";
import { NO_VALUE } from "../vlog/record.ts";

export type { BackupReport, BatchOperation, CheckProblem, CheckReport, Durability, IterateOptions, OpenOptions, WriteOptions };
export type { ChangeBatch, ChangeStream, ChangesOptions, Encodable, EncodingOptions, ReadOptions };
export type { Encoding } from "./encoding.ts";

export class DB {
  /** What snapshots and transactions see of this database. */
  private readonly view: ReadView;

  private constructor(
    readonly directory: string,
    /** Replaced by refresh(): everything here reads `this.engine`, never an engine captured once. */
    private engine: Engine,
    /** The options it was opened with: a read-only database reopens with them at refresh(). */
    private readonly options: OpenOptions,
  ) {
    const db = this;
    this.view = {
      checkOpen: () => this.checkOpen(),
      currentSequence: () => this.engine.state.lastSequence,
      getAt: (key, sequence, options) => this.getAt(key, sequence, options),
      iterateAt: (options, sequence) => this.iterateAt(options, sequence),
      pin: (reader, sequence) => this.engine.pin(reader, sequence),
      release: (reader) => this.engine.release(reader),
      get conflicts() {
        return db.engine.state.conflicts;
      },
      batch: (operations, options) => this.batch(operations, options),
    };
  }

  /** Opens (or creates) the database in `directory`: superblock, manifest, then log replay. */
  static open(directory: string, options: OpenOptions = {}): DB {
    if (typeof directory !== "string" || directory.length === 0) throw invalidArgument("directory must be a non-empty string");
    const settings = resolveOptions(options);
    return new DB(directory, openEngine(directory, options, settings), options);
  }

  /** Whether the database was opened with readOnly: true. */
  get readOnly(): boolean {
    return this.engine.state.readOnlyView !== undefined;
  }

  /**
   * Moves a read-only database to the writer's current state (a new version, pinned before the
   * old one is let go). Refused while snapshots, iterators or transactions are open: they read
   * the version they started at.
   */
  refresh(): void {
    this.checkOpen();
    if (!this.readOnly) throw new PgzError("PGZ_INVALID_ARGUMENT", "refresh() is for a database opened with readOnly: true; a writer always sees its own state");
    const open = this.engine.state.readers.size;
    if (open > 0) throw invalidArgument(`refresh() with ${open} snapshots, iterators or transactions open; release them first`);
    const fresh = openEngine(this.directory, this.options, resolveOptions(this.options));
    this.engine.close();
    this.engine = fresh;
  }

  /** A consistent copy of the database as of one sequence into `target`, while writes go on (ts/api/backup.ts). */
  backup(target: string): BackupReport {
    this.checkOpen();
    if (typeof target !== "string" || target.length === 0) throw invalidArgument("backup target must be a non-empty string");
    if (this.readOnly) return platform().backup(backupSourceOf(this.engine), target);
    const state = this.engine.state;
    // The writer's own buffered writes go to the file first, so the copy has every write made so far.
    state.guard(() => state.log.write(false));
    const readerOptions: OpenOptions = { core: state.core.name, readOnly: true, storage: state.storage };
    const reader = openEngine(this.directory, readerOptions, resolveOptions(readerOptions));
    try {
      return platform().backup(backupSourceOf(reader), target);
    } finally {
      reader.close();
    }
  }

  get core(): Core {
    return this.engine.state.core;
  }

  /** Throws PGZ_CLOSED after close() (snapshots and transactions check through it too). */
  checkOpen(): void {
    this.engine.state.checkOpen();
  }

  put(key: Encodable, value: Encodable, options?: WriteOptions): void {
    this.checkOpen();
    const { keyEncoding, valueEncoding } = this.encodingsOf(options);
    this.write([{ type: "put", key: checkKey(encode(key, keyEncoding, "key")), value: checkValue(encode(value, valueEncoding, "value")) }], options);
  }

  delete(key: Encodable, options?: WriteOptions): void {
    this.checkOpen();
    this.write([{ type: "del", key: checkKey(encode(key, this.encodingsOf(options).keyEncoding, "key")), value: NO_VALUE }], options);
  }

  /** Applies every operation atomically: after any crash, all of them or none. */
  batch(operations: readonly BatchOperation[], options?: WriteOptions): void {
    this.checkOpen();
    this.write(checkBatch(operations, this.encodingsOf(options)), options);
  }

  /** The encodings a call uses: its options', else the open options'. */
  private encodingsOf(options: EncodingOptions | undefined): Encodings {
    return resolveEncodings(options, this.engine.state.settings.encodings);
  }

  private write(operations: ReturnType<typeof checkBatch>, options: WriteOptions | undefined): void {
    this.engine.writes.write(operations, writeDurability(options, this.engine.state.settings.durability));
  }

  /**
   * The asynchronous writes: the write is applied (and visible) at once; the promise resolves
   * when it is as durable as asked. With sync durability, concurrent callers share fdatasyncs
   * (group commit) instead of each waiting for its own.
   */
  async batchAsync(operations: readonly BatchOperation[], options?: WriteOptions): Promise<void> {
    const durability = writeDurability(options, this.engine.state.settings.durability);
    this.batch(operations, { keyEncoding: options?.keyEncoding, valueEncoding: options?.valueEncoding, durability: durability === "sync" ? "os" : durability });
    if (durability === "sync") await this.engine.state.log.requestSync();
  }

  putAsync(key: Encodable, value: Encodable, options?: WriteOptions): Promise<void> {
    return this.batchAsync([{ type: "put", key, value }], options);
  }

  deleteAsync(key: Encodable, options?: WriteOptions): Promise<void> {
    return this.batchAsync([{ type: "del", key }], options);
  }

  /** The value of `key`, or undefined (decoded as `options.valueEncoding` or the open option says). */
  get<V = Uint8Array>(key: Encodable, options?: ReadOptions): V | undefined {
    this.checkOpen();
    return this.getAt<V>(key, this.engine.state.lastSequence, options);
  }

  /**
   * The values of `keys` (undefined where absent), in the order given, read in one sorted walk
   * of the tree (ts/lsm/read.ts): faster than a `get` per key for batches of tens of keys and up.
   */
  getMany<V = Uint8Array>(keys: readonly Encodable[], options?: ReadOptions): (V | undefined)[] {
    this.checkOpen();
    if (!Array.isArray(keys)) throw invalidArgument("getMany takes an array of keys");
    if (options !== undefined) checkOptions(options, ENCODING_OPTION_NAMES, "read options");
    const encodings = this.encodingsOf(options);
    const keyBytes = keys.map((key) => checkKey(encode(key, encodings.keyEncoding, "key")));
    const values = this.engine.reads.getMany(keyBytes, this.engine.state.lastSequence);
    // Bytes need no decoding: the array read is the answer (no second array of a batch's length).
    if (encodings.valueEncoding === "binary") return values as (V | undefined)[];
    return values.map((value) => (value === undefined ? undefined : (decode(value, encodings.valueEncoding, "the value") as V)));
  }

  /** The value of `key` as of `sequence` (for snapshots and transactions). */
  getAt<V = Uint8Array>(key: Encodable, sequence: number, options?: ReadOptions): V | undefined {
    this.checkOpen();
    if (options !== undefined) checkOptions(options, ENCODING_OPTION_NAMES, "read options");
    checkSequence(sequence);
    const encodings = this.encodingsOf(options);
    const value = this.engine.reads.get(checkKey(encode(key, encodings.keyEncoding, "key")), sequence);
    return value === undefined ? undefined : (decode(value, encodings.valueEncoding, "the value") as V);
  }

  /** Whether `key` has a value; reads no value from the log. */
  has(key: Encodable, options?: ReadOptions): boolean {
    this.checkOpen();
    if (options !== undefined) checkOptions(options, ENCODING_OPTION_NAMES, "read options");
    return this.engine.reads.has(checkKey(encode(key, this.encodingsOf(options).keyEncoding, "key")), this.engine.state.lastSequence);
  }

  /** [key, value] pairs in key order (or reverse), within the bounds, as of the call. */
  iterate<K = Uint8Array, V = Uint8Array>(options: IterateOptions = {}): Generator<[K, V], void, undefined> {
    this.checkOpen();
    return this.iterateAt<K, V>(options, this.engine.state.lastSequence);
  }

  /**
   * [key, value] pairs as of `sequence`. The read point is taken by this call, not by the first
   * next(): from here until the iterator ends (or is closed, or dropped unread), compaction keeps
   * the versions it reads and GC the log segments they point into.
   */
  iterateAt<K = Uint8Array, V = Uint8Array>(options: IterateOptions, sequence: number): Generator<[K, V], void, undefined> {
    this.checkOpen();
    const { bounds, encodings } = splitIterateEncodings(options, this.engine.state.settings.encodings);
    const iteration = checkIterateOptions(bounds);
    checkSequence(sequence);
    const raw = this.engine.reads.iterate(iteration, sequence);
    return isBinary(encodings) ? (raw as Generator<[K, V], void, undefined>) : decodedPairs<K, V>(raw, encodings);
  }

  /** The sequence of the newest write: what a read made now sees. */
  get sequence(): number {
    this.checkOpen();
    return this.engine.state.lastSequence;
  }

  /**
   * A read-only view fixed at the current sequence. Release it (or `using`) so the versions it
   * pins can be reclaimed; snapshots do not survive a restart.
   */
  snapshot(): Snapshot {
    return new Snapshot(this.view);
  }

  /** An optimistic, serializable transaction reading at a new snapshot (see ts/api/txn.ts). */
  begin(options?: TransactionOptions): Transaction {
    this.checkOpen();
    return new Transaction(this.view, options);
  }

  /** Runs `fn` in a transaction and commits it, retrying on PGZ_CONFLICT (`retries`, default 3). */
  transaction<T>(fn: (transaction: Transaction) => T | Promise<T>, options?: TransactionRunOptions): Promise<T> {
    return runTransaction(this.view, fn, options);
  }

  /**
   * The committed batches after `since`, in sequence order, read from the log as they become
   * durable; waits at the head for new commits. See docs/API.md ("Change stream").
   */
  changes(options: ChangesOptions): ChangeStream {
    this.checkOpen();
    checkOptions(options, ["since", "consumer"], "changes options");
    return this.engine.state.changes.open(options);
  }

  /** Durably records that a named consumer has applied every batch up to `sequence`. */
  acknowledgeChanges(consumer: string, sequence: number): void {
    this.checkOpen();
    this.engine.state.changes.acknowledge(consumer, sequence);
  }

  /** Drops a named consumer and the log it held; false if there was none. */
  releaseConsumer(consumer: string): boolean {
    this.checkOpen();
    return this.engine.state.changes.release(consumer);
  }

  /** The named change consumers and the sequence each acknowledged. */
  changeConsumers(): { name: string; sequence: number }[] {
    this.checkOpen();
    return this.engine.state.changes.list();
  }

  /** Runs synchronous `fn` in a transaction and commits it, retrying on PGZ_CONFLICT; a promise from `fn` is PGZ_INVALID_ARGUMENT. */
  transactionSync<T>(fn: (transaction: Transaction) => T, options?: TransactionRunOptions): T {
    return runTransactionSync(this.view, fn, options);
  }

  /** The oldest sequence a live snapshot can still read (compaction keeps what it needs). */
  get oldestSnapshotSequence(): number {
    this.checkOpen();
    return this.engine.state.oldestReadSequence();
  }

  /** Writes the memtable to a table now (and any buffered writes to the log). */
  flush(): void {
    this.checkOpen();
    this.engine.flush();
  }

  /**
   * Compacts every table overlapping [gte, lt) (everything when no range is given) down through
   * the levels, dropping versions nobody can read and tombstones at the bottom.
   */
  compact(range: CompactRange = {}): void {
    this.checkOpen();
    const { gte, lt } = checkCompactRange(range);
    this.engine.compact(gte, lt);
  }

  /**
   * Value-log garbage collection: flushes and compacts the LSM (so every unread value is
   * counted), then rewrites the live values of up to `segmentsMax` (default 1) flushed segments
   * whose garbage is at least `discardRatio` (default 0.5) of their size, and deletes each once
   * no snapshot or iterator can still read it.
   */
  gc(options: GcOptions = {}): { segmentsCollected: number[]; recordsRewritten: number; bytesRewritten: number } {
    this.checkOpen();
    const { discardRatio, segmentsMax } = checkGcOptions(options);
    return this.engine.collectGarbage(discardRatio, segmentsMax);
  }

  stats() {
    this.checkOpen();
    return engineStats(this.engine);
  }

  /** Verifies every checksum of every table block and log record; never throws on damage. */
  check(): CheckReport {
    this.checkOpen();
    return checkEngine(this.engine);
  }

  /**
   * Makes every write durable, writes the memtable to a table (as RocksDB does by default, so
   * the next open has no log to replay), and releases memory, files and the lock. Idempotent.
   */
  close(): void {
    this.engine.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A read-only engine's version, as a backup copies it. */
function backupSourceOf(engine: Engine): BackupSource {
  const { core, storage, manifest, lastSequence, readOnlyView } = engine.state;
  return { core, storage, state: manifest.state, databaseId: manifest.databaseId, segments: readOnlyView!.segments, logEnd: readOnlyView!.logEnd, sequence: lastSequence };
}

/** Keys the conflict journal holds for `db`'s open transactions (for tests: zero once none is open). */
export function recentWriteCount(db: DB): number {
  return db["engine"].state.conflicts.size;
}
