/**
 * Read-only opens in one process (the process tests are in test/live.test.ts): a reader writes
 * nothing, refuses writes, sees the version of its open until refresh(), and its registration
 * keeps the files it reads alive across the writer's compaction and GC.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DB } from "../ts/index.ts";
import { PgzLevel } from "../ts/level.ts";
import { READERS_DIRECTORY, filesInUse } from "../ts/storage/readers.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

/** Names, sizes and modification times of every database file (readers/ is the readers' own). */
function listing(directory: string): string[] {
  return readdirSync(directory)
    .filter((name) => name !== READERS_DIRECTORY)
    .map((name) => {
      const stats = statSync(join(directory, name));
      return `${name} ${stats.size} ${stats.mtimeMs}`;
    })
    .sort();
}

function contents(db: DB): Map<string, string> {
  return new Map([...db.iterate()].map(([key, value]) => [text(key)!, text(value)!]));
}

const smallFiles = { memtableBytes: 16 * 1024, segmentBytes: 64 * 1024, valueThreshold: 64, autoGc: false } as const;

function key(index: number): string {
  return `key${String(index).padStart(5, "0")}`;
}

/** A value of `round` for `index`, above the value threshold every third key (so in the log). */
function value(round: number, index: number): string {
  return `${round}:${index}:` + (index % 3 === 0 ? "v".repeat(200) : "i");
}

function writeRound(db: DB, round: number, count: number): void {
  for (let start = 0; start < count; start += 50) {
    const operations = [];
    for (let index = start; index < Math.min(count, start + 50); index++) operations.push({ type: "put" as const, key: key(index), value: value(round, index) });
    db.batch(operations);
  }
}

