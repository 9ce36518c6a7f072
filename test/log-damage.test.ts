/**
 * Damage inside the newest log segment (issue 12, point 6) and huge or sparse log and manifest
 * files (point 10). Crash images are copies of the files taken while the database is open, as
 * a process crash leaves them (every write has reached the OS; nothing was flushed at close).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, cpSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DB, type Durability } from "../ts/index.ts";
import { READ_BYTES_BOUND, ReadSizeStorage } from "./fixtures/read-size-storage.ts";
import { PAGE_SIZE, RECORD_HEADER_BYTES, RECORD_PUT } from "../ts/format.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const KEY_COUNT = 40;
const keyOf = (index: number) => `key-${String(index).padStart(3, "0")}`;
const valueOf = (index: number) => `value-${index}-`.repeat(8);

interface CrashImage {
  directory: string;
  segment: string;
  /** Offset of each put's record in the segment, in write order. */
  offsets: number[];
}

/** Writes KEY_COUNT puts with `durability`, and copies the files while the database is open. */
function crashImage(core: "ts" | "wasm", durability: Durability): CrashImage {
  const source = temporaryDirectory("pgz-log-damage-source");
  const directory = temporaryDirectory("pgz-log-damage");
  try {
    const db = DB.open(source, { core });
    for (let index = 0; index < KEY_COUNT; index++) db.put(keyOf(index), valueOf(index), { durability });
    cpSync(source, directory, { recursive: true });
    db.close();
  } finally {
    removeDirectory(source);
  }
  rmSync(join(directory, "LOCK"), { force: true });
  const segment = readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort().pop()!;
  return { directory, segment, offsets: recordOffsets(directory, segment) };
}

/** Offsets of the put records in a segment, walked by hand (layout in docs/FORMAT.md). */
function recordOffsets(directory: string, segment: string): number[] {
  const bytes = readFileSync(join(directory, segment));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets: number[] = [];
  for (let at = PAGE_SIZE; ; ) {
    if (PAGE_SIZE - (at % PAGE_SIZE) < RECORD_HEADER_BYTES) at += PAGE_SIZE - (at % PAGE_SIZE);
    if (at + RECORD_HEADER_BYTES > bytes.length) return offsets;
    const length = view.getUint32(at + 4, true);
    if (length < RECORD_HEADER_BYTES) return offsets;
    if (bytes[at + 8] === RECORD_PUT) offsets.push(at);
    at += length;
  }
}

