/**
 * Hostile input. A fast-check fuzz of the public API: DB.open options, put / get / delete /
 * batch / iterate / snapshot / putAsync arguments of every type and size (empty, 1 byte, the
 * 65,536-byte key limit and one past it, nested junk), use after close, and re-entrant calls from
 * inside an iterator loop (writing, flushing, compacting, iterating, closing the database
 * mid-iteration). Each call works as documented (checked against a model) or throws a PgzError
 * with the documented code; nothing else escapes. Then a fuzz of the file decoders: random and
 * mutated files (some with their checksums recomputed, so the decoders behind the checksum are
 * reached) put in place of SUPERBLOCK / MANIFEST / .sst / .vlog, read back in a child process
 * under a watchdog (fixtures/decoder-fuzz.ts): only PGZ_CORRUPTION, or success.
 * PGZ_LONG=1 runs many more cases.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { fileURLToPath } from "node:url";
import { DB, PgzError } from "../../ts/index.ts";
import { MemoryStorage } from "./fixtures/recording-storage.ts";
import { runChild } from "./fixtures/child.ts";
import { reportCases } from "./fixtures/summary.ts";

const LONG = process.env.PGZ_LONG === "1";
const KEY_BYTES_MAX = 65536;
const encoder = new TextEncoder();
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

const junk = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom(undefined, null, 0, -1, NaN, Infinity, true, 1n, Symbol("junk"), () => "key", new ArrayBuffer(3), new DataView(new ArrayBuffer(2)), new Int8Array(2), [1, 2], new Date(0)),
);
const bigKeys = [new Uint8Array(KEY_BYTES_MAX).fill(7), new Uint8Array(KEY_BYTES_MAX + 1), "k".repeat(KEY_BYTES_MAX), "k".repeat(KEY_BYTES_MAX + 1), "é".repeat(KEY_BYTES_MAX / 2 + 1)];
const keyLike = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "a", "\ud800", "\u0000", new Uint8Array(0), new Uint8Array([0xff]), ...bigKeys) },
  { weight: 2, arbitrary: junk },
);
const valueLike = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
  { weight: 2, arbitrary: junk },
);
const writeOptions = fc.oneof(
  fc.constant(undefined),
  fc.record({ sync: fc.oneof(fc.boolean(), junk) }, { requiredKeys: [] }),
  fc.record({ durability: fc.oneof(fc.constantFrom("sync", "os", "buffered"), junk) }, { requiredKeys: [] }),
  junk,
);
const iterateOptions = fc.oneof(
  fc.constant(undefined),
  fc.record(
    { gt: keyLike, gte: keyLike, lt: keyLike, lte: keyLike, prefix: keyLike, reverse: fc.oneof(fc.boolean(), junk), limit: fc.oneof(fc.integer({ min: -2, max: 50 }), junk) },
    { requiredKeys: [] },
  ),
  junk,
);
const batchOperation = fc.oneof(
  fc.record({ type: fc.constant("put"), key: keyLike, value: valueLike }),
  fc.record({ type: fc.constant("del"), key: keyLike }),
  fc.record({ type: fc.oneof(fc.constantFrom("PUT", "delete", ""), junk), key: keyLike, value: valueLike }),
  junk,
);

type Command =
  | { kind: "put"; key: unknown; value: unknown; options: unknown }
  | { kind: "putAsync"; key: unknown; value: unknown; options: unknown }
  | { kind: "get"; key: unknown }
  | { kind: "delete"; key: unknown; options: unknown }
  | { kind: "batch"; operations: unknown; options: unknown }
  | { kind: "iterate"; options: unknown }
  | { kind: "snapshot"; key: unknown; releaseFirst: boolean }
  | { kind: "reentrant"; action: "put" | "delete" | "flush" | "compact" | "iterate" | "close" | "snapshot"; key: unknown; at: number }
  | { kind: "flush" }
  | { kind: "close" }
  | { kind: "reopen"; options: unknown };

const openOptions = fc.oneof(
  fc.constant(undefined),
  fc.record(
    {
      core: fc.oneof(fc.constantFrom("ts", "wasm"), junk),
      createIfMissing: fc.oneof(fc.boolean(), junk),
      errorIfExists: fc.oneof(fc.constant(false), junk),
      durability: fc.oneof(fc.constantFrom("sync", "os", "buffered"), junk),
      sync: fc.oneof(fc.boolean(), junk),
      valueThreshold: fc.oneof(fc.integer({ min: -1, max: 5000 }), junk),
      memtableBytes: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), junk),
      segmentBytes: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), junk),
      blockCacheBytes: fc.oneof(fc.integer({ min: -1, max: 1 << 20 }), junk),
      bufferedBytes: fc.oneof(fc.integer({ min: 0, max: 1 << 16 }), junk),
      storage: junk,
      unknownOption: junk,
    },
    { requiredKeys: [] },
  ),
  junk,
);

const oneHostileOption = fc.record({
  name: fc.constantFrom("core", "createIfMissing", "errorIfExists", "durability", "sync", "valueThreshold", "memtableBytes", "segmentBytes", "blockCacheBytes", "bufferedBytes", "storage", "l0Files", "tableBytes"),
  value: junk,
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("put" as const), key: keyLike, value: valueLike, options: writeOptions }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("putAsync" as const), key: keyLike, value: valueLike, options: writeOptions }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("get" as const), key: keyLike }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyLike, options: writeOptions }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("batch" as const), operations: fc.oneof(fc.array(batchOperation, { maxLength: 5 }), junk), options: writeOptions }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("iterate" as const), options: iterateOptions }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("snapshot" as const), key: keyLike, releaseFirst: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("reentrant" as const), action: fc.constantFrom("put", "delete", "flush", "compact", "iterate", "close", "snapshot"), key: keyLike, at: fc.nat(6) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("flush" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("close" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reopen" as const), options: openOptions }) },
);

/** The bytes a valid key or value stands for, or undefined if the API must reject it. */
function bytesOf(input: unknown, limit: number): Uint8Array | undefined {
  const bytes = input instanceof Uint8Array ? input : typeof input === "string" ? encoder.encode(input) : undefined;
  return bytes && bytes.length <= limit ? bytes : undefined;
}

