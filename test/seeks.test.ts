/**
 * Seeks over kept sources (ts/lsm/tree-sources.ts, ts/lsm/table-source.ts; issue 13): a table's
 * source is kept for the next iterator over that table, a sorted level starts at the table that
 * holds the start key, and a seek's first block gives a few entries first, its cursor kept for
 * the rest. Against a model, on both cores, with a user who keeps iterators open across writes,
 * compactions, evictions of the block they read, other iterators over the same tables, and reopens.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, type IterateOptions } from "../ts/index.ts";
import { engineCores, random, removeDirectory, text } from "./helpers.ts";
import { scratchDirectory, tinyOptions } from "./model.ts";
import type { EngineState } from "../ts/engine/state.ts";

/** A full garbage collection (tests run without --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

function keyOf(index: number): string {
  return `key${String(index).padStart(5, "0")}`;
}

/** The entries of the model an iteration with these options gives, in its order. */
function expected(model: Map<string, string>, options: IterateOptions & { gt?: string; gte?: string; lt?: string; lte?: string }): string[] {
  const keys = [...model.keys()].sort().filter((key) => {
    if (options.gt !== undefined && key <= options.gt) return false;
    if (options.gte !== undefined && key < options.gte) return false;
    if (options.lt !== undefined && key >= options.lt) return false;
    if (options.lte !== undefined && key > options.lte) return false;
    return true;
  });
  if (options.reverse) keys.reverse();
  return keys.slice(0, options.limit ?? Infinity).map((key) => `${key}=${model.get(key)}`);
}

function entries(iterable: Iterable<[Uint8Array, Uint8Array]>): string[] {
  return [...iterable].map(([key, value]) => `${text(key)}=${text(value)}`);
}

/** A seek as a user makes one: one bound (or two), either direction, a small limit or none. */
function randomSeek(next: () => number, keyCount: number): IterateOptions & { gt?: string; gte?: string; lt?: string; lte?: string } {
  const at = keyOf(Math.floor(next() * (keyCount + 20)) - 10);
  const limit = next() < 0.8 ? 1 + Math.floor(next() * 15) : undefined;
  const choice = Math.floor(next() * 5);
  if (choice === 0) return { gte: at, limit };
  if (choice === 1) return { gt: at, limit };
  if (choice === 2) return { lt: at, reverse: true, limit };
  if (choice === 3) return { lte: at, reverse: true, limit };
  return { gte: at, lt: keyOf(Math.floor(next() * keyCount)), limit, reverse: next() < 0.5 };
}

