/**
 * Crash test: a child writes batches (sync and default durability) and reports each
 * acknowledged one; the parent SIGKILLs it at a random moment, reopens, and checks that every
 * acknowledged batch is there, that the batch in flight is all there or not at all, that nothing
 * else appears, and that check() is clean. The same directory goes through every kill. One core
 * runs with the background worker (kills land while it writes tables), the other inline (the
 * crash campaign crosses them the other way); PGZ_LONG=1 runs every core x background cell, with
 * many more kills. Kills that surely land inside a worker's flush or compaction come from a
 * writer that stops the worker halfway through one (pauseBackgroundWorker).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DB } from "../ts/index.ts";
import type { PauseKind } from "../ts/lsm/background.ts";
import { applyBatch, crashBatch } from "./fixtures/crash-workload.ts";
import { random, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const writer = fileURLToPath(new URL("./fixtures/crash-writer.ts", import.meta.url));
const LONG = process.env.PGZ_LONG === "1";
const killsPerCore = LONG ? 100 : 10;
const cells: [core: "ts" | "wasm", background: "worker" | "inline"][] = LONG ? [["ts", "worker"], ["wasm", "worker"], ["ts", "inline"], ["wasm", "inline"]] : [["ts", "worker"], ["wasm", "inline"]];

/**
 * Runs one child until it has acknowledged `acks` batches (or wrote for `milliseconds`), then
 * kills it. A child that pauses the worker (a 7th argument) counts both only from its "paused".
 */
function runAndKill(args: string[], acks: number, milliseconds: number): Promise<number> {
  const pausing = args.length > 6;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", writer, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let lastAck = -1;
    let seen = 0;
    let counting = false;
    let buffered = "";
    let timer: NodeJS.Timeout | undefined;
    const startCounting = () => {
      counting = true;
      timer = setTimeout(() => child.kill("SIGKILL"), milliseconds);
      if (acks === 0) child.kill("SIGKILL");
    };
    // A pause that never comes fails the run instead of hanging it.
    const pauseTimer = pausing ? setTimeout(() => child.kill("SIGKILL"), 120_000) : undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === (pausing ? "paused" : "ready")) startCounting();
        const match = /^ack (\d+)$/.exec(line);
        if (match) {
          lastAck = Number(match[1]);
          if (counting && ++seen === acks) child.kill("SIGKILL");
        }
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(pauseTimer);
      if (signal !== "SIGKILL") reject(new Error(`writer exited with ${code ?? signal} before the kill`));
      else if (!counting) reject(new Error("the writer never said the worker paused"));
      else resolve(lastAck);
    });
  });
}

function snapshot(db: DB): Map<string, string> {
  return new Map([...db.iterate()].map(([key, value]) => [text(key)!, text(value)!]));
}

function sameState(actual: Map<string, string>, expected: Map<string, string>): boolean {
  if (actual.size !== expected.size) return false;
  for (const [key, value] of expected) if (actual.get(key) !== value) return false;
  return true;
}

/**
 * Reopens `directory` after a kill and checks it against `model` (every batch before `start`
 * plus the acknowledged ones up to `lastAck`, applied here): all of them are there, the batch in
 * flight is all there or not at all, check() is clean and no table file is outside the levels.
 * Returns the batch the next writer starts at.
 */
function checkAfterKill(directory: string, core: "ts" | "wasm", seed: number, model: Map<string, string>, start: number, lastAck: number, what: string): number {
  for (let index = start; index <= lastAck; index++) applyBatch(model, crashBatch(seed, index));
  const db = DB.open(directory, { core });
  try {
    const actual = snapshot(db);
    // A child killed before its first acknowledgement (lastAck -1) had batch `start` in flight.
    const inFlight = Math.max(start, lastAck + 1);
    const withInFlight = new Map(model);
    applyBatch(withInFlight, crashBatch(seed, inFlight));
    let next = inFlight;
    if (sameState(actual, withInFlight) && !sameState(actual, model)) {
      applyBatch(model, crashBatch(seed, inFlight));
      next = inFlight + 1;
    } else if (!sameState(actual, model)) {
      const missing = [...model].filter(([key, value]) => actual.get(key) !== value).slice(0, 3).map(([key, value]) => [key, value.slice(0, 20), actual.get(key)?.slice(0, 20)]);
      assert.unreachable(`${what}: state matches neither acknowledged nor acknowledged + in-flight; e.g. ${JSON.stringify(missing)}`);
    }
    const report = db.check();
    assert.ok(report.ok, JSON.stringify(report.problems));
    // No file leaked: every table on disk is in a level.
    const tables = readdirSync(directory).filter((name) => name.endsWith(".sst")).length;
    assert.is(tables, db.stats().levels.reduce((sum, level) => sum + level.files, 0), `${what}: leaked tables`);
    return next;
  } finally {
    db.close();
  }
}

for (const [core, background] of cells) {
  test(`${core}, ${background}: SIGKILL at random moments loses no acknowledged batch and splits none (${killsPerCore} kills)`, async () => {
    const directory = temporaryDirectory("pgz-crash");
    const seed = 7 + (core === "wasm" ? 1 : 0);
    const next = random(seed);
    const model = new Map<string, string>();
    let start = 0;
    try {
      for (let kill = 0; kill < killsPerCore; kill++) {
        const durability = kill % 2 === 0 ? "sync" : "os";
        const lastAck = await runAndKill([directory, core, durability, String(seed), String(start), background], 1 + Math.floor(next() * 300), 20 + Math.floor(next() * 400));
        start = checkAfterKill(directory, core, seed, model, start, lastAck, `kill ${kill} (${durability})`);
      }
      assert.ok(model.size > 0, "the writers acknowledged writes");
    } finally {
      removeDirectory(directory);
    }
  });
}

// Kills that surely land while the worker writes a table: the writer stops the worker halfway
// through its next flush or compaction (a test hook), says "paused", and is killed a few
// acknowledgements later, its table file partly written and named by no manifest edit. Or the
// worker stops before the unlink of a file a durable edit made spent: the reopen deletes it.
const pausedKills = LONG ? 20 : 3;
const pausedCells = [["wasm", "flush"], ["ts", "compact"], ["wasm", "remove"], ...(LONG ? [["ts", "flush"], ["wasm", "compact"], ["ts", "remove"]] : [])] as ["ts" | "wasm", PauseKind][];
for (const [core, kind] of pausedCells) {
  test(`${core}, worker: SIGKILL while the worker is halfway through a ${kind} loses no acknowledged batch and leaks no table (${pausedKills} kills)`, async () => {
    const directory = temporaryDirectory("pgz-crash");
    const seed = 11 + (core === "wasm" ? 1 : 0);
    const next = random(seed);
    const model = new Map<string, string>();
    let start = 0;
    try {
      for (let kill = 0; kill < pausedKills; kill++) {
        const durability = kill % 2 === 0 ? "sync" : "os";
        const lastAck = await runAndKill([directory, core, durability, String(seed), String(start), "worker", kind], Math.floor(next() * 20), 200);
        start = checkAfterKill(directory, core, seed, model, start, lastAck, `${kind} kill ${kill} (${durability})`);
      }
      assert.ok(model.size > 0, "the writers acknowledged writes");
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
