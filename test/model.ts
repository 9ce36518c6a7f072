/**
 * The operation language shared by the model-based property test (test/db-property.test.ts) and
 * the metamorphic test (test/metamorphic.test.ts), and the runner that plays an operation list
 * against a database.
 *
 * Operations cover the whole public surface that can change what a read returns: puts, deletes
 * and batches; gets and bounded iterations; flushes, full and ranged compactions, value-log GC
 * and idle event-loop turns (automatic compaction and GC); snapshots, iterators and
 * transactions created now and read later, after more writes, compactions and GCs; close and
 * reopen; and a "file-number jump" (a stray numeric file put in the directory while closed).
 * Handles (snapshots, iterators, transactions) are named by an index taken modulo the live ones,
 * so any shrunk list still means something.
 *
 * The runner writes down every observable result (a line per read) and, when given a model
 * (`strict`), compares each with a plain Map kept beside the database: the model of a snapshot,
 * iterator or transaction is a copy of the Map taken when it was created. Any error that is not
 * a PgzError is rethrown at once; in strict mode so is any PgzError the model does not allow.
 * Each written value names its key and the operation that wrote it (`c@12`, padded to its
 * length), so a wrong value says where it came from.
 */
import fc from "fast-check";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB, PgzError, type IterateOptions, type OpenOptions, type Snapshot, type Transaction } from "../ts/index.ts";
import { compareBytes } from "../ts/core/entry.ts";

export interface Range {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  prefix?: string;
  reverse?: boolean;
  limit?: number;
}

/** `length` 0 keeps the value at its name (`c@12`, inline); longer values are padded with "-". */
export type Write = { type: "put"; key: string; length: number } | { type: "del"; key: string };

export type Operation =
  | Write
  | { type: "batch"; writes: Write[] }
  | { type: "get"; key: string }
  | { type: "getMany"; keys: string[] }
  | { type: "iterate"; range: Range }
  | { type: "flush" }
  | { type: "compact"; range?: { gte?: string; lt?: string } }
  | { type: "gc"; discardRatio: number; segmentsMax: number }
  | { type: "idle"; turns: number }
  | { type: "check" }
  | { type: "snapshot" }
  | { type: "snapshotGet"; index: number; key: string }
  | { type: "snapshotIterate"; index: number; range: Range }
  | { type: "release"; index: number }
  | { type: "iterator"; range: Range }
  | { type: "iteratorNext"; index: number; count: number }
  | { type: "begin" }
  | { type: "txGet"; index: number; key: string }
  | { type: "txWrite"; index: number; write: Write }
  | { type: "txIterate"; index: number; range: Range }
  | { type: "txEnd"; index: number; commit: boolean }
  | { type: "reopen" }
  | { type: "jump"; name: string };

/** Small enough that flushes, compactions, segment roll-overs and GC happen every few operations. */
export function tinyOptions(core: "ts" | "wasm"): OpenOptions {
  return { core, memtableBytes: 4096, tableBytes: 4096, level1Bytes: 4096, levelRatio: 2, segmentBytes: 64 * 1024, l0Files: 2, valueThreshold: 16, openFilesMax: 8, blockCacheBytes: 16 * 1024 };
}

/**
 * A fresh directory, in memory (/dev/shm) where there is one: these tests open and flush
 * thousands of databases, and an fdatasync on a real disk costs more than the rest of a run.
 * Remove it with removeDirectory.
 */
export function scratchDirectory(): string {
  const parent = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return mkdtempSync(join(parent, "pgz-model-"));
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Mostly one letter (many overwrites, narrow tables), sometimes up to three (and the empty key). */
const keyArbitrary = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[a-e]$/) }, { weight: 1, arbitrary: fc.stringMatching(/^[a-d]{0,3}$/) });
const optionalKey = fc.option(keyArbitrary, { nil: undefined });
/** 0: the value is its name only (inline under any threshold); else padded, often past the threshold. */
const lengthArbitrary = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 17, max: 4000 }) });
const putArbitrary = fc.record({ type: fc.constant("put" as const), key: keyArbitrary, length: lengthArbitrary });
const deleteArbitrary = fc.record({ type: fc.constant("del" as const), key: keyArbitrary });
const writeArbitrary: fc.Arbitrary<Write> = fc.oneof({ weight: 3, arbitrary: putArbitrary }, { weight: 1, arbitrary: deleteArbitrary });
const indexArbitrary = fc.nat({ max: 7 });

