/**
 * `npm run bench:latency`: put latency during a sustained fill that triggers flushes and
 * compactions (PGZ_BENCH_KEYS single puts, default 500,000; 16 B keys, 100 B values; default
 * durability; PGZ_BENCH_MEMTABLE_BYTES sets memtableBytes, small to force many flushes and
 * compactions), per core: p50, p99, p99.9 and max in microseconds, the time writes spent on
 * background work (flushes and compactions), and how many ran. This is what the stall policy is for: compaction
 * in bounded steps paced by writes, so no put waits for a whole compaction.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB } from "../dist/pgz.mjs";

const count = Number(process.env.PGZ_BENCH_KEYS ?? 500_000);
const cores = (process.env.PGZ_BENCH_CORES ?? "wasm,ts").split(",") as ("wasm" | "ts")[];
const memtableBytes = process.env.PGZ_BENCH_MEMTABLE_BYTES ? Number(process.env.PGZ_BENCH_MEMTABLE_BYTES) : undefined;
const keys = new Uint8Array(count * 16);
for (let i = 0; i < count; i++) {
  const text = String((Math.imul(i + 1, 2654435761) >>> 0) % 1e10).padStart(10, "0") + String(i).padStart(6, "0");
  for (let j = 0; j < 16; j++) keys[i * 16 + j] = text.charCodeAt(j);
}
const value = new Uint8Array(100).fill(7);

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

console.log(`put latency: ${count.toLocaleString("en-US")} single puts, 16 B keys, 100 B values, default durability, memtableBytes ${memtableBytes ?? "default"}, node ${process.version}\n`);
console.log("| core | puts/s | p50 µs | p99 µs | p99.9 µs | max µs | compactions | flushes | background work in writes ms |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const core of cores) {
  const directory = mkdtempSync(join(tmpdir(), "pgz-latency-"));
  try {
    const db = DB.open(directory, { core, ...(memtableBytes ? { memtableBytes } : {}) });
    const latencies = new Float64Array(count);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const before = performance.now();
      db.put(keys.subarray(i * 16, i * 16 + 16), value);
      latencies[i] = (performance.now() - before) * 1000;
    }
    const seconds = (performance.now() - started) / 1000;
    const stats = db.stats();
    db.close();
    latencies.sort();
    const format = (micros: number) => micros.toFixed(micros < 10 ? 1 : 0);
    console.log(
      `| ${core} | ${Math.round(count / seconds).toLocaleString("en-US")} | ${format(percentile(latencies, 0.5))} | ${format(percentile(latencies, 0.99))} | ${format(percentile(latencies, 0.999))} | ${format(latencies[count - 1]!)} | ${stats.compaction.done} | ${stats.flushes} | ${stats.compaction.stallMilliseconds.toLocaleString("en-US")} |`,
    );
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
