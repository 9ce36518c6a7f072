import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DB, PgzError } from "../ts/index.ts";
import { engineCores, removeDirectory, temporaryDirectory, text, bytes, expectCode } from "./helpers.ts";
import { FaultyStorage } from "./fixtures/faulty-storage.ts";

for (const core of engineCores) {
  test(`${core}: put, get, delete, batch, and all of it survives a reopen`, () => {
    const directory = temporaryDirectory();
    try {
      let db = DB.open(directory, { core });
      db.put("alpha", "1");
      db.put(bytes("beta"), bytes("2"));
      db.put("gamma", "3");
      db.delete("beta");
      db.batch([
        { type: "put", key: "delta", value: "4" },
        { type: "del", key: "gamma" },
        { type: "put", key: "epsilon", value: "x".repeat(5000) },
      ]);
      assert.is(text(db.get("alpha")), "1");
      assert.is(db.get("beta"), undefined);
      assert.is(db.get("gamma"), undefined);
      assert.is(text(db.get("epsilon")), "x".repeat(5000));
      db.close();
      db = DB.open(directory, { core });
      assert.is(text(db.get("alpha")), "1");
      assert.is(db.get("beta"), undefined);
      assert.is(text(db.get("delta")), "4");
      assert.is(text(db.get("epsilon")), "x".repeat(5000));
      assert.equal([...db.iterate()].map(([k, v]) => [text(k), text(v)!.slice(0, 3)]), [["alpha", "1"], ["delta", "4"], ["epsilon", "xxx"]]);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: flushed tables, many memtables, overwrites and large values read back after reopen`, () => {
    const directory = temporaryDirectory();
    try {
      let db = DB.open(directory, { core, memtableBytes: 64 * 1024, valueThreshold: 64, segmentBytes: 256 * 1024 });
      const expected = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 2000; i++) {
          const key = `key-${String((i * 7919) % 2000).padStart(5, "0")}`;
          const value = `${round}-${i}-` + "v".repeat(i % 200);
          db.put(key, value);
          expected.set(key, value);
        }
        for (let i = 0; i < 2000; i += 13) {
          const key = `key-${String(i).padStart(5, "0")}`;
          db.delete(key);
          expected.delete(key);
        }
      }
      assert.ok(db.stats().flushes > 3, "several flushes happened");
      const check = (handle: DB) => {
        for (const [key, value] of expected) assert.is(text(handle.get(key)), value, key);
        const sorted = [...expected.keys()].sort();
        assert.equal([...handle.iterate()].map(([key]) => text(key)), sorted);
        assert.equal([...handle.iterate({ reverse: true })].map(([key]) => text(key)), [...sorted].reverse());
      };
      check(db);
      db.close();
      db = DB.open(directory, { core });
      check(db);
      assert.ok(db.check().ok, JSON.stringify(db.check().problems));
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: values found by get are independent copies, even when a caller transfers one's buffer`, () => {
    const directory = temporaryDirectory();
    try {
      const db = DB.open(directory, { core });
      for (let i = 0; i < 100; i++) db.put(`k${i}`, `value-${i}`);
      db.flush();
      db.put("k0", "newer-0"); // one in the memtable, the rest in a table
      const first = db.get("k1")!;
      const second = db.get("k2")!;
      first.fill(0x21); // writing into one copy changes nothing else
      assert.is(text(second), "value-2");
      assert.is(text(db.get("k1")), "value-1");
      // Transferring a copy's buffer detaches every copy sharing it; later reads are unaffected.
      structuredClone(second.buffer, { transfer: [second.buffer] });
      assert.is(second.length, 0);
      for (let i = 1; i < 100; i++) assert.is(text(db.get(`k${i}`)), `value-${i}`);
      assert.is(text(db.get("k0")), "newer-0");
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: iterate bounds, prefix, reverse and limit`, () => {
    const directory = temporaryDirectory();
    try {
      const db = DB.open(directory, { core });
      for (const key of ["a", "ab", "abc", "abd", "b", "ba", "c"]) db.put(key, key.toUpperCase());
      const keys = (options: Parameters<DB["iterate"]>[0]) => [...db.iterate(options)].map(([key]) => text(key));
      assert.equal(keys({ gte: "ab", lt: "b" }), ["ab", "abc", "abd"]);
      assert.equal(keys({ gt: "ab", lte: "b" }), ["abc", "abd", "b"]);
      assert.equal(keys({ prefix: "ab" }), ["ab", "abc", "abd"]);
      assert.equal(keys({ prefix: "ab", reverse: true }), ["abd", "abc", "ab"]);
      assert.equal(keys({ lt: "b", reverse: true, limit: 2 }), ["abd", "abc"]);
      assert.equal(keys({ lte: "b", reverse: true, limit: 2 }), ["b", "abd"]);
      assert.equal(keys({ gt: "c" }), []);
      assert.equal(keys({ limit: 0 }), []);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a snapshot keeps reading its versions through overwrites, deletes and flushes`, () => {
    const directory = temporaryDirectory();
    try {
      const db = DB.open(directory, { core, memtableBytes: 8192 });
      for (let i = 0; i < 50; i++) db.put(`k${i}`, `old${i}`);
      const snapshot = db.snapshot();
      for (let i = 0; i < 50; i++) db.put(`k${i}`, `new${i}`);
      db.delete("k7");
      db.put("added", "later");
      db.flush();
      assert.is(text(snapshot.get("k7")), "old7");
      assert.is(snapshot.get("added"), undefined);
      assert.is(text(db.get("k3")), "new3");
      assert.equal([...snapshot.iterate({ limit: 2 })].map(([k, v]) => `${text(k)}=${text(v)}`), ["k0=old0", "k1=old1"]);
      assert.is(db.stats().snapshots, 1);
      snapshot.release();
      assert.is(db.stats().snapshots, 0);
      expectCode("PGZ_CLOSED", () => snapshot.get("k1"));
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: an iterator does not see writes made while it runs`, () => {
    const directory = temporaryDirectory();
    try {
      const db = DB.open(directory, { core, memtableBytes: 8192 });
      for (let i = 0; i < 100; i++) db.put(`k${String(i).padStart(3, "0")}`, "old");
      const seen: string[] = [];
      for (const [key, value] of db.iterate()) {
        seen.push(`${text(key)}=${text(value)}`);
        db.put(`k${String(seen.length).padStart(3, "0")}`, "new");
        db.put(`z${seen.length}`, "new");
      }
      assert.is(seen.length, 100);
      assert.ok(seen.every((entry) => entry.endsWith("=old")));
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test("a database written by one core opens and reads on the other", () => {
  const directory = temporaryDirectory();
  try {
    let db = DB.open(directory, { core: "wasm", memtableBytes: 16 * 1024, valueThreshold: 32 });
    for (let i = 0; i < 1000; i++) db.put(`key${i}`, `value${i}`.repeat(i % 10));
    db.close();
    db = DB.open(directory, { core: "ts" });
    for (let i = 0; i < 1000; i++) assert.is(text(db.get(`key${i}`)), `value${i}`.repeat(i % 10));
    for (let i = 0; i < 1000; i += 2) db.delete(`key${i}`);
    db.close();
    db = DB.open(directory, { core: "wasm" });
    assert.is([...db.iterate()].length, 500);
    assert.ok(db.check().ok);
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

test("error codes: invalid arguments, closed, locked, not found", () => {
  const directory = temporaryDirectory();
  try {
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { core: "zig" as never }));
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { memtableBytes: -1 }));
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { bogus: 1 } as never));
    expectCode("PGZ_NOT_FOUND", () => DB.open(join(directory, "missing"), { createIfMissing: false }));
    assert.not.ok(existsSync(join(directory, "missing")), "a failed open creates nothing");
    const db = DB.open(directory);
    expectCode("PGZ_LOCKED", () => DB.open(directory));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.put(42 as never, "x"));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.put("k", null as never));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.put(new Uint8Array(65537), "x"));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.get({} as never));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "merge", key: "k" } as never]));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch("nope" as never));
    expectCode("PGZ_INVALID_ARGUMENT", () => db.put("k", "v", { durability: "maybe" as never }));
    expectCode("PGZ_INVALID_ARGUMENT", () => [...db.iterate({ limit: 1.5 })]);
    db.put(new Uint8Array(0), "empty keys are keys");
    assert.is(text(db.get(new Uint8Array(0))), "empty keys are keys");
    db.close();
    expectCode("PGZ_CLOSED", () => db.get("k"));
    expectCode("PGZ_CLOSED", () => db.put("k", "v"));
    expectCode("PGZ_CLOSED", () => [...db.iterate()]);
    db.close();
    assert.ok(!existsSync(join(directory, "LOCK")));
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { errorIfExists: true }));
  } finally {
    removeDirectory(directory);
  }
});

test("durability modes: sync, os and buffered all read back after close", () => {
  const directory = temporaryDirectory();
  try {
    for (const durability of ["sync", "os", "buffered"] as const) {
      const db = DB.open(directory, { durability });
      for (let i = 0; i < 300; i++) db.put(`${durability}-${i}`, `v${i}`);
      db.put(`${durability}-override`, "x", { sync: true });
      assert.is(text(db.get(`${durability}-299`)), "v299");
      db.close();
    }
    const db = DB.open(directory);
    for (const durability of ["sync", "os", "buffered"]) assert.is(text(db.get(`${durability}-150`)), "v150");
    assert.ok(db.stats().log.syncs >= 0);
    db.close();
    assert.ok(readdirSync(directory).some((name) => name.endsWith(".vlog")));
  } finally {
    removeDirectory(directory);
  }
});

test("group commit: concurrent sync writers share fdatasyncs", async () => {
  const directory = temporaryDirectory();
  try {
    const db = DB.open(directory);
    const before = db.stats().log.syncs;
    await Promise.all(Array.from({ length: 100 }, (_, i) => db.putAsync(`key${i}`, `value${i}`, { sync: true })));
    const syncs = db.stats().log.syncs - before;
    assert.ok(syncs >= 1 && syncs <= 3, `100 concurrent sync writes took ${syncs} fdatasyncs`);
    for (let i = 0; i < 100; i++) assert.is(text(db.get(`key${i}`)), `value${i}`);
    await db.deleteAsync("key0");
    assert.is(db.get("key0"), undefined);
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

test("the log fdatasyncs behind buffered appends every MiB, off the thread; such a sync's failure refuses the next write", async () => {
  const directory = temporaryDirectory();
  try {
    const storage = new FaultyStorage(directory);
    let db = DB.open(directory, { storage, background: "inline" });
    const before = db.stats().log.syncs;
    const value = "v".repeat(100);
    // About 4 MiB of log in batches of 1,000 buffered puts, the event loop turning between them.
    for (let batch = 0; batch < 30; batch++) {
      db.batch(Array.from({ length: 1000 }, (_, i) => ({ type: "put" as const, key: `key-${batch}-${i}`, value })));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const syncs = db.stats().log.syncs - before;
    assert.ok(syncs >= 2, `${syncs} fdatasyncs behind 4 MiB of appends`);
    db.close();
    db = DB.open(directory, { storage, background: "inline" });
    storage.faults.set("sync", "EIO");
    let failure: unknown;
    for (let batch = 0; batch < 30 && failure === undefined; batch++) {
      try {
        db.batch(Array.from({ length: 1000 }, (_, i) => ({ type: "put" as const, key: `again-${batch}-${i}`, value })));
      } catch (error) {
        failure = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.is((failure as PgzError | undefined)?.code, "PGZ_IO", "a write after the failed sync behind is refused");
    storage.faults.clear();
    db.close();
    db = DB.open(directory, { storage, background: "inline" });
    assert.is(text(db.get("key-29-999")), value);
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

test("a failed fdatasync is PGZ_IO, later writes are refused until reopen, and nothing acknowledged is lost", async () => {
  const directory = temporaryDirectory();
  try {
    const storage = new FaultyStorage(directory);
    let db = DB.open(directory, { storage });
    db.put("before", "1", { sync: true });
    storage.faults.set("sync", "EIO");
    expectCode("PGZ_IO", () => db.put("during", "2", { sync: true }));
    storage.faults.clear();
    expectCode("PGZ_IO", () => db.put("after", "3"));
    try {
      await db.putAsync("after-async", "4", { sync: true });
      assert.unreachable("the async write should be refused");
    } catch (error) {
      assert.is((error as PgzError).code, "PGZ_IO");
    }
    assert.is(text(db.get("before")), "1");
    db.close();
    db = DB.open(directory, { storage });
    assert.is(text(db.get("before")), "1");
    assert.is(db.get("after"), undefined);
    storage.faults.set("write", "ENOSPC");
    expectCode("PGZ_IO", () => db.put("full", "5"));
    storage.faults.clear();
    expectCode("PGZ_IO", () => db.put("full", "5"));
    db.close();
    db = DB.open(directory, { storage });
    assert.is(text(db.get("before")), "1");
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

for (const core of engineCores) {
  test(`${core}: an iterator reads as of the iterate() call, through later writes, flushes, compactions and GC`, () => {
    const directory = temporaryDirectory();
    try {
      const db = DB.open(directory, { core, memtableBytes: 4096, segmentBytes: 64 * 1024, valueThreshold: 16, l0Files: 2, autoGc: false });
      const expected: string[] = [];
      for (let i = 0; i < 200; i++) {
        const key = `key-${String(i).padStart(3, "0")}`;
        const value = `first-${i}`.padEnd(40, ".");
        db.put(key, value);
        expected.push(`${key}=${value}`);
      }
      const forward = db.iterate();
      const backward = db.iterate({ reverse: true, limit: 5 });
      const closedUnread = db.iterate();
      closedUnread.return(undefined);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 200; i++) {
          const key = `key-${String(i).padStart(3, "0")}`;
          if (i % 3 === 0) db.delete(key);
          else db.put(key, `round-${round}-${i}`.padEnd(40, "."));
        }
        db.flush();
      }
      db.compact();
      db.gc({ discardRatio: 0, segmentsMax: 100 });
      const read = (iterator: Iterable<[Uint8Array, Uint8Array]>) => [...iterator].map(([key, value]) => `${text(key)}=${text(value)}`);
      assert.equal(read(forward), expected);
      assert.equal(read(backward), expected.slice(-5).reverse());
      assert.is(db.stats().snapshots, 0, "every read point was released");
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test("ill-typed and unknown options are PGZ_INVALID_ARGUMENT everywhere; sequence after close is PGZ_CLOSED", () => {
  const directory = temporaryDirectory();
  try {
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { core: null } as never), "core: null");
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, [] as never), "options: []");
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { memtableBytes: null } as never), "memtableBytes: null");
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, new Map([["core", "bogus"]]) as never), "options: a Map");
    expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, new Date() as never), "options: a Date");
    const db = DB.open(directory);
    db.put("a", "1");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.begin({ bogus: 1 } as never), "begin({ bogus })");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.iterate({ start: "a" } as never), "iterate({ start })", /start/);
    expectCode("PGZ_INVALID_ARGUMENT", () => db.iterate({ reverse: null } as never), "iterate({ reverse: null })");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.iterate([] as never), "iterate([])");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.put("a", "1", { synch: true } as never), "put with a misspelt option");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.compact({ gte: "a", lte: "b" } as never), "compact({ lte })");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.gc({ ratio: 0.5 } as never), "gc({ ratio })");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.getAt("a", -1), "getAt at a negative sequence");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.iterateAt({}, 1.5), "iterateAt at a fractional sequence");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "put", key: "a", value: "2", sync: true } as never]), "a batch operation with an extra field");
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "del", key: "a", value: "2" } as never]), "a delete with a value");
    // The error names the operation by its index (made only when one fails).
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "put", key: "b", value: "1" }, { type: "put", key: "c", value: "2", sync: true } as never]), "operation 1", /in batch operation 1;/);
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "put", key: "b", value: "1" }, [] as never]), "operation 1, an array", /^batch operation 1 must be a plain object/);
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "put", key: "b", value: null } as never]), "operation 0, a null value", /option value in batch operation 0 must not be null/);
    assert.is(text(db.get("a")), "1", "nothing was written by the refused calls");
    const transaction = db.begin();
    db.close();
    expectCode("PGZ_CLOSED", () => transaction.put("b", "1"), "tx.put after the database closed");
    expectCode("PGZ_CLOSED", () => transaction.delete("b"), "tx.delete after the database closed");
    expectCode("PGZ_CLOSED", () => db.sequence, "sequence after close");
    expectCode("PGZ_CLOSED", () => db.oldestSnapshotSequence, "oldestSnapshotSequence after close");
  } finally {
    removeDirectory(directory);
  }
});

test("names a polluted Object.prototype adds are not options: batches, puts and iterators still work", () => {
  const directory = temporaryDirectory();
  const prototype = Object.prototype as Record<string, unknown>;
  try {
    const db = DB.open(directory);
    // Enumerable, so a for-in over any options object meets them; neither is the caller's own.
    prototype.bogus = 1;
    prototype.value = null;
    db.batch([{ type: "put", key: "a", value: "1" }, { type: "put", key: "b", value: "2" }, { type: "del", key: "b" }]);
    db.put("c", "3", {});
    assert.equal([...db.iterate({ gte: "a" })].map(([key, value]) => `${text(key)}=${text(value)}`), ["a=1", "c=3"]);
    expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "put", key: "d", value: "4", bogus: 2 } as never]), "an own unknown option is still refused");
    for (const name of ["bogus", "value"]) delete prototype[name];
    db.close();
  } finally {
    for (const name of ["bogus", "value"]) delete prototype[name];
    removeDirectory(directory);
  }
});

for (const core of engineCores) {
  test(`${core}: a write that pays for a failing flush or compaction succeeds (it is durable); the next write reports the failure`, () => {
    const directory = temporaryDirectory();
    try {
      const storage = new FaultyStorage(directory);
      const db = DB.open(directory, { core, storage, memtableBytes: 4096, l0Files: 2, valueThreshold: 16 });
      const written = new Map<string, string>();
      for (let i = 0; i < 50; i++) {
        db.put(`warm-${i}`, `value-${i}`);
        written.set(`warm-${i}`, `value-${i}`);
      }
      // The log file is open already; every new file (a table being flushed or compacted) fails.
      storage.faults.set("open", "EMFILE");
      // Puts go on until one is refused: every put before it returned, so it must be durable;
      // the refused one must not be (an error means "not written").
      let refused: string | undefined;
      for (let i = 0; refused === undefined; i++) {
        assert.ok(i < 10_000, "no background work ran");
        const key = `key-${i}`;
        const value = `value-${i}`.padEnd(30, ".");
        try {
          db.put(key, value);
          written.set(key, value);
        } catch (error) {
          assert.is((error as PgzError).code, "PGZ_IO", String(error));
          refused = key;
        }
      }
      expectCode("PGZ_IO", () => db.put("refused", "x"), "writes stay refused");
      storage.faults.clear();
      assert.match(db.stats().backgroundError!, /EMFILE/);
      for (const [key, value] of written) assert.is(text(db.get(key)), value, `${key} reads back before reopen`);
      storage.faults.clear();
      db.close();
      const reopened = DB.open(directory, { core });
      for (const [key, value] of written) assert.is(text(reopened.get(key)), value, `${key} after reopen`);
      assert.is(reopened.get(refused!), undefined, `${refused}, whose put threw, was not written`);
      assert.is(reopened.get("refused"), undefined);
      reopened.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
