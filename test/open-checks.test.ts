/**
 * What open trusts (issue 12): stray file names and limits value pointers cannot represent
 * (point 3), a directory without its SUPERBLOCK (point 7), and a manifest whose records are
 * well formed but whose state is impossible (point 9); a log segment swapped, or copied from
 * another database of the same shape (point 4).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DB, PgzError } from "../ts/index.ts";
import { createCore } from "../ts/core/index.ts";
import { FILE_LOCK, FILE_SUPERBLOCK, MAGIC_MANIFEST_RECORD, PAGE_SIZE, SEGMENT_BYTES_OPTION_MAX, parseFileName, segmentFileName } from "../ts/format.ts";
import { NodeStorage } from "../ts/storage/node.ts";
import { Manifest } from "../ts/lsm/manifest.ts";
import { decodeEdit, type VersionEdit } from "../ts/lsm/version.ts";
import { encodeValuePointer } from "../ts/vlog/record.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text, throwsInvalid } from "./helpers.ts";

const large = (label: string) => `${label}:`.padEnd(300, label);

test("file names: only pgz's exact spelling within the file-number limit is a pgz file", () => {
  assert.equal(parseFileName("000007.vlog"), { kind: "segment", fileNumber: 7 });
  assert.equal(parseFileName("1234567.sst"), { kind: "table", fileNumber: 1234567 });
  assert.equal(parseFileName("MANIFEST-000012"), { kind: "manifest", fileNumber: 12 });
  assert.equal(parseFileName("4294967295.vlog"), { kind: "segment", fileNumber: 4294967295 });
  for (const name of ["4294967296.vlog", "99999999999.sst", "7.sst", "0000007.vlog", "MANIFEST-7", "000000.sst", "000007.vlog.tmp"]) {
    assert.is(parseFileName(name), undefined, name);
  }
});

test("value pointers refuse fields that do not fit in 4 bytes", () => {
  assert.throws(() => encodeValuePointer({ segment: 2 ** 32, offset: 0, length: 100 }));
  assert.throws(() => encodeValuePointer({ segment: 1, offset: 2 ** 32, length: 100 }));
});

for (const core of engineCores) {
  test(`${core}: stray numeric files do not lift file numbers past what value pointers hold, and stay untouched`, () => {
    const directory = temporaryDirectory("pgz-stray");
    try {
      let db = DB.open(directory, { core, valueThreshold: 16 });
      db.put("first", large("first"));
      db.close();
      const strays = ["4294967296.vlog", "99999999999.sst", "0000042.sst", "MANIFEST-99999999999"];
      for (const name of strays) writeFileSync(join(directory, name), `not pgz's: ${name}`);
      db = DB.open(directory, { core, valueThreshold: 16 });
      db.put("second", large("second"));
      assert.is(text(db.get("first")), large("first"));
      assert.is(text(db.get("second")), large("second"));
      db.close();
      db = DB.open(directory, { core, valueThreshold: 16 });
      try {
        assert.is(text(db.get("first")), large("first"));
        assert.is(text(db.get("second")), large("second"));
        assert.ok(db.check().ok);
      } finally {
        db.close();
      }
      for (const name of strays) assert.is(readFileSync(join(directory, name), "utf8"), `not pgz's: ${name}`, name);
      const highest = Math.max(...readdirSync(directory).map((name) => parseFileName(name)?.fileNumber ?? 0));
      assert.ok(highest < 100, `file numbers stay small (highest ${highest})`);
    } finally {
      removeDirectory(directory);
    }
  });
}

test("segmentBytes past what a 4-byte offset addresses is refused", () => {
  const directory = temporaryDirectory("pgz-segment-bytes");
  try {
    throwsInvalid(() => DB.open(directory, { core: "ts", segmentBytes: 5 * 1024 * 1024 * 1024 }), "segmentBytes 5 GiB");
    throwsInvalid(() => DB.open(directory, { core: "ts", segmentBytes: SEGMENT_BYTES_OPTION_MAX + 1 }), "segmentBytes past the maximum");
    DB.open(directory, { core: "ts", segmentBytes: SEGMENT_BYTES_OPTION_MAX }).close();
  } finally {
    removeDirectory(directory);
  }
});

/** A closed database with two tables in level 0. */
function databaseWithTables(core: "ts" | "wasm"): string {
  const directory = temporaryDirectory("pgz-open-checks");
  const db = DB.open(directory, { core });
  db.put("a", "1");
  db.flush();
  db.put("m", "2");
  db.put("z", "3");
  db.flush();
  db.close();
  return directory;
}

