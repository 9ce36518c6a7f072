/**
 * A closed database's WebAssembly memory goes to the next core opened on the thread
 * (ts/core/wasm.ts): every handle of the closed database a caller may still hold (iterators
 * mid-scan and unread, snapshots, transactions, the core and objects it handed out, views of its
 * memory) must throw PGZ_CLOSED or give back only what it copied out before, and never read or
 * write the memory its new owner uses. On the TS core nothing is reused: the same handles must
 * keep to the same rule.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, PgzError, type Transaction } from "../ts/index.ts";
import { PgzLevel } from "../ts/level.ts";
import { createDebugWasmCore, createWasmCore, wasmPoolProbe } from "../ts/core/wasm.ts";
import type { Core } from "../ts/core/types.ts";
import { bytes, engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const KEY_COUNT = 3000;
const keyOf = (i: number): string => `key-${String(i).padStart(6, "0")}`;
/** Every other value goes to the value log (valueThreshold 64), the rest stay inline. */
const valueOf = (owner: string, i: number): string => `${owner}:${i}:`.padEnd(i % 2 === 0 ? 24 : 200, owner);

function memoryOf(core: Core): WebAssembly.Memory | undefined {
  return wasmPoolProbe.runtimeOf(core)?.exports.memory;
}

/** Writes `owner`'s value of every key: half flushed to tables, half left in the memtable. */
function fill(db: DB, owner: string): void {
  for (let i = 0; i < KEY_COUNT; i++) {
    db.put(keyOf(i), valueOf(owner, i));
    if (i === KEY_COUNT / 2) db.flush();
  }
}

/** Every key reads `owner`'s value, by get, getMany and a full scan. */
function verify(db: DB, owner: string): void {
  const keys = Array.from({ length: KEY_COUNT }, (_, i) => keyOf(i));
  for (let i = 0; i < KEY_COUNT; i++) assert.is(text(db.get(keys[i]!)), valueOf(owner, i), `get ${keys[i]}`);
  const many = db.getMany(keys);
  for (let i = 0; i < KEY_COUNT; i++) assert.is(text(many[i]), valueOf(owner, i), `getMany ${keys[i]}`);
  let i = 0;
  for (const [key, value] of db.iterate({ gte: "key-", lt: "key." })) {
    assert.is(text(key), keyOf(i));
    assert.is(text(value), valueOf(owner, i++));
  }
  assert.is(i, KEY_COUNT);
}

/**
 * A stale handle's use: it throws PGZ_CLOSED, or (the TS core's own objects, an iterator's
 * entries already read) returns what `accept` allows. Anything else fails the test.
 */
function stale(what: string, use: () => unknown, accept: (result: unknown) => boolean = () => false): void {
  let result: unknown;
  try {
    result = use();
  } catch (error) {
    assert.ok(error instanceof PgzError, `${what}: not a PgzError: ${String(error)}`);
    assert.is(error.code, "PGZ_CLOSED", `${what}: ${error.message}`);
    return;
  }
  assert.ok(accept(result), `${what}: returned ${String(result)} after close`);
}

/** What a caller may hold of database A when it closes. */
interface Handles {
  scanning: Generator<[Uint8Array, Uint8Array]>;
  unread: Generator<[Uint8Array, Uint8Array]>;
  snapshot: ReturnType<DB["snapshot"]>;
  transaction: Transaction;
  finished: Transaction;
  core: Core;
  run: ReturnType<Core["newRun"]>;
  filter: ReturnType<Core["openBloom"]>;
  block: ReturnType<Core["openBlock"]>;
}

function takeHandles(db: DB): Handles {
  const scanning = db.iterate();
  assert.is(text(scanning.next().value![1]), valueOf("A", 0));
  const transaction = db.begin();
  transaction.put("txn-key", "txn-value");
  assert.is(text(transaction.get(keyOf(2))), valueOf("A", 2));
  let finished: Transaction | undefined;
  db.transactionSync((inside) => {
    finished = inside;
    inside.put("sync-key", "sync-value");
  });
  const core = db.core;
  const run = core.newRun();
  run.appendEncoded(new Uint8Array([9, 0, 0, 0, 1, 0, 0, 0, 107, 1, 0, 0, 0, 0, 0, 0, 0, 118]));
  const builder = core.newBloomBuilder();
  builder.add(bytes("present"));
  const filter = core.openBloom(builder.finish(10));
  const blockBuilder = core.newBlockBuilder();
  blockBuilder.add(new Uint8Array([107, 1, 1, 0, 0, 0, 0, 0, 0]), bytes("v"));
  const block = core.openBlock(blockBuilder.finish());
  return { scanning, unread: db.iterate({ reverse: true }), snapshot: db.snapshot(), transaction, finished: finished!, core, run, filter, block };
}

const isNumber = (result: unknown): boolean => typeof result === "number";

