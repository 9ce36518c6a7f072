/**
 * An abstract-level adapter: `new PgzLevel(location, options)` is a Level-ecosystem database
 * (levelup-style API, sublevels, encodings, hooks, events) backed by a pgz `DB`.
 *
 * pgz is synchronous and stores bytes, so every private method here does its work at once and
 * resolves a promise. Reads are snapshot-consistent: an iterator captures a pgz snapshot when
 * it is created (implicit snapshots), and `db.snapshot()` gives explicit ones.
 */
import { Buffer } from "node:buffer";
import { AbstractIterator, AbstractKeyIterator, AbstractLevel, AbstractSnapshot, AbstractValueIterator, type AbstractDatabaseOptions } from "abstract-level";
import { DB, PgzError, Snapshot, type BatchOperation, type IterateOptions, type OpenOptions, type WriteOptions } from "./index.ts";

/** The lower-level formats abstract-level hands to (and expects from) the private methods. */
type Format = "buffer" | "view" | "utf8";
type Bytes = Uint8Array | string;

/**
 * Options of PgzLevel: abstract-level's (encodings, createIfMissing...) and pgz's open options.
 * K and V are the default key and value types, as in classic-level: `new PgzLevel<string,
 * User>(location, { valueEncoding: "json" })` stores and returns `User` values.
 */
export interface PgzLevelOptions<K = string, V = string> extends Omit<OpenOptions, "createIfMissing" | "errorIfExists" | "keyEncoding" | "valueEncoding">, AbstractDatabaseOptions<K, V> {
  passive?: boolean;
  [name: string]: unknown;
}

/**
 * The pgz open options PgzLevel keeps and gives to DB.open; every other option belongs to
 * abstract-level (which hands userland options to open hooks, so they cannot all go to pgz,
 * which rejects unknown options). test/level.test.ts checks this covers OpenOptions.
 */
export const PGZ_OPEN_OPTION_NAMES = [
  "core",
  "background",
  "durability",
  "sync",
  "valueThreshold",
  "memtableBytes",
  "segmentBytes",
  "blockCacheBytes",
  "bufferedBytes",
  "openFilesMax",
  "l0Files",
  "levelRatio",
  "level1Bytes",
  "tableBytes",
  "autoGc",
  "salvageLog",
  "compression",
  "readOnly",
  "storage",
] as const;

/** How a pgz error code reads in the Level ecosystem (abstract-level's documented codes). */
const LEVEL_CODES: Partial<Record<PgzError["code"], string>> = {
  PGZ_CORRUPTION: "LEVEL_CORRUPTION",
  PGZ_IO: "LEVEL_IO_ERROR",
  PGZ_LOCKED: "LEVEL_LOCKED",
  PGZ_READ_ONLY: "LEVEL_READONLY",
  PGZ_CLOSED: "LEVEL_DATABASE_NOT_OPEN",
};

/** An Error carrying a Level code, with the PgzError (and its `code`) as `cause`. */
class LevelError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = "LevelError";
  }
}

/** Translates a PgzError into the Level code for it; other errors pass through unchanged. */
function toLevelError(error: unknown): unknown {
  if (!(error instanceof PgzError)) return error;
  const code = LEVEL_CODES[error.code];
  return code === undefined ? error : new LevelError(error.message, code, { cause: error });
}

/** Runs `work` and maps what it throws; pgz never needs to wait, so this is synchronous. */
function translated<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw toLevelError(error);
  }
}

const decoder = new TextDecoder();

/** Bytes from pgz in the format abstract-level asked for. */
function output(bytes: Uint8Array, format: string | undefined): Bytes {
  if (format === "utf8") return decoder.decode(bytes);
  if (format === "buffer") return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bytes;
}

function writeOptionsOf(options: { sync?: unknown } | undefined): WriteOptions | undefined {
  return typeof options?.sync === "boolean" ? { sync: options.sync } : undefined;
}

// abstract-level's types omit the constructor's `options` (which names the owning database).
const SnapshotBase = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot;

/** An explicit snapshot: a token holding a pgz Snapshot until closed. */
class PgzLevelSnapshot extends SnapshotBase {
  constructor(
    readonly snapshot: Snapshot,
    options: object,
  ) {
    super(options);
  }

  async _close(): Promise<void> {
    this.snapshot.release();
  }
}

