/**
 * Leveled compaction: data stays correct through many compactions, obsolete tables are deleted
 * (but not under an open iterator), snapshots keep their versions until released, and
 * tombstones disappear at the bottom level.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { DB } from "../ts/index.ts";
import { dumpFile } from "../ts/tools/dump.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const tiny = { memtableBytes: 4096, l0Files: 2, levelRatio: 2, level1Bytes: 16384, tableBytes: 8192, valueThreshold: 64 };

function tableFiles(directory: string): number {
  return readdirSync(directory).filter((name) => name.endsWith(".sst")).length;
}

function tablesInLevels(db: DB): number {
  return db.stats().levels.reduce((sum, level) => sum + level.files, 0);
}

function entriesInLevels(db: DB): number {
  return db.stats().levels.reduce((sum, level) => sum + level.entries, 0);
}

/** Every table entry's stored version, by user key: "<sequence> <kind>" strings, newest first. */
/** Per user key, "sequence kind" of every version the tables (or the tables `names`) hold. */
function storedVersions(directory: string, names = readdirSync(directory).filter((file) => file.endsWith(".sst"))): Map<string, string[]> {
  const versions = new Map<string, string[]>();
  for (const name of names.sort()) {
    dumpFile(join(directory, name), {
      entries: true,
      write: (line) => {
        const entry = /^  "([^"]*)" @(\d+) (\S+)/.exec(line);
        if (entry) versions.set(entry[1]!, [...(versions.get(entry[1]!) ?? []), `${entry[2]} ${entry[3]}`]);
      },
    });
  }
  return versions;
}