/** Uses every handle of the closed database A. */
function useStaleHandles(a: DB, handles: Handles): void {
  stale("get", () => a.get(keyOf(1)));
  stale("getMany", () => a.getMany([keyOf(1)]));
  stale("put", () => a.put(keyOf(1), "late"));
  stale("iterate", () => a.iterate().next());
  stale("an iterator mid-scan", () => handles.scanning.next());
  stale("an unread iterator", () => handles.unread.next());
  stale("an iterator's return", () => handles.scanning.return(undefined), (result) => (result as IteratorResult<unknown>).done === true);
  stale("snapshot get", () => handles.snapshot.get(keyOf(3)));
  stale("snapshot iterate", () => handles.snapshot.iterate().next());
  stale("transaction get", () => handles.transaction.get(keyOf(4)));
  stale("transaction iterate", () => handles.transaction.iterate().next());
  stale("transaction commit", () => handles.transaction.commit());
  stale("a finished transactionSync's transaction", () => handles.finished.get(keyOf(5)));
  const { core } = handles;
  // The TS core's objects live on the JS heap, which nothing reuses: they may go on working.
  const tsOnly = (check: (result: unknown) => boolean) => (result: unknown) => core.name === "ts" && check(result);
  stale("core crc32c", () => core.crc32c(bytes("late")), tsOnly(isNumber));
  stale("core newRun", () => core.newRun().appendEncoded(new Uint8Array(0)), tsOnly((result) => result === undefined));
  stale("core readBuffer", () => core.readBuffer(16).fill(0xee), tsOnly((result) => (result as Uint8Array).length === 16));
  stale("a run", () => handles.run.appendEncoded(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 119, 1, 0, 0, 0, 0, 0, 0, 0])), tsOnly((result) => result === undefined));
  stale("a run's bytes", () => handles.run.bytes().fill(0xee), tsOnly((result) => (result as Uint8Array).length > 0));
  stale("a bloom filter", () => handles.filter.mayContain(bytes("another key, not written before")), tsOnly((result) => typeof result === "boolean"));
  stale("a block reader", () => handles.block.first(), tsOnly((result) => result === true));
  stale("free", () => [handles.run.free(), handles.filter.free(), handles.block.free()], () => true);
  stale("snapshot release", () => handles.snapshot.release(), () => true);
  stale("transaction abort", () => handles.transaction.abort(), () => true);
}

for (const coreName of engineCores) {
  test(`stale handles of a closed database never reach the next database's memory (${coreName})`, () => {
    const directoryA = temporaryDirectory("pgz-reuse-a");
    const directoryB = temporaryDirectory("pgz-reuse-b");
    try {
      const a = DB.open(directoryA, { core: coreName, valueThreshold: 64, background: "inline" });
      fill(a, "A");
      const handles = takeHandles(a);
      const valueCopied = a.get(keyOf(7));
      const memoryA = memoryOf(a.core);
      a.close();
      if (coreName === "wasm") {
        assert.is(wasmPoolProbe.held(), memoryA, "a clean close keeps the memory");
        // The heap of a reused memory is never zeroed: make it hostile to any code that assumes so.
        new Uint8Array(memoryA!.buffer).fill(0xa5);
      }
      const b = DB.open(directoryB, { core: coreName, valueThreshold: 64, background: "inline" });
      if (coreName === "wasm") {
        assert.is(memoryOf(b.core), memoryA, "the next open takes the closed database's memory");
        assert.is(wasmPoolProbe.held(), undefined);
      }
      fill(b, "B");
      const memoryBefore = coreName === "wasm" ? new Uint8Array(memoryA!.buffer).slice() : undefined;
      useStaleHandles(a, handles);
      if (memoryBefore) assert.ok(Buffer.compare(memoryBefore, new Uint8Array(memoryA!.buffer)) === 0, "no stale handle touched B's memory");
      assert.is(text(valueCopied), valueOf("A", 7), "a value read before the close stays A's");
      verify(b, "B");
      b.close();
      const reopened = DB.open(directoryB, { core: coreName });
      verify(reopened, "B");
      reopened.close();
      const reopenedA = DB.open(directoryA, { core: coreName });
      verify(reopenedA, "A");
      assert.is(text(reopenedA.get("sync-key")), "sync-value");
      assert.is(reopenedA.get("txn-key"), undefined, "the transaction left open never committed");
      reopenedA.close();
    } finally {
      removeDirectory(directoryA);
      removeDirectory(directoryB);
    }
  });
}

