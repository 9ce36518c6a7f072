/**
 * A table opened from the image the background worker sends (ts/lsm/table-image.ts) is the
 * table opened from its file: the same block handles and key prefixes, the same point reads
 * (hits, tombstones, misses, older sequences) and the same scans both ways, on both cores. The
 * image goes through structuredClone, as it crosses threads.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, createCore } from "../ts/index.ts";
import type { BlockReader, Core, Hit } from "../ts/core/types.ts";
import { BlockCache } from "../ts/lsm/cache.ts";
import { Manifest } from "../ts/lsm/manifest.ts";
import { Table, type TableMeta } from "../ts/lsm/sstable.ts";
import { TableOpening, openTableImage, readTableImage, tableImageBuffers } from "../ts/lsm/table-image.ts";
import { TableSource } from "../ts/lsm/table-source.ts";
import { HandleCache } from "../ts/storage/io.ts";
import { NodeStorage } from "../ts/storage/node.ts";
import { bytes, engineCores, removeDirectory, sameBytes, temporaryDirectory } from "./helpers.ts";

const KEYS = 3_000;
const keyOf = (i: number) => `user/${String(i * 7).padStart(8, "0")}`;

/** A database with one level-0 table of many blocks: puts, overwrites and deletes at several sequences. */
function writeTable(directory: string, core: "ts" | "wasm"): void {
  const db = DB.open(directory, { core, background: "inline" });
  for (let i = 0; i < KEYS; i++) db.put(keyOf(i), `value-${i}-`.repeat(1 + (i % 5)));
  // Held across the flush, so the older versions stay in the table beside the newer ones.
  const snapshot = db.snapshot();
  for (let i = 0; i < KEYS; i += 3) db.put(keyOf(i), `second-${i}`);
  for (let i = 1; i < KEYS; i += 5) db.delete(keyOf(i));
  db.flush();
  snapshot.release();
  db.close();
}

function scan(table: Table, cache: BlockCache<BlockReader>, core: Core, reverse: boolean): Uint8Array[] {
  const source = new TableSource(table, reverse, undefined, cache);
  const run = core.newRun(64 * 1024);
  const pieces: Uint8Array[] = [];
  while (source.fill(run) > 0) pieces.push(run.bytes().slice());
  run.free();
  return pieces;
}

function sameHit(actual: Hit | undefined, expected: Hit | undefined, what: string): void {
  assert.is(actual === undefined, expected === undefined, `${what}: found in both or neither`);
  if (!actual || !expected) return;
  assert.is(actual.kind, expected.kind, `${what}: kind`);
  assert.is(actual.sequence, expected.sequence, `${what}: sequence`);
  sameBytes(actual.value, expected.value, `${what}: value`);
}

/** The written table of `directory`, opened from its file, with what opening it from an image needs. */
function openWrittenTable(directory: string, coreName: "ts" | "wasm") {
  writeTable(directory, coreName);
  const core = createCore(coreName);
  const storage = new NodeStorage(directory, { create: false });
  const manifest = Manifest.open(core, storage, { readOnly: true });
  const meta: TableMeta = manifest.state.levels[0]![0]!;
  const files = new HandleCache(storage, 8);
  const fromFile = Table.open(core, storage, meta, manifest.databaseId, files);
  return { core, storage, manifest, meta, files, fromFile };
}