/**
 * Iteration ranges: each bound absent half the time (so most ranges hold keys), exclusive or
 * inclusive, sometimes a prefix, a limit (negative: none) or reverse order.
 */
const rangeArbitrary: fc.Arbitrary<Range> = fc
  .record({
    lower: fc.option(fc.tuple(fc.constantFrom("gt", "gte"), keyArbitrary), { freq: 1 }),
    upper: fc.option(fc.tuple(fc.constantFrom("lt", "lte"), keyArbitrary), { freq: 1 }),
    prefix: fc.option(fc.stringMatching(/^[a-d]{0,2}$/), { freq: 3 }),
    reverse: fc.boolean(),
    limit: fc.option(fc.integer({ min: -1, max: 12 }), { freq: 2 }),
  })
  .map(({ lower, upper, prefix, reverse, limit }) => {
    const range: Range = {};
    if (lower !== null) range[lower[0] as "gt" | "gte"] = lower[1];
    if (upper !== null) range[upper[0] as "lt" | "lte"] = upper[1];
    if (prefix !== null) range.prefix = prefix;
    if (reverse) range.reverse = true;
    if (limit !== null) range.limit = limit;
    return range;
  });

/**
 * Compaction ranges: everything, two ordered keys, one key's neighbourhood (`k` up to `k` + "b",
 * which holds k and the keys after it that start with k + "a"), or one open end.
 */
const compactRangeArbitrary: fc.Arbitrary<{ gte?: string; lt?: string } | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.tuple(keyArbitrary, keyArbitrary).map(([a, b]) => (a <= b ? { gte: a, lt: b } : { gte: b, lt: a })),
  keyArbitrary.map((key) => ({ gte: key, lt: `${key}b` })),
  keyArbitrary.map((key) => ({ gte: key })),
  keyArbitrary.map((key) => ({ lt: key })),
);

/**
 * Stray file names for the file-number jump: a little ahead, just below and past 2^32 (value
 * pointers hold 32-bit segment numbers), past 2^40, and past 2^53 (where `n + 1 === n`).
 */
export const STRAY_FILE_NAMES = [
  "000900.sst",
  "000900.vlog",
  "4294967294.sst",
  "4294967295.vlog",
  "4294967296.sst",
  "1099511627776.vlog",
  "MANIFEST-4294967300",
  "9007199254740993.sst",
  "5000000000",
] as const;

/** Each operation kind with its weight (how often it is drawn) and its arbitrary. */
const OPERATION_KINDS: [Operation["type"], number, fc.Arbitrary<Operation>][] = [
  ["put", 16, putArbitrary],
  ["del", 5, deleteArbitrary],
  ["batch", 3, fc.record({ type: fc.constant("batch" as const), writes: fc.array(writeArbitrary, { maxLength: 8 }) })],
  ["get", 6, fc.record({ type: fc.constant("get" as const), key: keyArbitrary })],
  ["getMany", 3, fc.record({ type: fc.constant("getMany" as const), keys: fc.array(keyArbitrary, { maxLength: 12 }) })],
  ["iterate", 4, fc.record({ type: fc.constant("iterate" as const), range: rangeArbitrary })],
  ["flush", 6, fc.constant({ type: "flush" as const })],
  ["compact", 4, fc.record({ type: fc.constant("compact" as const), range: compactRangeArbitrary }, { requiredKeys: ["type"] })],
  ["gc", 1, fc.record({ type: fc.constant("gc" as const), discardRatio: fc.double({ min: 0, max: 1, noNaN: true }), segmentsMax: fc.integer({ min: 1, max: 4 }) })],
  ["idle", 1, fc.record({ type: fc.constant("idle" as const), turns: fc.integer({ min: 1, max: 4 }) })],
  ["check", 1, fc.constant({ type: "check" as const })],
  ["snapshot", 2, fc.constant({ type: "snapshot" as const })],
  ["snapshotGet", 2, fc.record({ type: fc.constant("snapshotGet" as const), index: indexArbitrary, key: keyArbitrary })],
  ["snapshotIterate", 1, fc.record({ type: fc.constant("snapshotIterate" as const), index: indexArbitrary, range: rangeArbitrary })],
  ["release", 1, fc.record({ type: fc.constant("release" as const), index: indexArbitrary })],
  ["iterator", 3, fc.record({ type: fc.constant("iterator" as const), range: rangeArbitrary })],
  ["iteratorNext", 3, fc.record({ type: fc.constant("iteratorNext" as const), index: indexArbitrary, count: fc.integer({ min: 1, max: 100 }) })],
  ["begin", 3, fc.constant({ type: "begin" as const })],
  ["txGet", 3, fc.record({ type: fc.constant("txGet" as const), index: indexArbitrary, key: keyArbitrary })],
  ["txWrite", 4, fc.record({ type: fc.constant("txWrite" as const), index: indexArbitrary, write: writeArbitrary })],
  ["txIterate", 1, fc.record({ type: fc.constant("txIterate" as const), index: indexArbitrary, range: rangeArbitrary })],
  ["txEnd", 2, fc.record({ type: fc.constant("txEnd" as const), index: indexArbitrary, commit: fc.boolean() })],
  ["reopen", 1, fc.constant({ type: "reopen" as const })],
  ["jump", 1, fc.record({ type: fc.constant("jump" as const), name: fc.constantFrom(...STRAY_FILE_NAMES) })],
];

