/**
 * Power-loss simulation: the workload runs on a RecordingStorage (fixtures/recording-storage.ts)
 * that records every write, sync and directory change. At random storage operations (including
 * inside flushes, segment switches, manifest edits, close and open) the test freezes "what the
 * disk could hold if the power failed now", then draws many images from each instant: what was
 * fdatasynced, plus a random subset of unsynced page writes (reordered, some torn at a 512-byte
 * sector), with directory changes durable only after syncDirectory (or a prefix of those after).
 * Every image must open, and hold the model after exactly some prefix of the operations that
 * includes every operation acknowledged under sync durability (or before a completed flush or
 * close); check() must be clean; the recovered database must take a write and reopen.
 * PGZ_LONG=1 draws thousands of images.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, PgzError } from "../../ts/index.ts";
import { random } from "../helpers.ts";
import { MemoryStorage, imageOf, type CrashState, type ImageOptions } from "./fixtures/recording-storage.ts";
import { applyOperation, describeDifference, isDurableAgainstPowerLoss, matchPrefix, operationAt, perform, readAll, type Model, type Operation } from "./fixtures/workload.ts";
import { reportCases } from "./fixtures/summary.ts";

const LONG = process.env.PGZ_LONG === "1";
const OPERATIONS = LONG ? 3000 : 700;
const CAPTURES = LONG ? 120 : 20;
const IMAGES_PER_CAPTURE = LONG ? 30 : 6;
const OPTIONS = { memtableBytes: 16 * 1024, valueThreshold: 256, segmentBytes: 64 * 1024, bufferedBytes: 8 * 1024 } as const;

interface Capture {
  state: CrashState;
  /** The model after `first` operations; operations [first, started) may or may not be there. */
  base: Model;
  first: number;
  /** Operations acknowledged as power-loss durable: the image must hold at least these. */
  durable: number;
  /** Operations started (the one in flight included). */
  started: number;
  where: string;
}

/** Runs the workload once, capturing crash states at random storage operations. */
function runWorkload(core: "ts" | "wasm", seed: number, capturePoints: ReadonlySet<number>): { captures: Capture[]; operations: Operation[]; mutations: number } {
  const storage = new MemoryStorage("power-loss");
  const operations: Operation[] = [];
  const captures: Capture[] = [];
  const durableModel: Model = new Map();
  let durable = 0;
  let started = 0;
  let phase = "open";
  let mutations = 0;
  storage.beforeOperation = (operation, name) => {
    if (operation === "read" || operation === "open" || operation === "close") return;
    if (!capturePoints.has(mutations++)) return;
    captures.push({ state: storage.capture(), base: new Map(durableModel), first: durable, durable, started, where: `${phase}, before ${operation} of ${name}` });
  };
  const markDurable = (count: number) => {
    for (let index = durable; index < count; index++) applyOperation(durableModel, operations[index]!);
    durable = count;
  };
  let db = DB.open(storage.directory, { core, storage, ...OPTIONS });
  const model: Model = new Map();
  for (let index = 0; index < OPERATIONS; index++) {
    const operation = operationAt(seed, 0, index);
    operations.push(operation);
    started = index + 1;
    phase = `operation ${index} (${operation.type}${"durability" in operation ? " " + operation.durability : ""})`;
    perform(db, operation, model);
    applyOperation(model, operation);
    if (isDurableAgainstPowerLoss(operation)) markDurable(index + 1);
    if (index % 250 === 249) {
      phase = `close after operation ${index}`;
      db.close();
      markDurable(index + 1);
      phase = `open after operation ${index}`;
      db = DB.open(storage.directory, { core, storage, ...OPTIONS });
    }
  }
  storage.beforeOperation = undefined;
  db.close();
  return { captures, operations, mutations };
}

function openImage(core: "ts" | "wasm", files: Map<string, Uint8Array>, label: string): { db: DB; storage: MemoryStorage } {
  const storage = MemoryStorage.fromImage(files);
  try {
    return { db: DB.open(storage.directory, { core, storage, ...OPTIONS }), storage };
  } catch (error) {
    const detail = error instanceof PgzError ? `${error.code} ${error.message}` : String((error as Error)?.stack ?? error);
    assert.unreachable(`${label}: the image does not open: ${detail}; files ${[...files].map(([name, bytes]) => `${name}:${bytes.length}`).join(" ")}`);
    throw error;
  }
}

function checkImage(core: "ts" | "wasm", capture: Capture, operations: Operation[], files: Map<string, Uint8Array>, label: string): void {
  let { db, storage } = openImage(core, files, label);
  try {
    const actual = readAll(db.iterate());
    const count = matchPrefix(actual, capture.base, operations.slice(capture.first), capture.durable - capture.first, capture.started - capture.first);
    if (count === undefined) {
      assert.unreachable(`${label}: the image holds no prefix of operations [${capture.durable}, ${capture.started}]; against the synced state: ${describeDifference(actual, capture.base)}`);
    }
    const report = db.check();
    assert.ok(report.ok, `${label}: check() found ${JSON.stringify(report.problems)}`);
    // The recovered database takes writes and reopens with them.
    db.put("after-power-loss", "yes", { sync: true });
    db.close();
    db = DB.open(storage.directory, { core, storage, ...OPTIONS });
    assert.is(new TextDecoder().decode(db.get("after-power-loss")), "yes", `${label}: a write after recovery`);
  } finally {
    db.close();
  }
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: every image of a power loss opens and keeps every synced write, as a prefix`, () => {
    const seed = 2_000 + (core === "wasm" ? 1 : 0);
    // A dry run counts the storage mutations; the real run freezes the state before chosen ones.
    const { mutations } = runWorkload(core, seed, new Set());
    const next = random(seed * 31);
    const points = new Set<number>();
    while (points.size < Math.min(CAPTURES, mutations)) points.add(Math.floor(next() * mutations));
    const { captures, operations } = runWorkload(core, seed, points);
    assert.is(captures.length, points.size, "the workload is deterministic");
    let images = 0;
    for (const [captureIndex, capture] of captures.entries()) {
      for (let draw = 0; draw < IMAGES_PER_CAPTURE; draw++) {
        // The two extremes first (only synced data; every write), then random draws.
        const mode: ImageOptions["mode"] = draw === 0 ? "none" : draw === 1 ? "all" : "random";
        const label = `seed ${seed} capture ${captureIndex} (${capture.where}) image ${draw} (${mode})`;
        checkImage(core, capture, operations, imageOf(capture.state, next, { mode }), label);
        images++;
      }
    }
    assert.ok(images >= captures.length * IMAGES_PER_CAPTURE);
    reportCases("power loss: images", core, images);
  });
}

test.run();