for (const core of engineCores) {
  test(`${core}: overwrites compact into deeper levels and read back right, before and after reopen`, () => {
    const directory = temporaryDirectory("pgz-compaction");
    try {
      let db = DB.open(directory, { core, ...tiny });
      const model = new Map<string, string>();
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 600; i++) {
          const key = `key-${String((i * 37) % 600).padStart(4, "0")}`;
          const value = `${round}:${i}:`.padEnd(10 + ((i * round) % 120), "x");
          db.put(key, value);
          model.set(key, value);
        }
        for (let i = round; i < 600; i += 7) {
          db.delete(`key-${String(i).padStart(4, "0")}`);
          model.delete(`key-${String(i).padStart(4, "0")}`);
        }
      }
      const stats = db.stats();
      assert.ok(stats.compaction.done > 3, `compactions: ${stats.compaction.done}`);
      assert.ok(stats.levels.slice(1).some((level) => level.files > 0), "deeper levels hold tables");
      assert.ok(stats.levels[0]!.files <= tiny.l0Files * 3, `level 0 has ${stats.levels[0]!.files} tables`);
      const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
      const verify = (handle: DB) => {
        assert.equal([...handle.iterate()].map(([key, value]) => [text(key), text(value)]), expected);
        for (const [key, value] of model) assert.is(text(handle.get(key)), value);
      };
      verify(db);
      // A barrier: with the worker, a compaction in flight has output files not yet in a level.
      db.flush();
      assert.is(tableFiles(directory), tablesInLevels(db), "obsolete tables were deleted");
      db.close();
      db = DB.open(directory, { core, ...tiny });
      verify(db);
      assert.ok(db.check().ok);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a snapshot keeps its versions through compaction; once released they are reclaimed`, () => {
    const directory = temporaryDirectory("pgz-compaction");
    try {
      const db = DB.open(directory, { core, ...tiny });
      for (let i = 0; i < 200; i++) db.put(`k${String(i).padStart(3, "0")}`, `v0-${i}`);
      const snapshot = db.snapshot();
      for (let round = 1; round <= 5; round++) for (let i = 0; i < 200; i++) db.put(`k${String(i).padStart(3, "0")}`, `v${round}-${i}`);
      db.compact();
      for (let i = 0; i < 200; i += 17) assert.is(text(snapshot.get(`k${String(i).padStart(3, "0")}`)), `v0-${i}`);
      assert.is([...snapshot.iterate()].length, 200);
      assert.ok(entriesInLevels(db) >= 400, "old versions are still stored");
      snapshot.release();
      db.compact();
      assert.is(entriesInLevels(db), 200, "only the newest version of each key is left");
      assert.is(text(db.get("k100")), "v5-100");
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: at the bottom, the version every reader sees of an inline value is stored with sequence 0; versions a snapshot needs and pointers keep theirs`, () => {
    const directory = temporaryDirectory("pgz-compaction");
    const key = (i: number) => `k${String(i).padStart(3, "0")}`;
    const large = (i: number) => `large-${i}-`.padEnd(200, "x");
    try {
      let db = DB.open(directory, { core, ...tiny });
      for (let i = 0; i < 200; i++) db.put(key(i), i % 10 === 0 ? large(i) : `v0-${i}`);
      const snapshot = db.snapshot();
      for (let i = 0; i < 50; i++) db.put(key(i), `v1-${i}`);
      db.compact();
      const kept = storedVersions(directory);
      assert.is(kept.size, 200);
      for (let i = 0; i < 200; i++) {
        const oldest = i % 10 === 0 ? /^[1-9]\d* pointer$/ : /^0 value$/;
        const versions = kept.get(key(i))!;
        assert.is(versions.length, i < 50 ? 2 : 1, key(i));
        if (i < 50) assert.match(versions[0]!, /^[1-9]\d* value$/, `${key(i)}: the version the snapshot hides keeps its sequence`);
        assert.match(versions[versions.length - 1]!, oldest, key(i));
      }
      for (let i = 0; i < 200; i++) {
        assert.is(text(snapshot.get(key(i))), i % 10 === 0 ? large(i) : `v0-${i}`);
        assert.is(text(db.get(key(i))), i < 50 ? `v1-${i}` : i % 10 === 0 ? large(i) : `v0-${i}`);
      }
      snapshot.release();
      db.compact();
      const after = storedVersions(directory);
      for (let i = 0; i < 50; i++) assert.equal(after.get(key(i)), ["0 value"], key(i));
      db.close();
      db = DB.open(directory, { core, ...tiny });
      for (let i = 0; i < 200; i++) assert.is(text(db.get(key(i))), i < 50 ? `v1-${i}` : i % 10 === 0 ? large(i) : `v0-${i}`);
      assert.is([...db.iterate()].length, 200);
      assert.ok(db.check().ok);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  for (const background of ["inline", "worker"] as const) {
    test(`${core}, ${background}: a flush whose key range no table meets stores sequence 0 and drops tombstones; one above older versions keeps both`, () => {
      const directory = temporaryDirectory("pgz-compaction");
      const key = (i: number) => `m${String(i).padStart(3, "0")}`;
      const large = (i: number) => `large-${i}-`.padEnd(200, "x");
      const newTables = (() => {
        const seen = new Set<string>();
        return () => {
          const added = readdirSync(directory).filter((file) => file.endsWith(".sst") && !seen.has(file));
          for (const name of added) seen.add(name);
          return storedVersions(directory, added);
        };
      })();
      try {
        let db = DB.open(directory, { core, background, valueThreshold: 64 });
        for (let i = 0; i < 100; i++) db.put(key(i), i % 10 === 0 ? large(i) : `a-${i}`);
        db.delete(key(5));
        const snapshot = db.snapshot();
        db.put(key(1), "b-1");
        db.flush();
        const first = newTables();
        assert.is(first.size, 99, "the tombstone and the value it hides are gone");
        assert.not.ok(first.has(key(5)));
        assert.equal(first.get(key(1))!.map((version) => version.replace(/^[1-9]\d* /, "N ")), ["N value", "0 value"], "the version the snapshot hides keeps its sequence");
        for (let i = 0; i < 100; i++) if (i !== 1 && i !== 5) assert.match(first.get(key(i))![0]!, i % 10 === 0 ? /^[1-9]\d* pointer$/ : /^0 value$/, key(i));

        assert.is(text(snapshot.get(key(1))), "a-1");
        snapshot.release();
        // No reader needs the older sequences now: what keeps them is the first table below.
        db.put(key(50), "c-50");
        db.delete(key(60));
        db.flush();
        assert.equal([...newTables()].map(([name, versions]) => `${name} ${versions.join(",").replace(/\d+ /g, (n) => (n === "0 " ? n : "N "))}`), [`${key(50)} N value`, `${key(60)} N delete`]);

        db.put("z1", "z-1");
        db.put("z2", "z-2");
        db.delete("z3");
        db.flush();
        assert.equal([...newTables()], [["z1", ["0 value"]], ["z2", ["0 value"]]]);

        const expected = (i: number) => (i === 5 || i === 60 ? undefined : i === 1 ? "b-1" : i === 50 ? "c-50" : i % 10 === 0 ? large(i) : `a-${i}`);
        for (let round = 0; round < 2; round++) {
          for (let i = 0; i < 100; i++) assert.is(text(db.get(key(i))), expected(i), key(i));
          assert.equal([...db.iterate()].map(([k]) => text(k)), [...Array.from({ length: 100 }, (_, i) => i).filter((i) => expected(i) !== undefined).map(key), "z1", "z2"]);
          assert.ok(db.check().ok);
          db.close();
          db = DB.open(directory, { core, background, valueThreshold: 64 });
        }
        db.compact();
        for (let i = 0; i < 100; i++) assert.is(text(db.get(key(i))), expected(i), key(i));
        db.close();
      } finally {
        removeDirectory(directory);
      }
    });
  }

  for (const background of ["inline", "worker"] as const) {
    test(`${core}, ${background}: a flush of tombstones over nothing writes no table, and the log head still moves past them`, () => {
      const directory = temporaryDirectory("pgz-compaction");
      try {
        let db = DB.open(directory, { core, background });
        for (let i = 0; i < 50; i++) db.delete(`gone-${i}`);
        db.flush();
        assert.is(tableFiles(directory), 0);
        assert.equal(db.stats().memtable, { ...db.stats().memtable, entries: 0, immutables: 0 });
        db.put("after", "1");
        db.close();
        db = DB.open(directory, { core, background });
        assert.equal([...db.iterate()].map(([key, value]) => `${text(key)}=${text(value)}`), ["after=1"]);
        assert.ok(db.check().ok);
        db.close();
      } finally {
        removeDirectory(directory);
      }
    });
  }

  test(`${core}: tombstones are dropped at the bottom level`, () => {
    const directory = temporaryDirectory("pgz-compaction");
    try {
      const db = DB.open(directory, { core, ...tiny });
      for (let i = 0; i < 300; i++) db.put(`k${i}`, "value");
      db.compact();
      for (let i = 0; i < 300; i++) db.delete(`k${i}`);
      db.compact();
      assert.is(entriesInLevels(db), 0);
      assert.equal([...db.iterate()], []);
      assert.is(tableFiles(directory), tablesInLevels(db));
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: an iterator open across a compaction reads its tables to the end; they go after`, () => {
    const directory = temporaryDirectory("pgz-compaction");
    try {
      const db = DB.open(directory, { core, ...tiny });
      for (let i = 0; i < 500; i++) db.put(`k${String(i).padStart(3, "0")}`, `first-${i}`);
      db.flush();
      const iterator = db.iterate();
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) seen.push(text(iterator.next().value![1])!);
      for (let i = 0; i < 500; i++) db.put(`k${String(i).padStart(3, "0")}`, `second-${i}`);
      db.compact();
      assert.ok(tableFiles(directory) > tablesInLevels(db), "the iterator keeps compacted-away tables");
      for (const [, value] of iterator) seen.push(text(value)!);
      assert.is(seen.length, 500);
      assert.ok(seen.every((value) => value.startsWith("first-")));
      // With the worker the unlinks run there; flush() waits for them.
      db.flush();
      assert.is(tableFiles(directory), tablesInLevels(db), "released tables were deleted");
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

test("openFilesMax bounds the open file descriptors however many tables there are", () => {
  const directory = temporaryDirectory("pgz-compaction");
  const openDescriptors = () => readdirSync("/proc/self/fd").length;
  try {
    const baseline = openDescriptors();
    const db = DB.open(directory, { ...tiny, l0Files: 64, openFilesMax: 8, valueThreshold: 8 });
    for (let i = 0; i < 3000; i++) db.put(`k${String(i).padStart(5, "0")}`, `value-${i}`);
    db.flush();
    const tables = tablesInLevels(db);
    assert.ok(tables > 20, `${tables} tables`);
    for (let i = 0; i < 3000; i += 7) assert.is(text(db.get(`k${String(i).padStart(5, "0")}`)), `value-${i}`);
    assert.is([...db.iterate()].length, 3000);
    assert.ok(db.stats().openFiles <= 8, `${db.stats().openFiles} handles`);
    // The handle cache, plus the manifest and the log segment being written.
    assert.ok(openDescriptors() - baseline <= 8 + 2, `descriptors grew by ${openDescriptors() - baseline}`);
    db.close();
  } finally {
    removeDirectory(directory);
  }
});

for (const core of engineCores) {
  test(`${core}: a range compaction never leaves an older level-0 version of a moved key behind (overwrite and delete)`, () => {
    for (const newer of ["put", "delete"] as const) {
      const directory = temporaryDirectory("pgz-compaction");
      try {
        const db = DB.open(directory, { core, l0Files: 12 });
        db.put("c", "old");
        db.flush();
        db.put("a", "1");
        if (newer === "put") db.put("c", "new");
        else db.delete("c");
        db.put("z", "1");
        db.flush();
        db.put("m", "older-table-only");
        db.flush();
        db.compact({ gte: "x", lt: "y" });
        const expected = newer === "put" ? "new" : undefined;
        assert.is(text(db.get("c")), expected, `${newer}: get after range compaction`);
        assert.equal([...db.iterate()].map(([key]) => text(key)), newer === "put" ? ["a", "c", "m", "z"] : ["a", "m", "z"]);
        db.close();
        const reopened = DB.open(directory, { core, l0Files: 12 });
        assert.is(text(reopened.get("c")), expected, `${newer}: get after reopen`);
        reopened.close();
      } finally {
        removeDirectory(directory);
      }
    }
  });
}

test.run();
