/**
 * `npm run bench:core`: each hot path on the WASM core and on the TS core, same inputs, same
 * process, alternating rounds; prints medians and the WASM/TS ratio as a Markdown table.
 * PGZ_BENCH_ROUNDS sets the rounds (default 5); PGZ_BENCH_ONLY=crc32c,lz4 picks hot paths.
 * PGZ_BENCH_STAT=best reports each side's best round instead of the median: on a machine shared
 * with other work, the fastest round of many short ones is the one least preempted.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createPureCore } from "../ts/core/pure/index.ts";
import { createWasmCore } from "../ts/core/wasm.ts";
import type { BenchCase } from "./core/harness.ts";
import { cases as crc32cCases } from "./core/crc32c.ts";
import { cases as blockCases } from "./core/block.ts";
import { cases as skiplistCases } from "./core/skiplist.ts";
import { cases as mergeCases } from "./core/merge.ts";
import { cases as bloomCases } from "./core/bloom.ts";
import { cases as lz4Cases } from "./core/lz4.ts";
import { cases as lookupCases } from "./core/lookup.ts";

const rounds = Number(process.env.PGZ_BENCH_ROUNDS ?? 5);
const best = process.env.PGZ_BENCH_STAT === "best";
const only = process.env.PGZ_BENCH_ONLY?.split(",");
const all: BenchCase[] = [...crc32cCases, ...blockCases, ...skiplistCases, ...mergeCases, ...bloomCases, ...lz4Cases, ...lookupCases];
const selected = all.filter((c) => !only || only.includes(c.hotPath));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function timeOnce(run: () => number, unit: BenchCase["unit"]): number {
  const start = process.hrtime.bigint();
  const units = run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return unit === "MB/s" ? units / 1e6 / seconds : units / seconds;
}

const format = (value: number) => (value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1));

/**
 * Each hot path runs in a child process of its own: inputs a path keeps alive (up to 450 MB of
 * JS heap for the block cases) would otherwise slow the paths after it through the garbage
 * collector (measured: memtable insert 550,000/s after the block cases, 825,000/s after crc32c).
 */
if (process.env.PGZ_BENCH_CHILD !== "1") {
  console.log(`node ${process.version}, ${rounds} rounds, ${best ? "best round" : "medians"}\n`);
  console.log("| hot path | workload | unit | WASM | TS | WASM/TS |");
  console.log("|---|---|---|---:|---:|---:|");
  for (const hotPath of new Set(selected.map((c) => c.hotPath))) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, PGZ_BENCH_CHILD: "1", PGZ_BENCH_ONLY: hotPath },
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (child.status !== 0) process.exit(child.status ?? 1);
  }
} else {
  for (const benchCase of selected) {
    const results: Record<string, number[]> = { wasm: [], ts: [] };
    for (let round = 0; round < rounds; round++) {
      // Fresh cores each round (a memtable or arena starts empty); alternate which goes first.
      const order = round % 2 === 0 ? ["wasm", "ts"] : ["ts", "wasm"];
      for (const name of order) {
        const core = name === "wasm" ? createWasmCore() : createPureCore();
        const run = benchCase.prepare(core);
        results[name]!.push(timeOnce(run, benchCase.unit));
      }
    }
    const summary = best ? (values: number[]) => Math.max(...values) : median;
    const wasm = summary(results.wasm!);
    const ts = summary(results.ts!);
    console.log(`| ${benchCase.hotPath} | ${benchCase.workload} | ${benchCase.unit} | ${format(wasm)} | ${format(ts)} | ${(wasm / ts).toFixed(2)}x |`);
  }
}
