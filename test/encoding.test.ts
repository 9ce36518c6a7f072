/**
 * Values as users use them: keyEncoding / valueEncoding ("binary", "utf8", "json") at open and
 * per call, through get, put, delete, batch, the async writes, iterate (bounds included) and
 * snapshots; bad encodings and JSON that does not parse are clear errors; db.has; and
 * db.transactionSync (commits, retries on PGZ_CONFLICT, refuses a promise).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, PgzError, type Transaction } from "../ts/index.ts";
import { bytes, engineCores, expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

function withDatabase(core: string, options: Parameters<typeof DB.open>[1], work: (db: DB) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const directory = temporaryDirectory("pgz-encoding");
    const db = DB.open(directory, { core: core as "ts", valueThreshold: 16, ...options });
    try {
      await work(db);
    } finally {
      db.close();
      removeDirectory(directory);
    }
  };
}

for (const core of engineCores) {
  test(
    `${core}: open encodings: utf8 keys, json values through put, batch, get, iterate and snapshots`,
    withDatabase(core, { keyEncoding: "utf8", valueEncoding: "json" }, (db) => {
      const large = { name: "big", list: Array.from({ length: 50 }, (_, i) => i) };
      db.put("a", { n: 1 });
      db.put("b", large);
      db.batch([
        { type: "put", key: "c", value: [1, "two", null] },
        { type: "put", key: "d", value: "just a string" },
        { type: "del", key: "a" },
      ]);
      assert.equal(db.get("b"), large, "a value over the threshold, read from the log");
      assert.is(db.get("a"), undefined);
      assert.equal(db.get("c"), [1, "two", null]);
      assert.equal(db.getMany(["c", "a", "b", "zz"]), [[1, "two", null], undefined, large, undefined], "getMany decodes like get");
      assert.equal(db.getMany([bytes("d")], { keyEncoding: "binary", valueEncoding: "utf8" }), ['"just a string"'], "per-call encodings");
      assert.equal([...db.iterate({ gte: "b", lt: "d" })], [["b", large], ["c", [1, "two", null]]]);
      const snapshot = db.snapshot();
      db.put("d", 42);
      assert.is(snapshot.get("d"), "just a string");
      assert.equal([...snapshot.iterate({ gt: "c" })], [["d", "just a string"]]);
      assert.ok(snapshot.get("d", { valueEncoding: "binary" }) instanceof Uint8Array);
      snapshot.release();
      assert.is(db.get("d"), 42);
      // What is stored is the JSON text: a per-call encoding reads it another way.
      assert.is(db.get("c", { valueEncoding: "utf8" }), '[1,"two",null]');
      assert.equal(db.get("c", { keyEncoding: "binary", valueEncoding: "binary" }), bytes('[1,"two",null]'));
    }),
  );

  test(
    `${core}: per-call encodings over a binary database, the async writes, and json keys`,
    withDatabase(core, {}, async (db) => {
      db.put("k", { a: 1 }, { valueEncoding: "json" });
      assert.equal(db.get("k"), bytes('{"a":1}'), "binary by default");
      assert.equal(db.get("k", { valueEncoding: "json" }), { a: 1 });
      await db.putAsync("s", "text", { valueEncoding: "utf8", sync: true });
      assert.is(db.get("s", { valueEncoding: "utf8" }), "text");
      await db.batchAsync([{ type: "put", key: [2, "x"], value: true }], { keyEncoding: "json", valueEncoding: "json" });
      assert.is(db.get([2, "x"], { keyEncoding: "json", valueEncoding: "json" }), true);
      assert.ok(db.has('[2,"x"]'), "the key is its JSON text");
      db.delete([2, "x"], { keyEncoding: "json" });
      assert.not.ok(db.has([2, "x"], { keyEncoding: "json" }));
      const pairs = [...db.iterate<string, string>({ keyEncoding: "utf8", valueEncoding: "utf8", prefix: "k" })];
      assert.equal(pairs, [["k", '{"a":1}']]);
    }),
  );

  test(
    `${core}: db.has sees puts and deletes, large values included, without reading them`,
    withDatabase(core, {}, (db) => {
      assert.not.ok(db.has("missing"));
      db.put("small", "1");
      db.put("large", "x".repeat(100));
      assert.ok(db.has("small") && db.has("large"));
      db.delete("small");
      assert.not.ok(db.has("small"));
      db.flush();
      assert.ok(db.has("large"));
      assert.not.ok(db.has("small"));
      expectCode("PGZ_INVALID_ARGUMENT", () => db.has("k", { valueEncoding: "nope" } as never));
      expectCode("PGZ_INVALID_ARGUMENT", () => db.has("k", { sync: true } as never), "not a read option");
    }),
  );

  test(`${core}: bad encodings and values JSON cannot hold are PGZ_INVALID_ARGUMENT`, async () => {
    const directory = temporaryDirectory("pgz-encoding");
    try {
      for (const bad of ["hex", "UTF8", 1, null, "buffer"]) {
        expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { core, valueEncoding: bad as never }), `valueEncoding ${String(bad)}`);
        expectCode("PGZ_INVALID_ARGUMENT", () => DB.open(directory, { core, keyEncoding: bad as never }), `keyEncoding ${String(bad)}`);
      }
      const db = DB.open(directory, { core, valueEncoding: "json" });
      try {
        expectCode("PGZ_INVALID_ARGUMENT", () => db.get("k", { valueEncoding: "text" } as never));
        expectCode("PGZ_INVALID_ARGUMENT", () => db.put("k", 1, { keyEncoding: "ascii" } as never));
        expectCode("PGZ_INVALID_ARGUMENT", () => [...db.iterate({ valueEncoding: "x" } as never)]);
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        expectCode("PGZ_INVALID_ARGUMENT", () => db.put("k", cyclic), "a cycle");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.put("k", 10n as never), "a BigInt");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.put("k", (() => 1) as never), "a function");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.batch([{ type: "put", key: "k", value: undefined as never }]), "undefined");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.put({ not: "bytes" } as never, 1), "a utf8... binary key that is an object");
        assert.is(db.get("k"), undefined, "nothing was written");
      } finally {
        db.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(
    `${core}: a stored value that is not JSON is PGZ_DECODE_FAILED, from get, iterate and snapshots`,
    withDatabase(core, {}, (db) => {
      db.put("broken", "{not json");
      db.put("bad-utf8", new Uint8Array([0x22, 0xff, 0x22]));
      db.put("big", "[" + "1,".repeat(40) + "oops");
      for (const key of ["broken", "bad-utf8", "big"]) {
        const error = expectCode("PGZ_DECODE_FAILED", () => db.get(key, { valueEncoding: "json" }), key);
        assert.match(error.message, /not JSON/);
      }
      expectCode("PGZ_DECODE_FAILED", () => [...db.iterate({ valueEncoding: "json" })]);
      const snapshot = db.snapshot();
      expectCode("PGZ_DECODE_FAILED", () => snapshot.get("broken", { valueEncoding: "json" }));
      snapshot.release();
      // The iterator that failed released its read point: nothing stays pinned.
      assert.is(db.stats().snapshots, 0);
      assert.is(text(db.get("broken")), "{not json");
    }),
  );

  test(
    `${core}: an iterator with encodings closed early or before its first next() releases its read point`,
    withDatabase(core, { valueEncoding: "utf8" }, (db) => {
      for (let i = 0; i < 10; i++) db.put(`k${i}`, `v${i}`);
      const unstarted = db.iterate();
      assert.is(db.stats().snapshots, 1);
      unstarted.return();
      assert.is(db.stats().snapshots, 0);
      const started = db.iterate();
      assert.equal(started.next().value, [bytes("k0"), "v0"]);
      started.return();
      assert.is(db.stats().snapshots, 0);
    }),
  );

  test(
    `${core}: transactionSync commits, retries on PGZ_CONFLICT, and refuses a promise`,
    withDatabase(core, {}, (db) => {
      db.put("counter", "0");
      const result = db.transactionSync((transaction) => {
        const value = Number(text(transaction.get("counter")));
        transaction.put("counter", String(value + 1));
        return value + 1;
      });
      assert.is(result, 1);
      assert.is(text(db.get("counter")), "1");
      // A conflicting write lands between the read and the commit on the first attempt only.
      let attempts = 0;
      db.transactionSync((transaction) => {
        attempts++;
        const value = Number(text(transaction.get("counter")));
        if (attempts === 1) db.put("counter", "100");
        transaction.put("counter", String(value + 1));
      });
      assert.is(attempts, 2);
      assert.is(text(db.get("counter")), "101");
      let conflicts = 0;
      const error = expectCode("PGZ_CONFLICT", () =>
        db.transactionSync(
          (transaction: Transaction) => {
            conflicts++;
            transaction.get("counter");
            db.put("counter", String(conflicts));
            transaction.put("other", "x");
          },
          { retries: 2 },
        ),
      );
      assert.ok(error instanceof PgzError);
      assert.is(conflicts, 3, "the first attempt and two retries");
      assert.is(db.get("other"), undefined);
      expectCode("PGZ_INVALID_ARGUMENT", () => db.transactionSync(async (transaction) => transaction.put("async", "1")), undefined, /returned a promise/);
      assert.is(db.get("async"), undefined, "nothing committed");
      expectCode("PGZ_INVALID_ARGUMENT", () => db.transactionSync("nope" as never));
      expectCode("PGZ_INVALID_ARGUMENT", () => db.transactionSync(() => 1, { retries: -1 }));
      assert.throws(() => db.transactionSync(() => {
        throw new Error("mine");
      }), /mine/);
    }),
  );
}

test.run();