interface PrivateReadOptions {
  keyEncoding?: Format;
  valueEncoding?: Format;
  snapshot?: unknown;
}

interface PrivateIteratorOptions extends PrivateReadOptions {
  gt?: Bytes;
  gte?: Bytes;
  lt?: Bytes;
  lte?: Bytes;
  reverse?: boolean;
  limit?: number;
}

/**
 * The shared cursor behind the three iterator classes: a pgz generator over one pgz snapshot
 * (the explicit one passed in, or one taken at creation), restarted by `seek`.
 */
class Cursor {
  private readonly snapshot: Snapshot;
  private readonly ownsSnapshot: boolean;
  private readonly bounds: IterateOptions;
  /** Entries still allowed by `limit` (abstract-level's -1 means no limit), across seeks. */
  private remaining: number;
  /** Started on the first read, so that creating an iterator never throws. */
  private generator: Generator<[Uint8Array, Uint8Array], void, undefined> | undefined;

  constructor(db: DB, options: PrivateIteratorOptions) {
    const explicit = options.snapshot instanceof PgzLevelSnapshot ? options.snapshot.snapshot : undefined;
    this.snapshot = explicit ?? translated(() => db.snapshot());
    this.ownsSnapshot = explicit === undefined;
    this.remaining = options.limit === undefined || options.limit < 0 ? Infinity : options.limit;
    this.bounds = { reverse: options.reverse === true };
    // abstract-level gives gte precedence over gt and lte over lt; pgz would apply both.
    if (options.gte !== undefined) this.bounds.gte = options.gte;
    else if (options.gt !== undefined) this.bounds.gt = options.gt;
    if (options.lte !== undefined) this.bounds.lte = options.lte;
    else if (options.lt !== undefined) this.bounds.lt = options.lt;
  }

  /** Up to `size` entries; fewer only at the end (or the limit). */
  take(size: number): [Uint8Array, Uint8Array][] {
    const entries: [Uint8Array, Uint8Array][] = [];
    translated(() => {
      this.generator ??= this.snapshot.iterate(this.bounds);
      while (entries.length < size && this.remaining > 0) {
        const next = this.generator.next();
        if (next.done) break;
        entries.push(next.value);
        this.remaining--;
      }
    });
    return entries;
  }

  /** Restarts at `target`: the first key >= it (or <= it in reverse), within the bounds. */
  seek(target: Bytes): void {
    this.generator?.return();
    const bounds: IterateOptions & { lte?: Bytes; gte?: Bytes } = { ...this.bounds } as IterateOptions & { lte?: Bytes; gte?: Bytes };
    // pgz applies gt and gte (lt and lte) together, so the target narrows the range.
    if (bounds.reverse) {
      if (bounds.lte === undefined || compare(target, bounds.lte) < 0) bounds.lte = target;
    } else if (bounds.gte === undefined || compare(target, bounds.gte) > 0) {
      bounds.gte = target;
    }
    this.generator = translated(() => this.snapshot.iterate(bounds));
  }

  close(): void {
    this.generator?.return();
    if (this.ownsSnapshot) this.snapshot.release();
  }
}

const encoder = new TextEncoder();
const asBytes = (value: Bytes): Uint8Array => (typeof value === "string" ? encoder.encode(value) : value);

function compare(a: Bytes, b: Bytes): number {
  const left = asBytes(a);
  const right = asBytes(b);
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) if (left[i] !== right[i]) return left[i]! - right[i]!;
  return left.length - right.length;
}

/** Batches of entries pulled per `_nextv` when abstract-level asks for more than this. */
const NEXTV_SIZE_MAX = 1000;

/**
 * Any PgzLevel, whatever its default key and value types: the iterators work on bytes. (`any`,
 * because abstract-level uses K and V both in and out, so no other type takes every PgzLevel.)
 */
type AnyPgzLevel = PgzLevel<any, any>;

class PgzIterator extends AbstractIterator<AnyPgzLevel, Bytes, Bytes> {
  private readonly cursor: Cursor;
  private readonly keyFormat: string | undefined;
  private readonly valueFormat: string | undefined;

  constructor(db: AnyPgzLevel, pgz: DB, options: PrivateIteratorOptions) {
    super(db, options as never);
    this.cursor = new Cursor(pgz, options);
    this.keyFormat = options.keyEncoding;
    this.valueFormat = options.valueEncoding;
  }

