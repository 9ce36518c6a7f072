/**
 * Torn tail: cut the value log at many offsets within its last pages and reopen. Every batch
 * that lies wholly before the cut survives, nothing after it appears, and open reports no error.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DB } from "../ts/index.ts";
import { createPureCore } from "../ts/core/pure/index.ts";
import { NodeStorage } from "../ts/storage/node.ts";
import { replayLog } from "../ts/vlog/replay.ts";
import { Manifest } from "../ts/lsm/manifest.ts";
import { PAGE_SIZE } from "../ts/format.ts";
import { removeDirectory, temporaryDirectory, text } from "./helpers.ts";
import { FaultyStorage } from "./fixtures/faulty-storage.ts";

test("cutting the log anywhere in its last pages keeps exactly the batches before the cut", () => {
  const written = temporaryDirectory("pgz-torn-source");
  const directory = temporaryDirectory("pgz-torn");
  try {
    const db = DB.open(written, { core: "ts" });
    const batchCount = 80;
    for (let i = 0; i < batchCount; i++) {
      db.batch([
        { type: "put", key: `key-${String(i).padStart(3, "0")}`, value: "v".repeat(i % 50) },
        { type: "put", key: `pair-${String(i).padStart(3, "0")}`, value: String(i) },
      ]);
    }
    // Keep the files as a crash would leave them (close() would flush the memtable to a table).
    cpSync(written, directory, { recursive: true });
    // The crashed process is gone, but its LOCK names this live one, which the lock refuses.
    rmSync(join(directory, "LOCK"));
    db.close();
    rmSync(written, { recursive: true, force: true });
    cpSync(directory, written, { recursive: true });
    const segments = readdirSync(directory).filter((name) => name.endsWith(".vlog")).sort();
    const dataSegment = segments[0]!;
    const original = readFileSync(join(directory, dataSegment));
    // Where each batch ends, from the log itself.
    const batchEnds: number[] = [];
    const core = createPureCore();
    const storage = new NodeStorage(directory);
    const manifest = Manifest.open(core, storage);
    manifest.close();
    replayLog(core, storage, manifest.databaseId, { segment: 0, offset: 0 }, ({ records }) => {
      const last = records[records.length - 1]!;
      batchEnds.push(last.offset + last.length);
    });
    assert.is(batchEnds.length, batchCount);
    const dataEnd = batchEnds[batchEnds.length - 1]!;
    const firstCut = Math.max(0, Math.floor(dataEnd / PAGE_SIZE) * PAGE_SIZE - PAGE_SIZE);
    // Every batch boundary and its neighbours, plus a stride through everything in between.
    const cuts = new Set<number>();
    for (let cut = firstCut; cut <= original.length; cut += 17) cuts.add(cut);
    for (const end of batchEnds) for (const cut of [end - 1, end, end + 1]) if (cut >= firstCut && cut <= original.length) cuts.add(cut);
    cuts.add(original.length);
    let checked = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      // Each cut starts from the crash image (an open writes: it flushes at close, new segments).
      rmSync(directory, { recursive: true, force: true });
      cpSync(written, directory, { recursive: true });
      writeFileSync(join(directory, dataSegment), original.subarray(0, cut));
      // Recovery logic, not power loss, is under test here: skip the fsyncs to keep it quick.
      const storage = new FaultyStorage(directory);
      storage.skipSyncs = true;
      const reopened = DB.open(directory, { core: "ts", storage });
      try {
        const survivors = batchEnds.filter((end) => end <= cut).length;
        const keys = [...reopened.iterate({ prefix: "key-" })].map(([key]) => text(key));
        const pairs = [...reopened.iterate({ prefix: "pair-" })].map(([key]) => text(key));
        assert.is(keys.length, survivors, `cut at ${cut}`);
        assert.is(pairs.length, survivors, `cut at ${cut}: a batch was split`);
        if (survivors > 0) assert.is(text(reopened.get(`pair-${String(survivors - 1).padStart(3, "0")}`)), String(survivors - 1));
      } finally {
        reopened.close();
      }
      checked++;
    }
    assert.ok(checked > 300, `checked ${checked} cuts`);
  } finally {
    removeDirectory(written);
    removeDirectory(directory);
  }
});

test.run();
