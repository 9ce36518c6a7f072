/**
 * The public database: validation, sequence numbers, the durable write path (value log, then
 * memtable), reads, iterators, flush, stats, check, and open-time recovery.
 */
import { prefixEnd, toBytes, viewOf } from "../bytes.ts";
import { BlockCache } from "../lsm/cache.ts";
import { createCore } from "../core/index.ts";
import { compareBytes, seekKey, encodeInternalKey, kindOf, sequenceOf, userKeyOf, writeTrailer } from "../core/entry.ts";
import {
  KIND_DELETE,
  KIND_POINTER,
  KIND_SEEK,
  KIND_VALUE,
  MERGE_DONE,
  SEQUENCE_MAX,
  TRAILER_BYTES,
  mergeSourceNeeded,
  type BlockReader,
  type Core,
  type CoreName,
} from "../core/types.ts";
import { PgzError, checkOptions, invalidArgument } from "../errors.ts";
import { FILE_NUMBER_MAX, KEY_BYTES_MAX, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_OPTION_MAX, VALUE_BYTES_MAX, manifestFileName, parseFileName, segmentFileName, TEMPORARY_SUFFIX } from "../format.ts";
import { HandleCache, NodeStorage, type Storage } from "../storage/io.ts";
import { acquireLock } from "../storage/lock.ts";
import { Tree } from "../lsm/tree.ts";
import { Manifest } from "../lsm/manifest.ts";
import { ITERATE_OPTION_NAMES, Snapshot, beginTransaction, recordWrites, runTransaction, type Transaction, type TransactionOptions, type TransactionRunOptions } from "./txn.ts";
import { garbageBytes, gcCandidates, liveRecords, type GcCandidate } from "../vlog/gc.ts";
import { ValueLog, decodeValuePointer, encodeValuePointer, listSegments, replayLog, verifyLog, type Durability, type LogOperation, type LogPosition, type LogRecord } from "../vlog/log.ts";

export type { Durability };

export interface OpenOptions {
  /** "wasm" (default) or "ts": which core runs the hot paths. */
  core?: CoreName;
  /** Create the database if the directory holds none (default true). */
  createIfMissing?: boolean;
  /** Fail with PGZ_INVALID_ARGUMENT if a database already exists (default false). */
  errorIfExists?: boolean;
  /** Default durability of writes (default "os"); `sync: true` is the same as "sync". */
  durability?: Durability;
  sync?: boolean;
  /** Values up to this many bytes are stored inline in the LSM; larger ones only in the log. */
  valueThreshold?: number;
  /** The memtable is flushed to a table once its arena holds this many bytes. */
  memtableBytes?: number;
  /** A value-log segment is sealed and a new one started past this size. */
  segmentBytes?: number;
  /** Bytes of decoded data blocks kept in memory (filled as blocks are read). */
  blockCacheBytes?: number;
  /** In "buffered" durability, bytes kept in user space before a write. */
  bufferedBytes?: number;
  /** Read handles (table and log files) kept open at once; the rest are reopened on demand. */
  openFilesMax?: number;
  /** Level 0 is compacted into level 1 once it holds this many tables. */
  l0Files?: number;
  /** Each level below 1 may hold this many times the bytes of the one above. */
  levelRatio?: number;
  /** Bytes level 1 may hold before it is compacted into level 2. */
  level1Bytes?: number;
  /** Compaction output tables are cut near this size. */
  tableBytes?: number;
  /** Collect value-log segments that are at least half garbage between foreground work (default true). */
  autoGc?: boolean;
  /**
   * Open even when the newest log segment is damaged before intact records (PGZ_CORRUPTION
   * otherwise): the log is cut at the damage and every write after it is lost (default false).
   */
  salvageLog?: boolean;
  /** A Storage backend other than node:fs (tests inject faults this way). */
  storage?: Storage;
}

export interface WriteOptions {
  sync?: boolean;
  durability?: Durability;
}

export type BatchOperation =
  | { type: "put"; key: Uint8Array | string; value: Uint8Array | string }
  | { type: "del"; key: Uint8Array | string };

export interface IterateOptions {
  gt?: Uint8Array | string;
  gte?: Uint8Array | string;
  lt?: Uint8Array | string;
  lte?: Uint8Array | string;
  prefix?: Uint8Array | string;
  reverse?: boolean;
  limit?: number;
}

export interface CheckProblem {
  file: string;
  offset: number;
  message: string;
}

export interface CheckReport {
  ok: boolean;
  tables: number;
  segments: number;
  problems: CheckProblem[];
}

const DEFAULTS = {
  // Measured (npm run bench:threshold, docs/BENCHMARKS.md): at 100 B inline reads 1.75x faster;
  // from 1 KiB on, values behind pointers fill 1.9x faster (written once, not twice) and read as
  // fast. 512 B is where the two cross.
  valueThreshold: 512,
  // 64 MiB as RocksDB's write_buffer_size: measured 435,000 vs 312,000 fill ops/s (CPU) over
  // 16 MiB on 1,000,000 x 100 B, for the same read speed (docs/BENCHMARKS.md).
  memtableBytes: 64 * 1024 * 1024,
  segmentBytes: SEGMENT_BYTES_DEFAULT,
  // pgz's page cache (Node has no mmap): a miss costs a pread and a CRC32C of the block, more
  // than a whole cached read. Filled only as blocks are read. See docs/BENCHMARKS.md.
  blockCacheBytes: 256 * 1024 * 1024,
  bufferedBytes: 4 * 1024 * 1024,
  openFilesMax: 128,
  l0Files: 4,
  levelRatio: 10,
  level1Bytes: 256 * 1024 * 1024,
  tableBytes: 32 * 1024 * 1024,
};
/** Bytes of compaction input merged per byte written, while level 0 is within l0Files. */
const COMPACTION_PACE = 16;
/** Past l0Files * this many level-0 tables a write finishes the compaction (a full stall). */
const L0_STOP_MULTIPLIER = 3;
const OPTION_NAMES = ["core", "createIfMissing", "errorIfExists", "durability", "sync", "storage", "autoGc", "salvageLog", ...Object.keys(DEFAULTS)];
const WRITE_OPTION_NAMES = ["sync", "durability"];
/** Automatic GC collects a segment once this share of it is garbage. */
const AUTO_GC_DISCARD_RATIO = 0.5;
const DURABILITIES = new Set(["sync", "os", "buffered"]);
/** Live records GC rewrites per batch. */
const GC_BATCH_RECORDS = 1000;
/** Bytes of log segments one idle turn of automatic GC collects at most (one segment at least). */
const IDLE_GC_BYTES = 4 * 1024 * 1024;
/** Bytes of compaction input one idle slice merges. */
const IDLE_SLICE_BYTES = 1024 * 1024;

