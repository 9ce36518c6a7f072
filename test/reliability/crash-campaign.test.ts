/**
 * Crash campaign: a child writer (fixtures/crash-writer.ts) runs the random workload (puts,
 * deletes, batches in sync / os / buffered durability, flushes, snapshot and iterator reads) and
 * is SIGKILLed at random points: after a random number of acknowledgements, or after a random
 * delay that may fall inside DB.open itself. After each kill the parent reopens the database and
 * demands that its contents be the model after exactly some prefix of the run's operations:
 * - at least up to the last acknowledged sync or os write or flush (buffered writes acknowledged
 *   before a completed flush, or before a later os/sync write, are covered by it);
 * - at most up to the operation in flight (a buffered tail may be lost, but only as a suffix);
 * so no acknowledged write is lost, no batch is partly applied, no key holds a value never
 * written. Then db.check() must be clean. One directory per core goes through every kill.
 * PGZ_LONG=1 runs hundreds of kills.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DB } from "../../ts/index.ts";
import { MemoryStorage } from "./fixtures/recording-storage.ts";
import { random, removeDirectory, temporaryDirectory } from "../helpers.ts";
import { applyOperation, describeDifference, isDurableAgainstProcessCrash, matchPrefix, operationAt, readAll, type Model, type Operation } from "./fixtures/workload.ts";
import { reportCases } from "./fixtures/summary.ts";

const writer = fileURLToPath(new URL("./fixtures/crash-writer.ts", import.meta.url));
const LONG = process.env.PGZ_LONG === "1";
const killsPerCore = LONG ? 150 : 16;

interface RunResult {
  ready: boolean;
  lastAck: number;
}

/** Starts run `run`; kills it after `acks` acknowledgements or `delayMs` after spawn, whichever first. */
function runAndKill(directory: string, core: string, background: string, seed: number, run: number, acks: number, delayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", writer, directory, core, String(seed), String(run), background], { stdio: ["ignore", "pipe", "pipe"] });
    const result: RunResult = { ready: false, lastAck: -1 };
    let buffered = "";
    let errors = "";
    const kill = () => child.kill("SIGKILL");
    const timer = setTimeout(kill, delayMs);
    child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") result.ready = true;
        else if (line === "done") kill();
        else if (line.startsWith("ack ")) {
          result.lastAck = Number(line.slice(4));
          if (result.lastAck + 1 >= acks) kill();
        }
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`writer run ${run} exited with ${code ?? signal} before the kill: ${errors}`));
      else resolve(result);
    });
  });
}

/** Checks one recovered database against the run's operations; returns the new model. */
function verifyAfterKill(directory: string, core: "ts" | "wasm", model: Model, operations: Operation[], result: RunResult, label: string): Model {
  let minimum = 0;
  for (let index = 0; index <= result.lastAck; index++) if (isDurableAgainstProcessCrash(operations[index]!)) minimum = index + 1;
  const maximum = result.ready ? result.lastAck + 2 : 0;
  const db = DB.open(directory, { core });
  try {
    const actual = readAll(db.iterate());
    // get() must agree with iteration, key by key (different code paths: bloom, index, seek).
    for (const key of new Set([...actual.keys(), ...model.keys()])) {
      const value = db.get(key);
      assert.is(value === undefined ? undefined : new TextDecoder().decode(value), actual.get(key), `${label}: get(${key}) disagrees with iterate`);
    }
    const count = matchPrefix(actual, model, operations, minimum, Math.min(maximum, operations.length));
    if (count === undefined) {
      const expected = new Map(model);
      for (let index = 0; index < minimum; index++) applyOperation(expected, operations[index]!);
      assert.unreachable(`${label}: the recovered state is no prefix of operations [${minimum}, ${maximum}] (last ack ${result.lastAck}); against the acknowledged state: ${describeDifference(actual, expected)}`);
    }
    const report = db.check();
    assert.ok(report.ok, `${label}: check() found ${JSON.stringify(report.problems)}`);
    return actual;
  } finally {
    db.close();
  }
}

// One core with the background worker (kills land while it writes tables), the other inline,
// crossed the other way from test/crash.test.ts, so CI covers every core and mode in as many
// runs as before; PGZ_LONG=1 runs every cell.
const cells: ["ts" | "wasm", "worker" | "inline"][] = LONG ? [["ts", "worker"], ["wasm", "worker"], ["ts", "inline"], ["wasm", "inline"]] : [["wasm", "worker"], ["ts", "inline"]];
for (const [core, background] of cells) {
  test(`${core}, ${background}: ${killsPerCore} SIGKILLs at random points lose no acknowledged write, split no batch, invent no value`, async () => {
    const directory = temporaryDirectory(`pgz-crash-campaign-${core}-${background}`);
    const seed = 1_000 + (core === "wasm" ? 1 : 0) + (background === "inline" ? 2 : 0);
    const next = random(seed);
    let model: Model = new Map();
    let acknowledged = 0;
    try {
      for (let run = 0; run < killsPerCore; run++) {
        // Mostly kill after some acks; sometimes after a short delay, which can land inside open.
        const byAcks = next() < 0.75;
        const acks = byAcks ? 1 + Math.floor(next() * 600) : Number.MAX_SAFE_INTEGER;
        const delayMs = byAcks ? 20_000 : Math.floor(next() * 700);
        const result = await runAndKill(directory, core, background, seed, run, acks, delayMs);
        const operations = Array.from({ length: result.lastAck + 2 }, (_, index) => operationAt(seed, run, index));
        acknowledged += result.lastAck + 1;
        model = verifyAfterKill(directory, core, model, operations, result, `seed ${seed} run ${run} (${core})`);
      }
      assert.ok(acknowledged > killsPerCore * 20, `the writers acknowledged ${acknowledged} operations`);
      assert.ok(model.size > 0, "the database holds data");
      reportCases(`crash: SIGKILLs (${background})`, core, killsPerCore);
    } finally {
      removeDirectory(directory);
    }
  });
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: killed right after open (before any write), twice in a row, the database still opens`, () => {
    // A process crash keeps every write handed to the OS: the in-memory files are its image.
    let storage = new MemoryStorage("crash-after-open");
    const db = DB.open(storage.directory, { core, storage });
    db.put("kept", "1", { sync: true });
    for (let crash = 0; crash < 3; crash++) {
      storage = MemoryStorage.fromImage(storage.files());
      try {
        const reopened = DB.open(storage.directory, { core, storage });
        assert.is(new TextDecoder().decode(reopened.get("kept")), "1");
        // Left open on purpose: the next iteration is a crash of this process image.
      } catch (error) {
        assert.unreachable(`open after crash ${crash} failed: ${(error as Error).message}; files ${[...storage.files()].map(([name, bytes]) => `${name}:${bytes.length}`).join(" ")}`);
      }
    }
  });
}

test.run();
