/**
 * Value-log GC: compaction's garbage counts lead GC to segments worth collecting; live values
 * move and stay readable (also after reopen), collected files go, but not while a snapshot or
 * an iterator from before the collection could still follow an old pointer.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DB, type OpenOptions } from "../ts/index.ts";
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
      // With the worker the unlinks run there; flush() waits for them.
      db.flush();
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

for (const core of engineCores) {
  test(`${core}: close deletes the segment whose records are all in tables, keeps one values live in`, () => {
    const directory = temporaryDirectory("pgz-gc");
    try {
      const segmentBytes = () => segmentFiles(directory).reduce((sum, name) => sum + statSync(join(directory, name)).size, 0);
      let db = DB.open(directory, { core, ...options, valueThreshold: 64 });
      for (let i = 0; i < 200; i++) db.put(`small${i}`, "inline value");
      const spent = segmentFiles(directory);
      db.close();
      // Left: one fresh segment (its header page), no record of the spent one.
      assert.is(segmentFiles(directory).length, 1);
      for (const name of spent) assert.not.ok(segmentFiles(directory).includes(name), `${name} deleted at close`);
      assert.ok(segmentBytes() <= 4096, `${segmentBytes()} bytes of log`);
      db = DB.open(directory, { core, ...options, valueThreshold: 64 });
      db.put("large", "x".repeat(500));
      const holding = segmentFiles(directory).at(-1)!;
      db.close();
      assert.ok(segmentFiles(directory).includes(holding), "the segment a table points into stays");
      db = DB.open(directory, { core, ...options, valueThreshold: 64 });
      for (let i = 0; i < 200; i++) assert.is(text(db.get(`small${i}`)), "inline value");
      assert.is(text(db.get("large")), "x".repeat(500));
      assert.ok(db.check().ok);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

/** Bytes of the files in `directory`; one the background worker deletes between the listing and its stat counts 0. */
const directoryBytes = (directory: string) => readdirSync(directory).reduce((sum, name) => sum + (statSync(join(directory, name), { throwIfNoEntry: false })?.size ?? 0), 0);

/** Lets the event loop go idle, one timer turn at a time, until `done()` or `turns` have passed. */
async function idleUntil(done: () => boolean, turns: number): Promise<void> {
  for (let turn = 0; turn < turns && !done(); turn++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * The overwrite workload, scaled down: 1,500 keys x 1 KiB values behind pointers written
 * three times, then idle turns until space is back to 1.5x the live data (or many turns passed);
 * asserts space and write amplification and the values.
 */
async function overwriteThenIdle(core: (typeof engineCores)[number], options: OpenOptions, idleTurns: number): Promise<void> {
  const directory = temporaryDirectory("pgz-gc");
  try {
    const db = DB.open(directory, { core, ...options });
    const keyOf = (i: number) => `key-${String(i).padStart(5, "0")}`;
    let liveBytes = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1500; i++) {
        db.put(keyOf(i), new Uint8Array(1024).fill(round + 1));
        if (round === 2) liveBytes += keyOf(i).length + 1024;
      }
    }
    assert.ok(directoryBytes(directory) > 2.5 * liveBytes, "the workload made garbage");
    await idleUntil(() => directoryBytes(directory) <= 1.5 * liveBytes, idleTurns);
    assert.ok(directoryBytes(directory) <= 1.5 * liveBytes, `space amplification ${(directoryBytes(directory) / liveBytes).toFixed(2)}`);
    const stats = db.stats();
    assert.ok(stats.diskBytesWritten <= 3 * stats.userBytesWritten, `write amplification ${(stats.diskBytesWritten / stats.userBytesWritten).toFixed(2)}`);
    for (let i = 0; i < 1500; i += 7) assert.equal(db.get(keyOf(i)), new Uint8Array(1024).fill(3));
    db.close();
  } finally {
    removeDirectory(directory);
  }
}

for (const core of engineCores) {
  test(`${core}: automatic GC brings overwritten space back to 1.5x the live data while the event loop idles`, async () => {
    // A memtable that never fills: nothing but idle work moves the log head.
    await overwriteThenIdle(core, { segmentBytes: 64 * 1024 }, 5000);
  });

  test(`${core}: automatic GC also finds overwritten values hidden in other levels (memtable smaller than the data)`, async () => {
    // Flushes during the writes spread each key's versions over level 0 and level 1, where no
    // compaction meets them on its own: only a full compaction counts them as garbage.
    await overwriteThenIdle(core, { memtableBytes: 64 * 1024, segmentBytes: 64 * 1024 }, 20_000);
  });

  test(`${core}: segments left by many short sessions are collected while the next one idles, without a write`, async () => {
    const directory = temporaryDirectory("pgz-gc");
    try {
      for (let session = 0; session < 40; session++) {
        const db = DB.open(directory, { core });
        db.put(`key-${session}`, "v".repeat(600));
        db.close();
      }
      const db = DB.open(directory, { core });
      await idleUntil(() => segmentFiles(directory).length <= 2, 5000);
      assert.ok(segmentFiles(directory).length <= 2, `segments left: ${segmentFiles(directory).length}`);
      for (let session = 0; session < 40; session++) assert.is(text(db.get(`key-${session}`)), "v".repeat(600));
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: opens without writes leave no log segments behind, and a small database keeps no log beside its tables`, () => {
    const directory = temporaryDirectory("pgz-gc");
    try {
      let db = DB.open(directory, { core });
      let liveBytes = 0;
      for (let i = 0; i < 20_000; i++) {
        const key = `key-${String(i).padStart(6, "0")}`;
        db.put(key, "v".repeat(100));
        liveBytes += key.length + 100;
      }
      db.close();
      for (let cycle = 0; cycle < 30; cycle++) {
        db = DB.open(directory, { core });
        assert.is(text(db.get("key-000007")), "v".repeat(100));
        db.close();
      }
      assert.ok(segmentFiles(directory).length <= 1, `segments left: ${segmentFiles(directory).join(" ")}`);
      assert.ok(directoryBytes(directory) <= 1.5 * liveBytes, `space amplification ${(directoryBytes(directory) / liveBytes).toFixed(2)}`);
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