/** An options object as the API takes one: not null, not an array, only known names, no null value. */
function plainOptions(options: unknown, names: readonly string[]): options is Record<string, unknown> {
  if (typeof options !== "object" || options === null) return false;
  const prototype = Object.getPrototypeOf(options);
  if (prototype !== Object.prototype && prototype !== null) return false;
  return Object.entries(options).every(([name, value]) => names.includes(name) && value !== null);
}

function validWriteOptions(options: unknown): boolean {
  if (options === undefined) return true;
  if (!plainOptions(options, ["sync", "durability"])) return false;
  const { sync, durability } = options;
  return (sync === undefined || typeof sync === "boolean") && (durability === undefined || durability === "sync" || durability === "os" || durability === "buffered");
}

function validIterateOptions(options: unknown): boolean {
  if (options === undefined) return true;
  if (!plainOptions(options, ["gt", "gte", "lt", "lte", "prefix", "reverse", "limit"])) return false;
  const { reverse, limit } = options;
  const bounds = ["gt", "gte", "lt", "lte", "prefix"].every((name) => options[name] === undefined || bytesOf(options[name], KEY_BYTES_MAX) !== undefined);
  const limitValid = limit === undefined || limit === Infinity || (typeof limit === "number" && Number.isInteger(limit));
  return bounds && limitValid && (reverse === undefined || typeof reverse === "boolean");
}

/**
 * Runs `action`; it must succeed iff `valid`, else throw PgzError `code`. On a closed database
 * a call with bad arguments may report either (PGZ_CLOSED or PGZ_INVALID_ARGUMENT).
 */
