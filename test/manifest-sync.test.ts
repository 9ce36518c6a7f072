/**
 * With the background worker, a manifest edit's fdatasync runs off the calling thread
 * (Manifest.syncInBackground): the edit counts at once, and what depends on its durability (the
 * unlink of the files it stops needing, ts/lsm/removals.ts) waits for that sync. Here the sync
 * is held at a gate: nothing is deleted while it is held; a power loss then (the manifest cut
 * back to what was synced) loses no acknowledged write; a failed sync latches the manifest.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DB, createCore } from "../ts/index.ts";
import { ioError } from "../ts/storage/io.ts";
import { NodeStorage } from "../ts/storage/node.ts";
import { Manifest } from "../ts/lsm/manifest.ts";
import { engineCores, expectCode, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

/** Holds every manifest fdatasync started off the thread until released (or failed). */
class SyncGate {
  held = false;
  private waiting: { resolve: () => void; reject: (error: unknown) => void; original: () => Promise<void> }[] = [];

  /** Patches NodeStorage so the manifest files it opens from now on go through the gate. */
  install(): () => void {
    const open = NodeStorage.prototype.open;
    const gate = this;
    NodeStorage.prototype.open = function (this: NodeStorage, name: string, options?: { write?: boolean; create?: boolean }) {
      const file = open.call(this, name, options);
      if (!name.startsWith("MANIFEST-")) return file;
      const original = file.syncAsync.bind(file);
      file.syncAsync = () => (gate.held ? new Promise((resolve, reject) => gate.waiting.push({ resolve, reject, original })) : original());
      return file;
    };
    return () => (NodeStorage.prototype.open = open);
  }

  get pending(): number {
    return this.waiting.length;
  }

  release(): void {
    this.held = false;
    for (const { resolve, reject, original } of this.waiting.splice(0)) original().then(resolve, reject);
  }

  fail(): void {
    this.held = false;
    for (const { reject } of this.waiting.splice(0)) reject(ioError("fdatasync", "MANIFEST", Object.assign(new Error("EIO: i/o error"), { code: "EIO" })));
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("syncInBackground: an edit counts at once and is durable once its fdatasync completes; the next edit syncs it first, so never two are unsynced", async () => {
  const directory = temporaryDirectory("pgz-manifest-sync");
  const gate = new SyncGate();
  const uninstall = gate.install();
  try {
    const core = createCore("ts");
    const storage = new NodeStorage(directory, { create: true });
    const manifest = Manifest.create(core, storage);
    manifest.syncInBackground();
    const before = manifest.editsDurable;
    gate.held = true;
    let notified = 0;
    manifest.onDurable(() => notified++);
    manifest.apply({ lastSequence: 5 });
    manifest.apply({ lastSequence: 9 });
    assert.is(manifest.state.lastSequence, 9, "the edits count at once");
    assert.is(manifest.editsDurable, before + 1, "the second edit made the first durable before it was written");
    assert.is(gate.pending, 1, "one fdatasync in flight; the second edit waits for the next");
    gate.release();
    // The fdatasync runs on the thread pool: wait for the listener (bounded, so a bug fails, not hangs).
    for (let i = 0; i < 1000 && manifest.editsDurable < manifest.editsWritten; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.is(manifest.editsDurable, manifest.editsWritten, "both are durable");
    assert.ok(notified >= 1, "the listener heard of it");
    manifest.close();
    const reopened = Manifest.open(core, new NodeStorage(directory, { create: false }));
    assert.is(reopened.state.lastSequence, 9);
    reopened.close();
  } finally {
    uninstall();
    removeDirectory(directory);
  }
});

test("syncInBackground: a failed fdatasync latches the manifest: no later edit, no sync, counts", async () => {
  const directory = temporaryDirectory("pgz-manifest-sync");
  const gate = new SyncGate();
  const uninstall = gate.install();
  try {
    const manifest = Manifest.create(createCore("ts"), new NodeStorage(directory, { create: true }));
    manifest.syncInBackground();
    gate.held = true;
    manifest.apply({ lastSequence: 5 });
    const durable = manifest.editsDurable;
    gate.fail();
    await turn();
    await turn();
    assert.is(manifest.editsDurable, durable, "the failed edit never became durable");
    expectCode("PGZ_IO", () => manifest.checkBackgroundSync(), "the failure is kept");
    expectCode("PGZ_IO", () => manifest.apply({ lastSequence: 6 }), "a later edit");
    expectCode("PGZ_IO", () => manifest.syncNow(), "a sync on this thread");
    manifest.close();
  } finally {
    uninstall();
    removeDirectory(directory);
  }
});

for (const core of engineCores) {
  test(`${core}, worker: while a flush's manifest sync is held, no spent file is deleted, and a power loss then loses no write`, async () => {
    const directory = temporaryDirectory("pgz-manifest-sync");
    const gate = new SyncGate();
    const uninstall = gate.install();
    try {
      // Values inline (under valueThreshold): each flush retires the segments its memtable filled.
      const db = DB.open(join(directory, "live"), { core, background: "worker", memtableBytes: 128 * 1024, segmentBytes: 64 * 1024, autoGc: false });
      const live = join(directory, "live");
      const manifestName = readdirSync(live).find((name) => name.startsWith("MANIFEST-"))!;
      const syncedManifest = readFileSync(join(live, manifestName));
      const filesAtStart = readdirSync(live).filter((name) => name.endsWith(".vlog"));
      gate.held = true;
      const model = new Map<string, string>();
      // One flush: a second edit would make this one durable first (at most one is unsynced).
      for (let i = 0; i < 20_000 && db.stats().flushes < 1; i++) {
        db.put(`key-${i % 3000}`, `${i}`.padEnd(100, "v"));
        model.set(`key-${i % 3000}`, `${i}`.padEnd(100, "v"));
        await turn();
      }
      assert.ok(db.stats().flushes >= 1, `a flush committed while the sync is held (${db.stats().flushes})`);
      assert.ok(gate.pending > 0, "a manifest fdatasync is held");
      assert.ok(readFileSync(join(live, manifestName)).length > syncedManifest.length, "the flush edits are appended");
      const segments = readdirSync(live).filter((name) => name.endsWith(".vlog"));
      for (const name of filesAtStart) assert.ok(segments.includes(name), `${name} is not deleted before the edit retiring it is durable`);
      // The power loss: every other file as written (the log was written; what it holds counts),
      // the manifest only as far as it was synced.
      const image = join(directory, "image");
      mkdirSync(image);
      for (const name of readdirSync(live)) if (name !== "LOCK") copyFileSync(join(live, name), join(image, name));
      writeFileSync(join(image, manifestName), syncedManifest);
      const recovered = DB.open(image, { core, background: "inline" });
      for (const [key, value] of model) assert.is(text(recovered.get(key)), value, `${key} survives`);
      assert.ok(recovered.check().ok, "the recovered database checks clean");
      recovered.close();
      // Once the sync completes, the spent segments go.
      gate.release();
      db.flush();
      const left = readdirSync(live);
      assert.ok(filesAtStart.some((name) => !left.includes(name)), "spent segments are deleted once the edits are durable");
      for (const [key, value] of model) assert.is(text(db.get(key)), value);
      db.close();
    } finally {
      uninstall();
      gate.release();
      removeDirectory(directory);
    }
  });
}

test.run();