for (const core of engineCores) {
  test(`${core}: a directory with database files but no SUPERBLOCK is corruption, and nothing is deleted`, () => {
    const directory = databaseWithTables(core);
    try {
      rmSync(join(directory, FILE_SUPERBLOCK));
      const before = readdirSync(directory).sort();
      assert.ok(before.some((name) => name.endsWith(".sst")));
      const error = expectCode("PGZ_CORRUPTION", () => DB.open(directory, { core }).close(), "no SUPERBLOCK");
      assert.ok(error.file !== undefined && parseFileName(error.file) !== undefined, `names a database file: ${error.file}`);
      assert.equal(readdirSync(directory).sort(), before);
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a crash inside create (manifest 1 written, no SUPERBLOCK yet) still opens as a new database`, () => {
    for (const manifest of ["written", "empty"] as const) {
      const directory = temporaryDirectory("pgz-interrupted-create");
      try {
        const storage = new NodeStorage(directory);
        Manifest.create(createCore(core), storage).close();
        rmSync(join(directory, FILE_SUPERBLOCK));
        if (manifest === "empty") writeFileSync(join(directory, "MANIFEST-000001"), "");
        const db = DB.open(directory, { core });
        db.put("k", "v");
        db.close();
        const reopened = DB.open(directory, { core });
        assert.is(text(reopened.get("k")), "v", manifest);
        reopened.close();
      } finally {
        removeDirectory(directory);
      }
    }
  });
}

/** The edits of a manifest file, in order. */
function editsOf(core: "ts" | "wasm", bytes: Uint8Array, name: string): VersionEdit[] {
  const edits: VersionEdit[] = [];
  for (let offset = 0; ; ) {
    const decoded = decodeEdit(createCore(core), bytes, offset, name);
    if (!decoded) return edits;
    edits.push(decoded.edit);
    offset = decoded.next;
  }
}

/** Appends `edit` as a record with a valid CRC (as a hostile writer could), in place of the torn tail. */
function appendResealed(core: "ts" | "wasm", path: string, edit: Record<string, unknown>): void {
  const name = path.split("/").pop()!;
  const bytes = new Uint8Array(readFileSync(path));
  let end = 0;
  for (let offset = 0; ; ) {
    const decoded = decodeEdit(createCore(core), bytes, offset, name);
    if (!decoded) break;
    end = offset = decoded.next;
  }
  const payload = new TextEncoder().encode(JSON.stringify(edit));
  const record = new Uint8Array(Math.ceil((12 + payload.length) / PAGE_SIZE) * PAGE_SIZE);
  const view = new DataView(record.buffer);
  view.setUint32(4, MAGIC_MANIFEST_RECORD, true);
  view.setUint32(8, payload.length, true);
  record.set(payload, 12);
  const instance = createCore(core);
  view.setUint32(0, instance.crc32cMask(instance.crc32c(record.subarray(4, 12 + payload.length))), true);
  const result = new Uint8Array(end + record.length);
  result.set(bytes.subarray(0, end));
  result.set(record, end);
  writeFileSync(path, result);
}

for (const core of engineCores) {
  test(`${core}: a resealed manifest record with an impossible state is corruption at open`, () => {
    const cases: [string, (tables: Record<string, unknown>[], nextFileNumber: number) => Record<string, unknown>][] = [
      ["a table twice, two levels", (tables) => ({ added: [{ level: 1, table: tables[0] }] })],
      ["a table twice, one level", (tables) => ({ added: [{ level: 0, table: tables[0] }] })],
      ["overlapping tables in level 1", (tables) => ({ removed: [0, 1].map((index) => ({ level: 0, fileNumber: tables[index]!.fileNumber })), added: [0, 1].map((index) => ({ level: 1, table: { ...tables[index], smallest: tables[1]!.smallest, largest: tables[0]!.largest } })) })],
      ["a table at or past the next file number", (tables, nextFileNumber) => ({ added: [{ level: 2, table: { ...tables[0], fileNumber: nextFileNumber + 5 } }] })],
      ["a log head past the next file number", (_tables, nextFileNumber) => ({ logHead: { segment: nextFileNumber + 5, offset: 0 } })],
    ];
    for (const [label, makeEdit] of cases) {
      const directory = databaseWithTables(core);
      try {
        const name = readdirSync(directory).find((file) => file.startsWith("MANIFEST-"))!;
        const path = join(directory, name);
        const bytes = new Uint8Array(readFileSync(path));
        const edits = editsOf(core, bytes, name);
        const json = edits.map((edit) => JSON.parse(JSON.stringify({ ...edit, added: edit.added?.map(({ level, table }) => ({ level, table: { ...table, smallest: Buffer.from(table.smallest).toString("hex"), largest: Buffer.from(table.largest).toString("hex") } })) })));
        const tables = json.flatMap((edit: { added?: { table: Record<string, unknown> }[] }) => (edit.added ?? []).map((added) => added.table)) as Record<string, unknown>[];
        assert.ok(tables.length >= 2, label);
        const nextFileNumber = Math.max(...edits.map((edit) => edit.nextFileNumber ?? 0));
        // The second table must be the newest, holding m..z; the first a..a.
        tables.sort((a, b) => (a.fileNumber as number) - (b.fileNumber as number));
        appendResealed(core, path, makeEdit(tables, nextFileNumber));
        const error = expectCode("PGZ_CORRUPTION", () => DB.open(directory, { core }).close(), label);
        assert.is(error.file, name, label);
        assert.ok(readdirSync(directory).filter((file) => file.endsWith(".sst")).length >= 2, `${label}: no table deleted`);
      } finally {
        removeDirectory(directory);
      }
    }
  });
}

for (const core of engineCores) {
  test(`${core}: segments swapped on disk, with records at the same offsets, are PGZ_CORRUPTION, never another write's value`, () => {
    const directory = temporaryDirectory("pgz-open-checks");
    try {
      // Two rounds of the same keys and value sizes fill two segments with the same layout: a
      // pointer into one lands on a record of the same key and length in the other.
      // Each open starts a segment of its own, so both rounds start at the same offset.
      for (let round = 0; round < 2; round++) {
        const db = DB.open(directory, { core, valueThreshold: 16, autoGc: false });
        for (let index = 0; index < 50; index++) db.put(`key-${String(index).padStart(2, "0")}`, `round-${round}-`.padEnd(1000, "."));
        db.close();
      }
      // An open without writes moves the log head past both, so neither is replayed at open.
      DB.open(directory, { core, autoGc: false }).close();
      const segments = readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort();
      assert.ok(segments.length >= 2, `segments: ${segments.join(" ")}`);
      assert.ok(segments.length >= 3, `segments: ${segments.join(" ")}`);
      const [first, second] = [join(directory, segments[0]!), join(directory, segments[1]!)];
      const firstBytes = readFileSync(first);
      writeFileSync(first, readFileSync(second));
      writeFileSync(second, firstBytes);
      const reopened = DB.open(directory, { core, autoGc: false });
      for (let index = 0; index < 50; index++) {
        const key = `key-${String(index).padStart(2, "0")}`;
        let value: string | undefined;
        try {
          value = text(reopened.get(key));
        } catch (error) {
          assert.is((error as PgzError).code, "PGZ_CORRUPTION", `${key}: ${String(error)}`);
          continue;
        }
        assert.is(value, "round-1-".padEnd(1000, "."), `${key} read back right`);
      }
      expectCode("PGZ_CORRUPTION", () => [...reopened.iterate()], "a full scan meets the swapped segment");
      reopened.close();
    } finally {
      removeDirectory(directory);
    }
  });
}

/**
 * Two databases of the same shape, one put of key=`value` each (a 40-byte value, in the log
 * with valueThreshold 16): `crashed` keeps each directory as a crash leaves it (the record past
 * the log head, replayed at open), otherwise each is closed and opened once more without
 * writes (the log head moves past the segment: its record is only read through the table's
 * pointer).
 */
function twoDatabases(core: (typeof engineCores)[number], crashed: boolean, action: (ours: string, theirs: string) => void): void {
  const [ours, theirs] = [temporaryDirectory("pgz-ours"), temporaryDirectory("pgz-theirs")];
  const image = temporaryDirectory("pgz-image");
  try {
    for (const [directory, value] of [[ours, "mine".repeat(10)], [theirs, "THEM".repeat(10)]] as const) {
      const db = DB.open(directory, { core, valueThreshold: 16, autoGc: false });
      db.put("key", value);
      if (crashed) {
        // The files as a crash leaves them; the LOCK names this live process, so it goes.
        rmSync(image, { recursive: true, force: true });
        cpSync(directory, image, { recursive: true });
        rmSync(join(image, FILE_LOCK));
      }
      db.close();
      if (crashed) {
        rmSync(directory, { recursive: true, force: true });
        cpSync(image, directory, { recursive: true });
      } else {
        DB.open(directory, { core, valueThreshold: 16, autoGc: false }).close();
      }
    }
    const segment = segmentFileName(2);
    assert.ok(existsSync(join(ours, segment)) && existsSync(join(theirs, segment)), `both hold ${segment}`);
    assert.is(readFileSync(join(ours, segment)).length, readFileSync(join(theirs, segment)).length, "the same layout");
    action(ours, theirs);
  } finally {
    for (const directory of [ours, theirs, image]) removeDirectory(directory);
  }
}

const anotherDatabase = /belongs to another database/;

for (const core of engineCores) {
  test(`${core}: the newest log segment copied from another database: open is PGZ_CORRUPTION naming it, never the other's write`, () => {
    twoDatabases(core, true, (ours, theirs) => {
      copyFileSync(join(theirs, segmentFileName(2)), join(ours, segmentFileName(2)));
      const error = expectCode("PGZ_CORRUPTION", () => DB.open(ours, { core, valueThreshold: 16, autoGc: false }).close(), "a segment of another database", anotherDatabase);
      assert.is(error.file, segmentFileName(2));
    });
  });

  test(`${core}: an older log segment copied from another database: the read and check() are PGZ_CORRUPTION naming it`, () => {
    twoDatabases(core, false, (ours, theirs) => {
      copyFileSync(join(theirs, segmentFileName(2)), join(ours, segmentFileName(2)));
      const db = DB.open(ours, { core, valueThreshold: 16, autoGc: false });
      try {
        const error = expectCode("PGZ_CORRUPTION", () => db.get("key"), "a value in a segment of another database", anotherDatabase);
        assert.is(error.file, segmentFileName(2));
        const report = db.check();
        assert.ok(report.problems.some((problem) => anotherDatabase.test(problem.message) && problem.file === segmentFileName(2)), JSON.stringify(report.problems));
      } finally {
        db.close();
      }
    });
  });

  test(`${core}: GC refuses a log segment copied from another database`, () => {
    twoDatabases(core, false, (ours, theirs) => {
      copyFileSync(join(theirs, segmentFileName(2)), join(ours, segmentFileName(2)));
      const db = DB.open(ours, { core, valueThreshold: 16, autoGc: false });
      try {
        db.put("key", "overwritten".padEnd(40, "."));
        db.flush();
        expectCode("PGZ_CORRUPTION", () => db.gc({ discardRatio: 0 }), "GC of a segment of another database", anotherDatabase);
      } finally {
        db.close();
      }
    });
  });
}

test.run();
