/**
 * db.getMany (ts/read.ts): the same answers as one get per key, in the caller's order, on both
 * cores, over random workloads whose keys sit in memtables, level-0 tables and deeper levels,
 * with overwrites, deletes, values inline and in the log, duplicates and missing keys.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB } from "../ts/index.ts";
import { bytes, engineCores, expectCode, random, removeDirectory, text } from "./helpers.ts";
import { scratchDirectory, tinyOptions } from "./model.ts";

const SEEDS = [1, 2, 3, 4];

function keyOf(index: number): string {
  return `key${String(index).padStart(4, "0")}`;
}

for (const core of engineCores) {
  test(`${core}: getMany answers as get does, in the caller's order, through flushes and compactions`, () => {
    for (const seed of SEEDS) {
      const next = random(seed);
      const directory = scratchDirectory();
      const db = DB.open(directory, tinyOptions(core));
      const model = new Map<string, string>();
      try {
        for (let step = 0; step < 600; step++) {
          const key = keyOf(Math.floor(next() * 200));
          const roll = next();
          if (roll < 0.2) {
            db.delete(key);
            model.delete(key);
          } else {
            // Some values are over the threshold (in the log), some inline.
            const value = `${key}@${step}`.padEnd(roll < 0.6 ? 8 : 40, "x");
            db.put(key, value);
            model.set(key, value);
          }
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

test.run();
