/**
 * The change stream (ts/vlog/changes.ts): committed batches in sequence order, read from the log;
 * waiting at the head and woken by commits; only durable batches; ends on return() and close();
 * PGZ_CHANGES_TRUNCATED once GC or retirement removed the history; named consumers hold the log
 * across restarts until acknowledged or released; the CONSUMERS record is checked.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DB, PgzError, type ChangeBatch, type ChangeStream } from "../ts/index.ts";
import { createPureCore } from "../ts/core/pure/index.ts";
import { decodeConsumers, encodeConsumers } from "../ts/vlog/consumers.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const options = { memtableBytes: 8192, valueThreshold: 16, segmentBytes: 64 * 1024, autoGc: false };
const segmentFiles = (directory: string) => readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort();

/** A batch as plain text: "3:put a=1,del b". */
function describe(batch: ChangeBatch): string {
  const operations = batch.operations.map((operation) => (operation.type === "put" ? `put ${text(operation.key)}=${text(operation.value)}` : `del ${text(operation.key)}`));
  return `${batch.sequence}:${operations.join(",")}`;
}

async function take(stream: ChangeStream, count: number): Promise<string[]> {
  const batches: string[] = [];
  for (let i = 0; i < count; i++) {
    const result = await stream.next();
    assert.not.ok(result.done, `batch ${i} of ${count}`);
    batches.push(describe(result.value!));
  }
  return batches;
}

async function expectRejects(code: string, promise: Promise<unknown>): Promise<PgzError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PgzError, String(error));
    assert.is(error.code, code, error.message);
    return error;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error("unreachable");
}

async function withDirectory(work: (directory: string) => Promise<void>): Promise<void> {
  const directory = temporaryDirectory("pgz-changes");
  try {
    await work(directory);
  } finally {
    removeDirectory(directory);
  }
}

