/**
 * Concurrency within one process: many async tasks interleave (setImmediate / await between
 * steps) reads, writes in every durability, putAsync / batchAsync with sync durability (group
 * commit), iterators held open across awaits, snapshots and flushes, for a fixed number of
 * steps (PGZ_LONG=1: for a wall-clock budget). Invariants, against a model kept in step order:
 * - get() sees every write applied so far (writes are visible when the call returns, async or
 *   not); a snapshot and an iterator see exactly the state at their creation, however many
 *   writes and flushes happen while they are held;
 * - every async write resolves (no rejection without a fault), and after close and reopen the
 *   database equals the model;
 * - no unhandled rejection.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, type Snapshot } from "../../ts/index.ts";
import { random, removeDirectory, temporaryDirectory } from "../helpers.ts";
import { MemoryStorage } from "./fixtures/recording-storage.ts";
import { describeDifference, keyOf, readAll, valueOf, type Model } from "./fixtures/workload.ts";
import { reportCases } from "./fixtures/summary.ts";

const LONG = process.env.PGZ_LONG === "1";
const TASKS = 8;
const STEPS_PER_TASK = 250;
const LONG_MILLISECONDS = 60_000;
const OPTIONS = { memtableBytes: 16 * 1024, valueThreshold: 128, segmentBytes: 64 * 1024 } as const;

const pause = () => new Promise<void>((resolve) => setImmediate(resolve));
const decoder = new TextDecoder();

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

async function interleave(core: "ts" | "wasm", seed: number, storage: MemoryStorage | undefined, directory: string): Promise<void> {
  const options = { core, ...OPTIONS, ...(storage ? { storage } : {}) };
  let db = DB.open(directory, options);
  const model: Model = new Map();
  const deadline = LONG ? Date.now() + LONG_MILLISECONDS : 0;
  const pending: Promise<void>[] = [];
  let writes = 0;

  const checkGet = (key: string, where: string) => {
    const value = db.get(key);
    assert.is(value === undefined ? undefined : decoder.decode(value), model.get(key), `${where}: get(${key})`);
  };

  async function task(id: number): Promise<void> {
    const next = random(seed * 100 + id);
    for (let step = 0; LONG ? Date.now() < deadline : step < STEPS_PER_TASK; step++) {
      const where = `seed ${seed} task ${id} step ${step}`;
      const roll = next();
      const key = keyOf(Math.floor(next() * 200));
      const value = valueOf(id, step, 0, next() < 0.3 ? 200 + Math.floor(next() * 2000) : Math.floor(next() * 50));
      if (roll < 0.25) {
        // Visible at once; durable (group commit) when the promise resolves.
        const promise = db.putAsync(key, value, { sync: true });
        model.set(key, value);
        writes++;
        checkGet(key, where);
        pending.push(promise);
        if (next() < 0.5) await promise;
      } else if (roll < 0.35) {
        const other = keyOf(Math.floor(next() * 200));
        const promise = db.batchAsync([{ type: "put", key, value }, { type: "del", key: other }], { sync: next() < 0.7 });
        model.set(key, value);
        model.delete(other);
        writes++;
        pending.push(promise);
      } else if (roll < 0.5) {
        const durability = (["os", "buffered", "sync"] as const)[Math.floor(next() * 3)]!;
        if (next() < 0.2) {
          db.delete(key, { durability });
          model.delete(key);
        } else {
          db.put(key, value, { durability });
          model.set(key, value);
        }
        writes++;
      } else if (roll < 0.7) {
        checkGet(key, where);
      } else if (roll < 0.85) {
        // An iterator held across awaits while others write: it sees its creation's state.
        const expected = new Map(model);
        const iterator = db.iterate({ reverse: next() < 0.3 });
        const seen: Model = new Map();
        for (let result = iterator.next(); !result.done; result = iterator.next()) {
          seen.set(decoder.decode(result.value[0]), decoder.decode(result.value[1]));
          if (next() < 0.05) await pause();
        }
        const difference = describeDifference(seen, expected);
        assert.is(difference, undefined, `${where}: an iterator held across awaits saw ${difference}`);
      } else if (roll < 0.95) {
        const snapshot: Snapshot = db.snapshot();
        const expected = new Map(model);
        for (let wait = Math.floor(next() * 4); wait > 0; wait--) await pause();
        const probe = keyOf(Math.floor(next() * 200));
        const got = snapshot.get(probe);
        assert.is(got === undefined ? undefined : decoder.decode(got), expected.get(probe), `${where}: snapshot get(${probe})`);
        if (next() < 0.3) assert.is(describeDifference(readAll(snapshot.iterate()), expected), undefined, `${where}: snapshot iteration`);
        snapshot.release();
      } else {
        db.flush();
      }
      if (next() < 0.5) await pause();
    }
  }

  await Promise.all(Array.from({ length: TASKS }, (_, id) => task(id)));
  await Promise.all(pending);
  assert.ok(writes > 100, `only ${writes} writes`);
  assert.is(describeDifference(readAll(db.iterate()), model), undefined, "the final state");
  db.close();
  db = DB.open(directory, options);
  try {
    assert.is(describeDifference(readAll(db.iterate()), model), undefined, "after close and reopen");
    assert.ok(db.check().ok, "check() after the run");
  } finally {
    db.close();
  }
}

test.before(() => {
  process.on("unhandledRejection", onUnhandled);
});

test.after(() => {
  process.off("unhandledRejection", onUnhandled);
});

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: interleaved async reads, writes, group commits, held iterators and snapshots agree with the model`, async () => {
    // On the real file system: group commit's fdatasyncs run on libuv's thread pool.
    const directory = temporaryDirectory(`pgz-concurrency-${core}`);
    try {
      await interleave(core, 5_000 + (core === "wasm" ? 1 : 0), undefined, directory);
    } finally {
      removeDirectory(directory);
    }
    await pause();
    assert.equal(unhandled, [], "unhandled rejections");
    reportCases("concurrency: interleaved async runs", core, 1);
  });

  test(`${core}: group-commit syncs in flight while the log switches segments all resolve`, async () => {
    // The smallest form of what the interleavings hit: concurrent putAsync({ sync: true }) whose
    // records fill a segment, so one of them starts a new segment while an fdatasync runs.
    const storage = new MemoryStorage("group-commit");
    const db = DB.open(storage.directory, { core, storage, segmentBytes: 64 * 1024 });
    try {
      for (let round = 0; round < 20; round++) {
        const results = await Promise.allSettled([0, 1, 2, 3, 4, 5, 6].map((index) => db.putAsync(`key-${round}-${index}`, "v".repeat(1000 + 700 * index), { sync: true })));
        const rejected = results.filter((result) => result.status === "rejected") as PromiseRejectedResult[];
        assert.equal(rejected.map((result) => String(result.reason?.message)), [], `round ${round}: rejected group-commit writes`);
      }
    } finally {
      try {
        db.close();
      } catch {
        // The assertion above says what went wrong; a failed log also fails close.
      }
    }
  });
}

test.run();
