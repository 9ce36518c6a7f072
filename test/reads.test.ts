/**
 * db.getMany (ts/lsm/read.ts): the same answers as one get per key, in the caller's order, on both
 * cores, over random workloads whose keys sit in memtables, level-0 tables and deeper levels,
 * with overwrites, deletes, values inline and in the log, duplicates and missing keys. And the
 * seek path of issue 13: a seek's first block comes through the block cache.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, type Snapshot } from "../ts/index.ts";
import type { ReadPath } from "../ts/engine/read.ts";
import type { EngineState } from "../ts/engine/state.ts";
import { bytes, engineCores, expectCode, random, removeDirectory, text } from "./helpers.ts";
import { scratchDirectory, tinyOptions } from "./model.ts";

const SEEDS = [1, 2, 3, 4];

function keyOf(index: number): string {
  return `key${String(index).padStart(4, "0")}`;
}

/** Writes `value` to `key` in the database and its model; undefined deletes it. */
function applyWrite(db: DB, model: Map<string, string>, key: string, value: string | undefined): void {
  if (value === undefined) {
    db.delete(key);
    model.delete(key);
  } else {
    db.put(key, value);
    model.set(key, value);
  }
}

for (const core of engineCores) {
  test(`${core}: getMany answers as get does, in the caller's order, through flushes and compactions`, () => {
    for (const seed of SEEDS) {
      const next = random(seed);
      const directory = scratchDirectory();
      // Inline: the shape check at the end needs compactions to land where the writes put them;
      // with the worker they land when it answers, and the last ones may merge level 0 away.
      const db = DB.open(directory, { ...tinyOptions(core), background: "inline" });
      const model = new Map<string, string>();
      try {
        for (let step = 0; step < 600; step++) {
          const key = keyOf(Math.floor(next() * 200));
          const roll = next();
          // Some values are over the threshold (in the log), some inline.
          applyWrite(db, model, key, roll < 0.2 ? undefined : `${key}@${step}`.padEnd(roll < 0.6 ? 8 : 40, "x"));
          if (step % 97 === 0) db.flush();
          if (step % 211 === 0) db.compact();
          if (step % 25 === 0) {
            const keys = Array.from({ length: 1 + Math.floor(next() * 40) }, () => keyOf(Math.floor(next() * 220)));
            const many = db.getMany(keys).map(text);
            assert.equal(many, keys.map((each) => text(db.get(each))), `seed ${seed} step ${step}: getMany against get`);
            assert.equal(many, keys.map((each) => model.get(each)), `seed ${seed} step ${step}: getMany against the model`);
          }
        }
        const shape = db.stats().levels.filter((level) => level.files > 0).length;
        assert.ok(shape >= 2, `seed ${seed}: the workload reached two levels or more (${shape})`);
      } finally {
        db.close();
        removeDirectory(directory);
      }
    }
  });

  test(`${core}: getMany at a snapshot answers as get there and as the model, with a block cache of a few blocks`, () => {
    for (const seed of SEEDS) {
      const next = random(seed + 10);
      const directory = scratchDirectory();
      // tinyOptions' 16 KiB block cache: a batch's blocks evict each other between its calls.
      const db = DB.open(directory, { ...tinyOptions(core), background: "inline" });
      const model = new Map<string, string>();
      const pinned: { snapshot: Snapshot; model: Map<string, string> }[] = [];
      const reads = (db as unknown as { engine: { reads: ReadPath } }).engine.reads;
      try {
        for (let step = 0; step < 500; step++) {
          const key = keyOf(Math.floor(next() * 150));
          applyWrite(db, model, key, next() < 0.25 ? undefined : `${key}@${step}`.padEnd(next() < 0.5 ? 8 : 40, "x"));
          if (step % 60 === 0) db.flush();
          if (step % 150 === 0) db.compact();
          if (step % 50 === 0) pinned.push({ snapshot: db.snapshot(), model: new Map(model) });
        }
        db.flush();
        for (const [index, { snapshot, model: then }] of pinned.entries()) {
          // Keys in and out of the database, repeated, in no order.
          const keys = Array.from({ length: 200 }, () => keyOf(Math.floor(next() * 170)));
          const many = reads.getMany(keys.map(bytes), snapshot.sequence).map(text);
          assert.equal(many, keys.map((each) => text(snapshot.get(each))), `seed ${seed} snapshot ${index}: getMany against get`);
          assert.equal(many, keys.map((each) => then.get(each)), `seed ${seed} snapshot ${index}: getMany against the model`);
          snapshot.release();
        }
        const levels = db.stats().levels.filter((level) => level.files > 0).length;
        assert.ok(levels >= 2, `seed ${seed}: tables on two levels or more (${levels})`);
      } finally {
        db.close();
        removeDirectory(directory);
      }
    }
  });

  test(`${core}: getMany of 1,000 keys over the memtable, immutable memtables, level 0 and deeper levels, at the head and at a snapshot`, () => {
    const next = random(77);
    const directory = scratchDirectory();
    // The worker builds the flushes: a rotated memtable stays immutable until the host takes its answer.
    const db = DB.open(directory, { core, background: "worker", memtableBytes: 64 * 1024, l0Files: 64, valueThreshold: 16, autoGc: false });
    const tree = (db as unknown as { engine: { state: EngineState } }).engine.state.tree;
    const reads = (db as unknown as { engine: { reads: ReadPath } }).engine.reads;
    const model = new Map<string, string>();
    const write = (step: number) => {
      const key = keyOf(Math.floor(next() * 3000));
      // Half the values are over the threshold: value pointers into the log.
      applyWrite(db, model, key, next() < 0.2 ? undefined : `${key}@${step}`.padEnd(next() < 0.5 ? 8 : 40, "x"));
    };
    try {
      let step = 0;
      for (; step < 4000; step++) write(step);
      db.flush();
      db.compact();
      for (; step < 6000; step++) write(step);
      db.flush();
      const snapshot = db.snapshot();
      const then = new Map(model);
      // Writes until a memtable is immutable (its flush on the worker) and the live one has entries.
      while (tree.immutables.length === 0 || tree.memtable.memtable.count < 20) write(step++);
      const levels = db.stats().levels.filter((level) => level.files > 0).map((level) => level.level);
      assert.ok(levels.includes(0) && levels.some((level) => level > 0), `tables on level 0 and deeper (${levels})`);
      assert.ok(tree.immutables.length > 0 && tree.memtable.memtable.count > 0, "an immutable memtable and a live one");
      // Keys in and out of the database, repeated, in no order.
      const keys = Array.from({ length: 1000 }, () => keyOf(Math.floor(next() * 3200)));
      for (let i = 0; i < 50; i++) keys[Math.floor(next() * keys.length)] = keys[Math.floor(next() * keys.length)]!;
      const many = db.getMany(keys).map(text);
      assert.equal(many, keys.map((each) => model.get(each)), "getMany against the model");
      assert.equal(many, keys.map((each) => text(db.get(each))), "getMany against get");
      assert.ok(many.some((value) => value?.length === 40) && many.includes(undefined), "values in the log, and missing or deleted keys");
      const atSnapshot = reads.getMany(keys.map(bytes), snapshot.sequence).map(text);
      assert.equal(atSnapshot, keys.map((each) => then.get(each)), "getMany at the snapshot against its model");
      snapshot.release();
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: getMany takes strings and bytes, repeats and missing keys, and an empty list`, () => {
    const directory = scratchDirectory();
    const db = DB.open(directory, { core });
    try {
      db.put("b", "2");
      db.put("a", "1");
      db.flush();
      db.put("c", "3");
      db.delete("a");
      assert.equal(db.getMany(["c", bytes("b"), "a", "zz", "b", "c"]).map(text), ["3", "2", undefined, undefined, "2", "3"]);
      assert.equal(db.getMany([]), []);
      // Each value is a copy of its own: changing one changes nothing else.
      const [first, second] = db.getMany(["b", "b"]);
      first![0] = 0x39;
      assert.is(text(second), "2");
      assert.is(text(db.get("b")), "2");
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: getMany rejects a non-array, a bad key, and a closed database`, () => {
    const directory = scratchDirectory();
    const db = DB.open(directory, { core });
    try {
      expectCode("PGZ_INVALID_ARGUMENT", () => db.getMany("a" as unknown as string[]), "a string instead of an array");
      expectCode("PGZ_INVALID_ARGUMENT", () => db.getMany(["a", 5 as unknown as string]), "a number among the keys");
      expectCode("PGZ_INVALID_ARGUMENT", () => db.getMany([new Uint8Array(70_000)]), "an oversized key");
    } finally {
      db.close();
      removeDirectory(directory);
    }
    expectCode("PGZ_CLOSED", () => db.getMany(["a"]), "getMany after close");
  });
}

for (const core of engineCores) {
  test(`${core}: a seek takes its first block from the block cache, and reads the same entries`, () => {
    const directory = scratchDirectory();
    const db = DB.open(directory, { core });
    try {
      for (let index = 0; index < 2000; index++) db.put(keyOf(index), `value${index}`.padEnd(12, "."));
      db.flush();
      const expected = Array.from({ length: 11 }, (_, offset) => keyOf(1000 + offset));
      const before = db.stats().blockCache;
      const first = [...db.iterate({ gte: keyOf(1000), limit: 11 })].map(([key]) => text(key));
      const afterFirst = db.stats().blockCache;
      assert.equal(first, expected);
      assert.ok(afterFirst.misses > before.misses, "the first seek brought its block into the cache");
      const second = [...db.iterate({ gte: keyOf(1000), limit: 11 })].map(([key]) => text(key));
      const afterSecond = db.stats().blockCache;
      assert.equal(second, expected);
      assert.is(afterSecond.misses, afterFirst.misses, "the second seek found its block cached");
      assert.ok(afterSecond.hits > afterFirst.hits, "the second seek was a cache hit");
      // A point read of the same key now hits the block the seek cached.
      assert.is(text(db.get(keyOf(1005))), "value1005...");
      assert.is(db.stats().blockCache.misses, afterFirst.misses);
      // Reverse, and a scan past the first block, still see every entry in order.
      const reverse = [...db.iterate({ lte: keyOf(1010), reverse: true, limit: 11 })].map(([key]) => text(key));
      assert.equal(reverse, [...expected].reverse());
      assert.is([...db.iterate({ gte: keyOf(500) })].length, 1500);
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: a scan takes the blocks point reads cached, wherever those reads left them, and reads the rest`, () => {
    const directory = scratchDirectory();
    const db = DB.open(directory, { core });
    try {
      for (let index = 0; index < 2000; index++) db.put(keyOf(index), `value${index}`.padEnd(12, "."));
      db.flush();
      // Point reads cache every other stretch of blocks and leave each reader mid-block.
      for (let index = 0; index < 2000; index += 7) if (Math.floor(index / 200) % 2 === 0) assert.is(text(db.get(keyOf(index))), `value${index}`.padEnd(12, "."));
      const before = db.stats().blockCache;
      const forward = [...db.iterate({ gte: keyOf(3) })].map(([key]) => text(key));
      assert.equal(forward, Array.from({ length: 1997 }, (_, offset) => keyOf(3 + offset)));
      const reverse = [...db.iterate({ reverse: true })].map(([key]) => text(key));
      assert.equal(reverse, Array.from({ length: 2000 }, (_, offset) => keyOf(1999 - offset)));
      const after = db.stats().blockCache;
      // Only the seek's first block went through the cache's counters; the scans peeked.
      assert.ok(after.misses - before.misses <= 1, "scans do not fill the cache");
      assert.is(text(db.get(keyOf(1001))), "value1001...");
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });
}

test.run();
