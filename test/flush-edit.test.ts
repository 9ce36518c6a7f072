/**
 * A flush's one manifest edit: it adds the table, moves the log head and names collected the
 * segments the head leaves behind with nothing pointing into them (small values only), so no
 * second edit follows it (whose append would wait on the caller's thread for the flush edit's
 * fdatasync, with the worker). Both cores, both backgrounds; the retired segments are gone and
 * every value is there after a reopen.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { DB } from "../ts/index.ts";
import type { EngineState } from "../ts/engine/state.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const segmentNumbers = (directory: string) => readdirSync(directory).filter((name) => name.endsWith(".vlog")).map((name) => Number.parseInt(name, 10));

for (const core of engineCores) {
  for (const background of ["inline", "worker"] as const) {
    test(`${core}, ${background}: a flush retires the segments it leaves behind in its own edit`, () => {
      const directory = temporaryDirectory("pgz-flush-edit");
      try {
        const db = DB.open(directory, { core, background, segmentBytes: 64 * 1024, autoGc: false });
        const { manifest } = (db as unknown as { engine: { state: EngineState } }).engine.state;
        for (let i = 0; i < 3_000; i++) db.put(`key-${String(i).padStart(6, "0")}`, `${i}`.padEnd(100, "v"));
        const before = manifest.editsWritten;
        db.flush();
        assert.is(manifest.editsWritten - before, 1, "one edit: the table, the head and the collected segments");
        const { logHead, collectedSegments } = manifest.state;
        assert.ok(logHead.segment >= 4, `the log rolled (head in segment ${logHead.segment})`);
        assert.ok(collectedSegments.length >= 3, `segments collected: ${collectedSegments.join(" ")}`);
        assert.ok(collectedSegments.every((segment) => segment < logHead.segment), "only segments behind the head");
        db.close();
        assert.ok(segmentNumbers(directory).every((segment) => !collectedSegments.includes(segment)), "the collected segments are deleted");
        const reopened = DB.open(directory, { core, background: "inline" });
        for (let i = 0; i < 3_000; i++) assert.is(text(reopened.get(`key-${String(i).padStart(6, "0")}`)), `${i}`.padEnd(100, "v"));
        assert.ok(reopened.check().ok);
        reopened.close();
      } finally {
        removeDirectory(directory);
      }
    });
  }
}

test.run();