  async _next(): Promise<[Bytes, Bytes] | undefined> {
    const [entry] = this.cursor.take(1);
    return entry === undefined ? undefined : [output(entry[0], this.keyFormat), output(entry[1], this.valueFormat)];
  }

  async _nextv(size: number): Promise<[Bytes, Bytes][]> {
    return this.cursor.take(Math.min(size, NEXTV_SIZE_MAX)).map(([key, value]) => [output(key, this.keyFormat), output(value, this.valueFormat)]);
  }

  async _all(): Promise<[Bytes, Bytes][]> {
    return this.cursor.take(Infinity).map(([key, value]) => [output(key, this.keyFormat), output(value, this.valueFormat)]);
  }

  _seek(target: Bytes): void {
    this.cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.cursor.close();
  }
}

class PgzKeyIterator extends AbstractKeyIterator<AnyPgzLevel, Bytes> {
  private readonly cursor: Cursor;
  private readonly keyFormat: string | undefined;

  constructor(db: AnyPgzLevel, pgz: DB, options: PrivateIteratorOptions) {
    super(db, options as never);
    this.cursor = new Cursor(pgz, options);
    this.keyFormat = options.keyEncoding;
  }

  async _next(): Promise<Bytes | undefined> {
    const [entry] = this.cursor.take(1);
    return entry === undefined ? undefined : output(entry[0], this.keyFormat);
  }

  async _nextv(size: number): Promise<Bytes[]> {
    return this.cursor.take(Math.min(size, NEXTV_SIZE_MAX)).map(([key]) => output(key, this.keyFormat));
  }

  async _all(): Promise<Bytes[]> {
    return this.cursor.take(Infinity).map(([key]) => output(key, this.keyFormat));
  }

  _seek(target: Bytes): void {
    this.cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.cursor.close();
  }
}

class PgzValueIterator extends AbstractValueIterator<AnyPgzLevel, Bytes, Bytes> {
  private readonly cursor: Cursor;
  private readonly valueFormat: string | undefined;

  constructor(db: AnyPgzLevel, pgz: DB, options: PrivateIteratorOptions) {
    super(db, options as never);
    this.cursor = new Cursor(pgz, options);
    this.valueFormat = options.valueEncoding;
  }

  async _next(): Promise<Bytes | undefined> {
    const [entry] = this.cursor.take(1);
    return entry === undefined ? undefined : output(entry[1], this.valueFormat);
  }

  async _nextv(size: number): Promise<Bytes[]> {
    return this.cursor.take(Math.min(size, NEXTV_SIZE_MAX)).map(([, value]) => output(value, this.valueFormat));
  }

  async _all(): Promise<Bytes[]> {
    return this.cursor.take(Infinity).map(([, value]) => output(value, this.valueFormat));
  }

  _seek(target: Bytes): void {
    this.cursor.seek(target);
  }

  async _close(): Promise<void> {
    this.cursor.close();
  }
}

/** Keys deleted per batch by `clear()`. */
const CLEAR_BATCH_KEYS = 1000;

export class PgzLevel<K = string, V = string> extends AbstractLevel<Bytes, K, V> {
  readonly location: string;
  private readonly openOptions: OpenOptions;
  private database: DB | undefined;

