/**
 * Value-log GC: compaction's garbage counts lead GC to segments worth collecting; live values
 * move and stay readable (also after reopen), collected files go, but not while a snapshot or
 * an iterator from before the collection could still follow an old pointer.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { DB } from "../ts/index.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const options = { memtableBytes: 8192, l0Files: 2, levelRatio: 2, level1Bytes: 16384, tableBytes: 8192, valueThreshold: 16, segmentBytes: 64 * 1024, autoGc: false };
const segmentFiles = (directory: string) => readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort();
const value = (round: number, i: number) => `${round}:${i}:`.padEnd(300, String.fromCharCode(97 + (round % 26)));

for (const core of engineCores) {
  test(`${core}: gc moves live values out of garbage-heavy segments and deletes them`, () => {
    const directory = temporaryDirectory("pgz-gc");
    try {
      let db = DB.open(directory, { core, ...options });
      for (let round = 0; round < 4; round++) for (let i = 0; i < 300; i++) db.put(`k${i}`, value(round, i));
      db.compact();
      const before = segmentFiles(directory);
      const sizeBefore = db.stats().log.totalBytes;
      const report = db.gc({ discardRatio: 0.5, segmentsMax: 100 });
      assert.ok(report.segmentsCollected.length > 0, "some segments were collected");
      const after = segmentFiles(directory);
      for (const segment of report.segmentsCollected) assert.not.ok(after.includes(`${String(segment).padStart(6, "0")}.vlog`), `segment ${segment} deleted`);
      assert.ok(db.stats().log.totalBytes < sizeBefore, "the log shrank");
      assert.ok(before.length > 0);
      for (let i = 0; i < 300; i++) assert.is(text(db.get(`k${i}`)), value(3, i));
      assert.ok(db.check().ok);
      db.close();
      db = DB.open(directory, { core, ...options });
      for (let i = 0; i < 300; i++) assert.is(text(db.get(`k${i}`)), value(3, i));
      assert.is([...db.iterate()].length, 300);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a snapshot and an iterator keep a collected segment until they are done`, () => {
    const directory = temporaryDirectory("pgz-gc");
    try {
      const db = DB.open(directory, { core, ...options });
      for (let round = 0; round < 4; round++) for (let i = 0; i < 300; i++) db.put(`k${i}`, value(round, i));
      db.compact();
      // These readers follow pointers into the segments GC is about to collect.
      const snapshot = db.snapshot();
      const iterator = db.iterate();
      iterator.next();
      const report = db.gc({ discardRatio: 0, segmentsMax: 100 });
      assert.ok(report.segmentsCollected.length > 0);
      assert.ok(report.recordsRewritten > 0);
      const kept = segmentFiles(directory);
      for (const segment of report.segmentsCollected) assert.ok(kept.includes(`${String(segment).padStart(6, "0")}.vlog`), "still there for the readers");
      db.put("k5", "newer");
      assert.is(text(snapshot.get("k5")), value(3, 5));
      let count = 1;
      for (const [, entry] of iterator) {
        assert.ok(text(entry)!.startsWith("3:"));
        count++;
      }
      assert.is(count, 300);
      snapshot.release();
      const left = segmentFiles(directory);
      for (const segment of report.segmentsCollected) assert.not.ok(left.includes(`${String(segment).padStart(6, "0")}.vlog`), "deleted once released");
      assert.is(text(db.get("k5")), "newer");
      assert.is(text(db.get("k6")), value(3, 6));
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test("opening and closing again and again does not pile up log segments", () => {
  const directory = temporaryDirectory("pgz-gc");
  try {
    for (let round = 0; round < 8; round++) {
      const db = DB.open(directory, { ...options, valueThreshold: 64 });
      db.put(`small${round}`, "inline value");
      db.put(`large${round}`, "x".repeat(500));
      db.close();
    }
    const db = DB.open(directory, options);
    for (let round = 0; round < 8; round++) {
      assert.is(text(db.get(`small${round}`)), "inline value");
      assert.is(text(db.get(`large${round}`)), "x".repeat(500));
    }
    // Segments holding only inline values went at once; those with pointed-at values stay for GC.
    assert.ok(segmentFiles(directory).length <= 10, `${segmentFiles(directory).length} segments`);
    db.gc({ discardRatio: 0.5, segmentsMax: 100 });
    assert.ok(segmentFiles(directory).length <= 3, `${segmentFiles(directory).length} segments after gc`);
    for (let round = 0; round < 8; round++) assert.is(text(db.get(`large${round}`)), "x".repeat(500));
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

test.run();