for (const coreName of engineCores) {
  test(`${coreName}: a table opened from the worker's image reads as the one opened from its file`, () => {
    const directory = temporaryDirectory("pgz-table-image");
    try {
      const { core, storage, manifest, meta, files, fromFile } = openWrittenTable(directory, coreName);
      const image = readTableImage(core, storage, meta, manifest.databaseId);
      assert.ok(tableImageBuffers(image).length >= 1, "the image has buffers to transfer");
      // In steps of 5 block handles, as the foreground opens a flushed table (TableOpening).
      const opening = new TableOpening(core, meta, manifest.databaseId, files, structuredClone(image));
      let steps = 1;
      let opened = opening.step(5);
      for (; !opened; steps++) opened = opening.step(5);
      const fromImage = opened;
      try {
        assert.ok(fromFile.blocks.length > 20, `many blocks (${fromFile.blocks.length})`);
        assert.is(steps, Math.ceil(fromFile.blocks.length / 5), "five handles a step");
        assert.is(fromImage.entries, fromFile.entries);
        const inOneGo = openTableImage(core, meta, manifest.databaseId, files, structuredClone(image));
        assert.equal(inOneGo.blocks, fromImage.blocks, "in one go as in steps");
        inOneGo.close();
        assert.equal(
          fromImage.blocks.map(({ offset, length, rawLength, lastKey }) => [offset, length, rawLength, [...lastKey]]),
          fromFile.blocks.map(({ offset, length, rawLength, lastKey }) => [offset, length, rawLength, [...lastKey]]),
        );
        const [fileCache, imageCache] = [new BlockCache<BlockReader>(1 << 20), new BlockCache<BlockReader>(1 << 20)];
        assert.ok(fromFile.lazyLookup.ifOpen, "a table opened from its file has its point-read lookup open");
        assert.is(fromImage.lazyLookup.ifOpen, undefined, "a table from the image opens its lookup at its first point read");
        const key = core.newPointKey();
        for (let i = 0; i < KEYS + 10; i++) {
          const userKey = bytes(i < KEYS ? keyOf(i) : `user/${String(i * 7 + 1).padStart(8, "0")}`);
          for (const sequence of [KEYS, Number.MAX_SAFE_INTEGER]) {
            key.set(userKey, sequence);
            const expected = fromFile.get(key, fileCache);
            key.set(userKey, sequence);
            sameHit(fromImage.get(key, imageCache), expected, `key ${i} at ${sequence}`);
            if (i < KEYS && sequence > KEYS) assert.ok(expected, `key ${i} is in the table`);
          }
          const internalKey = new Uint8Array(userKey.length + 8);
          internalKey.set(userKey);
          assert.is(fromImage.findBlock(internalKey), fromFile.findBlock(internalKey), `findBlock of key ${i}`);
        }
        key.free();
        assert.ok(fromImage.lazyLookup.ifOpen, "the point reads opened the lookup");
        for (const reverse of [false, true]) {
          const [expected, actual] = [scan(fromFile, fileCache, core, reverse), scan(fromImage, imageCache, core, reverse)];
          assert.equal(actual.length, expected.length, "as many blocks scanned");
          actual.forEach((piece, index) => sameBytes(piece, expected[index]!, `scan ${reverse ? "backward" : "forward"}, block ${index}`));
        }
        fileCache.dropOwner(fromFile.cacheSlots);
        imageCache.dropOwner(fromImage.cacheSlots);
      } finally {
        fromFile.close();
        fromImage.close();
        files.clear();
        manifest.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${coreName}: a table from the image whose blocks were cached before any point read (most evicted again) reads every key`, () => {
    const directory = temporaryDirectory("pgz-table-image");
    try {
      const { core, storage, manifest, meta, files, fromFile } = openWrittenTable(directory, coreName);
      const fromImage = openTableImage(core, meta, manifest.databaseId, files, readTableImage(core, storage, meta, manifest.databaseId));
      const unread = openTableImage(core, meta, manifest.databaseId, files, readTableImage(core, storage, meta, manifest.databaseId));
      // Room for a few blocks only: caching every block (as seeks do) evicts most of them again.
      const [fileCache, imageCache] = [new BlockCache<BlockReader>(1 << 20), new BlockCache<BlockReader>(16 * 1024)];
      try {
        for (let index = 0; index < fromImage.blocks.length; index++) fromImage.cachedBlock(index, imageCache);
        assert.ok(fromImage.lazyLookup.ifOpen, "caching a block opened the lookup (a cached block has its slot in it)");
        const key = core.newPointKey();
        for (let i = 0; i < KEYS; i++) {
          key.set(bytes(keyOf(i)), Number.MAX_SAFE_INTEGER);
          const expected = fromFile.get(key, fileCache);
          key.set(bytes(keyOf(i)), Number.MAX_SAFE_INTEGER);
          sameHit(fromImage.get(key, imageCache), expected, `key ${i}`);
        }
        key.free();
        assert.is(unread.lazyLookup.ifOpen, undefined, "a table never read never opens its lookup");
        fileCache.dropOwner(fromFile.cacheSlots);
        imageCache.dropOwner(fromImage.cacheSlots);
      } finally {
        for (const table of [fromFile, fromImage, unread]) table.close();
        files.clear();
        manifest.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