function sizeOption(options: OpenOptions, name: keyof typeof DEFAULTS, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number {
  const value = options[name] ?? DEFAULTS[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < minimum || value > maximum) {
    throw invalidArgument(`option ${name} must be an integer in [${minimum}, ${maximum}], got ${String(value)}`);
  }
  return value;
}

const STORAGE_METHODS = ["open", "exists", "list", "remove", "rename", "syncDirectory", "readSmallFile", "createExclusive"] as const;

function isStorage(value: unknown): value is Storage {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate.directory === "string" && STORAGE_METHODS.every((name) => typeof candidate[name] === "function");
}

type Settings = typeof DEFAULTS & { durability: Durability; autoGc: boolean };

/** Validates open options before anything touches the disk. */
function resolveOptions(options: OpenOptions): Settings {
  checkOptions(options, OPTION_NAMES, "open options");
  if (options.core !== undefined && options.core !== "wasm" && options.core !== "ts") throw invalidArgument(`option core must be "wasm" or "ts", got ${String(options.core)}`);
  if (options.storage !== undefined && !isStorage(options.storage)) throw invalidArgument("option storage must implement the Storage interface (ts/io.ts)");
  for (const name of ["createIfMissing", "errorIfExists", "autoGc", "salvageLog"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "boolean") throw invalidArgument(`option ${name} must be a boolean`);
  }
  return {
    durability: durabilityOf(options, "os"),
    autoGc: options.autoGc ?? true,
    valueThreshold: sizeOption(options, "valueThreshold", 0),
    memtableBytes: sizeOption(options, "memtableBytes", 4096),
    segmentBytes: sizeOption(options, "segmentBytes", 64 * 1024, SEGMENT_BYTES_OPTION_MAX),
    blockCacheBytes: sizeOption(options, "blockCacheBytes", 0),
    bufferedBytes: sizeOption(options, "bufferedBytes", 4096),
    openFilesMax: sizeOption(options, "openFilesMax", 8),
    l0Files: sizeOption(options, "l0Files", 1),
    levelRatio: sizeOption(options, "levelRatio", 2),
    level1Bytes: sizeOption(options, "level1Bytes", 4096),
    tableBytes: sizeOption(options, "tableBytes", 4096),
  };
}

/** The durability `options` ask for; open options pass through here too, so names are checked by the caller. */
function durabilityOf(options: { sync?: boolean; durability?: Durability } | undefined, fallback: Durability): Durability {
  if (options === undefined) return fallback;
  if (options.sync !== undefined && typeof options.sync !== "boolean") throw invalidArgument("option sync must be a boolean");
  if (options.durability !== undefined && !DURABILITIES.has(options.durability)) {
    throw invalidArgument(`option durability must be "sync", "os" or "buffered", got ${String(options.durability)}`);
  }
  if (options.sync === true) return "sync";
  return options.durability ?? fallback;
}

function checkKey(key: unknown, what = "key"): Uint8Array {
  const bytes = toBytes(key, what);
  if (bytes.length > KEY_BYTES_MAX) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${KEY_BYTES_MAX}`);
  return bytes;
}

function checkValue(value: unknown): Uint8Array {
  const bytes = toBytes(value, "value");
  if (bytes.length > VALUE_BYTES_MAX) throw invalidArgument(`value is ${bytes.length} bytes; the limit is ${VALUE_BYTES_MAX}`);
  return bytes;
}

export class DB {
  private closed = false;
  private lastSequence: number;
  private nextFileNumber: number;
  private readonly durability: Durability;
  private readonly valueThreshold: number;
  private readonly memtableBytes: number;
  private readonly segmentBytes: number;
  private readonly cache: BlockCache<BlockReader>;
  /** Open read handles of tables and log segments, bounded by openFilesMax. */
  private readonly files: HandleCache;
  private readonly log: ValueLog;
  private readonly tree: Tree;
  private userBytesWritten = 0;
  /** A failed write or sync (PGZ_IO), or any failure of background work: writes are refused. */
  private failed: unknown;
  private gcRuns = 0;
  private compactionMilliseconds = 0;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Snapshots and running iterators, with the sequence each reads at. */
  private readonly liveSnapshots = new Map<object, number>();
  private readonly autoGc: boolean;
  /** Collected segments, each with the readers alive at its collection that may still follow old pointers into it. */
  private readonly collectedSegments: { segment: number; readers: Set<object> }[] = [];

  private constructor(
    readonly directory: string,
    readonly core: Core,
    private readonly storage: Storage,
    private readonly manifest: Manifest,
    private readonly unlock: () => void,
    settings: Settings,
  ) {
    this.durability = settings.durability;
    this.autoGc = settings.autoGc;
    this.valueThreshold = settings.valueThreshold;
    this.memtableBytes = settings.memtableBytes;
    this.segmentBytes = settings.segmentBytes;
    this.cache = new BlockCache(settings.blockCacheBytes);
    this.lastSequence = manifest.state.lastSequence;
    // Raised past the log segments found on disk once replay has checked them (recover).
    this.nextFileNumber = manifest.state.nextFileNumber;
    const allocateFileNumber = () => {
      // Value pointers name segments in 4 bytes (FILE_NUMBER_MAX); the counter never wraps.
      if (this.nextFileNumber > FILE_NUMBER_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", `file numbers exhausted (the limit is ${FILE_NUMBER_MAX})`);
      return this.nextFileNumber++;
    };
    this.files = new HandleCache(storage, settings.openFilesMax);
    this.log = new ValueLog(core, storage, { segmentBytes: settings.segmentBytes, bufferedBytes: settings.bufferedBytes, allocateFileNumber, files: this.files, databaseId: manifest.databaseId });
    const { l0Files, levelRatio, level1Bytes, tableBytes } = settings;
    this.tree = new Tree(core, storage, manifest, this.cache, allocateFileNumber, { l0Files, levelRatio, level1Bytes, tableBytes }, this.files, {
      syncLog: () => this.log.write(true),
      lastSequence: () => this.lastSequence,
      oldestSnapshotSequence: () => this.oldestReadSequence(),
      pointerCounts: (head) => this.pointerCountsUpTo(head),
      afterFlush: () => this.retireFlushedSegments(),
    });
  }

  /** Opens (or creates) the database in `directory`: superblock, manifest, then log replay. */
  static open(directory: string, options: OpenOptions = {}): DB {
    if (typeof directory !== "string" || directory.length === 0) throw invalidArgument("directory must be a non-empty string");
    const settings = resolveOptions(options);
    const core = createCore(options.core ?? "wasm");
    const storage = options.storage ?? new NodeStorage(directory, { create: options.createIfMissing !== false });
    const unlock = acquireLock(storage);
    let manifest: Manifest | undefined;
    try {
      if (Manifest.exists(storage)) {
        if (options.errorIfExists) throw invalidArgument(`a database already exists in ${directory}`);
        manifest = Manifest.open(core, storage);
      } else {
        // Files of a database without its SUPERBLOCK are corruption, never a new database.
        Manifest.checkNoDatabase(core, storage);
        if (options.createIfMissing === false) throw new PgzError("PGZ_NOT_FOUND", `no database in ${directory}`);
        manifest = Manifest.create(core, storage);
      }
      const db = new DB(directory, core, storage, manifest, unlock, settings);
      try {
        db.recover(options.salvageLog === true);
      } catch (error) {
        db.releaseResources();
        throw error;
      }
      return db;
    } catch (error) {
      manifest?.close();
      unlock();
      throw error;
    }
  }

  /** Replays the log from the manifest's head into the memtable, then starts a new segment. */
  private recover(salvageLog: boolean): void {
    for (const name of this.tree.orphanTables()) this.storage.remove(name);
    // Segments GC collected before a crash cut their deletion short: no reader survives a restart.
    for (const segment of this.manifest.state.collectedSegments) this.storage.remove(segmentFileName(segment));
    for (const name of this.storage.list()) {
      const stale = (parseFileName(name)?.kind === "manifest" && name !== manifestFileName(this.manifest.currentManifestNumber)) || name.endsWith(TEMPORARY_SUFFIX);
      if (stale) this.storage.remove(name);
    }
    replayLog(this.core, this.storage, this.manifest.databaseId, this.manifest.state.logHead, ({ segment, records }) => {
      const operations: LogOperation[] = [];
      const pointers: (Uint8Array | undefined)[] = [];
      for (const record of records) {
        const isPut = record.type === 1;
        operations.push({ type: isPut ? "put" : "del", key: record.key, value: record.value });
        if (!this.log.pointerBytes.has(segment)) this.log.pointerBytes.set(segment, 0);
        const isPointer = isPut && record.value.length > this.valueThreshold;
        if (isPointer) this.log.notePointer(segment, record.length);
        pointers.push(isPointer ? encodeValuePointer({ segment, offset: record.offset, length: record.length }) : undefined);
      }
      const first = records[0]!.sequence;
      this.tree.memtable.memtable.insert(this.encodeMemtableRun(operations, first, pointers));
      this.lastSequence = Math.max(this.lastSequence, records[records.length - 1]!.sequence);
      if (this.tree.memtable.memtable.arenaBytes >= this.memtableBytes) {
        const last = records[records.length - 1]!;
        this.tree.rotate({ segment, offset: last.offset + last.length });
      }
    }, { salvage: salvageLog });
    // The log rolls over without a manifest edit, so segments may carry numbers the manifest has
    // not reached: new files must come after them. Only segments count (replay has checked the
    // header of every one it read, and removed a blank newest one): any other file name proves
    // nothing, and a stray one (an orphan table, a stale manifest, all deleted above) must not
    // lift the counter toward its limit.
    this.nextFileNumber = Math.max(this.nextFileNumber, (listSegments(this.storage).at(-1) ?? 0) + 1);
    // Replay counted pointers only after the head; an earlier flush recorded those before it.
    for (const [segment, pointerBytes] of this.log.pointerBytes) this.log.pointerBytes.set(segment, pointerBytes + (this.manifest.state.segmentPointerBytes[segment] ?? 0));
    this.log.startSegment();
    this.tree.flushImmutables();
    // With nothing replayed into the memtable, every record before the new segment is in a
    // table: move the head past them, so the segments they fill (inline values, deletes, and
    // the empty segment each earlier open started) are retired now rather than never.
    const head = this.log.position;
    if (this.tree.memtable.memtable.count === 0 && this.manifest.state.logHead.segment < head.segment) {
      this.manifest.apply({ logHead: head, nextFileNumber: head.segment + 1, lastSequence: this.lastSequence, segmentPointerBytes: this.pointerCountsUpTo(head) });
    }
    this.retireFlushedSegments();
    // Garbage left by earlier sessions is collected without waiting for a write.
    this.scheduleIdleWork();
  }

  /** Throws PGZ_CLOSED after close() (snapshots and transactions check through it too). */
  checkOpen(): void {
    if (this.closed) throw new PgzError("PGZ_CLOSED", "the database is closed");
  }

  /**
   * Runs work that writes files (flushes, compactions, GC). A failed write or sync may have lost
   * data the OS said it had, so after any PGZ_IO the database refuses writes until reopened
   * (the lesson of PostgreSQL's fsync handling: a retried fsync can report success for lost data).
   */
  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof PgzError && error.code === "PGZ_IO") this.failed ??= error;
      throw error;
    }
  }

  private checkWritable(): void {
    if (this.failed === undefined) return;
    // A bug (not a PgzError) is thrown as itself, never dressed up as a user-facing error.
    if (!(this.failed instanceof PgzError)) throw this.failed;
    const what = this.failed.code === "PGZ_IO" ? "a write failed earlier" : "background work failed earlier";
    throw new PgzError(this.failed.code, `${what} (${this.failed.message}); reopen the database`, { cause: this.failed, file: this.failed.file, offset: this.failed.offset });
  }

  /**
   * Runs the background work a write pays for (flushes and compaction steps, the stall policy)
   * after the write itself is done: logged as durably as asked and visible. Its failure must not
   * make the write throw, since a write's error has to mean "not written"; it is kept, and the
   * next write (and stats().backgroundError) reports it.
   */
  private runBackgroundWork(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.failed ??= error;
    }
  }

  /** Encodes a batch as a memtable run: inline values, value pointers, or tombstones. */
  private encodeMemtableRun(operations: readonly LogOperation[], firstSequence: number, pointers: readonly (Uint8Array | undefined)[]): Uint8Array {
    let size = 0;
    for (let i = 0; i < operations.length; i++) {
      const operation = operations[i]!;
      const valueLength = operation.type === "del" ? 0 : (pointers[i]?.length ?? operation.value.length);
      size += 8 + operation.key.length + TRAILER_BYTES + valueLength;
    }
    const run = new Uint8Array(size);
    const view = viewOf(run);
    let at = 0;
    for (let i = 0; i < operations.length; i++) {
      const operation = operations[i]!;
      const pointer = pointers[i];
      const value = operation.type === "del" ? new Uint8Array(0) : (pointer ?? operation.value);
      const kind = operation.type === "del" ? KIND_DELETE : pointer ? KIND_POINTER : KIND_VALUE;
      const keyLength = operation.key.length + TRAILER_BYTES;
      view.setUint32(at, keyLength, true);
      view.setUint32(at + 4, value.length, true);
      run.set(operation.key, at + 8);
      writeTrailer(run, at + 8 + operation.key.length, firstSequence + i, kind);
      run.set(value, at + 8 + keyLength);
      at += 8 + keyLength + value.length;
    }
    return run;
  }

  /** Appends a validated batch to the log, then to the memtable; rotates and flushes when full. */
  private write(operations: LogOperation[], options: WriteOptions | undefined): void {
    const durability = durabilityOf(options === undefined ? undefined : checkOptions(options, WRITE_OPTION_NAMES, "write options"), this.durability);
    if (operations.length === 0) return;
    this.checkWritable();
    this.guard(() => this.writeBatch(operations, durability));
    for (const operation of operations) this.userBytesWritten += operation.key.length + operation.value.length;
  }

  private writeBatch(operations: LogOperation[], durability: Durability): void {
    if (this.lastSequence + operations.length > SEQUENCE_MAX) throw new PgzError("PGZ_INVALID_ARGUMENT", "sequence numbers exhausted");
    const first = this.lastSequence + 1;
    const appended = this.log.append(operations, first, durability);
    const pointers = operations.map((operation, i) => {
      if (operation.type !== "put" || operation.value.length <= this.valueThreshold) return undefined;
      this.log.notePointer(appended.segment, appended.lengths[i]!);
      return encodeValuePointer({ segment: appended.segment, offset: appended.offsets[i]!, length: appended.lengths[i]! });
    });
    const run = this.encodeMemtableRun(operations, first, pointers);
    this.tree.memtable.memtable.insert(run);
    this.lastSequence = first + operations.length - 1;
    recordWrites(this, operations, first);
    this.runBackgroundWork(() => {
      if (this.tree.memtable.memtable.arenaBytes >= this.memtableBytes) this.rotateMemtable();
      this.payCompactionDebt(run.length);
      this.scheduleIdleWork();
    });
  }

  /**
   * The stall policy: a write that added `bytes` to the LSM does COMPACTION_PACE times as many
   * bytes of background work (first the waiting memtable's flush, then compaction input),
   * doubling per level-0 table beyond l0Files, and finishes one compaction outright once level
   * 0 reaches l0Files * L0_STOP_MULTIPLIER. So writes slow down gradually as background work
   * falls behind, and no write waits for more than one flush and one compaction.
   */
  private payCompactionDebt(bytes: number): void {
    if (!this.tree.backgroundWorkDue) return;
    const started = performance.now();
    const level0 = this.tree.levels[0]!.length;
    const { l0Files } = this.tree.compactionSettings;
    if (level0 >= l0Files * L0_STOP_MULTIPLIER) this.tree.stall(this.oldestReadSequence());
    else this.tree.backgroundWork(bytes * COMPACTION_PACE * 2 ** Math.max(0, level0 - l0Files), this.oldestReadSequence());
    this.compactionMilliseconds += performance.now() - started;
  }

  /**
   * Between foreground work (an idle event loop), background work goes on one slice per turn
   * (idleTurn) until none is due. Scheduled after every write; a turn with nothing to do costs
   * one timer.
   */
  private scheduleIdleWork(): void {
    if (this.idleTimer !== undefined || this.closed || this.failed !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.closed || this.failed !== undefined) return;
      // Nobody awaits idle work: a failure is kept and the next write reports it.
      let more = false;
      this.runBackgroundWork(() => (more = this.idleTurn()));
      if (more) this.scheduleIdleWork();
    }, 0);
    // Do not keep the process alive for background work alone (Node and Bun have unref; Deno's
    // setTimeout returns a number).
    (this.idleTimer as { unref?: () => void }).unref?.();
  }

  /**
   * One slice of idle work, the most urgent first; true if more is due. Flushes and compactions
   * come first. Then, with automatic GC: a memtable whose log records span sealed segments is
   * written out (the log head cannot pass its records, so none of those segments could ever be
   * collected, however much of them is overwritten); GC collects up to IDLE_GC_BYTES of segments
   * per turn while any is at least AUTO_GC_DISCARD_RATIO garbage; and when garbage may hide
   * between levels, one full compaction (in slices) counts it. So space comes back without
   * anyone calling gc(), and each step ends: a flush moves the head to the current segment, each
   * collection removes segments, and a full compaction waits for a quarter of log growth.
   */
  private idleTurn(): boolean {
    if (this.tree.backgroundWorkDue) {
      this.tree.backgroundWork(IDLE_SLICE_BYTES, this.oldestReadSequence());
      return true;
    }
    if (!this.autoGc) return false;
    const memtableSpansSealedSegments = this.log.currentSegment > this.manifest.state.logHead.segment && this.tree.memtable.memtable.count > 0;
    if (memtableSpansSealedSegments && this.tree.immutables.length === 0) {
      this.tree.rotate(this.log.position);
      return true;
    }
    // Candidates change only with the manifest (garbage counts, the head): look again only then.
    if (this.manifest.editsWritten !== this.gcLookedAtEdit) {
      if (this.collectGarbage(AUTO_GC_DISCARD_RATIO, Infinity, IDLE_GC_BYTES).segmentsCollected.length > 0) return true;
      this.gcLookedAtEdit = this.manifest.editsWritten;
    }
    if (!this.garbageMayHide()) return false;
    this.logBytesAtFullCompaction = this.log.bytesWritten;
    this.tree.startFullCompaction();
    return true;
  }

  /** manifest.editsWritten when automatic GC last found nothing to collect. */
  private gcLookedAtEdit = -1;
  /** log.bytesWritten when automatic GC last started a full compaction. */
  private logBytesAtFullCompaction = 0;

  /**
   * Whether overwritten values may hide from GC: compaction counts a value as garbage only when
   * it drops the last pointer to it, so a pointer whose newer version sits in another level (or
   * another level-0 table) is not counted until the two meet. When there is more than one sorted
   * run, values live in the log, and the log has grown by a quarter (at least one segment) since
   * the last such compaction, one full compaction in idle slices brings them to light. Its cost
   * is the LSM, which holds keys and pointers only where values are in the log: small next to
   * the log space it lets GC reclaim; and it runs at most once per quarter of log growth.
   */
  private garbageMayHide(): boolean {
    if (this.tree.sortedRuns < 2) return false;
    const grown = this.log.bytesWritten - this.logBytesAtFullCompaction;
    if (grown < this.segmentBytes) return false;
    const state = this.manifest.state;
    if (!Object.values(state.segmentPointerBytes).some((bytes) => bytes > 0)) return false;
    return grown * 4 >= this.logStats().totalBytes;
  }

  /**
   * Compacts every table overlapping [gte, lt) (everything when no range is given) down through
   * the levels, dropping versions nobody can read and tombstones at the bottom.
   */
  compact(range: { gte?: Uint8Array | string; lt?: Uint8Array | string } = {}): void {
    this.checkOpen();
    checkOptions(range, ["gte", "lt"], "compact range");
    const gte = range.gte === undefined ? undefined : checkKey(range.gte, "gte");
    const lt = range.lt === undefined ? undefined : checkKey(range.lt, "lt");
    this.checkWritable();
    this.guard(() => this.rotateAndFlush());
    const bounds = gte === undefined && lt === undefined ? undefined : {
      smallest: encodeInternalKey(gte ?? new Uint8Array(0), SEQUENCE_MAX, KIND_SEEK),
      // lt is exclusive; as a user-key range bound it only widens the set of tables picked.
      largest: encodeInternalKey(lt ?? new Uint8Array(KEY_BYTES_MAX + 1).fill(0xff), 0, 0),
    };
    this.guard(() => this.tree.compactRange(bounds, this.oldestReadSequence()));
  }

  /**
   * A full memtable becomes immutable and is flushed in steps by later writes (the stall
   * policy). Should it fill again before its predecessor is flushed, that flush finishes first:
   * at most one memtable waits.
   */
  private rotateMemtable(): void {
    if (this.tree.immutables.length > 0) this.tree.flushImmutables();
    this.tree.rotate(this.log.position);
  }

  /** Flushes the memtable (and any waiting one) now: flush(), compact(), close(). */
  private rotateAndFlush(): void {
    this.tree.rotate(this.log.position);
    this.tree.flushImmutables();
  }

  /**
   * How many bytes of each segment up to the log head entries point at, for the flush edit
   * that moves the head: every segment the head leaves behind gets its final count in the very
   * edit that leaves it (no crash can separate the two), the head's own segment a count of its
   * part before the head. A segment is written by one process only; after a crash the count is
   * what replay saw plus what the last flush recorded.
   */
  private pointerCountsUpTo(head: LogPosition): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [segment, pointerBytes] of this.log.pointerBytes) if (segment <= head.segment) counts[segment] = pointerBytes;
    return counts;
  }

  /**
   * After a flush: deletes segments the log head has left behind that nothing points into (they
   * only held inline values and deletes, all in tables now). GC counts the rest of a segment's
   * unreferenced bytes as garbage (ts/gc.ts).
   */
  private retireFlushedSegments(): void {
    const { logHead, segmentPointerBytes, collectedSegments } = this.manifest.state;
    for (const segment of this.log.pointerBytes.keys()) if (segment < logHead.segment) this.log.pointerBytes.delete(segment);
    const unreferenced = Object.entries(segmentPointerBytes)
      .filter(([segment, pointerBytes]) => Number(segment) < logHead.segment && pointerBytes === 0 && !collectedSegments.includes(Number(segment)))
      .map(([segment]) => Number(segment));
    if (unreferenced.length === 0) return;
    this.manifest.apply({ collectedSegments: unreferenced });
    for (const segment of unreferenced) {
      this.log.dropReader(segment);
      this.storage.remove(segmentFileName(segment));
    }
  }

  put(key: Uint8Array | string, value: Uint8Array | string, options?: WriteOptions): void {
    this.checkOpen();
    this.write([{ type: "put", key: checkKey(key), value: checkValue(value) }], options);
  }

  delete(key: Uint8Array | string, options?: WriteOptions): void {
    this.checkOpen();
    this.write([{ type: "del", key: checkKey(key), value: new Uint8Array(0) }], options);
  }

  /** Applies every operation atomically: after any crash, all of them or none. */
  batch(operations: readonly BatchOperation[], options?: WriteOptions): void {
    this.checkOpen();
    if (!Array.isArray(operations)) throw invalidArgument("batch operations must be an array");
    const validated: LogOperation[] = operations.map((operation, index) => {
      checkOptions(operation, operation?.type === "del" ? ["type", "key"] : ["type", "key", "value"], `batch operation ${index}`);
      if (operation.type === "put") return { type: "put", key: checkKey(operation.key), value: checkValue(operation.value) };
      if (operation.type === "del") return { type: "del", key: checkKey(operation.key), value: new Uint8Array(0) };
      throw invalidArgument(`batch operation ${index} has type ${String((operation as { type?: unknown }).type)}; expected "put" or "del"`);
    });
    this.write(validated, options);
  }

  /**
   * The asynchronous writes: the write is applied (and visible) at once; the promise resolves
   * when it is as durable as asked. With sync durability, concurrent callers share fdatasyncs
   * (group commit) instead of each waiting for its own.
   */
  async batchAsync(operations: readonly BatchOperation[], options?: WriteOptions): Promise<void> {
    const durability = durabilityOf(options === undefined ? undefined : checkOptions(options, WRITE_OPTION_NAMES, "write options"), this.durability);
    this.batch(operations, { durability: durability === "sync" ? "os" : durability });
    if (durability === "sync") await this.log.requestSync();
  }

  putAsync(key: Uint8Array | string, value: Uint8Array | string, options?: WriteOptions): Promise<void> {
    return this.batchAsync([{ type: "put", key, value }], options);
  }

  deleteAsync(key: Uint8Array | string, options?: WriteOptions): Promise<void> {
    return this.batchAsync([{ type: "del", key }], options);
  }

  /** The value of `key`, or undefined. */
  get(key: Uint8Array | string): Uint8Array | undefined {
    this.checkOpen();
    return this.read(key, this.lastSequence);
  }

  /** The value of `key` as of `sequence` (for snapshots and transactions). */
  getAt(key: Uint8Array | string, sequence: number): Uint8Array | undefined {
    this.checkOpen();
    checkSequence(sequence);
    return this.read(key, sequence);
  }

  private read(key: Uint8Array | string, sequence: number): Uint8Array | undefined {
    const keyBytes = checkKey(key);
    const hit = this.tree.get(keyBytes, sequence);
    if (!hit || hit.kind === KIND_DELETE) return undefined;
    return hit.kind === KIND_POINTER ? this.log.readValue(decodeValuePointer(hit.value), keyBytes, hit.sequence) : hit.value;
  }

  /** [key, value] pairs in key order (or reverse), within the bounds, as of the call. */
  iterate(options: IterateOptions = {}): Generator<[Uint8Array, Uint8Array], void, undefined> {
    this.checkOpen();
    return this.iterateAt(options, this.lastSequence);
  }

  /** The sequence of the newest write: what a read made now sees. */
  get sequence(): number {
    this.checkOpen();
    return this.lastSequence;
  }

  /**
   * A read-only view fixed at the current sequence. Release it (or `using`) so the versions it
   * pins can be reclaimed; snapshots do not survive a restart.
   */
  snapshot(): Snapshot {
    this.checkOpen();
    const snapshot = new Snapshot(this, this.lastSequence, () => this.releaseSnapshot(snapshot));
    this.liveSnapshots.set(snapshot, snapshot.sequence);
    return snapshot;
  }

  /** An optimistic, serializable transaction reading at a new snapshot (see ts/txn.ts). */
  begin(options?: TransactionOptions): Transaction {
    this.checkOpen();
    return beginTransaction(this, options);
  }

  /** Runs `fn` in a transaction and commits it, retrying on PGZ_CONFLICT (`retries`, default 3). */
  transaction<T>(fn: (transaction: Transaction) => T | Promise<T>, options?: TransactionRunOptions): Promise<T> {
    return runTransaction(this, fn, options);
  }

  private releaseSnapshot(snapshot: object): void {
    this.liveSnapshots.delete(snapshot);
    // After close the files are gone from this object's reach; the next open deletes them.
    if (!this.closed) this.deleteCollectedSegments();
  }

  /** The oldest sequence a live snapshot can still read (compaction keeps what it needs). */
  get oldestSnapshotSequence(): number {
    this.checkOpen();
    return this.oldestReadSequence();
  }

  /** The oldest sequence a snapshot, transaction or iterator reads at (the newest if none). */
  private oldestReadSequence(): number {
    let oldest = this.lastSequence;
    for (const sequence of this.liveSnapshots.values()) if (sequence < oldest) oldest = sequence;
    return oldest;
  }

  /**
   * [key, value] pairs as of `sequence`. The read point is taken by this call, not by the first
   * next(): from here until the iterator ends (or is closed, or dropped unread), compaction keeps
   * the versions it reads and GC the log segments they point into.
   */
  iterateAt(options: IterateOptions, sequence: number): Generator<[Uint8Array, Uint8Array], void, undefined> {
    this.checkOpen();
    const bounds = iterationBounds(options);
    checkSequence(sequence);
    const reader = {};
    this.liveSnapshots.set(reader, sequence);
    const iterator = this.scan(bounds, sequence, reader);
    // A generator's finally runs only once it has started: an iterator closed before its first
    // next() releases its read point here, and one dropped unread when it is collected.
    const closeGenerator = iterator.return.bind(iterator);
    iterator.return = (value) => {
      this.releaseSnapshot(reader);
      return closeGenerator(value);
    };
    unreadIterators.register(iterator, () => this.releaseSnapshot(reader), reader);
    return iterator;
  }

  private *scan(bounds: Bounds, sequence: number, reader: object): Generator<[Uint8Array, Uint8Array], void, undefined> {
    try {
      this.checkOpen();
      unreadIterators.unregister(reader);
      yield* this.merged(bounds, sequence);
    } finally {
      this.releaseSnapshot(reader);
    }
  }

  /** The merge of every source at `sequence`, within the bounds; frees what it used when it ends. */
  private *merged(bounds: Bounds, sequence: number): Generator<[Uint8Array, Uint8Array], void, undefined> {
    const core = this.core;
    const sources = this.tree.sources(bounds.reverse, bounds.start);
    const runs = sources.map(() => core.newRun(64 * 1024));
    const out = core.newRun(64 * 1024);
    const merge = core.newMerge(Math.max(1, sources.length), { reverse: bounds.reverse, sequence, mode: "visible" });
    let yielded = 0;
    try {
      if (sources.length === 0) merge.setSource(0, null);
      sources.forEach((source, index) => merge.setSource(index, source.fill(runs[index]!) > 0 ? runs[index]! : null));
      while (yielded < bounds.limit) {
        const result = merge.fill(out, 64 * 1024);
        if (result === MERGE_DONE) return;
        if (result < MERGE_DONE) {
          const index = mergeSourceNeeded(result);
          merge.setSource(index, sources[index]!.fill(runs[index]!) > 0 ? runs[index]! : null);
          continue;
        }
        // The run is a view into core memory: copy it before anything else calls the core.
        const bytes = out.bytes().slice();
        const view = viewOf(bytes);
        for (let at = 0; at < bytes.length && yielded < bounds.limit; ) {
          const keyLength = view.getUint32(at, true);
          const valueLength = view.getUint32(at + 4, true);
          const internalKey = bytes.subarray(at + 8, at + 8 + keyLength);
          const value = bytes.subarray(at + 8 + keyLength, at + 8 + keyLength + valueLength);
          at += 8 + keyLength + valueLength;
          const userKey = userKeyOf(internalKey);
          const position = bounds.classify(userKey);
          if (position < 0) continue;
          if (position > 0) return;
          this.checkOpen();
          const resolved = kindOf(internalKey) === KIND_POINTER ? this.log.readValue(decodeValuePointer(value), userKey, sequenceOf(internalKey)) : value;
          yielded++;
          yield [userKey, resolved];
        }
      }
    } finally {
      merge.free();
      out.free();
      for (const run of runs) run.free();
      for (const source of sources) source.release();
    }
  }

  /** Writes the memtable to a table now (and any buffered writes to the log). */
  flush(): void {
    this.checkOpen();
    this.checkWritable();
    this.guard(() => this.rotateAndFlush());
  }

  /**
   * Value-log garbage collection: flushes and compacts the LSM (so every unread value is
   * counted), then rewrites the live values of up to `segmentsMax` (default 1) flushed segments
   * whose garbage is at least `discardRatio` (default 0.5) of their size, and deletes each once
   * no snapshot or iterator can still read it.
   */
  gc(options: { discardRatio?: number; segmentsMax?: number } = {}): { segmentsCollected: number[]; recordsRewritten: number; bytesRewritten: number } {
    this.checkOpen();
    checkOptions(options, ["discardRatio", "segmentsMax"], "gc options");
    const discardRatio = options.discardRatio ?? AUTO_GC_DISCARD_RATIO;
    const segmentsMax = options.segmentsMax ?? 1;
    if (typeof discardRatio !== "number" || !(discardRatio >= 0 && discardRatio <= 1)) throw invalidArgument("discardRatio must be a number in [0, 1]");
    if (!Number.isSafeInteger(segmentsMax) || segmentsMax < 1) throw invalidArgument("segmentsMax must be a positive integer");
    this.checkWritable();
    return this.guard(() => {
      // Compaction is what finds garbage (it drops the versions nobody reads and counts their
      // values); with keys and pointers only in the LSM, compacting it all first is cheap next to
      // the log it lets GC reclaim. Automatic GC skips this and uses the counts as they come.
      this.rotateAndFlush();
      this.tree.compactRange(undefined, this.oldestReadSequence());
      return this.collectGarbage(discardRatio, segmentsMax);
    });
  }

  /**
   * Collects up to `segmentsMax` segments whose garbage is at least `discardRatio`, most garbage
   * first, and stops adding segments once their sizes reach `bytesMax` (one at least).
   */
  private collectGarbage(discardRatio: number, segmentsMax: number, bytesMax = Infinity): { segmentsCollected: number[]; recordsRewritten: number; bytesRewritten: number } {
    const report = { segmentsCollected: [] as number[], recordsRewritten: 0, bytesRewritten: 0 };
    const candidates: GcCandidate[] = [];
    let bytes = 0;
    for (const candidate of gcCandidates(this.storage, this.manifest.state, discardRatio).slice(0, segmentsMax)) {
      if (bytes >= bytesMax) break;
      candidates.push(candidate);
      bytes += candidate.sizeBytes;
    }
    if (candidates.length === 0) return report;
    for (const candidate of candidates) {
      const live = liveRecords(this.core, this.storage, this.manifest.databaseId, candidate.segment, (record) => this.pointsAt(record, candidate.segment));
      // The copies are ordinary writes at new sequences, made durable (below) before the segments
      // are marked collected, so a crash anywhere leaves every value readable.
      for (let start = 0; start < live.length; start += GC_BATCH_RECORDS) {
        const operations = live.slice(start, start + GC_BATCH_RECORDS).map((record): LogOperation => ({ type: "put", key: record.key, value: record.value }));
        // Not the user's bytes: straight to writeBatch, so write amplification counts them as disk only.
        this.writeBatch(operations, "os");
        for (const operation of operations) report.bytesRewritten += operation.key.length + operation.value.length;
      }
      report.segmentsCollected.push(candidate.segment);
      report.recordsRewritten += live.length;
    }
    // One log sync and one manifest edit for all of them.
    if (report.recordsRewritten > 0) this.log.write(true);
    this.manifest.apply({ collectedSegments: report.segmentsCollected });
    const readers = new Set(this.liveSnapshots.keys());
    for (const segment of report.segmentsCollected) this.collectedSegments.push({ segment, readers: new Set(readers) });
    this.gcRuns += report.segmentsCollected.length;
    this.deleteCollectedSegments();
    return report;
  }

  /** Whether the newest version of the record's key points at that very record. */
  private pointsAt(record: LogRecord, segment: number): boolean {
    const hit = this.tree.get(record.key, this.lastSequence);
    if (!hit || hit.kind !== KIND_POINTER) return false;
    const pointer = decodeValuePointer(hit.value);
    return pointer.segment === segment && pointer.offset === record.offset;
  }

  /** Deletes collected segments once every reader alive at their collection is gone. */
  private deleteCollectedSegments(): void {
    for (let i = this.collectedSegments.length - 1; i >= 0; i--) {
      const { segment, readers } = this.collectedSegments[i]!;
      for (const reader of readers) if (!this.liveSnapshots.has(reader)) readers.delete(reader);
      if (readers.size > 0) continue;
      this.log.dropReader(segment);
      this.storage.remove(segmentFileName(segment));
      this.collectedSegments.splice(i, 1);
    }
  }

  stats() {
    this.checkOpen();
    const levels = this.tree.levels.map((tables, level) => ({
      level,
      files: tables.length,
      bytes: tables.reduce((sum, table) => sum + table.size, 0),
      entries: tables.reduce((sum, table) => sum + table.entries, 0),
    }));
    return {
      core: this.core.name,
      durability: this.durability,
      lastSequence: this.lastSequence,
      levels,
      memtable: { bytes: this.tree.memtable.memtable.arenaBytes, entries: this.tree.memtable.memtable.count, immutables: this.tree.immutables.length },
      log: this.logStats(),
      userBytesWritten: this.userBytesWritten,
      diskBytesWritten: this.log.bytesWritten + this.tree.bytesFlushed + this.tree.compactionBytesWritten,
      flushes: this.tree.flushes,
      compaction: {
        done: this.tree.compactions,
        bytesRead: this.tree.compactionBytesRead,
        bytesWritten: this.tree.compactionBytesWritten,
        pending: this.tree.backgroundWorkDue,
        /** Time writes spent on flushes and compactions (the stall policy), in milliseconds. */
        stallMilliseconds: Math.round(this.compactionMilliseconds),
      },
      snapshots: this.liveSnapshots.size,
      /** Why writes are refused until reopen (a failed write or sync, or failed background work), if they are. */
      backgroundError: this.failed === undefined ? undefined : String((this.failed as Error).message ?? this.failed),
      openFiles: this.files.size,
      blockCache: { bytes: this.cache.bytes, bytesMax: this.cache.bytesMax, hits: this.cache.hits, misses: this.cache.misses },
    };
  }

  /** Value-log size, and the garbage compaction found in it (space amplification). */
  private logStats() {
    const segments = listSegments(this.storage);
    let totalBytes = 0;
    let garbage = 0;
    for (const segment of segments) {
      const file = this.storage.open(segmentFileName(segment));
      try {
        const size = file.size();
        totalBytes += size;
        garbage += garbageBytes(this.manifest.state, segment, size);
      } finally {
        file.close();
      }
    }
    return {
      segments: segments.length,
      totalBytes,
      /** Estimated: total minus the garbage known so far (see ts/gc.ts). */
      liveBytes: totalBytes - garbage,
      bytesWritten: this.log.bytesWritten,
      syncs: this.log.syncs,
      gcRuns: this.gcRuns,
    };
  }

  /** Verifies every checksum of every table block and log record; never throws on damage. */
  check(): CheckReport {
    this.checkOpen();
    this.log.write(false);
    const problems: CheckProblem[] = [];
    for (const table of this.tree.tables.values()) {
      for (const problem of table.verify(this.storage)) problems.push({ file: table.name, ...problem });
    }
    problems.push(...verifyLog(this.core, this.storage, this.manifest.databaseId));
    return { ok: problems.length === 0, tables: this.tree.tables.size, segments: listSegments(this.storage).length, problems };
  }

  /**
   * Makes every write durable, writes the memtable to a table (as RocksDB does by default, so
   * the next open has no log to replay), and releases memory, files and the lock. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    let failure: unknown;
    try {
      if (this.failed === undefined && !this.log.hasFailed && this.tree.memtable.memtable.count > 0) this.rotateAndFlush();
    } catch (error) {
      failure = error;
    }
    try {
      this.releaseResources();
    } catch (error) {
      failure ??= error;
    }
    this.manifest.close();
    this.unlock();
    if (failure !== undefined) throw failure;
  }

  /** Closes the log (syncing it), frees core memory and closes every file; the lock stays. */
  private releaseResources(): void {
    try {
      this.log.close();
    } finally {
      this.cache.clear();
      this.tree.close();
      this.files.clear();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Iterators created and never started hold a read point; this releases it when the iterator is
 * garbage collected (its unregister token is the reader, dropped once the scan starts).
 */
const unreadIterators = new FinalizationRegistry<() => void>((release) => release());

function checkSequence(sequence: unknown): void {
  if (typeof sequence !== "number" || !Number.isSafeInteger(sequence) || sequence < 0) throw invalidArgument(`sequence must be a non-negative integer, got ${String(sequence)}`);
}

interface Bounds {
  reverse: boolean;
  limit: number;
  /** Internal key the sources start at. */
  start: Uint8Array | undefined;
  /** -1: before the range (skip), 0: inside, 1: past it (stop). */
  classify(userKey: Uint8Array): number;
}

function iterationBounds(options: IterateOptions): Bounds {
  checkOptions(options, ITERATE_OPTION_NAMES, "iterate options");
  const reverse = options.reverse ?? false;
  if (typeof reverse !== "boolean") throw invalidArgument("option reverse must be a boolean");
  const limit = options.limit ?? Infinity;
  if (limit !== Infinity && (typeof limit !== "number" || !Number.isInteger(limit))) throw invalidArgument("option limit must be an integer");
  const gt = options.gt === undefined ? undefined : checkKey(options.gt, "gt");
  let gte = options.gte === undefined ? undefined : checkKey(options.gte, "gte");
  let lt = options.lt === undefined ? undefined : checkKey(options.lt, "lt");
  const lte = options.lte === undefined ? undefined : checkKey(options.lte, "lte");
  if (options.prefix !== undefined) {
    const prefix = checkKey(options.prefix, "prefix");
    if (gte === undefined || compareBytes(prefix, gte) > 0) gte = prefix;
    const end = prefixEnd(prefix);
    if (end && (lt === undefined || compareBytes(end, lt) < 0)) lt = end;
  }
  const below = (key: Uint8Array) => (gt !== undefined && compareBytes(key, gt) <= 0) || (gte !== undefined && compareBytes(key, gte) < 0);
  const above = (key: Uint8Array) => (lt !== undefined && compareBytes(key, lt) >= 0) || (lte !== undefined && compareBytes(key, lte) > 0);
  let start: Uint8Array | undefined;
  if (!reverse) {
    const lower = gt !== undefined && (gte === undefined || compareBytes(gt, gte) >= 0) ? gt : gte;
    start = lower === undefined ? undefined : seekKey(lower, SEQUENCE_MAX);
  } else if (lt !== undefined && (lte === undefined || compareBytes(lt, lte) <= 0)) {
    start = seekKey(lt, SEQUENCE_MAX);
  } else if (lte !== undefined) {
    start = encodeInternalKey(lte, 0, 0);
  }
  return {
    reverse,
    limit: limit < 0 ? Infinity : limit,
    start,
    classify: reverse ? (key) => (above(key) ? -1 : below(key) ? 1 : 0) : (key) => (below(key) ? -1 : above(key) ? 1 : 0),
  };
}