  constructor(location: string, options: PgzLevelOptions<K, V> = {}) {
    if (typeof location !== "string" || location === "") throw new TypeError("The first argument 'location' must be a non-empty string");
    // pgz's own options stay here; the rest (encodings, createIfMissing, userland options) go
    // to abstract-level, which hands them to open() and its hooks.
    const openOptions: Record<string, unknown> = {};
    const levelOptions: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(options ?? {})) {
      if ((PGZ_OPEN_OPTION_NAMES as readonly string[]).includes(name)) openOptions[name] = value;
      else levelOptions[name] = value;
    }
    super(
      {
        encodings: { buffer: true, view: true, utf8: true },
        implicitSnapshots: true,
        explicitSnapshots: true,
        permanence: true,
        createIfMissing: true,
        errorIfExists: true,
        has: true,
        getSync: true,
        seek: true,
      } as never,
      levelOptions as never,
    );
    this.location = location;
    this.openOptions = openOptions as OpenOptions;
  }

  /** The pgz database underneath (open only between open() and close()). */
  get db(): DB {
    if (this.database === undefined) throw new LevelError("Database is not open", "LEVEL_DATABASE_NOT_OPEN");
    return this.database;
  }

  async _open(options: { createIfMissing?: boolean; errorIfExists?: boolean }): Promise<void> {
    try {
      this.database = DB.open(this.location, { ...this.openOptions, createIfMissing: options.createIfMissing !== false, errorIfExists: options.errorIfExists === true });
    } catch (error) {
      if (error instanceof PgzError && error.code === "PGZ_NOT_FOUND") {
        throw new LevelError(`Database does not exist: ${this.location}`, "LEVEL_DATABASE_NOT_OPEN", { cause: error });
      }
      throw toLevelError(error);
    }
  }

  async _close(): Promise<void> {
    const database = this.database;
    this.database = undefined;
    translated(() => database?.close());
  }

  private read(key: Bytes, options: PrivateReadOptions): Uint8Array | undefined {
    const snapshot = options.snapshot instanceof PgzLevelSnapshot ? options.snapshot.snapshot : undefined;
    return translated(() => (snapshot ? snapshot.get(key) : this.db.get(key)));
  }

  _getSync(key: Bytes, options: PrivateReadOptions): Bytes | undefined {
    const value = this.read(key, options);
    return value === undefined ? undefined : output(value, options.valueEncoding);
  }

  async _get(key: Bytes, options: PrivateReadOptions): Promise<Bytes | undefined> {
    return this._getSync(key, options);
  }

  async _getMany(keys: Bytes[], options: PrivateReadOptions): Promise<(Bytes | undefined)[]> {
    if (options.snapshot instanceof PgzLevelSnapshot) return keys.map((key) => this._getSync(key, options));
    // One batch lookup (db.getMany) rather than a get per key.
    const values = translated(() => this.db.getMany(keys));
    return values.map((value) => (value === undefined ? undefined : output(value, options.valueEncoding)));
  }

  async _has(key: Bytes, options: PrivateReadOptions): Promise<boolean> {
    return this.read(key, options) !== undefined;
  }

  async _hasMany(keys: Bytes[], options: PrivateReadOptions): Promise<boolean[]> {
    return keys.map((key) => this.read(key, options) !== undefined);
  }

  async _put(key: Bytes, value: Bytes, options: { sync?: unknown }): Promise<void> {
    translated(() => this.db.put(key, value, writeOptionsOf(options)));
  }

  async _del(key: Bytes, options: { sync?: unknown }): Promise<void> {
    translated(() => this.db.delete(key, writeOptionsOf(options)));
  }

  async _batch(operations: { type: "put" | "del"; key: Bytes; value?: Bytes }[], options: { sync?: unknown }): Promise<void> {
    const batch: BatchOperation[] = operations.map((operation) =>
      operation.type === "put" ? { type: "put", key: operation.key, value: operation.value! } : { type: "del", key: operation.key },
    );
    translated(() => this.db.batch(batch, writeOptionsOf(options)));
  }

  _iterator(options: PrivateIteratorOptions): PgzIterator {
    return new PgzIterator(this, this.db, options);
  }

  _keys(options: PrivateIteratorOptions): PgzKeyIterator {
    return new PgzKeyIterator(this, this.db, options);
  }

  _values(options: PrivateIteratorOptions): PgzValueIterator {
    return new PgzValueIterator(this, this.db, options);
  }

  _snapshot(options: object): PgzLevelSnapshot {
    return new PgzLevelSnapshot(translated(() => this.db.snapshot()), options);
  }

  /** Deletes the range as of the call (a snapshot), in batches; not atomic, as abstract-level allows. */
  async _clear(options: PrivateIteratorOptions): Promise<void> {
    const cursor = new Cursor(this.db, options);
    try {
      let remaining = options.limit === undefined || options.limit < 0 ? Infinity : options.limit;
      while (remaining > 0) {
        const entries = cursor.take(Math.min(remaining, CLEAR_BATCH_KEYS));
        if (entries.length === 0) break;
        remaining -= entries.length;
        translated(() => this.db.batch(entries.map(([key]) => ({ type: "del", key }))));
      }
    } finally {
      cursor.close();
    }
  }
}