for (const [build, create] of [["release", createWasmCore], ["debug", createDebugWasmCore]] as const) {
  test(`a released core (${build}): calls throw PGZ_CLOSED, frees do nothing, the next core's memory untouched`, () => {
    const core = create();
    const builder = core.newBloomBuilder();
    builder.add(bytes("present"));
    const filter = core.openBloom(builder.finish(10));
    assert.ok(filter.mayContain(bytes("present")), "the filter keeps a view of the memory for its key");
    const run = core.newRun();
    run.appendEncoded(new Uint8Array([9, 0, 0, 0, 1, 0, 0, 0, 107, 1, 0, 0, 0, 0, 0, 0, 0, 118]));
    const memory = memoryOf(core)!;
    core.release();
    assert.is(wasmPoolProbe.held(build), memory);
    const next = create();
    assert.is(memoryOf(next), memory, "the next core of the build takes the memory");
    const nextRun = next.newRun();
    nextRun.appendEncoded(new Uint8Array([9, 0, 0, 0, 1, 0, 0, 0, 108, 1, 0, 0, 0, 0, 0, 0, 0, 119]));
    const before = new Uint8Array(memory.buffer).slice();
    stale("crc32c", () => core.crc32c(bytes("late")));
    stale("a filter", () => filter.mayContain(bytes("another key, not written before")));
    stale("a run", () => run.bytes());
    stale("a new run", () => core.newRun());
    stale("readBuffer", () => core.readBuffer(8));
    run.free();
    filter.free();
    builder.free();
    core.release();
    assert.ok(Buffer.compare(before, new Uint8Array(memory.buffer)) === 0, "the released core wrote nothing into its memory's new owner");
    assert.equal([...nextRun.bytes()], [9, 0, 0, 0, 1, 0, 0, 0, 108, 1, 0, 0, 0, 0, 0, 0, 0, 119]);
    nextRun.free();
    next.release(false);
    assert.is.not(wasmPoolProbe.held(build), memory, "release(false) keeps nothing");
  });
}

test("an iterator left unread and collected after the close touches nothing (wasm)", async () => {
  const directoryA = temporaryDirectory("pgz-reuse-a");
  const directoryB = temporaryDirectory("pgz-reuse-b");
  try {
    const a = DB.open(directoryA, { core: "wasm", valueThreshold: 64, background: "inline" });
    fill(a, "A");
    for (let i = 0; i < 20; i++) a.iterate({ gte: keyOf(i) });
    a.close();
    const b = DB.open(directoryB, { core: "wasm", valueThreshold: 64, background: "inline" });
    fill(b, "B");
    // The unread iterators' finalizers run here, if the collector takes them.
    const collect = (globalThis as { gc?: () => void }).gc;
    for (let round = 0; round < 3; round++) {
      collect?.();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    verify(b, "B");
    b.close();
  } finally {
    removeDirectory(directoryA);
    removeDirectory(directoryB);
  }
});

test("PgzLevel: a closed database's iterator and snapshot throw, the next database's data stays (wasm)", async () => {
  const directoryA = temporaryDirectory("pgz-reuse-a");
  const directoryB = temporaryDirectory("pgz-reuse-b");
  try {
    const a = new PgzLevel<string, string>(directoryA, { core: "wasm" });
    await a.open();
    await a.batch(Array.from({ length: 100 }, (_, i) => ({ type: "put" as const, key: keyOf(i), value: valueOf("A", i) })));
    const iterator = a.iterator();
    assert.equal(await iterator.next(), [keyOf(0), valueOf("A", 0)]);
    await a.close();
    const b = DB.open(directoryB, { core: "wasm", valueThreshold: 64, background: "inline" });
    fill(b, "B");
    let failure: unknown;
    await iterator.next().catch((error: unknown) => (failure = error));
    assert.ok(failure !== undefined, "a closed PgzLevel's iterator must not read on");
    verify(b, "B");
    b.close();
  } finally {
    removeDirectory(directoryA);
    removeDirectory(directoryB);
  }
});

test("a trapped (poisoned) core's memory is not reused", () => {
  const directory = temporaryDirectory("pgz-reuse-poisoned");
  try {
    const db = DB.open(directory, { core: "wasm", background: "inline" });
    const memory = memoryOf(db.core);
    const runtime = wasmPoolProbe.runtimeOf(db.core)!;
    // The abort import is what a trap calls: it poisons the instance.
    assert.throws(() => runtime.abort(0, 0, 1, 1), /poisoned/);
    try {
      db.close();
    } catch (error) {
      assert.ok(error instanceof PgzError);
    }
    assert.is.not(wasmPoolProbe.held(), memory);
    const next = DB.open(directory, { core: "wasm", background: "inline" });
    assert.is.not(memoryOf(next.core), memory);
    next.close();
  } finally {
    removeDirectory(directory);
  }
});

test("the pool holds one memory, and lets it go if no open takes it", async () => {
  const directory = temporaryDirectory("pgz-reuse-hold");
  try {
    const db = DB.open(directory, { core: "wasm", background: "inline" });
    const memory = memoryOf(db.core);
    db.close();
    assert.is(wasmPoolProbe.held(), memory);
    await new Promise((resolve) => setTimeout(resolve, wasmPoolProbe.holdMilliseconds + 100));
    assert.is(wasmPoolProbe.held(), undefined, "released after the hold time");
    const next = DB.open(directory, { core: "wasm", background: "inline" });
    assert.is.not(memoryOf(next.core), memory);
    next.close();
  } finally {
    removeDirectory(directory);
  }
});

test.run();
