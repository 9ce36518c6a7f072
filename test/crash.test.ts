/**
 * Crash test: a child writes batches (sync and default durability) and reports each
 * acknowledged one; the parent SIGKILLs it at a random moment, reopens, and checks that every
 * acknowledged batch is there, that the batch in flight is all there or not at all, that nothing
 * else appears, and that check() is clean. The same directory goes through every kill. One core
 * runs with the background worker (kills land while it writes tables), the other inline (the
 * crash campaign crosses them the other way); PGZ_LONG=1 runs every core x background cell, with
 * many more kills.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DB } from "../ts/index.ts";
import { applyBatch, crashBatch } from "./fixtures/crash-workload.ts";
import { random, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const writer = fileURLToPath(new URL("./fixtures/crash-writer.ts", import.meta.url));
const LONG = process.env.PGZ_LONG === "1";
const killsPerCore = LONG ? 100 : 10;
const cells: [core: "ts" | "wasm", background: "worker" | "inline"][] = LONG ? [["ts", "worker"], ["wasm", "worker"], ["ts", "inline"], ["wasm", "inline"]] : [["ts", "worker"], ["wasm", "inline"]];

/** Runs one child until it has acknowledged `acks` batches (or wrote for `milliseconds`), then kills it. */
function runAndKill(args: string[], acks: number, milliseconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", writer, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let lastAck = -1;
    let seen = 0;
    let buffered = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") timer = setTimeout(() => child.kill("SIGKILL"), milliseconds);
        const match = /^ack (\d+)$/.exec(line);
        if (match) {
          lastAck = Number(match[1]);
          if (++seen === acks) child.kill("SIGKILL");
        }
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`writer exited with ${code ?? signal} before the kill`));
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
        for (let index = start; index <= lastAck; index++) applyBatch(model, crashBatch(seed, index));
        const db = DB.open(directory, { core });
        try {
          const actual = snapshot(db);
          // A child killed before its first acknowledgement (lastAck -1) had batch `start` in flight.
          const inFlight = Math.max(start, lastAck + 1);
          const withInFlight = new Map(model);
          applyBatch(withInFlight, crashBatch(seed, inFlight));
          if (sameState(actual, model)) start = inFlight;
          else if (sameState(actual, withInFlight)) {
            applyBatch(model, crashBatch(seed, inFlight));
            start = inFlight + 1;
          } else {
            const missing = [...model].filter(([key, value]) => actual.get(key) !== value).slice(0, 3).map(([key, value]) => [key, value.slice(0, 20), actual.get(key)?.slice(0, 20)]);
            assert.unreachable(`kill ${kill} (${durability}): state matches neither acknowledged nor acknowledged + in-flight; e.g. ${JSON.stringify(missing)}`);
          }
          const report = db.check();
          assert.ok(report.ok, JSON.stringify(report.problems));
          // No file leaked: every table on disk is in a level.
          const tables = readdirSync(directory).filter((name) => name.endsWith(".sst")).length;
          assert.is(tables, db.stats().levels.reduce((sum, level) => sum + level.files, 0), `kill ${kill}: leaked tables`);
        } finally {
          db.close();
        }
      }
      assert.ok(model.size > 0, "the writers acknowledged writes");
    } finally {
      removeDirectory(directory);
    }
  });
}

test.run();
