/**
 * The change stream replicates: a random workload (puts, deletes, overwrites, values over the
 * value threshold, batches, mixed durabilities, GC) on a source database, replayed batch by batch
 * into a replica that persists the last sequence it applied; both sides are closed and reopened
 * between rounds, often with the replica behind, and the stream resumes from the replica's
 * persisted sequence through a named consumer. At the end the replica's content equals the
 * source's byte for byte.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DB, type BatchOperation, type ChangeStream } from "../ts/index.ts";
import { bytesEqual } from "../ts/bytes.ts";
import { engineCores, random, removeDirectory, temporaryDirectory } from "./helpers.ts";

const options = { memtableBytes: 16 * 1024, valueThreshold: 64, segmentBytes: 64 * 1024, l0Files: 2, level1Bytes: 32 * 1024, tableBytes: 16 * 1024 };
const ROUNDS = 8;
const OPERATIONS_PER_ROUND = 400;
const KEYS = 300;

function randomValue(next: () => number, round: number): Uint8Array {
  // A third of the values live only in the log (over valueThreshold), some are empty.
  const length = next() < 0.33 ? 65 + Math.floor(next() * 2000) : Math.floor(next() * 64);
  const value = new Uint8Array(length);
  for (let i = 0; i < length; i++) value[i] = Math.floor(next() * 256) ^ round;
  return value;
}

function randomWorkload(db: DB, next: () => number, round: number): void {
  const key = () => `key${Math.floor(next() * KEYS)}`;
  for (let done = 0; done < OPERATIONS_PER_ROUND; ) {
    const choice = next();
    const durability = next();
    const writeOptions = durability < 0.1 ? { sync: true } : durability < 0.4 ? { durability: "buffered" as const } : {};
    if (choice < 0.5) {
      db.put(key(), randomValue(next, round), writeOptions);
      done++;
    } else if (choice < 0.7) {
      db.delete(key(), writeOptions);
      done++;
    } else if (choice < 0.95) {
      const operations: BatchOperation[] = [];
      const size = 1 + Math.floor(next() * 20);
      for (let i = 0; i < size; i++) operations.push(next() < 0.75 ? { type: "put", key: key(), value: randomValue(next, round) } : { type: "del", key: key() });
      db.batch(operations, writeOptions);
      done += size;
    } else if (choice < 0.96) {
      db.gc({ discardRatio: 0.2, segmentsMax: 10 });
    } else {
      db.flush();
    }
  }
}

/** Applies up to `count` batches, or until the replica reaches the source's sequence. */
async function replay(stream: ChangeStream, replica: DB, positionFile: string, source: DB, count: number): Promise<number> {
  let applied = Number(readFileSync(positionFile, "utf8"));
  // The source's sequence is read each time: automatic GC commits rewrites in idle turns.
  for (let done = 0; done < count && applied < source.sequence; done++) {
    const result = await stream.next();
    assert.not.ok(result.done);
    const batch = result.value!;
    assert.is(batch.sequence, applied + 1, "the batches follow each other");
    replica.batch(batch.operations);
    applied = batch.sequence + batch.operations.length - 1;
    // After the batch: a crash between the two re-applies batches in order, which converges.
    writeFileSync(positionFile, String(applied));
  }
  return applied;
}

function assertSameContent(source: DB, replica: DB): number {
  const expected = [...source.iterate()];
  const actual = [...replica.iterate()];
  assert.is(actual.length, expected.length, "same number of keys");
  for (let i = 0; i < expected.length; i++) {
    assert.ok(bytesEqual(actual[i]![0], expected[i]![0]), `key ${i}`);
    assert.ok(bytesEqual(actual[i]![1], expected[i]![1]), `value of key ${i}`);
  }
  return expected.length;
}

for (const core of engineCores) {
  test(`${core}: a replica fed by the change stream equals its source byte for byte after reopens of both and GC`, async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const next = random(seed);
    const sourceDirectory = temporaryDirectory("pgz-source");
    const replicaDirectory = temporaryDirectory("pgz-replica");
    const positionFile = join(replicaDirectory, "..", `${replicaDirectory.split("/").at(-1)}.position`);
    try {
      writeFileSync(positionFile, "0");
      for (let round = 0; round < ROUNDS; round++) {
        const last = round === ROUNDS - 1;
        const source = DB.open(sourceDirectory, { core, ...options });
        const replica = DB.open(replicaDirectory, { core, ...options });
        const since = Number(readFileSync(positionFile, "utf8"));
        const stream = source.changes({ since, consumer: "replica" });
        randomWorkload(source, next, round);
        // Most rounds stop part-way, so the next one resumes with the replica behind.
        const applied = await replay(stream, replica, positionFile, source, last ? Infinity : Math.floor(next() * 400));
        if (next() < 0.5) source.acknowledgeChanges("replica", applied);
        if (last) {
          assert.is(applied, source.sequence, `seed ${seed}`);
          assert.ok(assertSameContent(source, replica) > 0, "the workload left keys");
          assert.ok(source.stats().log.gcRuns >= 0);
        }
        await stream.return();
        source.close();
        replica.close();
      }
      // And once more after a final reopen of both.
      const source = DB.open(sourceDirectory, { core, ...options });
      const replica = DB.open(replicaDirectory, { core, ...options });
      assertSameContent(source, replica);
      assert.ok(source.check().ok && replica.check().ok);
      source.close();
      replica.close();
    } catch (error) {
      console.error(`replicate test failed with seed ${seed}`);
      throw error;
    } finally {
      removeDirectory(sourceDirectory);
      removeDirectory(replicaDirectory);
      if (existsSync(positionFile)) removeDirectory(positionFile);
    }
  });
}

test("examples/replicate.mjs replays the stream into a second database and finds them identical", () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  assert.ok(existsSync(`${root}dist/pgz.mjs`), "dist/pgz.mjs is missing: run npm run build");
  const directory = temporaryDirectory("pgz-example");
  try {
    const result = spawnSync(process.execPath, [`${root}examples/replicate.mjs`, directory], { encoding: "utf8" });
    assert.is(result.status, 0, result.stderr);
    assert.match(result.stdout, /round 3: replica at sequence (\d+) of \1\n/);
    assert.match(result.stdout, /(\d+) keys in the source, \1 in the replica: identical/);
  } finally {
    removeDirectory(directory);
  }
});

test.run();
