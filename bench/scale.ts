/**
 * `npm run bench:scale`: the engine at scale. Fills PGZ_BENCH_KEYS keys (default 2,000,000) with
 * PGZ_BENCH_VALUE_BYTES values (default 1 KiB), then overwrites all of them PGZ_BENCH_ROUNDS more times (default 2: three writes
 * of every key, about 6 GiB from the user at full size), in batches of 100, on a directory under
 * the temp dir, WASM core, default options. GC runs as an application would call it: once after
 * each round. Reports per round: write rate, p99 and max latency per batch; and at the end: write
 * amplification (bytes written to disk / by the user), space amplification after db.gc() (bytes
 * on disk / live bytes), random-read throughput and per-read latency (p50, p99, p99.9, each get
 * timed) right after the first fill and at the end.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB } from "../dist/pgz.mjs";

const keyCount = Number(process.env.PGZ_BENCH_KEYS ?? 2_000_000);
const overwriteRounds = Number(process.env.PGZ_BENCH_ROUNDS ?? 2);
const valueBytes = Number(process.env.PGZ_BENCH_VALUE_BYTES ?? 1024);
const batchSize = 100;
const readCount = Math.min(200_000, keyCount);

const keys = new Uint8Array(keyCount * 16);
for (let i = 0; i < keyCount; i++) {
  const text = String((Math.imul(i + 1, 2654435761) >>> 0) % 1e10).padStart(10, "0") + String(i).padStart(6, "0");
  for (let j = 0; j < 16; j++) keys[i * 16 + j] = text.charCodeAt(j);
}
const keyAt = (i: number) => keys.subarray(i * 16, i * 16 + 16);

function valueFor(round: number): Uint8Array {
  const value = new Uint8Array(valueBytes);
  for (let i = 0; i < valueBytes; i++) value[i] = (round * 131 + i * 7) & 0xff;
  return value;
}

function directoryBytes(directory: string): number {
  return readdirSync(directory).reduce((sum, name) => sum + statSync(join(directory, name)).size, 0);
}

interface ReadFigures {
  perSecond: number;
  /** Milliseconds per get at the 50th, 99th and 99.9th percentile. */
  p50: number;
  p99: number;
  p999: number;
}

function readRandom(db: DB): ReadFigures {
  let x = 7;
  const latencies = new Float64Array(readCount);
  const started = performance.now();
  for (let i = 0; i < readCount; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const before = performance.now();
    const value = db.get(keyAt(x % keyCount));
    latencies[i] = performance.now() - before;
    if (value === undefined) throw new Error("a key went missing");
  }
  const perSecond = readCount / ((performance.now() - started) / 1000);
  latencies.sort();
  const at = (quantile: number) => latencies[Math.min(readCount - 1, Math.floor(readCount * quantile))]!;
  return { perSecond, p50: at(0.5), p99: at(0.99), p999: at(0.999) };
}

const describeReads = (reads: ReadFigures) =>
  `${format(reads.perSecond)} reads/s, p50 ${(reads.p50 * 1000).toFixed(1)} µs, p99 ${(reads.p99 * 1000).toFixed(1)} µs, p99.9 ${(reads.p999 * 1000).toFixed(1)} µs`;

const format = (value: number) => Math.round(value).toLocaleString("en-US");
const directory = mkdtempSync(join(tmpdir(), "pgz-scale-"));
try {
  const db = DB.open(directory, { core: "wasm" });
  console.log(`bench:scale: ${format(keyCount)} keys x ${valueBytes} B, ${1 + overwriteRounds} writes of each, batches of ${batchSize}, WASM core, node ${process.version}\n`);
  console.log("| round | ops/s | p99 batch ms | max batch ms | disk after GC MiB | segments collected |");
  console.log("|---|---:|---:|---:|---:|---:|");
  let readAfterFill: ReadFigures | undefined;
  for (let round = 0; round <= overwriteRounds; round++) {
    const value = valueFor(round);
    const latencies = new Float64Array(Math.ceil(keyCount / batchSize));
    const started = performance.now();
    for (let start = 0, batch = 0; start < keyCount; start += batchSize, batch++) {
      const operations = [];
      for (let i = start; i < Math.min(keyCount, start + batchSize); i++) operations.push({ type: "put" as const, key: keyAt(i), value });
      const before = performance.now();
      db.batch(operations);
      latencies[batch] = performance.now() - before;
    }
    const rate = keyCount / ((performance.now() - started) / 1000);
    let collected = 0;
    for (let report = db.gc({ segmentsMax: 1000 }); report.segmentsCollected.length > 0; report = db.gc({ segmentsMax: 1000 })) collected += report.segmentsCollected.length;
    latencies.sort();
    console.log(`| ${round === 0 ? "fill" : `overwrite ${round}`} | ${format(rate)} | ${latencies[Math.floor(latencies.length * 0.99)]!.toFixed(1)} | ${latencies[latencies.length - 1]!.toFixed(1)} | ${format(directoryBytes(directory) / 1048576)} | ${collected} |`);
    if (round === 0) readAfterFill = readRandom(db);
  }
  const readAtEnd = readRandom(db);
  const stats = db.stats();
  const liveBytes = keyCount * (16 + valueBytes);
  console.log(`
| measure | value |
|---|---:|
| bytes written by the user | ${format(stats.userBytesWritten / 1048576)} MiB |
| bytes written to disk (log + flushes + compactions) | ${format(stats.diskBytesWritten / 1048576)} MiB |
| write amplification | ${(stats.diskBytesWritten / stats.userBytesWritten).toFixed(2)} |
| bytes on disk after db.gc() | ${format(directoryBytes(directory) / 1048576)} MiB |
| space amplification (disk / live key+value bytes) | ${(directoryBytes(directory) / liveBytes).toFixed(2)} |
| random reads right after the fill | ${describeReads(readAfterFill!)} |
| random reads at the end | ${describeReads(readAtEnd)} (${((readAtEnd.perSecond / readAfterFill!.perSecond) * 100).toFixed(0)}% of the rate) |
| compactions / flushes / GC runs | ${stats.compaction.done} / ${stats.flushes} / ${stats.log.gcRuns} |`);
  db.close();
} finally {
  rmSync(directory, { recursive: true, force: true });
}