for (const core of engineCores) {
  test(`${core}: the stream yields every committed batch in sequence order, large values included`, () =>
    withDirectory(async (directory) => {
      const db = DB.open(directory, { core, ...options });
      const large = "L".repeat(200);
      db.put("a", "1");
      db.put("b", large);
      db.batch([{ type: "del", key: "a" }, { type: "put", key: "c", value: "3" }]);
      db.delete("b");
      const stream = db.changes({ since: 0 });
      assert.equal(await take(stream, 4), ["1:put a=1", `2:put b=${large}`, "3:del a,put c=3", "5:del b"]);
      // Resuming from any batch boundary gives the rest.
      assert.equal(await take(db.changes({ since: 2 }), 2), ["3:del a,put c=3", "5:del b"]);
      await stream.return();
      db.close();
    }));

  test(`${core}: at the head the stream waits for the next commit, which it makes durable first`, () =>
    withDirectory(async (directory) => {
      const db = DB.open(directory, { core, ...options });
      db.put("a", "1");
      const stream = db.changes({ since: 1 });
      const pending = stream.next();
      let settled = false;
      void pending.then(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.not.ok(settled, "nothing new: the stream waits");
      const syncsBefore = db.stats().log.syncs;
      db.put("b", "2");
      assert.is(describe((await pending).value!), "2:put b=2");
      assert.ok(db.stats().log.syncs > syncsBefore, "the stream yields a write made without sync only once it is synced");
      db.put("c", "3", { sync: true });
      assert.equal(await take(stream, 1), ["3:put c=3"]);
      await stream.return();
      db.close();
    }));

  test(`${core}: return() and close() end a waiting stream; next() after that is done`, () =>
    withDirectory(async (directory) => {
      const db = DB.open(directory, { core, ...options });
      const first = db.changes({ since: 0 });
      const waiting = first.next();
      await first.return();
      assert.is((await waiting).done, true);
      assert.is((await first.next()).done, true);
      const second = db.changes({ since: 0 });
      const waitingAtClose = second.next();
      setTimeout(() => db.close(), 10);
      assert.is((await waitingAtClose).done, true);
      assert.is((await second.next()).done, true);
      expectCode("PGZ_CLOSED", () => db.changes({ since: 0 }));
    }));

  test(`${core}: bad arguments are PGZ_INVALID_ARGUMENT`, () =>
    withDirectory(async (directory) => {
      const db = DB.open(directory, { core, ...options });
      db.batch([{ type: "put", key: "a", value: "1" }, { type: "put", key: "b", value: "2" }]);
      for (const bad of [{}, { since: -1 }, { since: 1.5 }, { since: "0" }, { since: 3 }, { since: 0, consumer: "" }, { since: 0, consumer: "a/b" }, { since: 0, other: 1 }]) {
        expectCode("PGZ_INVALID_ARGUMENT", () => db.changes(bad as never), JSON.stringify(bad));
      }
      // Sequence 1 is inside the batch 1..2: a consumer can only have applied whole batches.
      await expectRejects("PGZ_INVALID_ARGUMENT", db.changes({ since: 1 }).next());
      expectCode("PGZ_NOT_FOUND", () => db.acknowledgeChanges("nobody", 1));
      assert.is(db.releaseConsumer("nobody"), false);
      db.close();
    }));

  test(`${core}: since older than the log holds is PGZ_CHANGES_TRUNCATED (retired and collected segments)`, () =>
    withDirectory(async (directory) => {
      // Inline values only: at reopen every older segment is retired (all of it is in tables).
      let db = DB.open(directory, { core, ...options });
      for (let i = 0; i < 50; i++) db.put(`k${i}`, "v");
      db.close();
      db = DB.open(directory, { core, ...options });
      const error = expectCode("PGZ_CHANGES_TRUNCATED", () => db.changes({ since: 0 }));
      assert.match(error.message, /no longer holds sequence 1/);
      // From the newest sequence on there is nothing to lose.
      db.put("new", "1");
      const tail = db.changes({ since: 50 });
      assert.equal(await take(tail, 1), ["51:put new=1"]);
      // An open stream holds its segments; this one is done.
      await tail.return();
      // GC: overwritten large values, collected; history before the collected segments is gone.
      for (let round = 0; round < 3; round++) for (let i = 0; i < 300; i++) db.put(`big${i}`, `${round}`.padEnd(300, "x"));
      db.compact();
      const report = db.gc({ discardRatio: 0.3, segmentsMax: 100 });
      assert.ok(report.segmentsCollected.length > 0);
      expectCode("PGZ_CHANGES_TRUNCATED", () => db.changes({ since: 50 }));
      db.close();
    }));

  test(`${core}: a named consumer holds the log across GC and reopen until acknowledged or released`, () =>
    withDirectory(async (directory) => {
      let db = DB.open(directory, { core, ...options });
      db.put("first", "1");
      db.changes({ since: 0, consumer: "replica" }).return();
      for (let round = 0; round < 3; round++) for (let i = 0; i < 300; i++) db.put(`big${i}`, `${round}`.padEnd(300, "x"));
      db.compact();
      const report = db.gc({ discardRatio: 0.3, segmentsMax: 100 });
      assert.ok(report.segmentsCollected.length > 0);
      const held = segmentFiles(directory);
      for (const segment of report.segmentsCollected) assert.ok(held.includes(`${String(segment).padStart(6, "0")}.vlog`), `segment ${segment} kept for the consumer`);
      db.close();
      db = DB.open(directory, { core, ...options });
      assert.equal(db.changeConsumers(), [{ name: "replica", sequence: 0 }]);
      const stream = db.changes({ since: 0, consumer: "replica" });
      assert.equal(await take(stream, 1), ["1:put first=1"]);
      let last = 1;
      for (let count = 0; count < 900; count++) last = (await stream.next()).value!.sequence;
      assert.is(last, 901);
      await stream.return();
      db.acknowledgeChanges("replica", last);
      assert.equal(db.changeConsumers(), [{ name: "replica", sequence: 901 }]);
      // With the worker the unlinks run there; flush() waits for them.
      db.flush();
      for (const segment of report.segmentsCollected) assert.not.ok(segmentFiles(directory).includes(`${String(segment).padStart(6, "0")}.vlog`), `segment ${segment} deleted once acknowledged`);
      expectCode("PGZ_CHANGES_TRUNCATED", () => db.changes({ since: 0 }));
      expectCode("PGZ_INVALID_ARGUMENT", () => db.acknowledgeChanges("replica", 5), "backwards");
      assert.is(db.releaseConsumer("replica"), true);
      assert.equal(db.changeConsumers(), []);
      assert.not.ok(readdirSync(directory).includes("CONSUMERS"), "the record goes with the last consumer");
      db.close();
    }));

  test(`${core}: an open stream holds the segment it reads while GC collects it`, () =>
    withDirectory(async (directory) => {
      const db = DB.open(directory, { core, ...options });
      for (let round = 0; round < 3; round++) for (let i = 0; i < 300; i++) db.put(`big${i}`, `${round}`.padEnd(300, "x"));
      const stream = db.changes({ since: 0 });
      assert.equal((await take(stream, 1))[0]!.slice(0, 10), "1:put big0");
      db.compact();
      assert.ok(db.gc({ discardRatio: 0.3, segmentsMax: 100 }).segmentsCollected.length > 0);
      let sequence = 1;
      for (let count = 1; count < 900; count++) {
        const batch = (await stream.next()).value!;
        assert.is(batch.sequence, sequence + 1);
        sequence = batch.sequence;
      }
      await stream.return();
      db.close();
    }));
}

test("the CONSUMERS record round-trips, and damage is PGZ_CORRUPTION naming the file", () =>
  withDirectory(async (directory) => {
    const core = createPureCore();
    const consumers = [
      { name: "replica", sequence: 2 ** 40 + 7, segment: 12 },
      { name: "a.b_c-9", sequence: 0, segment: 1 },
    ];
    const page = encodeConsumers(core, consumers);
    assert.is(page.length, 4096);
    assert.equal(decodeConsumers(core, page), consumers);
    const flipped = page.slice();
    flipped[20]! ^= 1;
    const error = expectCode("PGZ_CORRUPTION", () => decodeConsumers(core, flipped));
    assert.is(error.file, "CONSUMERS");
    expectCode("PGZ_CORRUPTION", () => decodeConsumers(core, page.subarray(0, 10)));
    const db = DB.open(directory, { core: "ts" });
    db.put("a", "1");
    db.changes({ since: 0, consumer: "one" }).return();
    db.close();
    const bytes = readFileSync(join(directory, "CONSUMERS"));
    bytes[9]! ^= 0xff;
    writeFileSync(join(directory, "CONSUMERS"), bytes);
    expectCode("PGZ_CORRUPTION", () => DB.open(directory, { core: "ts" }));
  }));

test.run();
