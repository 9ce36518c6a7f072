/**
 * db.backup in one process: a copy as of one sequence that opens as an ordinary database and
 * passes check, incremental into an earlier backup, and refused targets. Backups under a
 * writer process and killed midway are in test/live.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DB } from "../ts/index.ts";
import { FILE_BACKUP_IN_PROGRESS } from "../ts/api/backup.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const smallFiles = { memtableBytes: 16 * 1024, segmentBytes: 64 * 1024, valueThreshold: 64, autoGc: false } as const;

function contents(db: DB): Map<string, string> {
  return new Map([...db.iterate()].map(([key, value]) => [text(key)!, text(value)!]));
}

function writeRound(db: DB, round: number, count: number): void {
  for (let index = 0; index < count; index++) db.put(`key${String(index).padStart(5, "0")}`, `${round}:${index}:` + (index % 3 === 0 ? "v".repeat(200) : "i"));
}

/** Opens `directory` as a writer, checks it, and returns what it holds and its sequence. */
function openedCopy(directory: string, core: "ts" | "wasm"): { entries: Map<string, string>; sequence: number } {
  const db = DB.open(directory, { core, createIfMissing: false });
  try {
    const report = db.check();
    assert.ok(report.ok, JSON.stringify(report.problems));
    return { entries: contents(db), sequence: db.sequence };
  } finally {
    db.close();
  }
}

for (const core of engineCores) {
  test(`${core}: a backup is the database as of one sequence, and an incremental one copies only what changed`, () => {
    const directory = temporaryDirectory();
    const target = join(temporaryDirectory("pgz-backup"), "copy");
    try {
      const writer = DB.open(directory, { core, ...smallFiles });
      try {
        writeRound(writer, 1, 800);
        writer.compact();
        writeRound(writer, 2, 100); // a tail in the log, not in a table
        const first = writer.backup(target);
        assert.is(first.sequence, writer.sequence);
        assert.ok(first.filesLinked > 0, "tables and sealed segments are hard-linked");
        assert.ok(first.filesCopied >= 1, "the newest segment is copied");
        assert.is(first.filesSkipped, 0);
        const expected = contents(writer);
        writer.put("after", "the backup");
        // The backup is a reader: a read-only open of the copy, then a writer open, both agree.
        const reader = DB.open(target, { core, readOnly: true });
        assert.equal(contents(reader), expected);
        reader.close();
        writeRound(writer, 3, 50);
        const secondExpected = contents(writer);
        const second = writer.backup(target);
        assert.ok(second.filesSkipped > 0, "unchanged files are skipped");
        assert.ok(second.filesLinked + second.filesCopied < first.filesLinked + first.filesCopied, JSON.stringify(second));
        const copy = openedCopy(target, core);
        assert.equal(copy.entries, secondExpected);
        assert.is(copy.sequence, second.sequence);
      } finally {
        writer.close();
      }
    } finally {
      removeDirectory(directory);
      removeDirectory(join(target, ".."));
    }
  });

  test(`${core}: backup refuses a target that is not an earlier backup of this database`, () => {
    const directory = temporaryDirectory();
    const other = temporaryDirectory();
    const scratch = temporaryDirectory("pgz-backup");
    try {
      const db = DB.open(directory, { core, ...smallFiles });
      const otherDb = DB.open(other, { core });
      try {
        writeRound(db, 1, 100);
        otherDb.put("a", "b");
        const stranger = join(scratch, "stranger");
        mkdirSync(stranger);
        writeFileSync(join(stranger, "notes.txt"), "mine");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.backup(stranger), "a directory with other files", /not empty/);
        assert.equal(readdirSync(stranger), ["notes.txt"], "nothing was written into it");
        const otherBackup = join(scratch, "other");
        otherDb.backup(otherBackup);
        expectCode("PGZ_INVALID_ARGUMENT", () => db.backup(otherBackup), "a backup of another database", /another database/);
        expectCode("PGZ_INVALID_ARGUMENT", () => db.backup(directory), "the database itself");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.backup(join(directory, "inside")), "a directory inside the database");
        assert.ok(!existsSync(join(directory, "inside")), "nothing made inside the database");
        const aFile = join(scratch, "a-file");
        writeFileSync(aFile, "not a directory");
        expectCode("PGZ_INVALID_ARGUMENT", () => db.backup(aFile), "a file");
        const mine = join(scratch, "mine");
        db.backup(mine);
        DB.open(mine, { core }).close(); // written as a database since: its files may differ from the source's now
        expectCode("PGZ_INVALID_ARGUMENT", () => db.backup(mine), "a backup opened for writing since", /written as a database/);
      } finally {
        db.close();
        otherDb.close();
      }
    } finally {
      for (const path of [directory, other, scratch]) removeDirectory(path);
    }
  });

  test(`${core}: a backup stopped while renaming is refused, and the next backup completes it`, () => {
    const directory = temporaryDirectory();
    const target = join(temporaryDirectory("pgz-backup"), "copy");
    try {
      const db = DB.open(directory, { core, ...smallFiles });
      try {
        writeRound(db, 1, 300);
        db.backup(target);
        writeRound(db, 2, 300);
        // What a kill between moving the old SUPERBLOCK aside and renaming the new one leaves.
        renameSync(join(target, "SUPERBLOCK"), join(target, FILE_BACKUP_IN_PROGRESS));
        expectCode("PGZ_CORRUPTION", () => DB.open(target, { core, readOnly: true }), "the half-switched target");
        expectCode("PGZ_CORRUPTION", () => DB.open(target, { core }), "the half-switched target, as a writer");
        const report = db.backup(target);
        assert.not.ok(existsSync(join(target, FILE_BACKUP_IN_PROGRESS)));
        const copy = openedCopy(target, core);
        assert.is(copy.sequence, report.sequence);
        assert.equal(copy.entries, contents(db));
      } finally {
        db.close();
      }
    } finally {
      removeDirectory(directory);
      removeDirectory(join(target, ".."));
    }
  });

  test(`${core}: a read-only database backs up its own version`, () => {
    const directory = temporaryDirectory();
    const target = join(temporaryDirectory("pgz-backup"), "copy");
    try {
      const writer = DB.open(directory, { core, ...smallFiles });
      try {
        writeRound(writer, 1, 400);
        const reader = DB.open(directory, { core, readOnly: true });
        const expected = contents(reader);
        writeRound(writer, 2, 400);
        writer.compact();
        writer.gc({ discardRatio: 0, segmentsMax: 100 });
        const report = reader.backup(target);
        assert.is(report.sequence, reader.sequence);
        reader.close();
        assert.equal(openedCopy(target, core).entries, expected);
        // The newest segment was copied, not linked: its inode is the copy's own.
        const newest = readdirSync(target).filter((name) => name.endsWith(".vlog")).sort().at(-1)!;
        assert.is.not(statSync(join(target, newest)).ino, existsSync(join(directory, newest)) ? statSync(join(directory, newest)).ino : -1);
      } finally {
        writer.close();
      }
    } finally {
      removeDirectory(directory);
      removeDirectory(join(target, ".."));
    }
  });
}

test.run();
