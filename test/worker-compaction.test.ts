/**
 * Background work with the worker at scale: a compaction runs in slices with the event loop
 * turning between them (ts/lsm/worker-compaction.ts: the worker serves a flush's requests
 * there), and a flush commits while the caller writes in a loop that never yields (the worker
 * makes the log durable itself, so no event-loop turn is needed for it), as the log's
 * sync-behind goes on in such a loop (on the worker). On both cores.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { randomBytes } from "node:crypto";
import { DB } from "../ts/index.ts";
import { BackgroundSession } from "../ts/lsm/background.ts";
import { planRange } from "../ts/lsm/compaction.ts";
import { CompactionQueue, type WorkerCompactionResult } from "../ts/lsm/worker-compaction.ts";
import type { EngineState } from "../ts/engine/state.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const stateOf = (db: DB) => (db as unknown as { engine: { state: EngineState } }).engine.state;

function sleep(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}

for (const core of engineCores) {
  test(`${core}: a compaction in the queue runs in slices, and the event loop turns between them`, async () => {
    const directory = temporaryDirectory("pgz-worker-compaction");
    try {
      // Level-0 tables of about 3 MiB in all (random values do not compress), and no compaction of them.
      const db = DB.open(directory, { core, background: "inline", memtableBytes: 512 * 1024, l0Files: 64, autoGc: false });
      for (let i = 0; i < 24_000; i++) {
        db.put(`key-${String((i * 7919) % 24_000).padStart(6, "0")}`, randomBytes(120));
        if (i % 4000 === 3999) db.flush();
      }
      const state = stateOf(db);
      const plan = planRange(state.tree.levels, 0, 1, undefined)!;
      const inputBytes = plan.inputs.reduce((sum, table) => sum + table.size, 0);
      assert.ok(plan.inputs.length >= 5 && inputBytes > 2 * 1024 * 1024, `inputs ${plan.inputs.length}, ${inputBytes} bytes`);
      let turns = 0;
      let finished = false;
      const turn = () => {
        if (finished) return;
        turns++;
        setImmediate(turn);
      };
      setImmediate(turn);
      const queue = new CompactionQueue(() => {});
      const database = { core: state.core, storage: state.storage, files: state.files, databaseId: state.manifest.databaseId };
      const fileNumbers = Array.from({ length: 16 }, (_, i) => 900_000 + i);
      const settings = { ...state.tree.compactionSettings };
      const outcome = await new Promise<{ result: WorkerCompactionResult } | { error: unknown }>((resolve) => {
        queue.add(database, { plan, oldestSnapshotSequence: state.lastSequence, fileNumbers, settings }, resolve);
        assert.is(turns, 0, "nothing ran inside add()");
      });
      finished = true;
      assert.ok("result" in outcome, String((outcome as { error?: unknown }).error));
      const { result } = outcome as { result: WorkerCompactionResult };
      // Input bytes as merged (decoded entries), a little more than the tables' sizes.
      assert.ok(result.bytesRead >= inputBytes * 0.9, `${result.bytesRead} bytes read`);
      assert.ok(result.added.length > 0 && result.images.length === result.added.length);
      // One 512 KiB slice per turn at most: the event loop turned at least once per slice after the first.
      assert.ok(turns >= Math.floor(result.bytesRead / (512 * 1024)) - 1, `${turns} turns for ${result.bytesRead} bytes of input`);
      db.close();
      // Its outputs are named by no manifest edit: orphans the next open deletes.
      const reopened = DB.open(directory, { core, background: "inline" });
      assert.is(reopened.check().ok, true);
      assert.is((reopened.get("key-000000") as Uint8Array | undefined)?.length, 120);
      reopened.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: with the worker, a flush commits while the caller writes in a loop that never yields`, () => {
    const directory = temporaryDirectory("pgz-worker-compaction");
    try {
      const memtableBytes = 1024 * 1024;
      const db = DB.open(directory, { core, background: "worker", memtableBytes, l0Files: 64, autoGc: false });
      const tree = stateOf(db).tree;
      let i = 0;
      while (tree.immutables.length === 0) db.put(`key-${i++}`, "v".repeat(100));
      assert.is(tree.flushes, 0);
      // Small writes, far from filling the new memtable (which would wait for the flush): the
      // flush must commit between them, with no event-loop turn and no flush() call.
      const started = Date.now();
      while (tree.flushes === 0 && Date.now() - started < 20_000) {
        db.put(`small-${i++}`, "s");
        assert.ok(tree.memtable.memtable.arenaBytes < memtableBytes / 2, "the new memtable stays under half full");
        sleep(2);
      }
      assert.is(tree.flushes, 1, "the flush committed during the write loop");
      assert.is(tree.immutables.length, 0);
      assert.is(tree.levels[0]!.length, 1);
      db.close();
      const reopened = DB.open(directory, { core, background: "inline" });
      assert.is(text(reopened.get("key-0")), "v".repeat(100));
      assert.is(text(reopened.get(`small-${i - 1}`)), "s");
      reopened.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: with the worker, a compaction starts while a flush's entries are still being copied out`, () => {
    const directory = temporaryDirectory("pgz-worker-compaction");
    try {
      const db = DB.open(directory, { core, background: "worker", memtableBytes: 4 * 1024 * 1024, l0Files: 8, autoGc: false });
      const model = new Map<string, string>();
      const put = (key: string, value: string) => {
        db.put(key, value);
        model.set(key, value);
      };
      for (let table = 0; table < 2; table++) {
        for (let i = 0; i < 2000; i++) put(`key-${String((i * 13 + table) % 5000).padStart(5, "0")}`, `${table}:${i}`.padEnd(100, "t"));
        db.flush();
      }
      // A memtable of several 64 KiB copies, frozen by hand; then a compaction falls due.
      for (let i = 0; i < 4000; i++) put(`key-${String(i).padStart(5, "0")}`, `m:${i}`.padEnd(100, "m"));
      const state = stateOf(db);
      const tree = state.tree;
      const parts = tree as unknown as { flusher: { sent: boolean }; compaction: { running: boolean } };
      assert.is(tree.levels[0]!.length, 2);
      tree.rotate(state.log.position);
      (tree.compactionSettings as { l0Files: number }).l0Files = 2;
      // One byte of budget: one copy goes out and the flush is not all sent.
      tree.backgroundWork(1, state.lastSequence);
      assert.is(parts.flusher.sent, false, "the flush's entries are still being copied");
      assert.is(parts.compaction.running, true, "and a compaction started beside it");
      db.flush();
      assert.is(tree.immutables.length, 0);
      assert.ok(tree.compactions >= 1 && tree.flushes === 3, `${tree.compactions} compactions, ${tree.flushes} flushes`);
      for (const [key, value] of model) assert.is(text(db.get(key)), value, key);
      assert.ok(db.check().ok);
      db.close();
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: with the worker, the log's sync-behind goes to the worker every MiB, in a loop that never yields`, () => {
    const directory = temporaryDirectory("pgz-worker-compaction");
    const segments: number[] = [];
    const syncLogBehind = BackgroundSession.prototype.syncLogBehind;
    BackgroundSession.prototype.syncLogBehind = function (this: BackgroundSession, segment: number) {
      segments.push(segment);
      return syncLogBehind.call(this, segment);
    };
    try {
      for (const background of ["worker", "inline"] as const) {
        segments.length = 0;
        const db = DB.open(directory, { core, background, autoGc: false });
        const value = "v".repeat(1000);
        // About 8 MiB of log, in one synchronous loop: no event-loop turn for the thread pool's syncs.
        for (let i = 0; i < 8000; i++) db.put(`${background}-${i}`, value);
        const current = stateOf(db).log.currentSegment;
        if (background === "worker") {
          assert.ok(segments.length >= 7, `${segments.length} sync-behinds for 8 MiB`);
          assert.ok(segments.every((segment) => segment === current), "each of the segment being written");
        } else {
          assert.is(segments.length, 0, "inline, the thread pool syncs");
        }
        db.close();
      }
      const reopened = DB.open(directory, { core, background: "inline" });
      assert.is(text(reopened.get("worker-7999")), "v".repeat(1000));
      assert.is(text(reopened.get("inline-7999")), "v".repeat(1000));
      reopened.close();
    } finally {
      BackgroundSession.prototype.syncLogBehind = syncLogBehind;
      removeDirectory(directory);
    }
  });
}

test.run();