/** Random operations of every kind except those in `excluded`. */
export function operationArbitrary(excluded: readonly Operation["type"][] = []): fc.Arbitrary<Operation> {
  const kinds = OPERATION_KINDS.filter(([type]) => !excluded.includes(type));
  return fc.oneof(...kinds.map(([, weight, arbitrary]) => ({ weight, arbitrary })));
}

// ---------------------------------------------------------------------------------------------
// The model

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const byteOrder = (a: string, b: string) => compareBytes(encoder.encode(a), encoder.encode(b));

/** The value a write made at `step` stores: its name, padded to `length`. */
export function valueOf(key: string, step: string, length: number): string {
  const name = `${key}@${step}`;
  return name.length >= length ? name : name + "-".repeat(length - name.length);
}

/** A value as it is written down: long padding shortened so failure messages stay readable. */
function shown(value: string | undefined): string {
  if (value === undefined) return "(none)";
  const padding = value.indexOf("-");
  return padding < 0 ? value : `${value.slice(0, padding)}(${value.length} B)`;
}

function inRange(key: string, range: Range): boolean {
  if (range.gt !== undefined && byteOrder(key, range.gt) <= 0) return false;
  if (range.gte !== undefined && byteOrder(key, range.gte) < 0) return false;
  if (range.lt !== undefined && byteOrder(key, range.lt) >= 0) return false;
  if (range.lte !== undefined && byteOrder(key, range.lte) > 0) return false;
  if (range.prefix !== undefined && !key.startsWith(range.prefix)) return false;
  return true;
}

/** What an iteration over `model` returns, as `key=value` lines. */
export function modelIterate(model: ReadonlyMap<string, string>, range: Range): string[] {
  let keys = [...model.keys()].filter((key) => inRange(key, range)).sort(byteOrder);
  if (range.reverse) keys.reverse();
  if (range.limit !== undefined && range.limit >= 0) keys = keys.slice(0, range.limit);
  return keys.map((key) => `${key}=${shown(model.get(key))}`);
}

const entryLine = ([key, value]: [Uint8Array, Uint8Array]) => `${decoder.decode(key)}=${shown(decoder.decode(value))}`;

// ---------------------------------------------------------------------------------------------
// The runner

interface HeldSnapshot {
  handle: Snapshot;
  model: Map<string, string>;
}

interface HeldIterator {
  handle: Generator<[Uint8Array, Uint8Array], void, undefined>;
  expected: string[];
  position: number;
}

interface HeldTransaction {
  handle: Transaction;
  model: Map<string, string>;
  /** The write counter when it began: a key written after it has writtenAt above this. */
  began: number;
  pending: Map<string, string | undefined>;
  keysRead: Set<string>;
  rangesIterated: Range[];
}

type HandleOperationType = "snapshot" | "snapshotGet" | "snapshotIterate" | "release" | "iterator" | "iteratorNext" | "begin" | "txGet" | "txWrite" | "txIterate" | "txEnd";

/** Thrown for a wrong result; carries the step so the message says where. */
export class ModelMismatch extends Error {}

