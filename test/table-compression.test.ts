/**
 * Table data blocks compressed with LZ4 where it pays (format 3, handles and prefix-shared index in 4): the per-block choice (raw when
 * compression saves less than 1/8), the `compression` option, tables of both kinds read side by
 * side, and damage to a compressed block found as PGZ_CORRUPTION naming the table and offset.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, type OpenOptions } from "../ts/index.ts";
import { createCore } from "../ts/core/index.ts";
import { decodeFooter, decodeIndex, footerOffsetOf } from "../ts/lsm/sstable.ts";
import { decodeBlockHandle, encodeBlockHandle, type BlockHandle } from "../ts/lsm/table-block.ts";
import { BLOCK_STORED_RAW, COMPRESSED_BLOCK_TRAILER_BYTES, PAGE_SIZE } from "../ts/format.ts";
import { engineCores, expectCode, random, removeDirectory, temporaryDirectory, text, throwsInvalid } from "./helpers.ts";

const ENTRIES = 2000;
const key = (i: number) => `key-${String(i).padStart(12, "0")}`;

/** 100-byte values as db_bench makes them at compression ratio 0.5: a random half, repeated. */
function halfCompressibleValues(seed: number): Uint8Array[] {
  const next = random(seed);
  return Array.from({ length: ENTRIES }, () => {
    const value = new Uint8Array(100);
    for (let i = 0; i < 50; i++) value[i] = (next() * 256) | 0;
    value.copyWithin(50, 0, 50);
    return value;
  });
}

function randomValues(seed: number): Uint8Array[] {
  const next = random(seed);
  return Array.from({ length: ENTRIES }, () => Uint8Array.from({ length: 100 }, () => (next() * 256) | 0));
}

function withDirectory(action: (directory: string) => void): void {
  const directory = temporaryDirectory("pgz-compression");
  try {
    action(directory);
  } finally {
    removeDirectory(directory);
  }
}

/** Writes the values under key(i), flushes them into one table, and closes. */
function fill(directory: string, options: OpenOptions, values: Uint8Array[], first = 0): void {
  const db = DB.open(directory, options);
  values.forEach((value, i) => db.put(key(first + i), value));
  db.flush();
  db.close();
}

function tableNames(directory: string): string[] {
  return readdirSync(directory).filter((name) => name.endsWith(".sst")).sort();
}

/** The block handles of a table file, read straight from its index. */
function handlesOf(directory: string, name: string): BlockHandle[] {
  const core = createCore("ts");
  const bytes = readFileSync(join(directory, name));
  const footerOffset = footerOffsetOf(bytes.length, name);
  const footer = decodeFooter(core, bytes.subarray(footerOffset), name, footerOffset);
  return decodeIndex(core, bytes.subarray(footer.indexOffset, footer.indexOffset + footer.indexLength), name, footer.indexOffset, footer.indexOffset);
}

function expectAll(directory: string, options: OpenOptions, values: Uint8Array[], first = 0): void {
  const db = DB.open(directory, options);
  try {
    values.forEach((value, i) => assert.equal(db.get(key(first + i)), value, key(first + i)));
    assert.equal(db.check().problems, []);
  } finally {
    db.close();
  }
}

const tableBytes = (directory: string) => tableNames(directory).reduce((sum, name) => sum + readFileSync(join(directory, name)).length, 0);

