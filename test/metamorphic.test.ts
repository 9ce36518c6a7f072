/**
 * Metamorphic test, in the style of Pebble's: one random operation list (test/model.ts: writes,
 * reads, flushes, full and ranged compactions, GC, idle turns, snapshots, held iterators,
 * transactions, reopens, file-number jumps) is run under several option sets, which change where
 * data lives (memtable sizes, table and segment sizes, level-0 trigger, value threshold, core,
 * automatic GC) but never what a read returns. Every read, of every configuration, must give
 * the same result; no model is consulted, so this also covers what the model does not know.
 * fast-check prints the seed and the shrunk operation list on failure; PGZ_SEED=<seed> replays
 * the runs (PGZ_PATH=<path> too: straight to the counterexample), PGZ_LONG=1 runs more and
 * longer lists.
 */
import { reportCases } from "./reliability/fixtures/summary.ts";
import { test } from "uvu";
import fc from "fast-check";
import type { OpenOptions } from "../ts/index.ts";
import { removeDirectory } from "./helpers.ts";
import { Runner, operationArbitrary, scratchDirectory, tinyOptions, type Operation } from "./model.ts";

const LONG = process.env.PGZ_LONG === "1";
const SEED = process.env.PGZ_SEED === undefined ? undefined : Number(process.env.PGZ_SEED);
/** With PGZ_SEED, fast-check's printed `path` goes straight to the counterexample. */
const PATH = process.env.PGZ_PATH;

/**
 * The configurations compared: l0Files 1 (every flush compacted at once) against 12 (tables pile
 * up in level 0), and flushes and compactions on the background worker (the default) against
 * inline (background is a dimension here at no extra cost).
 */
const CONFIGURATIONS: { name: string; options: OpenOptions }[] = [
  { name: "tiny, ts, l0Files 1", options: { ...tinyOptions("ts"), l0Files: 1 } },
  { name: "tiny, ts, l0Files 1, inline", options: { ...tinyOptions("ts"), l0Files: 1, background: "inline" } },
  { name: "tiny, wasm, l0Files 12, no autoGc, inline", options: { ...tinyOptions("wasm"), l0Files: 12, autoGc: false, background: "inline" } },
  { name: "defaults, wasm", options: { core: "wasm" } },
  {
    name: "medium, ts, every value in the log, no autoGc, inline",
    options: { core: "ts", background: "inline", memtableBytes: 16 * 1024, tableBytes: 8192, level1Bytes: 32 * 1024, levelRatio: 4, segmentBytes: 64 * 1024, l0Files: 4, valueThreshold: 0, autoGc: false },
  },
  {
    name: "tiny, wasm, every value inline, l0Files 12",
    options: { core: "wasm", memtableBytes: 4096, tableBytes: 4096, level1Bytes: 16 * 1024, levelRatio: 10, l0Files: 12, valueThreshold: 65536, openFilesMax: 8, blockCacheBytes: 0 },
  },
];

async function observe(options: OpenOptions, operations: readonly Operation[]): Promise<string[]> {
  const directory = scratchDirectory();
  try {
    const runner = new Runner(directory, options, false);
    await runner.run(operations);
    return runner.observations;
  } finally {
    removeDirectory(directory);
  }
}

/** Runs `operations` under every configuration; throws at the first read that differs from the first one's. */
async function compareConfigurations(operations: readonly Operation[]): Promise<void> {
  const [reference, ...others] = CONFIGURATIONS;
  const expected = await observe(reference!.options, operations);
  for (const { name, options } of others) {
    const actual = await observe(options, operations);
    const length = Math.max(actual.length, expected.length);
    for (let index = 0; index < length; index++) {
      if (actual[index] === expected[index]) continue;
      throw new Error(`"${name}" differs from "${reference!.name}" at observation ${index}:\n  ${actual[index] ?? "(nothing)"}\n  ${expected[index] ?? "(nothing)"}`);
    }
  }
}

test("the same operations give the same reads under every configuration", async () => {
  const operations = fc.array(operationArbitrary(), { minLength: 1, maxLength: LONG ? 400 : 150, size: "max" });
  const numRuns = Number(process.env.PGZ_METAMORPHIC_RUNS ?? (LONG ? 200 : 12));
  await fc.assert(fc.asyncProperty(operations, compareConfigurations), { numRuns, seed: SEED, path: PATH, includeErrorInReport: true });
  // Every operation list runs on both cores (among the six configurations).
  for (const core of ["ts", "wasm"]) reportCases("metamorphic: one operation list, six option sets (operation lists)", core, numRuns);
});

test.run();
