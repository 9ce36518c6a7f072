/**
 * background: "worker" | "inline". The same workload under both gives the same database (the
 * inline mode is the differential reference), on both cores; the option is checked; and a
 * worker that throws or dies latches the database read-only with the error surfaced on the
 * next write, never a hang, while every acknowledged write survives a reopen.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { DB } from "../ts/index.ts";
import { BackgroundSession, injectBackgroundFault, pauseBackgroundWorker, terminateBackgroundWorker } from "../ts/lsm/background.ts";
import { Tree } from "../ts/lsm/tree.ts";
import { FaultyStorage } from "./fixtures/faulty-storage.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text, throwsInvalid } from "./helpers.ts";

const tiny = { memtableBytes: 4096, l0Files: 2, levelRatio: 2, level1Bytes: 16384, tableBytes: 8192, valueThreshold: 64 };
const backgrounds = ["worker", "inline"] as const;

/** Overwrites and deletes of 500 keys with values inline and behind pointers; returns the model. */
function workload(db: DB, seed: number): Map<string, string> {
  const model = new Map<string, string>();
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 500; i++) {
      const key = `key-${String((i * 37 + seed) % 500).padStart(4, "0")}`;
      const value = `${round}:${i}:`.padEnd(10 + ((i * (round + seed)) % 150), "v");
      db.put(key, value);
      model.set(key, value);
    }
    for (let i = round; i < 500; i += 9) {
      const key = `key-${String(i).padStart(4, "0")}`;
      db.delete(key);
      model.delete(key);
    }
  }
  return model;
}

function contents(db: DB): [string, string][] {
  return [...db.iterate()].map(([key, value]) => [text(key)!, text(value)!]);
}

function tableFiles(directory: string): number {
  return readdirSync(directory).filter((name) => name.endsWith(".sst")).length;
}

/** Runs `body` while recording the name of every file a database asks the worker to delete. */
async function recordingRemovals<T>(body: (names: string[]) => Promise<T>): Promise<T> {
  const names: string[] = [];
  const start = BackgroundSession.prototype.start;
  BackgroundSession.prototype.start = function (this: BackgroundSession, ...args: Parameters<typeof start>) {
    if (args[0].type === "remove") names.push(args[0].name);
    return start.apply(this, args);
  };
  try {
    return await body(names);
  } finally {
    BackgroundSession.prototype.start = start;
  }
}

test("loaded through tsx's tsImport (module URLs with a query), the worker starts and a flush completes", () => {
  // The worker's URL once kept the query and named no file: a blocked flush then waited 120 s.
  const fixture = fileURLToPath(new URL("./fixtures/ts-import-open.mjs", import.meta.url));
  const result = spawnSync(process.execPath, [fixture], { encoding: "utf8", timeout: 60_000 });
  assert.is(result.status, 0, `exit ${result.status}, signal ${result.signal}: ${result.stderr}`);
  assert.is(result.stdout.trim(), "1 value");
});

/**
 * Copies dist/ aside, lets `damage` change its worker.mjs, then runs `script(pgzUrl, directory)`
 * (a module body) in a child process on a fresh database directory; returns its output lines.
 */
function runWithDamagedWorker(damage: (workerPath: string) => void, script: (pgzUrl: string, directory: string) => string): string[] {
  const root = fileURLToPath(new URL("../", import.meta.url));
  const bundle = temporaryDirectory("pgz-bundle");
  const directory = temporaryDirectory("pgz-background");
  try {
    cpSync(join(root, "dist"), bundle, { recursive: true });
    damage(join(bundle, "worker.mjs"));
    const body = script(JSON.stringify(pathToFileURL(join(bundle, "pgz.mjs")).href), JSON.stringify(directory));
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", body], { encoding: "utf8", timeout: 60_000 });
    assert.is(result.status, 0, `exit ${result.status}, signal ${result.signal}: ${result.stderr}`);
    return result.stdout.trim().split("\n");
  } finally {
    removeDirectory(bundle);
    removeDirectory(directory);
  }
}

