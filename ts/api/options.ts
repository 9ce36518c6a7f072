/**
 * Every option the public API takes, in one place: its name, its default and its check. The DB
 * facade (ts/api/db.ts) validates arguments here before any work reaches the engine.
 */
import { BINARY, ENCODING_OPTION_NAMES, encode, resolveEncodings, type EncodingOptions, type Encodings } from "./encoding.ts";
import { prefixEnd, toBytes } from "../bytes.ts";
import { compareBytes } from "../core/entry.ts";
import type { CoreName } from "../core/types.ts";
import { checkOptions, invalidArgument } from "../errors.ts";
import { COMPRESSIONS, KEY_BYTES_MAX, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_OPTION_MAX, VALUE_BYTES_MAX, type Compression } from "../format.ts";
import type { Storage } from "../storage/io.ts";
import { platformThreads } from "../storage/platform.ts";
import type { Durability } from "../vlog/log.ts";
import { NO_VALUE, type LogOperation } from "../vlog/record.ts";

export type { Durability, EncodingOptions };
export type Background = "worker" | "inline";

/** Options of a read: the encodings of the key given and the value returned. */
export type ReadOptions = EncodingOptions;

/** A key or value as a call takes it: bytes or a string, or with "json" any JSON value. */
export type Encodable = Uint8Array | string | number | boolean | null | object;

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
  /**
   * Data blocks of tables written from now on: "lz4" (default) compresses each block that
   * shrinks by at least 1/8, "none" stores every block raw. Tables of either kind read alike.
   */
  compression?: Compression;
  /** Collect value-log segments that are at least half garbage between foreground work (default true). */
  autoGc?: boolean;
  /**
   * Open even when the newest log segment is damaged before intact records (PGZ_CORRUPTION
   * otherwise): the log is cut at the damage and every write after it is lost (default false).
   */
  salvageLog?: boolean;
  /**
   * Where flushes and compactions build their tables: "worker" (a background thread; the default
   * where the runtime has node:worker_threads, with the default storage and not read-only) or
   * "inline" (on the caller's thread, in paced steps: the default otherwise).
   */
  background?: Background;
  /** A Storage backend other than node:fs (tests inject faults this way). */
  storage?: Storage;
  /** How keys are given and returned by default: "binary" (default), "utf8" or "json". */
  keyEncoding?: EncodingOptions["keyEncoding"];
  /** How values are given and returned by default: "binary" (default), "utf8" or "json". */
  valueEncoding?: EncodingOptions["valueEncoding"];
  /**
   * Open without the lock, beside a live writer or none: reads see the database as of the open
   * (refresh() moves on), writes throw PGZ_READ_ONLY, and nothing in the directory is written
   * but this reader's registration in readers/ (default false). See ts/engine/reader.ts.
   */
  readOnly?: boolean;
}

export interface WriteOptions extends EncodingOptions {
  sync?: boolean;
  durability?: Durability;
}

export type BatchOperation =
  | { type: "put"; key: Encodable; value: Encodable }
  | { type: "del"; key: Encodable };

export interface IterateOptions extends EncodingOptions {
  gt?: Encodable;
  gte?: Encodable;
  lt?: Encodable;
  lte?: Encodable;
  prefix?: Encodable;
  reverse?: boolean;
  limit?: number;
}

export const DEFAULTS = {
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
const OPTION_NAMES = [
  ...["core", "background", "createIfMissing", "errorIfExists", "durability", "sync", "storage", "autoGc", "salvageLog", "readOnly", "compression"],
  ...ENCODING_OPTION_NAMES,
  ...Object.keys(DEFAULTS),
];
/** Measured (docs/BENCHMARKS.md, "Block compression"): see the figures there. */
const COMPRESSION_DEFAULT: Compression = "lz4";
const WRITE_OPTION_NAMES = ["sync", "durability", ...ENCODING_OPTION_NAMES];
/** The names db.iterate, snapshot.iterate and tx.iterate take. */
const ITERATE_OPTION_NAMES = ["gt", "gte", "lt", "lte", "prefix", "reverse", "limit"];
/** Made once: a seek checks its options on every call. */
const ITERATE_AND_ENCODING_OPTION_NAMES = [...ITERATE_OPTION_NAMES, ...ENCODING_OPTION_NAMES];
const DURABILITIES = new Set(["sync", "os", "buffered"]);
/** gc() collects a segment once this share of it is garbage, unless told otherwise (automatic GC too). */
export const GC_DISCARD_RATIO_DEFAULT = 0.5;

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
  const lockValid = candidate.lock === undefined || typeof candidate.lock === "function";
  return lockValid && typeof candidate.directory === "string" && STORAGE_METHODS.every((name) => typeof candidate[name] === "function");
}