for (const core of engineCores) {
  test(`${core}: seeks over kept sources agree with the model through writes, flushes, compactions, snapshots and a reopen`, () => {
    const next = random(13);
    const directory = scratchDirectory();
    // Tiny tables on several levels, and a block cache of a few blocks: seeks evict each other's.
    const options = { ...tinyOptions(core), background: "inline" as const };
    let db = DB.open(directory, options);
    const model = new Map<string, string>();
    const keyCount = 600;
    const check = (round: number) => {
      for (let seek = 0; seek < 150; seek++) {
        const seekOptions = randomSeek(next, keyCount);
        assert.equal(entries(db.iterate(seekOptions)), expected(model, seekOptions), `round ${round}, ${JSON.stringify(seekOptions)}`);
      }
    };
    try {
      for (let round = 0; round < 8; round++) {
        const snapshot = db.snapshot();
        const then = new Map(model);
        for (let step = 0; step < 300; step++) {
          const key = keyOf(Math.floor(next() * keyCount));
          if (next() < 0.2) {
            db.delete(key);
            model.delete(key);
          } else {
            const value = `${round}.${step}`.padEnd(next() < 0.5 ? 6 : 30, "v");
            db.put(key, value);
            model.set(key, value);
          }
          // Seeks between writes: each sees the writes made since the last one.
          if (step % 50 === 0) check(round);
        }
        check(round);
        // The snapshot's seeks read the versions it pinned, through the same kept sources.
        for (let seek = 0; seek < 50; seek++) {
          const seekOptions = randomSeek(next, keyCount);
          assert.equal(entries(snapshot.iterate(seekOptions)), expected(then, seekOptions), `round ${round} snapshot, ${JSON.stringify(seekOptions)}`);
        }
        snapshot.release();
        if (round % 3 === 2) db.compact();
        if (round === 4) {
          db.close();
          db = DB.open(directory, options);
        }
        check(round);
      }
      const levels = db.stats().levels.filter((level) => level.files > 0);
      assert.ok(levels.some((level) => level.level > 0 && level.files >= 3), `a deeper level of several tables (${JSON.stringify(levels)})`);
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: iterators interleaved over the same tables each read their own entries`, () => {
    const directory = scratchDirectory();
    const db = DB.open(directory, { core, background: "inline", l0Files: 8 });
    const model = new Map<string, string>();
    try {
      // Three level-0 tables, each with every third key.
      for (let table = 0; table < 3; table++) {
        for (let index = table; index < 3000; index += 3) {
          db.put(keyOf(index), `value${index}`);
          model.set(keyOf(index), `value${index}`);
        }
        db.flush();
      }
      // A finished seek leaves each table's source kept: the first iterator below takes them,
      // the others (running at the same time) must not.
      assert.equal(entries(db.iterate({ gte: keyOf(0), limit: 5 })), expected(model, { gte: keyOf(0), limit: 5 }));
      const seeks: (IterateOptions & { gte?: string; lte?: string })[] = [{ gte: keyOf(100) }, { gte: keyOf(101) }, { lte: keyOf(2000), reverse: true }, { gte: keyOf(100) }];
      const iterators = seeks.map((seek) => db.iterate(seek));
      const seen: string[][] = seeks.map(() => []);
      // Round robin: every iterator's table sources are in use at once, and each takes some
      // entries, then the next runs, through many blocks.
      for (let step = 0; step < 400; step++) {
        for (const [index, iterator] of iterators.entries()) {
          const result = iterator.next();
          if (!result.done) seen[index]!.push(`${text(result.value[0])}=${text(result.value[1])}`);
        }
      }
      for (const [index, seek] of seeks.entries()) assert.equal(seen[index], expected(model, { ...seek, limit: 400 }), `iterator ${index}`);
      for (const iterator of iterators) iterator.return(undefined);
      // After they end, the kept sources serve new seeks from other starts.
      assert.equal(entries(db.iterate({ gte: keyOf(2990) })), expected(model, { gte: keyOf(2990) }));
      assert.equal(entries(db.iterate({ lt: keyOf(5), reverse: true })), expected(model, { lt: keyOf(5), reverse: true }));
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: a seek's first block evicted between two next() calls: the iterator goes on from the entry after the last it gave`, () => {
    const directory = scratchDirectory();
    // A block cache of a few blocks: point reads elsewhere evict the one the iterator started in.
    const db = DB.open(directory, { core, background: "inline", blockCacheBytes: 16 * 1024, l0Files: 8 });
    const model = new Map<string, string>();
    try {
      // Three level-0 tables of every third key: a merge's first output takes a part of each
      // source's first fill, so the rest of the first blocks is read at a later next().
      for (let table = 0; table < 3; table++) {
        for (let index = table; index < 4000; index += 3) {
          db.put(keyOf(index), `value${index}`.padEnd(40, "."));
          model.set(keyOf(index), `value${index}`.padEnd(40, "."));
        }
        db.flush();
      }
      for (const seek of [{ gte: keyOf(1203) }, { lte: keyOf(2807), reverse: true }, { gt: keyOf(7) }, { lt: keyOf(3998), reverse: true }]) {
        const iterator = db.iterate(seek);
        const seen: string[] = [];
        for (let taken = 0; taken < 3; taken++) {
          const { value } = iterator.next();
          seen.push(`${text(value![0])}=${text(value![1])}`);
        }
        const missesBefore = db.stats().blockCache.misses;
        for (let index = 0; index < 4000; index += 97) assert.is(text(db.get(keyOf(index))), model.get(keyOf(index)));
        const missesAfterReads = db.stats().blockCache.misses;
        assert.ok(missesAfterReads - missesBefore > 10, "the point reads went through more blocks than the cache holds");
        for (let taken = 0; taken < 60; taken++) {
          const { value } = iterator.next();
          seen.push(`${text(value![0])}=${text(value![1])}`);
        }
        iterator.return(undefined);
        assert.equal(seen, expected(model, { ...seek, limit: 63 }), JSON.stringify(seek));
        // The iterator took its first block again (a miss) to go on past the entries it gave.
        assert.ok(db.stats().blockCache.misses > missesAfterReads, "the evicted first block was read again");
      }
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });

  test(`${core}: an iterator that outlives a compaction reads its own tables; closed and unstarted iterators leave the next seek correct`, () => {
    const directory = scratchDirectory();
    const db = DB.open(directory, { core, background: "inline", l0Files: 8 });
    const model = new Map<string, string>();
    try {
      for (let table = 0; table < 3; table++) {
        for (let index = table; index < 2000; index += 3) db.put(keyOf(index), `old${index}`);
        db.flush();
      }
      for (let index = 0; index < 2000; index++) model.set(keyOf(index), `old${index}`);
      const then = new Map(model);
      const outliving = db.iterate({ gte: keyOf(500) });
      const seen = [outliving.next(), outliving.next()].map(({ value }) => `${text(value![0])}=${text(value![1])}`);
      // Overwrite a stretch, then compact: the tables the iterator reads leave the version.
      for (let index = 400; index < 1600; index++) {
        db.put(keyOf(index), `new${index}`);
        model.set(keyOf(index), `new${index}`);
      }
      const filesBefore = db.stats().levels[0]!.files;
      db.compact();
      assert.is(db.stats().levels[0]!.files, 0, `level 0 compacted away (had ${filesBefore})`);
      // A new seek reads the compacted tables, the old iterator goes on at its own sequence.
      assert.equal(entries(db.iterate({ gte: keyOf(500), limit: 20 })), expected(model, { gte: keyOf(500), limit: 20 }));
      for (const [key, value] of outliving) seen.push(`${text(key)}=${text(value)}`);
      assert.equal(seen, expected(then, { gte: keyOf(500) }));
      // Closed after one entry, and closed before its first: the next seeks still agree.
      const closedEarly = db.iterate({ gte: keyOf(10) });
      closedEarly.next();
      closedEarly.return(undefined);
      db.iterate({ gte: keyOf(11) }).return(undefined);
      assert.equal(entries(db.iterate({ gte: keyOf(10), limit: 30 })), expected(model, { gte: keyOf(10), limit: 30 }));
      assert.equal(entries(db.iterate({ lte: keyOf(1700), reverse: true, limit: 30 })), expected(model, { lte: keyOf(1700), reverse: true, limit: 30 }));
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });
}

test("an iterator dropped before its first next() lets go of its read point once collected", async () => {
  const directory = scratchDirectory();
  const db = DB.open(directory, { core: "wasm" });
  const readers = (db as unknown as { engine: { state: EngineState } }).engine.state.readers;
  try {
    db.put("a", "1");
    // Finished, closed and dropped unread: only the last holds its read point until collected.
    assert.equal(entries(db.iterate({ gte: "a" })), ["a=1"]);
    db.iterate({ gte: "a" }).return(undefined);
    (() => db.iterate({ gte: "a" }))();
    assert.is(readers.size, 1, "the unread iterator's read point");
    for (let attempt = 0; attempt < 20 && readers.size > 0; attempt++) {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.is(readers.size, 0, "released by the registry's callback");
  } finally {
    db.close();
    removeDirectory(directory);
  }
});

test.run();