function expectOutcome<T>(label: string, valid: boolean, code: string, action: () => T): T | undefined {
  try {
    const result = action();
    if (!valid) assert.unreachable(`${label}: accepted, but ${code} was due`);
    return result;
  } catch (error) {
    if (!(error instanceof PgzError)) assert.unreachable(`${label}: a non-PgzError escaped: ${(error as Error)?.stack ?? String(error)}`);
    if (valid) assert.unreachable(`${label}: ${(error as PgzError).code} for a valid call: ${(error as Error).message}`);
    const allowed = code === "PGZ_CLOSED" ? ["PGZ_CLOSED", "PGZ_INVALID_ARGUMENT"] : [code];
    assert.ok(allowed.includes((error as PgzError).code), `${label}: ${(error as PgzError).code} instead of ${code}: ${(error as Error).message}`);
    return undefined;
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return value.length > 20 ? `string(${value.length})` : JSON.stringify(value);
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  try {
    return fc.stringify(value).slice(0, 60);
  } catch {
    return typeof value;
  }
}

class ApiFuzz {
  private db: DB | undefined;
  private readonly model = new Map<string, Uint8Array>();
  private readonly storage = new MemoryStorage("hostile");

  constructor(private readonly core: "ts" | "wasm") {
    this.db = DB.open(this.storage.directory, { core, storage: this.storage });
  }

  private get closed(): boolean {
    return this.db === undefined;
  }

  private current(): DB {
    return this.db ?? this.closedDb!;
  }

  private closedDb: DB | undefined;

  private apply(key: Uint8Array, value: Uint8Array | undefined): void {
    if (value === undefined) this.model.delete(hex(key));
    else this.model.set(hex(key), value.slice());
  }

  private checkAll(label: string): void {
    if (!this.db) return;
    const entries = [...this.db.iterate()];
    assert.is(entries.length, this.model.size, `${label}: entry count`);
    for (const [key, value] of entries) assert.equal(value, this.model.get(hex(key)), `${label}: value of ${hex(key).slice(0, 20)}`);
  }

  async run(command: Command): Promise<void> {
    const db = this.current();
    const open = !this.closed;
    const label = `${command.kind} ${JSON.stringify(command, (_, value) => (typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && Object.getPrototypeOf(value) === Object.prototype ? value : describe(value))).slice(0, 200)}`;
    switch (command.kind) {
      case "put":
      case "delete": {
        const key = bytesOf(command.key, KEY_BYTES_MAX);
        const value = command.kind === "put" ? bytesOf(command.value, 64 * 1024 * 1024) : new Uint8Array(0);
        const valid = key !== undefined && value !== undefined && validWriteOptions(command.options);
        expectOutcome(label, open && valid, open ? "PGZ_INVALID_ARGUMENT" : "PGZ_CLOSED", () =>
          command.kind === "put" ? db.put(command.key as string, command.value as string, command.options as undefined) : db.delete(command.key as string, command.options as undefined),
        );
        if (open && valid) this.apply(key!, command.kind === "put" ? value : undefined);
        return;
      }
      case "putAsync": {
        const key = bytesOf(command.key, KEY_BYTES_MAX);
        const value = bytesOf(command.value, 64 * 1024 * 1024);
        const valid = key !== undefined && value !== undefined && validWriteOptions(command.options);
        let promise: Promise<void> | undefined;
        expectOutcome(`${label} (the call)`, true, "", () => (promise = db.putAsync(command.key as string, command.value as string, command.options as undefined)));
        try {
          await promise;
          if (!(open && valid)) assert.unreachable(`${label}: resolved, but a rejection was due`);
          this.apply(key!, value);
        } catch (error) {
          if (!(error instanceof PgzError)) assert.unreachable(`${label}: rejected with a non-PgzError: ${(error as Error)?.stack ?? String(error)}`);
          const allowed = open ? ["PGZ_INVALID_ARGUMENT"] : valid ? ["PGZ_CLOSED"] : ["PGZ_CLOSED", "PGZ_INVALID_ARGUMENT"];
          assert.ok(allowed.includes((error as PgzError).code), `${label}: ${(error as PgzError).code}: ${(error as Error).message}`);
          assert.ok(!(open && valid), `${label}: rejected a valid write: ${(error as Error).message}`);
        }
        return;
      }
      case "get": {
        const key = bytesOf(command.key, KEY_BYTES_MAX);
        const result = expectOutcome(label, open && key !== undefined, open ? "PGZ_INVALID_ARGUMENT" : "PGZ_CLOSED", () => db.get(command.key as string));
        if (open && key) assert.equal(result, this.model.get(hex(key)), `${label}: the value`);
        return;
      }
      case "batch": {
        const list = Array.isArray(command.operations) ? (command.operations as unknown[]) : undefined;
        const decoded = list?.map((operation) => {
          const type = (operation as { type?: unknown } | null)?.type;
          if (!plainOptions(operation, type === "del" ? ["type", "key"] : ["type", "key", "value"])) return undefined;
          const { key, value } = operation as { key?: unknown; value?: unknown };
          const keyBytes = bytesOf(key, KEY_BYTES_MAX);
          if (type === "put") {
            const valueBytes = bytesOf(value, 64 * 1024 * 1024);
            return keyBytes && valueBytes ? { key: keyBytes, value: valueBytes as Uint8Array | undefined } : undefined;
          }
          return type === "del" && keyBytes ? { key: keyBytes, value: undefined } : undefined;
        });
        const valid = decoded !== undefined && decoded.every((operation) => operation !== undefined) && validWriteOptions(command.options);
        expectOutcome(label, open && valid, open ? "PGZ_INVALID_ARGUMENT" : "PGZ_CLOSED", () => db.batch(command.operations as [], command.options as undefined));
        if (open && valid) for (const operation of decoded!) this.apply(operation!.key, operation!.value);
        return;
      }
      case "iterate": {
        // Options are checked by the call itself, which also fixes the read point.
        const result = expectOutcome(label, open && validIterateOptions(command.options), open ? "PGZ_INVALID_ARGUMENT" : "PGZ_CLOSED", () => db.iterate(command.options as undefined));
        if (!result) return;
        const entries = [...result];
        const reverse = typeof command.options === "object" && command.options !== null && (command.options as { reverse?: unknown }).reverse === true;
        for (let index = 0; index < entries.length; index++) {
          const [key, value] = entries[index]!;
          assert.equal(value, this.model.get(hex(key)), `${label}: iterated value of ${hex(key).slice(0, 20)}`);
          if (index > 0) {
            const order = Buffer.compare(Buffer.from(entries[index - 1]![0]), Buffer.from(key));
            assert.ok(reverse ? order > 0 : order < 0, `${label}: out of order at ${index}`);
          }
        }
        if (command.options === undefined) assert.is(entries.length, this.model.size, `${label}: a full iteration`);
        return;
      }
      case "snapshot": {
        const snapshot = expectOutcome(label, open, "PGZ_CLOSED", () => db.snapshot());
        if (!snapshot) return;
        if (command.releaseFirst) snapshot.release();
        const key = bytesOf(command.key, KEY_BYTES_MAX);
        const result = expectOutcome(`${label} snapshot.get`, !command.releaseFirst && key !== undefined, command.releaseFirst ? "PGZ_CLOSED" : "PGZ_INVALID_ARGUMENT", () => snapshot.get(command.key as string));
        if (!command.releaseFirst && key) assert.equal(result, this.model.get(hex(key)), `${label}: snapshot value`);
        snapshot.release();
        return;
      }
      case "reentrant":
        return this.reentrant(command, label);
      case "flush":
        expectOutcome(label, open, "PGZ_CLOSED", () => db.flush());
        this.checkAll(label);
        return;
      case "close":
        expectOutcome(label, true, "", () => db.close());
        this.closedDb = db;
        this.db = undefined;
        return;
      case "reopen":
        return this.reopen(command.options, label);
    }
  }

  private reentrant(command: Extract<Command, { kind: "reentrant" }>, label: string): void {
    if (!this.db) return;
    const db = this.db;
    const before = new Map(this.model);
    const seen = new Map<string, Uint8Array>();
    let closedInside = false;
    try {
      let index = 0;
      for (const [key, value] of db.iterate()) {
        seen.set(hex(key), value);
        if (index++ !== command.at) continue;
        const keyBytes = bytesOf(command.key, KEY_BYTES_MAX);
        const expectsKey = command.action === "put" || command.action === "delete";
        const valid = !expectsKey || keyBytes !== undefined;
        expectOutcome(`${label} inside the loop`, valid, "PGZ_INVALID_ARGUMENT", () => {
          if (command.action === "put") db.put(command.key as string, "written-inside");
          else if (command.action === "delete") db.delete(command.key as string);
          else if (command.action === "flush") db.flush();
          else if (command.action === "compact") db.compact();
          else if (command.action === "iterate") [...db.iterate({ limit: 3 })];
          else if (command.action === "snapshot") db.snapshot().release();
          else db.close();
        });
        if (valid && command.action === "put") this.apply(keyBytes!, encoder.encode("written-inside"));
        if (valid && command.action === "delete") this.apply(keyBytes!, undefined);
        if (command.action === "close") {
          closedInside = true;
          this.closedDb = db;
          this.db = undefined;
        }
      }
      if (closedInside && seen.size < before.size) assert.unreachable(`${label}: the iteration went on quietly after close and ended short`);
    } catch (error) {
      if (!(error instanceof PgzError)) assert.unreachable(`${label}: a non-PgzError escaped the loop: ${(error as Error)?.stack ?? String(error)}`);
      assert.ok(closedInside, `${label}: the loop failed without a close: ${(error as PgzError).code} ${(error as Error).message}`);
      assert.is((error as PgzError).code, "PGZ_CLOSED", `${label}: the iterator after close: ${(error as Error).message}`);
      return;
    }
    // The iterator saw the database as of its creation: nothing written inside appeared.
    if (!closedInside) {
      assert.is(seen.size, before.size, `${label}: entries seen by the iterator`);
      for (const [key, value] of seen) assert.equal(value, before.get(key), `${label}: an iterator saw a write made during it`);
    }
  }

  private reopen(options: unknown, label: string): void {
    if (this.db) this.db.close();
    this.db = undefined;
    // Hostile options first (on this storage, or alone): success or PGZ_INVALID_ARGUMENT only.
    try {
      const opened = DB.open(this.storage.directory, typeof options === "object" && options !== null ? ({ ...options, storage: (options as { storage?: unknown }).storage ?? this.storage } as object) : (options as undefined));
      opened.close();
    } catch (error) {
      if (!(error instanceof PgzError)) assert.unreachable(`${label}: DB.open let a non-PgzError escape: ${(error as Error)?.stack ?? String(error)}`);
      assert.ok(["PGZ_INVALID_ARGUMENT", "PGZ_LOCKED"].includes((error as PgzError).code), `${label}: DB.open failed with ${(error as PgzError).code}: ${(error as Error).message}`);
    }
    this.db = DB.open(this.storage.directory, { core: this.core, storage: this.storage });
    this.checkAll(`${label} (after reopen)`);
  }

  finish(): void {
    this.checkAll("at the end");
    this.db?.close();
  }
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: hostile arguments get the documented PgzError, valid ones the documented result`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 30 }), async (commands) => {
        const fuzz = new ApiFuzz(core);
        try {
          for (const command of commands) await fuzz.run(command);
        } finally {
          fuzz.finish();
        }
      }),
      { numRuns: LONG ? 3000 : 150, seed: 6_000 + (core === "wasm" ? 1 : 0) },
    );
    reportCases("hostile input: API call sequences", core, LONG ? 3000 : 150);
  });
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: DB.open with hostile options opens or throws PGZ_INVALID_ARGUMENT (PGZ_NOT_FOUND for createIfMissing: false), nothing else`, () => {
    fc.assert(
      fc.property(openOptions, fc.boolean(), oneHostileOption, (options, useJunkAsIs, single) => {
        const storage = new MemoryStorage("hostile-open");
        // Without a storage option the database would go to the real disk: give it memory.
        let withStorage = typeof options === "object" && options !== null && !useJunkAsIs && !("storage" in options) ? { core, ...options, storage } : options;
        // Half the time: valid options but one, so each check is reached on its own.
        if (useJunkAsIs) withStorage = { core, storage, [single.name]: single.value };
        try {
          const db = DB.open(storage.directory, withStorage as undefined);
          db.put("key", "value");
          assert.is(new TextDecoder().decode(db.get("key")), "value");
          db.close();
        } catch (error) {
          if (!(error instanceof PgzError)) assert.unreachable(`DB.open(${describe(options)}) let a non-PgzError escape: ${(error as Error)?.stack ?? String(error)}`);
          // A valid `createIfMissing: false` on the empty storage is the documented PGZ_NOT_FOUND.
          const refusesToCreate = typeof withStorage === "object" && withStorage !== null && (withStorage as { createIfMissing?: unknown }).createIfMissing === false;
          const expected = refusesToCreate && (error as PgzError).code === "PGZ_NOT_FOUND" ? "PGZ_NOT_FOUND" : "PGZ_INVALID_ARGUMENT";
          assert.is((error as PgzError).code, expected, `DB.open(${describe(options)}): ${(error as Error).message}`);
        }
      }),
      { numRuns: LONG ? 5000 : 400, seed: 6_200 + (core === "wasm" ? 1 : 0) },
    );
    reportCases("hostile input: open options", core, LONG ? 5000 : 400);
  });
}

const decoderFuzz = fileURLToPath(new URL("./fixtures/decoder-fuzz.ts", import.meta.url));

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: random and mutated files give PGZ_CORRUPTION or correct data, never another error or a hang`, async () => {
    const result = await runChild(decoderFuzz, [core, String(6_100 + (core === "wasm" ? 1 : 0)), String(LONG ? 3000 : 250)]);
    const started = result.lines.filter((line) => line.startsWith("start ")).pop();
    assert.ok(!result.hung, `the child hung in: ${started}`);
    const failure = result.lines.filter((line) => line.startsWith("failure ")).join("\n");
    assert.is(failure, "", "the decoder fuzz found a breach");
    assert.is(result.code, 0, `the child died (${result.signal ?? result.code}) in: ${started}; ${result.stderr.slice(0, 3000)}`);
    assert.ok(result.lines.some((line) => line.startsWith("passed ")), "the fuzz ran to the end");
    reportCases("hostile input: damaged and random files", core, LONG ? 3000 : 250);
  });
}

test.run();