test("a bundle shipped without dist/worker.mjs is PGZ_IO at open, naming the file, not a hang at the first flush; inline still opens", () => {
  const [refused, inline] = runWithDamagedWorker(rmSync, (pgzUrl, directory) => `
    const { DB } = await import(${pgzUrl});
    try { DB.open(${directory}); console.log("opened"); } catch (error) { console.log(error.code, error.message); }
    const db = DB.open(${directory}, { background: "inline" });
    db.put("k", "v");
    console.log("inline", db.get("k", { valueEncoding: "utf8" }));
    db.close();`);
  assert.match(refused!, /^PGZ_IO the background worker's module \S*worker\.mjs is missing/);
  assert.is(inline, "inline v", "the failed open left no lock behind");
});

test("a worker module that fails to load (a syntax error) fails the write waiting on it with PGZ_IO, not a hang; inline still opens", () => {
  // Small memtables: the third fills while the first two wait for the worker, so a put blocks.
  const [failure, inline] = runWithDamagedWorker((workerPath) => writeFileSync(workerPath, "export const broken = ;\n"), (pgzUrl, directory) => `
    const { DB } = await import(${pgzUrl});
    const db = DB.open(${directory}, { memtableBytes: 64 * 1024 });
    try {
      for (let i = 0; i < 100000; i++) db.put("key" + i, "v".repeat(100));
      console.log("no failure");
    } catch (error) { console.log(error.code, error.message); }
    try { db.close(); } catch {}
    const inline = DB.open(${directory}, { background: "inline" });
    console.log("inline " + inline.get("key0", { valueEncoding: "utf8" })?.length);
    inline.close();`);
  assert.match(failure!, /^PGZ_IO .*the background worker stopped: its module failed to load: Unexpected token/);
  assert.is(inline, "inline 100", "acknowledged writes are there, and no lock was left behind");
});

test("background: the default is the worker, inline is asked for; a custom storage and a read-only open run inline; bad values are PGZ_INVALID_ARGUMENT", () => {
  const directory = temporaryDirectory("pgz-background");
  try {
    let db = DB.open(`${directory}/default`);
    assert.is(db.stats().background, "worker");
    db.close();
    db = DB.open(`${directory}/default`, { readOnly: true });
    assert.is(db.stats().background, "inline", "a read-only open writes no tables");
    db.close();
    db = DB.open(`${directory}/inline`, { background: "inline" });
    assert.is(db.stats().background, "inline");
    db.close();
    db = DB.open(`${directory}/storage`, { storage: new FaultyStorage(`${directory}/storage`) });
    assert.is(db.stats().background, "inline");
    db.close();
    throwsInvalid(() => DB.open(`${directory}/bad`, { background: "thread" as "worker" }), "an unknown background");
    throwsInvalid(() => DB.open(`${directory}/bad`, { background: "worker", storage: new FaultyStorage(`${directory}/bad`) }), "the worker with a custom storage");
  } finally {
    removeDirectory(directory);
  }
});

for (const core of engineCores) {
  test(`${core}: worker and inline give the same database, before and after reopen`, () => {
    const directory = temporaryDirectory("pgz-background");
    try {
      const results = backgrounds.map((background) => {
        const path = `${directory}/${background}`;
        let db = DB.open(path, { core, background, ...tiny });
        const model = workload(db, 3);
        const stats = db.stats();
        assert.is(stats.background, background);
        assert.ok(stats.flushes > 10, `${background}: ${stats.flushes} flushes`);
        const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
        assert.equal(contents(db), expected, `${background}: contents while open`);
        for (const [key, value] of model) assert.is(text(db.get(key)), value);
        // db.flush() is a barrier: the worker's work in flight is applied, no table file is unnamed.
        db.flush();
        assert.ok(db.stats().compaction.done > 3, `${background}: ${db.stats().compaction.done} compactions`);
        assert.is(tableFiles(path), db.stats().levels.reduce((sum, level) => sum + level.files, 0), `${background}: every table file is in a level`);
        db.close();
        db = DB.open(path, { core, background });
        assert.equal(contents(db), expected, `${background}: contents after reopen`);
        assert.ok(db.check().ok, `${background}: check`);
        db.close();
        return expected;
      });
      assert.equal(results[0], results[1]);
    } finally {
      removeDirectory(directory);
    }
  });

  for (const crash of [false, true]) {
    const what = crash ? "a worker thread that dies of an uncaught error in a job" : "a job that fails on the worker";
    test(`${core}: ${what} latches the database read-only; the writes survive a reopen`, async () => {
      const directory = temporaryDirectory("pgz-background");
      try {
        let db = DB.open(directory, { core, background: "worker", ...tiny, autoGc: false });
        db.put("before", "x");
        db.flush();
        injectBackgroundFault("injected worker failure", crash);
        const model = new Map<string, string>();
        // Writes go on until one meets the latched failure: a write's error means "not written".
        let failure: unknown;
        for (let i = 0; i < 2000 && failure === undefined; i++) {
          try {
            db.put(`key-${i}`, `value-${i}`.padEnd(40, "v"));
            model.set(`key-${i}`, `value-${i}`.padEnd(40, "v"));
          } catch (error) {
            failure = error;
          }
          if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        }
        assert.ok(failure !== undefined, "a write reported the worker's failure");
        assert.match(db.stats().backgroundError ?? "", crash ? /worker exited with code 1: injected worker failure/ : /injected worker failure/);
        expectCode("PGZ_IO", () => db.put("after", "x"), "writes stay refused", /injected worker failure.*reopen the database/);
        for (const [key, value] of model) assert.is(text(db.get(key)), value, "reads still work");
        db.close();
        db = DB.open(directory, { core, background: "worker" });
        assert.is(text(db.get("before")), "x");
        for (const [key, value] of model) assert.is(text(db.get(key)), value, `${key} survives`);
        assert.ok(db.check().ok);
        db.close();
      } finally {
        removeDirectory(directory);
      }
    });
  }

  test(`${core}: flushes copied out to the worker in pieces keep exactly what inline flushes keep`, async () => {
    const directory = temporaryDirectory("pgz-background");
    try {
      // 8 versions of each of 5,000 keys through 1 MiB memtables: each flush goes out in about
      // 5 pieces of 256 KiB (in buffers the worker hands back, once the event loop has turned),
      // and a key's versions straddle the pieces' ends, where the worker's version filter compares
      // with the piece before. No compaction (l0Files), so level 0 holds what the flushes wrote.
      const entries = [];
      for (const background of backgrounds) {
        const db = DB.open(`${directory}/${background}`, { core, background, memtableBytes: 1024 * 1024, l0Files: 64, autoGc: false });
        for (let put = 0; put < 40_000; put++) {
          db.put(`key-${String((put * 7919) % 5000).padStart(5, "0")}`, `${Math.floor(put / 5000)}`.padEnd(100, "v"));
          if (put % 250 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        db.flush();
        const stats = db.stats();
        assert.ok(stats.flushes >= 5, `${background}: ${stats.flushes} flushes`);
        assert.is(stats.levels[0]!.files, stats.flushes);
        for (let i = 0; i < 5000; i += 7) assert.is(text(db.get(`key-${String(i).padStart(5, "0")}`)), "7".padEnd(100, "v"));
        entries.push(stats.levels[0]!.entries);
        db.close();
      }
      assert.ok(entries[0]! < 40_000, `the flushes dropped overwritten versions: ${entries[0]} entries`);
      assert.is(entries[1], entries[0], "the worker's flushes wrote the entries the inline ones did");
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a crash after the manifest edit and before the worker's unlink leaves files the next open deletes; every write survives`, async () => {
    const directory = temporaryDirectory("pgz-background");
    try {
      await recordingRemovals(async (requested) => {
        // Values inline (under valueThreshold): each flush retires the segments its memtable filled.
        let db = DB.open(directory, { core, background: "worker", memtableBytes: 128 * 1024, segmentBytes: 64 * 1024, autoGc: false });
        let paused = false;
        pauseBackgroundWorker("remove", () => (paused = true));
        const model = new Map<string, string>();
        for (let i = 0; i < 20_000 && !paused; i++) {
          db.put(`key-${i % 3000}`, `${i}`.padEnd(100, "v"));
          model.set(`key-${i % 3000}`, `${i}`.padEnd(100, "v"));
          // The pause notice comes through the event loop; stop writing before a write waits for the stopped worker.
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.ok(paused, "the worker stopped at its first deletion");
        assert.ok(requested.length > 0 && requested.every((name) => name.endsWith(".vlog")), `spent segments: ${requested.join(" ")}`);
        // The crash: the manifest edit naming them collected is durable, the unlinks never ran.
        await terminateBackgroundWorker();
        for (const name of requested) assert.ok(readdirSync(directory).includes(name), `${name} is still on disk`);
        db.close();
        db = DB.open(directory, { core, background: "worker" });
        const left = readdirSync(directory);
        for (const name of requested) assert.not.ok(left.includes(name), `the open deleted ${name}`);
        for (const [key, value] of model) assert.is(text(db.get(key)), value, `${key} survives`);
        assert.ok(db.check().ok);
        db.close();
      });
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: the worker's flushed table is opened in steps and committed in a later one; a close between them loses nothing and closes every file`, async () => {
    const directory = temporaryDirectory("pgz-background");
    const descriptors = () => readdirSync("/proc/self/fd").length;
    try {
      const baseline = descriptors();
      // No compactions (l0Files): only flushes open tables here.
      const db = DB.open(directory, { core, background: "worker", memtableBytes: 128 * 1024, l0Files: 64, autoGc: false });
      const model = new Map<string, string>();
      // The tree's flush in flight: its table opened and not yet committed.
      const tree = (db as unknown as { engine: { state: { tree: Tree } } }).engine.state.tree;
      const opened = () => (tree as unknown as { flusher: { remoteFlush?: { table?: unknown } } }).flusher.remoteFlush?.table !== undefined;
      let between = false;
      for (let i = 0; i < 50_000 && !between; i++) {
        db.put(`key-${i % 3000}`, `${i}`.padEnd(100, "v"));
        model.set(`key-${i % 3000}`, `${i}`.padEnd(100, "v"));
        between = opened();
        if (!between) await new Promise((resolve) => setImmediate(resolve));
        between ||= opened();
      }
      assert.ok(between, "a flushed table was opened and not yet committed");
      db.close();
      assert.is(descriptors(), baseline, "close closed the opened table's handles too");
      const reopened = DB.open(directory, { core, background: "inline" });
      for (const [key, value] of model) assert.is(text(reopened.get(key)), value, `${key} survives`);
      assert.ok(reopened.check().ok);
      reopened.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a worker that dies while a flush waits for it ends the wait with its error, not the 120 s timeout`, () => {
    const directory = temporaryDirectory("pgz-background");
    try {
      let db = DB.open(directory, { core, background: "worker", ...tiny, autoGc: false });
      db.put("before", "x");
      db.flush();
      injectBackgroundFault("injected worker crash", true);
      db.put("acknowledged", "y");
      // db.flush() blocks in Atomics.wait for the flush's reply, where no exit event can reach it.
      expectCode("PGZ_IO", () => db.flush(), "the blocked flush", /worker exited with code 1: injected worker crash/);
      expectCode("PGZ_IO", () => db.put("after", "z"), "writes stay refused", /injected worker crash/);
      assert.match(db.stats().backgroundError ?? "", /worker exited with code 1: injected worker crash/);
      assert.is(text(db.get("acknowledged")), "y", "reads still work");
      db.close();
      db = DB.open(directory, { core, background: "worker" });
      assert.is(text(db.get("before")), "x");
      assert.is(text(db.get("acknowledged")), "y");
      assert.is(db.get("after"), undefined);
      assert.ok(db.check().ok);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test("the copy buffers of a flush exist once the worker starts: the first copy out takes one, it allocates none", async () => {
  await terminateBackgroundWorker();
  const directory = temporaryDirectory("pgz-background");
  try {
    const db = DB.open(directory, { background: "worker" });
    const session = (db as unknown as { engine: { state: { background: BackgroundSession } } }).engine.state.background;
    const connection = (session as unknown as { connection: { buffers: ArrayBuffer[]; buffersInCirculation: number } }).connection;
    const made = [...connection.buffers];
    assert.is(made.length, 16, "made when the worker started");
    const copy = session.copyForTransfer(new Uint8Array(256 * 1024).fill(3));
    assert.ok(made.includes(copy.buffer as ArrayBuffer), "the copy went into one of them");
    assert.is(connection.buffersInCirculation, 16, "none allocated");
    assert.ok(copy.every((byte) => byte === 3));
    connection.buffers.push(copy.buffer as ArrayBuffer);
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

test("once the worker is lost, spent files are deleted on the calling thread: a released iterator's tables go, close does not throw", async () => {
  const directory = temporaryDirectory("pgz-background");
  try {
    const db = DB.open(directory, { background: "worker", ...tiny, autoGc: false });
    const tablesInLevels = () => db.stats().levels.reduce((sum, level) => sum + level.files, 0);
    for (let i = 0; i < 500; i++) db.put(`k${String(i).padStart(3, "0")}`, `first-${i}`);
    db.flush();
    const iterator = db.iterate();
    iterator.next();
    for (let i = 0; i < 500; i++) db.put(`k${String(i).padStart(3, "0")}`, `second-${i}`);
    db.compact();
    assert.ok(tableFiles(directory) > tablesInLevels(), "the iterator keeps compacted-away tables");
    await terminateBackgroundWorker();
    await new Promise((resolve) => setTimeout(resolve, 10));
    let seen = 1;
    for (const [, value] of iterator) {
      assert.ok(text(value)!.startsWith("first-"));
      seen++;
    }
    assert.is(seen, 500);
    assert.is(tableFiles(directory), tablesInLevels(), "released tables were deleted, on this thread");
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

test("a worker that dies latches every database on it; the next write says so, never a hang", async () => {
  const directory = temporaryDirectory("pgz-background");
  try {
    let db = DB.open(directory, { background: "worker", ...tiny });
    const model = workload(db, 5);
    db.flush();
    await terminateBackgroundWorker();
    // The loss reaches the database as the worker's exit event does (or a wait finds it).
    await new Promise((resolve) => setTimeout(resolve, 10));
    expectCode("PGZ_IO", () => db.put("after", "x"), "writes are refused", /background worker stopped/);
    assert.match(db.stats().backgroundError ?? "", /background worker stopped/);
    for (const [key, value] of model) assert.is(text(db.get(key)), value, "reads still work");
    db.close();
    // A new worker starts for the next open.
    db = DB.open(directory, { background: "worker", ...tiny });
    assert.equal(contents(db), [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    workload(db, 6);
    db.flush();
    assert.ok(db.check().ok);
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

for (const core of engineCores) {
  test(`${core}: a flush counts as waiting for the worker (slowdown) until its reply comes, not while its table opens on this thread`, async () => {
    const directory = temporaryDirectory("pgz-background");
    try {
      // Tables of about 1,000 blocks: opened in several steps (TableOpening), one or two per write.
      const db = DB.open(directory, { core, background: "worker", memtableBytes: 4 * 1024 * 1024, l0Files: 64, autoGc: false });
      const tree = (db as unknown as { engine: { state: { tree: Tree } } }).engine.state.tree;
      const flusher = (tree as unknown as { flusher: { sent: boolean; opening: boolean } }).flusher;
      const seen = { sentWaiting: 0, opening: 0 };
      for (let batch = 0; batch < 2_000 && (seen.opening === 0 || seen.sentWaiting === 0); batch++) {
        const operations = [];
        for (let i = 0; i < 100; i++) operations.push({ type: "put" as const, key: `key-${batch}-${i}`, value: `${i}`.padEnd(100, "v") });
        db.batch(operations);
        if (flusher.opening) {
          seen.opening++;
          assert.ok(tree.immutables.length > 0 && !tree.flushWaitsForWorker, "replied: the memtable waits for no worker");
        } else if (flusher.sent) {
          seen.sentWaiting++;
          assert.ok(tree.flushWaitsForWorker, "sent, not replied: the memtable waits for the worker");
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(seen.opening > 0 && seen.sentWaiting > 0, `both seen: ${JSON.stringify(seen)}`);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