export class Runner {
  /** One line per observable result, identical for every configuration of a correct engine. */
  readonly observations: string[] = [];
  private db: DB;
  private readonly model = new Map<string, string>();
  /** Per key, the write counter of its last write (for transaction conflicts). */
  private readonly writtenAt = new Map<string, number>();
  private writes = 0;
  private snapshots: HeldSnapshot[] = [];
  private iterators: HeldIterator[] = [];
  private transactions: HeldTransaction[] = [];
  private step = 0;

  constructor(
    private readonly directory: string,
    private readonly options: OpenOptions,
    /** Compare every read with the model (the property test); else only write it down. */
    private readonly strict: boolean,
  ) {
    this.db = DB.open(directory, options);
  }

  async run(operations: readonly Operation[]): Promise<void> {
    try {
      for (this.step = 0; this.step < operations.length; this.step++) await this.perform(operations[this.step]!);
      // Last, everything: a wrong value no read above happened to look at still counts.
      await this.perform({ type: "iterate", range: {} });
    } finally {
      this.dropHandles();
      this.db.close();
    }
  }

  private async perform(operation: Operation): Promise<void> {
    try {
      await this.dispatch(operation);
      if (MAINTENANCE.has(operation.type)) this.audit();
    } catch (error) {
      if (error instanceof ModelMismatch || !(error instanceof PgzError)) throw error;
      if (this.strict) throw new ModelMismatch(`step ${this.step} ${JSON.stringify(operation)}: unexpected ${error.code}: ${error.message}`);
      this.observations.push(`${this.step} error ${error.code}`);
    }
  }