for (const core of engineCores) {
  test(`${core}: a read-only open writes nothing, with or without a writer`, () => {
    const directory = temporaryDirectory();
    try {
      const writer = DB.open(directory, { core, ...smallFiles });
      writeRound(writer, 1, 600);
      writer.close();
      // A tail in the log too: written, not flushed (the process "crashes" by not closing).
      const before = listing(directory);
      const reader = DB.open(directory, { core, readOnly: true });
      assert.is(reader.readOnly, true);
      assert.is(contents(reader).size, 600);
      assert.is(text(reader.get(key(3))), value(1, 3));
      assert.ok(reader.check().ok);
      reader.stats();
      assert.is(readdirSync(join(directory, READERS_DIRECTORY)).length, 1, "the reader is registered while open");
      reader.close();
      assert.equal(listing(directory), before);
      assert.equal(readdirSync(join(directory, READERS_DIRECTORY)), [], "the registration is gone after close");
      assert.not.ok(existsSync(join(directory, "LOCK")));
      // Again beside a writer holding the database (idle: it writes nothing by itself here).
      const holder = DB.open(directory, { core, ...smallFiles });
      try {
        holder.put("tail", "unflushed");
        const held = listing(directory);
        const second = DB.open(directory, { core, readOnly: true });
        assert.is(text(second.get("tail")), "unflushed");
        assert.ok(second.check().ok);
        second.close();
        assert.equal(listing(directory), held);
      } finally {
        holder.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: damage before intact records in the newest segment is PGZ_CORRUPTION for a reader too`, () => {
    const directory = temporaryDirectory();
    try {
      const writer = DB.open(directory, { core, ...smallFiles });
      try {
        for (let index = 0; index < 20; index++) writer.put(key(index), value(1, index));
        const newest = readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort().at(-1)!;
        const descriptor = openSync(join(directory, newest), "r+");
        writeSync(descriptor, Buffer.from([0xff ^ readFileSync(join(directory, newest))[4096 + 40]!]), 0, 1, 4096 + 40);
        closeSync(descriptor);
        expectCode("PGZ_CORRUPTION", () => DB.open(directory, { core, readOnly: true }), "a flipped byte in the newest segment", /not a torn tail/);
      } finally {
        writer.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: writes on a read-only database are PGZ_READ_ONLY`, () => {
    const directory = temporaryDirectory();
    try {
      DB.open(directory, { core }).close();
      const reader = DB.open(directory, { core, readOnly: true });
      try {
        expectCode("PGZ_READ_ONLY", () => reader.put("a", "b"), "put");
        expectCode("PGZ_READ_ONLY", () => reader.delete("a"), "delete");
        expectCode("PGZ_READ_ONLY", () => reader.batch([{ type: "put", key: "a", value: "b" }]), "batch");
        expectCode("PGZ_READ_ONLY", () => reader.flush(), "flush");
        expectCode("PGZ_READ_ONLY", () => reader.compact(), "compact");
        expectCode("PGZ_READ_ONLY", () => reader.gc(), "gc");
        assert.is(reader.get("a"), undefined);
      } finally {
        reader.close();
      }
      expectCode("PGZ_NOT_FOUND", () => DB.open(join(directory, "none"), { core, readOnly: true }), "no database");
      assert.not.ok(existsSync(join(directory, "none")), "a read-only open creates no directory");
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a reader beside a writer sees its open's version; refresh moves it on`, () => {
    const directory = temporaryDirectory();
    try {
      const writer = DB.open(directory, { core, ...smallFiles });
      try {
        writeRound(writer, 1, 300);
        writer.put("tail", "in the log only");
        const reader = DB.open(directory, { core, readOnly: true });
        try {
          assert.is(text(reader.get("tail")), "in the log only", "the unflushed log tail is replayed");
          assert.is(reader.sequence, writer.sequence);
          writeRound(writer, 2, 300);
          writer.delete("tail");
          writer.compact();
          assert.is(text(reader.get(key(10))), value(1, 10), "still the version of the open");
          assert.is(contents(reader).size, 301);
          reader.refresh();
          assert.is(reader.sequence, writer.sequence);
          assert.is(reader.get("tail"), undefined);
          assert.equal(contents(reader), contents(writer));
          const snapshot = reader.snapshot();
          expectCode("PGZ_INVALID_ARGUMENT", () => reader.refresh(), "refresh with a snapshot open");
          snapshot.release();
          expectCode("PGZ_INVALID_ARGUMENT", () => writer.refresh(), "refresh on a writer");
        } finally {
          reader.close();
        }
      } finally {
        writer.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a registration keeps files alive across compaction and GC`, () => {
    const directory = temporaryDirectory();
    try {
      const writer = DB.open(directory, { core, ...smallFiles });
      try {
        writeRound(writer, 1, 600);
        writer.flush();
        const reader = DB.open(directory, { core, readOnly: true });
        const expected = contents(reader);
        const pinned = filesInUse(directory).files;
        assert.ok(pinned.size > 0);
        for (let round = 2; round <= 4; round++) writeRound(writer, round, 600);
        writer.compact();
        const collected = writer.gc({ discardRatio: 0, segmentsMax: 100 }).segmentsCollected;
        assert.ok(collected.length > 0, "GC collected segments the reader reads");
        const kept = readdirSync(directory).filter((name) => /^\d+\.(sst|vlog)$/.test(name) && pinned.has(Number(name.slice(0, 6))));
        assert.is(kept.length, pinned.size, "every pinned file is still there");
        assert.equal(contents(reader), expected, "the reader reads its version correctly");
        reader.close();
        writer.put("more", "x");
        writer.compact();
        writer.gc({ discardRatio: 0, segmentsMax: 100 });
      } finally {
        writer.close();
      }
      const left = readdirSync(directory).filter((name) => /^\d+\.sst$/.test(name));
      const reopened = DB.open(directory, { core, readOnly: true });
      try {
        assert.is(left.length, reopened.stats().levels.reduce((sum, level) => sum + level.files, 0), "obsolete tables were deleted once the reader closed");
        assert.is(text(reopened.get(key(1))), value(4, 1));
      } finally {
        reopened.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });
}

test("PgzLevel with readOnly reads beside a writer and rejects writes with LEVEL_READONLY", async () => {
  const directory = temporaryDirectory();
  try {
    const writer = DB.open(directory, { core: "ts" });
    try {
      writer.put("a", "1");
      const level = new PgzLevel(directory, { readOnly: true, core: "ts" });
      await level.open();
      assert.is(await level.get("a"), "1");
      const error = await level.put("b", "2").then(() => undefined, (caught: unknown) => caught as { code?: string });
      assert.is(error?.code, "LEVEL_READONLY");
      await level.close();
    } finally {
      writer.close();
    }
  } finally {
    removeDirectory(directory);
  }
});

test("a dead reader's registration is removed; a live one is kept", () => {
  const directory = temporaryDirectory();
  try {
    mkdirSync(join(directory, READERS_DIRECTORY));
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const deadPid = Number(dead.stdout);
    writeFileSync(join(directory, READERS_DIRECTORY, `${deadPid}-a.json`), JSON.stringify({ pid: deadPid, startTime: "", nonce: "a", files: [5] }) + "\n");
    writeFileSync(join(directory, READERS_DIRECTORY, `${process.pid}-b.json`), JSON.stringify({ pid: process.pid, startTime: "", nonce: "b", files: [7] }) + "\n");
    const inUse = filesInUse(directory);
    assert.equal([...inUse.files], [7]);
    assert.equal(readdirSync(join(directory, READERS_DIRECTORY)), [`${process.pid}-b.json`]);
    writeFileSync(join(directory, READERS_DIRECTORY, "9-torn.json"), "{\"pid\":9,");
    assert.is(filesInUse(directory).all, true, "an unreadable registration pins everything (fails closed)");
  } finally {
    removeDirectory(directory);
  }
});

test.run();
