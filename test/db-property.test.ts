/**
 * Model-based property test: random operation lists (test/model.ts: writes, reads, flushes, full
 * and ranged compactions, GC, idle turns, snapshots, iterators and transactions created before
 * later writes and read after them, reopens, file-number jumps) run against a plain Map, on both
 * cores, with tiny memtables, tables, levels and segments so every mechanism runs within a few
 * operations, and a low value threshold so some values live in the log and some inline.
 * fast-check prints the seed and the shrunk operation list on failure; PGZ_SEED=<seed> replays
 * the runs (PGZ_PATH=<path> too: straight to one property's counterexample; the others then
 * fail to replay it), PGZ_LONG=1 runs more and longer lists.
 *
 * First, the bugs of issue 12 this test found, each reproduced on its own.
 */
import { reportCases } from "./reliability/fixtures/summary.ts";
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DB, PgzError, type OpenOptions } from "../ts/index.ts";
import { engineCores, removeDirectory, text } from "./helpers.ts";
import { Runner, operationArbitrary, scratchDirectory, tinyOptions, valueOf, type Operation } from "./model.ts";

const LONG = process.env.PGZ_LONG === "1";
const SEED = process.env.PGZ_SEED === undefined ? undefined : Number(process.env.PGZ_SEED);
/** With PGZ_SEED, fast-check's printed `path` goes straight to the counterexample. */
const PATH = process.env.PGZ_PATH;

function withDatabase(options: OpenOptions, body: (db: DB, directory: string) => void): void {
  const directory = scratchDirectory();
  const db = DB.open(directory, options);
  try {
    body(db, directory);
  } finally {
    db.close();
    removeDirectory(directory);
  }
}

for (const core of engineCores) {
  test(`${core}: a range compaction keeps a newer level-0 version in front of an older one`, () => {
    for (const overwrite of ["put", "del"] as const) {
      withDatabase({ core, l0Files: 12 }, (db) => {
        db.put("c", "old");
        db.flush();
        db.put("a", "a");
        if (overwrite === "put") db.put("c", "new");
        else db.delete("c");
        db.put("z", "z");
        db.flush();
        // The range overlaps the newer table (a..z) only: moving it alone below the older c=old
        // would let the older version win.
        db.compact({ gte: "x", lt: "y" });
        assert.is(text(db.get("c")), overwrite === "put" ? "new" : undefined, `get c after ${overwrite}`);
        const all = [...db.iterate()].map(([key, value]) => `${text(key)}=${text(value)}`);
        assert.equal(all, overwrite === "put" ? ["a=a", "c=new", "z=z"] : ["a=a", "z=z"]);
      });
    }
  });

  test(`${core}: an iterator reads as of the iterate() call, not its first next()`, () => {
    withDatabase(tinyOptions(core), (db) => {
      for (let i = 0; i < 40; i++) db.put(`k${String(i).padStart(2, "0")}`, valueOf(`k${i}`, "old", i % 2 === 0 ? 0 : 200));
      const expected = [...db.iterate()].map(([key, value]) => `${text(key)}=${text(value)}`);
      const iterator = db.iterate();
      for (let i = 0; i < 40; i += 2) db.delete(`k${String(i).padStart(2, "0")}`);
      for (let i = 1; i < 40; i += 2) db.put(`k${String(i).padStart(2, "0")}`, valueOf(`k${i}`, "new", 300));
      db.put("k99", "late");
      db.flush();
      db.compact();
      db.gc({ discardRatio: 0, segmentsMax: 100 });
      const actual = [...iterator].map(([key, value]) => `${text(key)}=${text(value)}`);
      assert.equal(actual, expected);
    });
  });

  test(`${core}: a stray file with a file number near 2^32 or past 2^53 never turns into a wrong value`, () => {
    for (const name of ["4294967295.vlog", "4294967295.sst", "9007199254740993.sst"]) {
      withDatabase(tinyOptions(core), (first, directory) => {
        for (let i = 0; i < 20; i++) first.put(`before${i}`, valueOf(`before${i}`, "0", 100));
        first.close();
        writeFileSync(join(directory, name), "");
        let db: DB;
        try {
          db = DB.open(directory, tinyOptions(core));
        } catch (error) {
          // Refusing a file name it did not write is a fine answer.
          assert.ok(error instanceof PgzError, `not a PgzError: ${String(error)}`);
          return;
        }
        try {
          for (let i = 0; i < 20; i++) db.put(`after${i}`, valueOf(`after${i}`, "1", 100));
          db.flush();
          for (let i = 0; i < 20; i++) {
            assert.is(text(db.get(`before${i}`)), valueOf(`before${i}`, "0", 100), `${name}: before${i}`);
            assert.is(text(db.get(`after${i}`)), valueOf(`after${i}`, "1", 100), `${name}: after${i}`);
          }
        } finally {
          db.close();
        }
      });
    }
  });
}

async function runModel(core: "ts" | "wasm", l0Files: number, operations: Operation[]): Promise<void> {
  const directory = scratchDirectory();
  try {
    await new Runner(directory, { ...tinyOptions(core), l0Files }, true).run(operations);
  } finally {
    removeDirectory(directory);
  }
}

const SNAPSHOTS: Operation["type"][] = ["snapshot", "snapshotGet", "snapshotIterate", "release"];
const TRANSACTIONS: Operation["type"][] = ["begin", "txGet", "txWrite", "txIterate", "txEnd"];
const ITERATORS: Operation["type"][] = ["iterator", "iteratorNext"];

/**
 * The properties, from narrow to whole: each adds operation kinds to the first, so a failing one
 * says which mechanism is wrong (fast-check stops at a run's first failure, and a bug that every
 * list finds would hide the others).
 */
const PROPERTIES: { name: string; excluded: Operation["type"][]; runs: number }[] = [
  { name: "writes, reads, flushes, full and ranged compactions, GC, idle turns, reopens", excluded: [...SNAPSHOTS, ...TRANSACTIONS, ...ITERATORS, "jump"], runs: 12 },
  { name: "and snapshots and transactions read after later writes", excluded: [...ITERATORS, "jump"], runs: 12 },
  { name: "and iterators created before later writes, read after them", excluded: [...SNAPSHOTS, ...TRANSACTIONS, "jump"], runs: 12 },
  { name: "and file-number jumps", excluded: [...SNAPSHOTS, ...TRANSACTIONS, ...ITERATORS], runs: 12 },
  { name: "every operation kind", excluded: [], runs: 25 },
];

for (const core of engineCores) {
  for (const { name, excluded, runs } of PROPERTIES) {
    test(`${core}: random operations match a Map: ${name}`, async () => {
      // l0Files 1 compacts every flushed table at once; 12 lets tables pile up in level 0.
      const l0Files = fc.constantFrom(1, 12);
      const operations = fc.array(operationArbitrary(excluded), { minLength: 1, maxLength: LONG ? 400 : 150, size: "max" });
      const numRuns = Number(process.env.PGZ_PROPERTY_RUNS ?? (LONG ? runs * 20 : runs));
      await fc.assert(fc.asyncProperty(l0Files, operations, (l0, list) => runModel(core, l0, list)), { numRuns, seed: SEED, path: PATH, includeErrorInReport: true });
      reportCases(`model vs a Map: ${name} (operation lists)`, core, numRuns);
    });
  }
}

test.run();
