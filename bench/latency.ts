/**
 * `npm run bench:latency`: batch latency on the caller's thread during a sustained fill, as a
 * server embedding pgz would see it: PGZ_BENCH_KEYS random puts (default 1,000,000; 16 B keys,
 * 100 B values) in batches of 1,000, default options, yielding to the event loop between
 * batches; `background: "inline"` against `background: "worker"` in the same run (the machine is
 * shared and noisy, so only the ratio is meaningful). Per mode: p50, p99, p99.9 and max batch
 * latency in ms, and beside it the event loop's delay (perf_hooks.monitorEventLoopDelay: how
 * late a timer fires), with the flushes and compactions that ran. PGZ_BENCH_CORES picks the
 * cores (default wasm); PGZ_BENCH_MEMTABLE_BYTES sets memtableBytes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { DB } from "../dist/pgz.mjs";

const count = Number(process.env.PGZ_BENCH_KEYS ?? 1_000_000);
const batchSize = 1_000;
const cores = (process.env.PGZ_BENCH_CORES ?? "wasm").split(",") as ("wasm" | "ts")[];
const memtableBytes = process.env.PGZ_BENCH_MEMTABLE_BYTES ? Number(process.env.PGZ_BENCH_MEMTABLE_BYTES) : undefined;
const keys = new Uint8Array(count * 16);
for (let i = 0; i < count; i++) {
  const text = String((Math.imul(i + 1, 2654435761) >>> 0) % 1e10).padStart(10, "0") + String(i).padStart(6, "0");
  for (let j = 0; j < 16; j++) keys[i * 16 + j] = text.charCodeAt(j);
}
const value = new Uint8Array(100).fill(7);
const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

async function run(core: "wasm" | "ts", background: "inline" | "worker"): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), "pgz-latency-"));
  try {
    const db = DB.open(directory, { core, background, ...(memtableBytes ? { memtableBytes } : {}) });
    const batches = Math.ceil(count / batchSize);
    const latencies = new Float64Array(batches);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    for (let batch = 0; batch < batches; batch++) {
      const operations = [];
      for (let i = batch * batchSize; i < Math.min(count, (batch + 1) * batchSize); i++) operations.push({ type: "put" as const, key: keys.subarray(i * 16, i * 16 + 16), value });
      const before = performance.now();
      db.batch(operations);
      latencies[batch] = performance.now() - before;
      await yieldToLoop();
    }
    const seconds = (performance.now() - started) / 1000;
    delay.disable();
    const stats = db.stats();
    db.close();
    latencies.sort();
    const ms = (value: number) => value.toFixed(2);
    const loop = (nanoseconds: number) => (nanoseconds / 1e6).toFixed(2);
    return `| ${core} | ${background} | ${Math.round(count / seconds).toLocaleString("en-US")} | ${ms(percentile(latencies, 0.5))} | ${ms(percentile(latencies, 0.99))} | ${ms(percentile(latencies, 0.999))} | ${ms(latencies[batches - 1]!)} | ${loop(delay.percentile(99))} | ${loop(delay.percentile(99.9))} | ${loop(delay.max)} | ${stats.flushes} | ${stats.compaction.done} |`;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

console.log(`batch latency: ${count.toLocaleString("en-US")} random puts in batches of ${batchSize}, 16 B keys, 100 B values, default options${memtableBytes ? `, memtableBytes ${memtableBytes}` : ""}, node ${process.version}\n`);
console.log("| core | background | puts/s | p50 ms | p99 ms | p99.9 ms | max ms | loop delay p99 ms | loop delay p99.9 ms | loop delay max ms | flushes | compactions |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const core of cores) for (const background of ["inline", "worker"] as const) console.log(await run(core, background));