  private async dispatch(operation: Operation): Promise<void> {
    switch (operation.type) {
      case "put":
      case "del":
        return this.write([operation]);
      case "batch":
        return this.write(operation.writes);
      case "get":
        return this.observe(`get ${operation.key}`, shown(text(this.db.get(operation.key))), shown(this.model.get(operation.key)));
      case "getMany":
        return this.observe(`getMany ${operation.keys.join(",")}`, this.db.getMany(operation.keys).map((value) => shown(text(value))), operation.keys.map((key) => shown(this.model.get(key))));
      case "iterate":
        return this.observe(`iterate ${JSON.stringify(operation.range)}`, this.iterateLines(() => this.db.iterate(options(operation.range))), modelIterate(this.model, operation.range));
      case "flush":
        return this.db.flush();
      case "compact":
        return this.db.compact(operation.range);
      case "gc":
        this.db.gc({ discardRatio: operation.discardRatio, segmentsMax: operation.segmentsMax });
        return;
      case "idle":
        for (let turn = 0; turn < operation.turns; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
        return;
      case "check":
        return this.observe("check", this.db.check().ok, true);
      case "reopen":
        return this.reopen();
      case "jump":
        return this.jump(operation.name);
      default:
        return this.handleOperation(operation);
    }
  }

  /** Operations on handles: snapshots, held iterators, transactions. */
  private handleOperation(operation: Extract<Operation, { type: HandleOperationType }>): void {
    switch (operation.type) {
      case "snapshot":
        this.snapshots.push({ handle: this.db.snapshot(), model: new Map(this.model) });
        return;
      case "snapshotGet":
      case "snapshotIterate":
      case "release":
        return this.snapshotOperation(operation);
      case "iterator":
        this.iterators.push({ handle: this.db.iterate(options(operation.range)), expected: modelIterate(this.model, operation.range), position: 0 });
        return;
      case "iteratorNext":
        return this.iteratorNext(operation.index, operation.count);
      case "begin":
        this.transactions.push({ handle: this.db.begin(), model: new Map(this.model), began: this.writes, pending: new Map(), keysRead: new Set(), rangesIterated: [] });
        return;
      default:
        return this.transactionOperation(operation);
    }
  }

  /**
   * Reads everything, by iteration and by a get of every key ever written: after maintenance,
   * which moves data between files, so a wrong state is seen before a later compaction heals it.
   */
  private audit(): void {
    this.observe("audit iterate", this.iterateLines(() => this.db.iterate()), modelIterate(this.model, {}));
    const keys = [...this.writtenAt.keys()].sort(byteOrder);
    this.observe("audit get", keys.map((key) => `${key}=${shown(text(this.db.get(key)))}`), keys.map((key) => `${key}=${shown(this.model.get(key))}`));
  }

  private observe(what: string, actual: unknown, expected: unknown): void {
    const line = JSON.stringify(actual);
    this.observations.push(`${this.step} ${what}: ${line}`);
    if (this.strict && line !== JSON.stringify(expected)) {
      throw new ModelMismatch(`step ${this.step} ${what}: got ${line}, expected ${JSON.stringify(expected)}`);
    }
  }

  private iterateLines(start: () => Generator<[Uint8Array, Uint8Array], void, undefined>): string[] {
    return [...start()].map(entryLine);
  }

  private applyToModel(key: string, value: string | undefined): void {
    if (value === undefined) this.model.delete(key);
    else this.model.set(key, value);
    this.writtenAt.set(key, ++this.writes);
  }

  private write(writes: readonly Write[]): void {
    const values = writes.map((write, index) => (write.type === "put" ? valueOf(write.key, writes.length === 1 ? `${this.step}` : `${this.step}.${index}`, write.length) : undefined));
    if (writes.length === 1 && writes[0]!.type === "put") this.db.put(writes[0]!.key, values[0]!);
    else if (writes.length === 1) this.db.delete(writes[0]!.key);
    else this.db.batch(writes.map((write, index) => (write.type === "put" ? { type: "put" as const, key: write.key, value: values[index]! } : write)));
    writes.forEach((write, index) => this.applyToModel(write.key, values[index]));
  }

  private snapshotOperation(operation: Extract<Operation, { type: "snapshotGet" | "snapshotIterate" | "release" }>): void {
    if (this.snapshots.length === 0) return;
    const index = operation.index % this.snapshots.length;
    const held = this.snapshots[index]!;
    if (operation.type === "release") {
      held.handle.release();
      this.snapshots.splice(index, 1);
    } else if (operation.type === "snapshotGet") {
      this.observe(`snapshot get ${operation.key}`, shown(text(held.handle.get(operation.key))), shown(held.model.get(operation.key)));
    } else {
      const range = operation.range;
      this.observe(`snapshot iterate ${JSON.stringify(range)}`, this.iterateLines(() => held.handle.iterate(options(range))), modelIterate(held.model, range));
    }
  }

  /** Pulls up to `count` entries from a held iterator: each must be the next one as of its creation. */
  private iteratorNext(index: number, count: number): void {
    if (this.iterators.length === 0) return;
    const at = index % this.iterators.length;
    const held = this.iterators[at]!;
    const actual: string[] = [];
    let done = false;
    while (actual.length < count && !done) {
      const result = held.handle.next();
      if (result.done) done = true;
      else actual.push(entryLine(result.value));
    }
    const expected = held.expected.slice(held.position, held.position + count);
    const expectedDone = held.position + count > held.expected.length;
    held.position += actual.length;
    if (done) this.iterators.splice(at, 1);
    this.observe("iterator next", { entries: actual, done }, { entries: expected, done: expectedDone });
  }

  private transactionOperation(operation: Extract<Operation, { type: "txGet" | "txWrite" | "txIterate" | "txEnd" }>): void {
    if (this.transactions.length === 0) return;
    const at = operation.index % this.transactions.length;
    const held = this.transactions[at]!;
    const view = new Map(held.model);
    for (const [key, value] of held.pending) if (value === undefined) view.delete(key); else view.set(key, value);
    switch (operation.type) {
      case "txGet":
        if (!held.pending.has(operation.key)) held.keysRead.add(operation.key);
        return this.observe(`tx get ${operation.key}`, shown(text(held.handle.get(operation.key))), shown(view.get(operation.key)));
      case "txWrite": {
        const { write } = operation;
        const value = write.type === "put" ? valueOf(write.key, `${this.step}t`, write.length) : undefined;
        if (value === undefined) held.handle.delete(write.key);
        else held.handle.put(write.key, value);
        held.pending.set(write.key, value);
        return;
      }
      case "txIterate":
        held.rangesIterated.push(operation.range);
        return this.observe(`tx iterate ${JSON.stringify(operation.range)}`, this.iterateLines(() => held.handle.iterate(options(operation.range))), modelIterate(view, operation.range));
      case "txEnd":
        this.transactions.splice(at, 1);
        return this.endTransaction(held, operation.commit);
    }
  }

  /**
   * Commit or abort. A transaction with writes must conflict when a key it read was written
   * after it began; it may conflict when a key in a range it iterated was; otherwise (or with no
   * writes) it must commit.
   */
  private endTransaction(held: HeldTransaction, commit: boolean): void {
    if (!commit) {
      held.handle.abort();
      return;
    }
    const changed = (key: string) => (this.writtenAt.get(key) ?? 0) > held.began;
    const hasWrites = held.pending.size > 0;
    const mustConflict = hasWrites && [...held.keysRead].some(changed);
    const mayConflict = mustConflict || (hasWrites && [...this.writtenAt.keys()].some((key) => changed(key) && held.rangesIterated.some((range) => inRange(key, { ...range, limit: undefined }))));
    let outcome = "committed";
    try {
      held.handle.commit();
    } catch (error) {
      if (!(error instanceof PgzError) || error.code !== "PGZ_CONFLICT") throw error;
      outcome = "conflict";
    }
    const expected = mustConflict || (mayConflict && outcome === "conflict") ? "conflict" : "committed";
    if (outcome === "committed") for (const [key, value] of held.pending) this.applyToModel(key, value);
    this.observe("commit", outcome, expected);
  }

  /** Closes the database; every handle taken from it must now refuse with PGZ_CLOSED. */
  private closeDatabase(): void {
    this.db.close();
    for (const held of this.snapshots) this.observe("closed snapshot get", outcomeOf(() => shown(text(held.handle.get("a")))), "PGZ_CLOSED");
    for (const held of this.iterators) {
      const result = outcomeOf(() => (held.handle.next().done ? "end" : "entry"));
      // An iterator that already gave its last entry may report its end instead.
      const acceptable = result === "PGZ_CLOSED" || (result === "end" && held.position === held.expected.length);
      this.observe("closed iterator next", acceptable ? "PGZ_CLOSED" : result, "PGZ_CLOSED");
    }
    for (const held of this.transactions) {
      const result = outcomeOf(() => (held.handle.commit(), "done"));
      // Its snapshot died with the database: a commit with writes must not go through.
      const acceptable = result === "PGZ_CLOSED" || result === "PGZ_CONFLICT" || (result === "done" && held.pending.size === 0);
      this.observe("closed transaction commit", acceptable ? "refused" : result, "refused");
    }
    this.dropHandles();
  }

  private dropHandles(): void {
    for (const held of this.iterators) quietly(() => held.handle.return());
    for (const held of this.snapshots) quietly(() => held.handle.release());
    for (const held of this.transactions) quietly(() => held.handle.abort());
    this.snapshots = [];
    this.iterators = [];
    this.transactions = [];
  }

  private reopen(): void {
    this.closeDatabase();
    this.db = DB.open(this.directory, this.options);
  }

  /**
   * Close, put a stray empty file with a numeric name in the directory and reopen: the engine
   * may refuse (a PgzError), after which the file is removed and the open must succeed, or open
   * and keep every value right from then on.
   */
  private jump(name: string): void {
    this.closeDatabase();
    const path = join(this.directory, name);
    writeFileSync(path, "");
    try {
      this.db = DB.open(this.directory, this.options);
    } catch (error) {
      if (!(error instanceof PgzError)) throw error;
      rmSync(path, { force: true });
      this.db = DB.open(this.directory, this.options);
    }
  }
}

/** Operations that move data between the memtable, tables and log segments: an audit follows each. */
const MAINTENANCE = new Set<Operation["type"]>(["flush", "compact", "gc", "idle", "reopen", "jump"]);

/** Iterate options for the engine (a copy: the engine must not see the model's object). */
function options(range: Range): IterateOptions {
  return { ...range };
}

function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : decoder.decode(value);
}

/** What `action` returns, or the code of the PgzError it throws; any other error is rethrown. */
function outcomeOf(action: () => string): string {
  try {
    return action();
  } catch (error) {
    if (error instanceof PgzError) return error.code;
    throw error;
  }
}

/** Releasing what a run still holds: a PgzError here (a closed database) is not a finding. */
function quietly(action: () => unknown): void {
  try {
    action();
  } catch (error) {
    if (!(error instanceof PgzError)) throw error;
  }
}