for (const core of engineCores) {
  test(`${core}: lz4 tables hold db_bench-like values in far fewer bytes than raw ones, and read back the same`, () => {
    withDirectory((lz4) => {
      withDirectory((none) => {
        const values = halfCompressibleValues(1);
        fill(lz4, { core, compression: "lz4" }, values);
        fill(none, { core, compression: "none" }, values);
        expectAll(lz4, { core }, values);
        expectAll(none, { core }, values);
        const ratio = tableBytes(lz4) / tableBytes(none);
        assert.ok(ratio < 0.75, `lz4 tables are ${ratio.toFixed(3)} of raw ones`);
      });
    });
  });

  test(`${core}: a block that compression would shrink by less than 1/8 is stored raw; the others compressed`, () => {
    withDirectory((directory) => {
      fill(directory, { core }, randomValues(2));
      fill(directory, { core }, halfCompressibleValues(3), ENTRIES);
      const [incompressible, compressible] = tableNames(directory).map((name) => handlesOf(directory, name));
      assert.ok(incompressible!.length > 10 && compressible!.length > 10, "several blocks each");
      for (const handle of incompressible!) assert.is(handle.rawLength, BLOCK_STORED_RAW, "random values stay raw");
      for (const handle of compressible!) {
        assert.ok(handle.rawLength > 0, "db_bench-like values are compressed");
        assert.ok(handle.length <= handle.rawLength - handle.rawLength / 8, `${handle.length} B stored for ${handle.rawLength} B`);
      }
      // Packed: each block starts where the one before it ends.
      compressible!.forEach((handle, i) => assert.is(handle.offset, i === 0 ? 0 : compressible![i - 1]!.offset + compressible![i - 1]!.length));
      expectAll(directory, { core }, randomValues(2));
      expectAll(directory, { core }, halfCompressibleValues(3), ENTRIES);
    });
  });

  test(`${core}: compression "none" writes only raw blocks, and tables of both kinds read side by side`, () => {
    withDirectory((directory) => {
      const older = halfCompressibleValues(4);
      const newer = halfCompressibleValues(5);
      fill(directory, { core, compression: "none" }, older);
      fill(directory, { core, compression: "lz4" }, newer, ENTRIES);
      const [raw, compressed] = tableNames(directory).map((name) => handlesOf(directory, name));
      assert.ok(raw!.every((handle) => handle.rawLength === BLOCK_STORED_RAW), "none: raw blocks only");
      assert.ok(compressed!.every((handle) => handle.rawLength > 0), "lz4: compressed blocks");
      expectAll(directory, { core, compression: "none" }, older);
      expectAll(directory, { core, compression: "none" }, newer, ENTRIES);
      const db = DB.open(directory, { core });
      try {
        db.compact();
        assert.is([...db.iterate()].length, 2 * ENTRIES, "every entry survives a compaction across both kinds");
        assert.equal(db.get(key(7)), older[7]);
      } finally {
        db.close();
      }
    });
  });

  test(`${core}: a damaged compressed block is PGZ_CORRUPTION naming the table and the block's offset, also in check()`, () => {
    withDirectory((directory) => {
      const values = halfCompressibleValues(6);
      fill(directory, { core }, values);
      const [name] = tableNames(directory);
      const handles = handlesOf(directory, name!);
      const target = handles[3]!;
      const path = join(directory, name!);
      const original = readFileSync(path);
      const damaged = Buffer.from(original);
      damaged[target.offset + 10] ^= 0x40;
      writeFileSync(path, damaged);
      // The first key of block 3 is the one after block 2's last key.
      const firstKeyOfBlock = text(handles[2]!.lastKey.subarray(0, handles[2]!.lastKey.length - 8))!;
      const wanted = key(Number(firstKeyOfBlock.slice(4)) + 1);
      const db = DB.open(directory, { core });
      try {
        const error = expectCode("PGZ_CORRUPTION", () => db.get(wanted), "damaged block", /checksum mismatch/);
        assert.is(error.file, name);
        assert.is(error.offset, target.offset);
        const problems = db.check().problems;
        assert.ok(problems.some((problem) => problem.file === name && problem.offset === target.offset), JSON.stringify(problems));
        assert.equal(db.get(key(0)), values[0], "other blocks still read");
      } finally {
        db.close();
      }
    });
  });

  test(`${core}: compressed bytes with a matching checksum that do not decode to the block are PGZ_CORRUPTION`, () => {
    withDirectory((directory) => {
      fill(directory, { core }, halfCompressibleValues(7));
      const [name] = tableNames(directory);
      const target = handlesOf(directory, name!)[0]!;
      const path = join(directory, name!);
      const bytes = Buffer.from(readFileSync(path));
      const compressedLength = target.length - COMPRESSED_BLOCK_TRAILER_BYTES;
      // The first sequence's match offset set to 0xffff, before the start of the output.
      let at = target.offset;
      let literalLength = bytes[at++]! >> 4;
      if (literalLength === 15) {
        while (bytes[at] === 255) literalLength += bytes[at++]!;
        literalLength += bytes[at++]!;
      }
      at += literalLength;
      bytes[at] = 0xff;
      bytes[at + 1] = 0xff;
      const checksumCore = createCore("ts");
      const lz4 = bytes.subarray(target.offset, target.offset + compressedLength);
      bytes.writeUInt32LE(checksumCore.crc32cMask(checksumCore.crc32c(lz4)), target.offset + compressedLength);
      writeFileSync(path, bytes);
      const db = DB.open(directory, { core });
      try {
        const error = expectCode("PGZ_CORRUPTION", () => db.get(key(0)), "bad lz4 bytes under a good checksum", /lz4 block of \d+ bytes does not decode to \d+ bytes/);
        assert.is(error.file, name);
        assert.is(error.offset, target.offset);
      } finally {
        db.close();
      }
    });
  });
}