export type Settings = typeof DEFAULTS & { durability: Durability; autoGc: boolean; compression: Compression; encodings: Encodings; background: Background };

/**
 * The worker runs on node:fs of its own: a custom Storage (in-memory, fault-injecting) stays
 * inline, as does a read-only open (it writes no tables) and a runtime without threads.
 */
function backgroundOf(options: OpenOptions): Background {
  const threads = platformThreads();
  const workerFits = options.storage === undefined && options.readOnly !== true && threads?.available() === true;
  const background = options.background ?? (workerFits ? "worker" : "inline");
  if (background !== "worker" && background !== "inline") throw invalidArgument(`option background must be "worker" or "inline", got ${String(background)}`);
  if (background === "worker" && options.storage !== undefined) throw invalidArgument('option background "worker" needs the default storage (the worker opens the files itself)');
  if (background === "worker" && !threads?.available()) throw invalidArgument('option background "worker" needs node:worker_threads and SharedArrayBuffer');
  return background;
}

/** Validates open options before anything touches the disk. */
export function resolveOptions(options: OpenOptions): Settings {
  checkOptions(options, OPTION_NAMES, "open options");
  if (options.core !== undefined && options.core !== "wasm" && options.core !== "ts") throw invalidArgument(`option core must be "wasm" or "ts", got ${String(options.core)}`);
  if (options.storage !== undefined && !isStorage(options.storage)) throw invalidArgument("option storage must implement the Storage interface (ts/storage/io.ts)");
  for (const name of ["createIfMissing", "errorIfExists", "autoGc", "salvageLog", "readOnly"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "boolean") throw invalidArgument(`option ${name} must be a boolean`);
  }
  if (options.compression !== undefined && !COMPRESSIONS.includes(options.compression)) {
    throw invalidArgument(`option compression must be "lz4" or "none", got ${String(options.compression)}`);
  }
  return {
    durability: durabilityOf(options, "os"),
    background: backgroundOf(options),
    autoGc: options.autoGc ?? true,
    compression: options.compression ?? COMPRESSION_DEFAULT,
    encodings: resolveEncodings(options, BINARY),
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

/** The durability write options ask for, `fallback` (the database's default) if none. */
export function writeDurability(options: WriteOptions | undefined, fallback: Durability): Durability {
  return durabilityOf(options === undefined ? undefined : checkOptions(options, WRITE_OPTION_NAMES, "write options"), fallback);
}

export function checkKey(key: unknown, what = "key"): Uint8Array {
  const bytes = toBytes(key, what);
  if (bytes.length > KEY_BYTES_MAX) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${KEY_BYTES_MAX}`);
  return bytes;
}

export function checkValue(value: unknown): Uint8Array {
  const bytes = toBytes(value, "value");
  if (bytes.length > VALUE_BYTES_MAX) throw invalidArgument(`value is ${bytes.length} bytes; the limit is ${VALUE_BYTES_MAX}`);
  return bytes;
}

export function checkSequence(sequence: unknown): void {
  if (typeof sequence !== "number" || !Number.isSafeInteger(sequence) || sequence < 0) throw invalidArgument(`sequence must be a non-negative integer, got ${String(sequence)}`);
}

/** The option names of a batch's operations, made once: every operation of every batch is checked against them. */
const PUT_OPERATION_NAMES = ["type", "key", "value"];
const DELETE_OPERATION_NAMES = ["type", "key"];

/**
 * Validates a batch into log operations (keys and values encoded as `encodings` say, as bytes).
 * A loop without a closure or a name list per operation: a batch of 1,000 puts made about
 * 0.5 MB of garbage here, collected on the caller's thread.
 */
export function checkBatch(operations: readonly BatchOperation[], encodings: Encodings = BINARY): LogOperation[] {
  if (!Array.isArray(operations)) throw invalidArgument("batch operations must be an array");
  const checked = new Array<LogOperation>(operations.length);
  for (let index = 0; index < operations.length; index++) checked[index] = checkOperation(operations[index]!, index, encodings);
  return checked;
}

function checkOperation(operation: BatchOperation, index: number, encodings: Encodings): LogOperation {
  checkOptions(operation, operation?.type === "del" ? DELETE_OPERATION_NAMES : PUT_OPERATION_NAMES, "batch operation", index);
  if (operation.type === "put") return { type: "put", key: checkKey(encode(operation.key, encodings.keyEncoding, "key")), value: checkValue(encode(operation.value, encodings.valueEncoding, "value")) };
  if (operation.type === "del") return { type: "del", key: checkKey(encode(operation.key, encodings.keyEncoding, "key")), value: NO_VALUE };
  throw invalidArgument(`batch operation ${index} has type ${String((operation as { type?: unknown }).type)}; expected "put" or "del"`);
}

export interface GcOptions {
  discardRatio?: number;
  segmentsMax?: number;
}

export function checkGcOptions(options: GcOptions): { discardRatio: number; segmentsMax: number } {
  checkOptions(options, ["discardRatio", "segmentsMax"], "gc options");
  const discardRatio = options.discardRatio ?? GC_DISCARD_RATIO_DEFAULT;
  const segmentsMax = options.segmentsMax ?? 1;
  if (typeof discardRatio !== "number" || !(discardRatio >= 0 && discardRatio <= 1)) throw invalidArgument("discardRatio must be a number in [0, 1]");
  if (!Number.isSafeInteger(segmentsMax) || segmentsMax < 1) throw invalidArgument("segmentsMax must be a positive integer");
  return { discardRatio, segmentsMax };
}

export interface CompactRange {
  gte?: Uint8Array | string;
  lt?: Uint8Array | string;
}

export function checkCompactRange(range: CompactRange): { gte: Uint8Array | undefined; lt: Uint8Array | undefined } {
  checkOptions(range, ["gte", "lt"], "compact range");
  const gte = range.gte === undefined ? undefined : checkKey(range.gte, "gte");
  const lt = range.lt === undefined ? undefined : checkKey(range.lt, "lt");
  return { gte, lt };
}

/** Iterate options checked, with `prefix` folded into the bounds it implies. */
export interface CheckedIteration {
  reverse: boolean;
  /** Infinity when not given or negative. */
  limit: number;
  gt: Uint8Array | undefined;
  gte: Uint8Array | undefined;
  lt: Uint8Array | undefined;
  lte: Uint8Array | undefined;
}

/**
 * db and snapshot iterate options: the encodings (`fallback` for those not given) and the rest
 * with its bounds encoded as keys, for checkIterateOptions.
 */
export function splitIterateEncodings(options: IterateOptions, fallback: Encodings): { bounds: IterateOptions; encodings: Encodings } {
  const { keyEncoding, valueEncoding, ...bounds } = checkOptions(options, ITERATE_AND_ENCODING_OPTION_NAMES, "iterate options");
  const encodings = resolveEncodings({ keyEncoding, valueEncoding }, fallback);
  for (const name of ["gt", "gte", "lt", "lte", "prefix"] as const) {
    if (bounds[name] !== undefined) bounds[name] = encode(bounds[name], encodings.keyEncoding, name);
  }
  return { bounds, encodings };
}

/** Validates iterate options (db, snapshot and transaction iterate take the same ones). */
export function checkIterateOptions(options: IterateOptions): CheckedIteration {
  checkOptions(options, ITERATE_OPTION_NAMES, "iterate options");
  const reverse = options.reverse ?? false;
  if (typeof reverse !== "boolean") throw invalidArgument("option reverse must be a boolean");
  const limit = options.limit ?? Infinity;
  if (limit !== Infinity && (typeof limit !== "number" || !Number.isInteger(limit))) throw invalidArgument("option limit must be an integer");
  const bound = (name: "gt" | "gte" | "lt" | "lte" | "prefix") => (options[name] === undefined ? undefined : checkKey(options[name], name));
  const gt = bound("gt");
  let gte = bound("gte");
  let lt = bound("lt");
  const lte = bound("lte");
  const prefix = bound("prefix");
  if (prefix !== undefined) {
    if (gte === undefined || compareBytes(prefix, gte) > 0) gte = prefix;
    const end = prefixEnd(prefix);
    if (end && (lt === undefined || compareBytes(end, lt) < 0)) lt = end;
  }
  return { reverse, limit: limit < 0 ? Infinity : limit, gt, gte, lt, lte };
}
