/**
 * A table the background worker wrote opens its point-read lookup lazily (ts/lsm/table-lookup.ts),
 * and an idle event loop opens it before any point read needs it (Pacer.idleTurn): the first get
 * of a fresh table then pays nothing extra. An opening that fails in an idle turn neither latches
 * the database nor hides the error: the table's first point read opens it again and reports it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, PgzError } from "../ts/index.ts";
import type { Table } from "../ts/lsm/sstable.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const KEYS = 2_000;
const keyOf = (i: number) => `key-${String(i).padStart(6, "0")}`;
const valueOf = (i: number) => `value-${i}`;

/** The tables of the database's current version (internals, for the test only). */
function tablesOf(db: DB): Table[] {
  const tree = (db as unknown as { engine: { state: { tree: { live: { byNumber: Map<number, Table> } } } } }).engine.state.tree;
  return [...tree.live.byNumber.values()];
}

/** Lets idle turns run: each is a timer, and each opens at most one lookup. */
async function idleTurns(count = 20): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setTimeout(resolve, 1));
}

/** A worker-mode database with one flushed level-0 table whose lookup is not open yet. */
function openWithFreshTable(directory: string, core: "ts" | "wasm"): DB {
  const db = DB.open(directory, { core, background: "worker" });
  for (let i = 0; i < KEYS; i++) db.put(keyOf(i), valueOf(i));
  db.flush();
  const tables = tablesOf(db);
  assert.is(tables.length, 1, "one table");
  assert.ok(tables[0]!.lazyLookup.pending, "a table from the worker's image has not opened its lookup yet");
  return db;
}

for (const core of engineCores) {
  test(`${core}: an idle event loop opens a worker table's point-read lookup before any read`, async () => {
    const directory = temporaryDirectory("pgz-deferred-lookup");
    const db = openWithFreshTable(directory, core);
    try {
      // A write schedules idle work; the turns that follow open the lookup.
      db.put("late", "write");
      await idleTurns();
      const [table] = tablesOf(db).filter((candidate) => candidate.meta.entries === KEYS);
      assert.ok(table, "the flushed table is still in the version");
      assert.ok(table.lazyLookup.ifOpen, "idle turns opened the lookup");
      for (let i = 0; i < KEYS; i++) assert.is(text(db.get(keyOf(i))), valueOf(i), keyOf(i));
      assert.is(db.get("key-missing"), undefined);
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: an opening that fails in an idle turn is reported by the table's first point read, and latches nothing`, async () => {
    const directory = temporaryDirectory("pgz-deferred-lookup");
    const db = openWithFreshTable(directory, core);
    const openTableLookup = db.core.openTableLookup;
    let failures = 0;
    db.core.openTableLookup = () => {
      failures++;
      throw new PgzError("PGZ_CORRUPTION", "injected: the filter does not decode");
    };
    try {
      db.put("late", "write");
      await idleTurns();
      assert.is(failures, 1, "the idle turn tried once and let the table be");
      assert.ok(tablesOf(db).some((table) => table.lazyLookup.pending), "the lookup is still to open");
      db.put("after", "the failed idle opening");
      assert.is(text(db.get("after")), "the failed idle opening", "the database still takes writes");
      try {
        db.get(keyOf(1));
        assert.unreachable("the first point read of the table reports the failed opening");
      } catch (error) {
        assert.ok(error instanceof PgzError && error.code === "PGZ_CORRUPTION", String(error));
      }
      db.core.openTableLookup = openTableLookup;
      for (let i = 0; i < KEYS; i++) assert.is(text(db.get(keyOf(i))), valueOf(i), keyOf(i));
    } finally {
      db.core.openTableLookup = openTableLookup;
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: an idle turn leaves alone a table compacted away that an iterator still reads`, async () => {
    const directory = temporaryDirectory("pgz-deferred-lookup");
    const db = openWithFreshTable(directory, core);
    try {
      const [flushed] = tablesOf(db);
      // The iterator pins the flushed table, so the compaction retires it without closing it.
      const iterator = db.iterate();
      assert.is(text(iterator.next().value![0]), keyOf(0));
      db.compact();
      assert.ok(flushed!.obsolete && flushed!.lazyLookup.pending, "compacted away, still open, lookup still to open");
      db.put("late", "write");
      await idleTurns();
      assert.is(flushed!.lazyLookup.ifOpen, undefined, "no lookup opened for a table no version reads by point");
      assert.ok(tablesOf(db).every((table) => table.lazyLookup.ifOpen), "the compaction's outputs opened theirs");
      let count = 1;
      for (const _ of iterator) count++;
      assert.is(count, KEYS, "the iterator still reads the compacted-away table");
      for (let i = 0; i < KEYS; i += 7) assert.is(text(db.get(keyOf(i))), valueOf(i), keyOf(i));
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: closing with a deferred lookup still to open frees the table and leaves nothing for an idle turn`, async () => {
    const directory = temporaryDirectory("pgz-deferred-lookup");
    const db = openWithFreshTable(directory, core);
    db.close();
    await idleTurns(3);
    const reopened = DB.open(directory, { core, background: "worker" });
    try {
      for (let i = 0; i < KEYS; i += 97) assert.is(text(reopened.get(keyOf(i))), valueOf(i), keyOf(i));
    } finally {
      reopened.close();
      removeDirectory(directory);
    }
  });
}

test.run();