test("the compression option is checked", () => {
  withDirectory((directory) => {
    for (const compression of ["zstd", "LZ4", 1, true, null]) {
      throwsInvalid(() => DB.open(directory, { compression: compression as never }).close(), `compression ${String(compression)}`);
    }
    assert.equal(tableNames(directory), [], "nothing written");
  });
});

test("a table larger than the writer's 1 MiB buffer, with a block larger than it, reads back whole", () => {
  withDirectory((directory) => {
    const options = { valueThreshold: 4 * 1024 * 1024, memtableBytes: 64 * 1024 * 1024 };
    const next = random(9);
    const huge = Uint8Array.from({ length: 3 * 1024 * 1024 }, () => (next() * 256) | 0);
    const values = [...randomValues(10), ...randomValues(11), ...halfCompressibleValues(12), ...randomValues(13), ...randomValues(14)];
    const db = DB.open(directory, options);
    values.forEach((value, i) => db.put(key(i), value));
    db.put(key(values.length), huge);
    db.flush();
    db.close();
    const [name] = tableNames(directory);
    assert.ok(readFileSync(join(directory, name!)).length > 4 * 1024 * 1024, "the table spans several write buffers");
    expectAll(directory, options, [...values, huge]);
  });
});

test("tables stay whole pages with packed blocks", () => {
  withDirectory((directory) => {
    fill(directory, {}, halfCompressibleValues(8));
    for (const name of tableNames(directory)) assert.is(readFileSync(join(directory, name)).length % PAGE_SIZE, 0, name);
  });
});

test("block handles: two shortest u32 varints round-trip; anything else is not a handle", () => {
  const key = new Uint8Array([1]);
  for (const [length, rawLength] of [[1, 0], [127, 128], [4096, 3997], [0xffff_ffff, 0x7fff_0000]] as const) {
    const bytes = encodeBlockHandle(length, rawLength);
    assert.equal(decodeBlockHandle(key, bytes, 123), { lastKey: key, offset: 123, length, rawLength }, `${length}/${rawLength}`);
  }
  assert.is(encodeBlockHandle(300, 0).length, 3, "300 takes two bytes, 0 one");
  const refused: [string, number[]][] = [
    ["empty", []],
    ["one varint", [0x05]],
    ["cut short", [0x85]],
    ["trailing byte", [0x05, 0x00, 0x00]],
    ["padded varint", [0x85, 0x00, 0x00]],
    ["six-byte varint", [0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00]],
    ["past 32 bits", [0xff, 0xff, 0xff, 0xff, 0x1f, 0x00]],
    ["empty block", [0x00, 0x00]],
    ["compressed block shorter than its CRC", [0x03, 0x10]],
    ["raw length past the decompressor's limit", [0x10, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ];
  for (const [what, bytes] of refused) assert.is(decodeBlockHandle(key, new Uint8Array(bytes), 0), undefined, what);
});

test.run();