function overwrite(path: string, offset: number, bytes: Uint8Array): void {
  const descriptor = openSync(path, "r+");
  try {
    writeSync(descriptor, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(descriptor);
  }
}

function flipByte(path: string, offset: number): void {
  const descriptor = openSync(path, "r+");
  try {
    const byte = new Uint8Array(1);
    readSync(descriptor, byte, 0, 1, offset);
    byte[0]! ^= 0x20;
    writeSync(descriptor, byte, 0, 1, offset);
  } finally {
    closeSync(descriptor);
  }
}

/** Open fails with PGZ_CORRUPTION at the damaged record; salvageLog cuts there; nothing is lost before. */
function expectDamageReported(core: "ts" | "wasm", image: CrashImage, damaged: number, label: string): void {
  const error = expectCode("PGZ_CORRUPTION", () => DB.open(image.directory, { core }).close(), label);
  assert.is(error.file, image.segment, label);
  assert.is(error.offset, image.offsets[damaged], label);
  // The files are untouched: the same error again.
  expectCode("PGZ_CORRUPTION", () => DB.open(image.directory, { core }).close(), `${label}, again`);
  const salvaged = DB.open(image.directory, { core, salvageLog: true });
  try {
    for (let index = 0; index < damaged; index++) assert.is(text(salvaged.get(keyOf(index))), valueOf(index), `${label}: ${keyOf(index)}`);
    assert.is(salvaged.get(keyOf(damaged)), undefined, `${label}: cut at the damage`);
    assert.ok(salvaged.check().ok, `${label}: check after salvage`);
  } finally {
    salvaged.close();
  }
}

for (const core of engineCores) {
  test(`${core}: a flipped byte early in the newest segment, before default-durability records, is corruption`, () => {
    const image = crashImage(core, "os");
    try {
      flipByte(join(image.directory, image.segment), image.offsets[3]! + RECORD_HEADER_BYTES + 12);
      expectDamageReported(core, image, 3, "os, flipped value byte");
    } finally {
      removeDirectory(image.directory);
    }
  });

  test(`${core}: a flipped header byte before sync-acknowledged records is corruption`, () => {
    const image = crashImage(core, "sync");
    try {
      flipByte(join(image.directory, image.segment), image.offsets[5]! + 4);
      expectDamageReported(core, image, 5, "sync, flipped length byte");
    } finally {
      removeDirectory(image.directory);
    }
  });

  test(`${core}: a zeroed page of a synced record, before later syncs, is corruption (sync markers)`, () => {
    const image = crashImage(core, "sync");
    try {
      // Each synced put is padded to its own page: zero the whole page, as a lost write would.
      const offset = image.offsets[7]!;
      assert.is(offset % PAGE_SIZE, 0);
      overwrite(join(image.directory, image.segment), offset, new Uint8Array(PAGE_SIZE));
      expectDamageReported(core, image, 7, "sync, zeroed page");
    } finally {
      removeDirectory(image.directory);
    }
  });

  test(`${core}: a zeroed tail of unsynced records is still a torn tail and opens`, () => {
    const image = crashImage(core, "os");
    try {
      const path = join(image.directory, image.segment);
      const from = image.offsets[30]!;
      overwrite(path, from, new Uint8Array(statSync(path).size - from));
      const db = DB.open(image.directory, { core });
      try {
        assert.is(text(db.get(keyOf(29))), valueOf(29));
        assert.is(db.get(keyOf(30)), undefined);
        assert.ok(db.check().ok);
      } finally {
        db.close();
      }
    } finally {
      removeDirectory(image.directory);
    }
  });

  test(`${core}: check() reports a damaged record in the segment being written`, () => {
    const directory = temporaryDirectory("pgz-log-damage-check");
    const db = DB.open(directory, { core });
    try {
      for (let index = 0; index < KEY_COUNT; index++) db.put(keyOf(index), valueOf(index));
      const segment = readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort().pop()!;
      const offsets = recordOffsets(directory, segment);
      flipByte(join(directory, segment), offsets[2]! + RECORD_HEADER_BYTES + 3);
      const report = db.check();
      assert.not.ok(report.ok);
      assert.equal(report.problems.map(({ file, offset }) => ({ file, offset })), [{ file: segment, offset: offsets[2] }]);
    } finally {
      db.close();
      removeDirectory(directory);
    }
  });
}

const GIB = 1024 * 1024 * 1024;


for (const core of engineCores) {
  test(`${core}: a 5 GiB sparse newest segment or manifest is PGZ_CORRUPTION, read in bounded memory`, () => {
    for (const kind of ["segment", "manifest"] as const) {
      const image = crashImage(core, "os");
      try {
        const name = kind === "segment" ? image.segment : readdirSync(image.directory).find((file) => file.startsWith("MANIFEST-"))!;
        truncateSync(join(image.directory, name), 5 * GIB);
        const storage = new ReadSizeStorage(image.directory);
        const error = expectCode("PGZ_CORRUPTION", () => DB.open(image.directory, { core, storage }).close(), `5 GiB ${kind}`);
        assert.is(error.file, name);
        assert.ok(storage.largestRead < READ_BYTES_BOUND, `open read ${storage.largestRead} bytes at once`);
      } finally {
        removeDirectory(image.directory);
      }
    }
  });

  test(`${core}: a 1.5 GiB sparse newest segment opens with every record, in bounded memory`, () => {
    const image = crashImage(core, "os");
    try {
      const path = join(image.directory, image.segment);
      truncateSync(path, 1.5 * GIB);
      const storage = new ReadSizeStorage(image.directory);
      const db = DB.open(image.directory, { core, storage });
      try {
        assert.ok(storage.largestRead < READ_BYTES_BOUND, `open read ${storage.largestRead} bytes at once`);
        for (let index = 0; index < KEY_COUNT; index++) assert.is(text(db.get(keyOf(index))), valueOf(index));
        assert.ok(statSync(path).size < 1024 * 1024, "the zero tail was cut");
        assert.ok(db.check().ok);
      } finally {
        db.close();
      }
    } finally {
      removeDirectory(image.directory);
    }
  });
}

test.run();
