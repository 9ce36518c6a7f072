/**
 * `npm start`: a db_bench-style run on a temporary directory, for both cores in one process.
 * Workloads: fillrandom (PGZ_BENCH_KEYS keys, default 1,000,000; 16 B keys, 100 B values,
 * batches of 1,000), readrandom (the same count of random point reads, each key formatted
 * per read as LevelDB's db_bench does), readseq (a full
 * iteration), and fillrandom-large (PGZ_BENCH_LARGE_KEYS, default 100,000 x 4 KiB values,
 * batches of 100). Default durability and options (PGZ_BENCH_CORES picks cores,
 * PGZ_BENCH_BLOCK_CACHE_BYTES sets the block cache). Prints ops/s per core and the WASM/TS ratio.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import cliProgress from "cli-progress";
// The built bundle, as users get it (npm install builds it).
import { DB } from "../dist/pgz.mjs";

const keyCount = Number(process.env.PGZ_BENCH_KEYS ?? 1_000_000);
const largeKeyCount = Number(process.env.PGZ_BENCH_LARGE_KEYS ?? 100_000);
const cores = (process.env.PGZ_BENCH_CORES ?? "wasm,ts").split(",") as ("wasm" | "ts")[];
/** PGZ_BENCH_BLOCK_CACHE_BYTES overrides the default block cache (to measure its effect). */
const openOptions = process.env.PGZ_BENCH_BLOCK_CACHE_BYTES === undefined ? {} : { blockCacheBytes: Number(process.env.PGZ_BENCH_BLOCK_CACHE_BYTES) };

const KEY_BYTES = 16;

/**
 * Writes key `index` into target[0, 16): a hashed 10-digit prefix (a scrambled order), then
 * the index in 6 digits (so all are distinct), in ASCII.
 */
function writeKey(target: Uint8Array, index: number): void {
  let hashed = (Math.imul(index + 1, 2654435761) >>> 0) % 10_000_000_000;
  for (let at = 9; at >= 0; at--, hashed = Math.floor(hashed / 10)) target[at] = 48 + (hashed % 10);
  let rest = index;
  for (let at = 15; at >= 10; at--, rest = Math.floor(rest / 10)) target[at] = 48 + (rest % 10);
}

function makeKeys(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, index) => {
    const key = new Uint8Array(KEY_BYTES);
    writeKey(key, index);
    return key;
  });
}

function valueOf(length: number, seed: number): Uint8Array {
  const value = new Uint8Array(length);
  for (let i = 0; i < length; i++) value[i] = (seed + i * 31) & 0xff;
  return value;
}

class Progress {
  private bar: cliProgress.SingleBar | undefined;
  constructor(label: string, total: number) {
    if (!process.stdout.isTTY) return;
    this.bar = new cliProgress.SingleBar({ format: `${label.padEnd(28)} [{bar}] {percentage}% {value}/{total} {rate} ops/s eta {eta}s`, hideCursor: true }, cliProgress.Presets.shades_classic);
    this.bar.start(total, 0, { rate: 0 });
  }
  update(done: number, started: number): void {
    this.bar?.update(done, { rate: Math.round(done / ((performance.now() - started) / 1000)) });
  }
  stop(): void {
    this.bar?.stop();
  }
}

function timed(label: string, total: number, work: (report: (done: number) => void) => void): number {
  const progress = new Progress(label, total);
  const started = performance.now();
  work((done) => progress.update(done, started));
  const seconds = (performance.now() - started) / 1000;
  progress.stop();
  return total / seconds;
}

function fill(db: DB, label: string, keys: Uint8Array[], valueBytes: number, batchSize: number): number {
  const value = valueOf(valueBytes, 7);
  // Batches are built before the clock starts: the benchmark measures the engine.
  const batches = [];
  for (let start = 0; start < keys.length; start += batchSize) {
    batches.push(keys.slice(start, start + batchSize).map((key) => ({ type: "put" as const, key, value })));
  }
  return timed(label, keys.length, (report) => {
    let done = 0;
    for (const batch of batches) {
      db.batch(batch);
      done += batch.length;
      if (done % (batchSize * 16) === 0) report(done);
    }
    report(done);
  });
}

/**
 * Random point reads of the keys written. As in LevelDB's db_bench, each read formats its key
 * into one reused buffer (a key the caller just made, hot in the CPU caches), rather than
 * picking one of a million prebuilt arrays, which would add their cache misses to every read.
 */
function readRandom(db: DB, label: string, count: number): number {
  let found = 0;
  const key = new Uint8Array(KEY_BYTES);
  const rate = timed(label, count, (report) => {
    let x = 12345;
    for (let i = 0; i < count; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      writeKey(key, x % count);
      if (db.get(key) !== undefined) found++;
      if (i % 16384 === 0) report(i);
    }
    report(count);
  });
  if (found !== count) throw new Error(`readrandom found ${found} of ${count} keys`);
  return rate;
}

function readSequential(db: DB, label: string, count: number): number {
  let seen = 0;
  const rate = timed(label, count, (report) => {
    for (const entry of db.iterate()) {
      if (entry[1].length !== 100) throw new Error("readseq: wrong value length");
      if (++seen % 65536 === 0) report(seen);
    }
    report(seen);
  });
  if (seen !== count) throw new Error(`readseq saw ${seen} of ${count} keys`);
  return rate;
}

const keys = makeKeys(keyCount);
const largeKeys = makeKeys(largeKeyCount);
const results: Record<string, Record<string, number>> = {};
for (const core of cores) {
  const directory = mkdtempSync(join(tmpdir(), "pgz-bench-"));
  try {
    let db = DB.open(directory, { core, ...openOptions });
    const row: Record<string, number> = {};
    row.fillrandom = fill(db, `${core} fillrandom`, keys, 100, 1000);
    db.close();
    const reopenStarted = performance.now();
    db = DB.open(directory, { core, ...openOptions });
    row["reopen (ms)"] = performance.now() - reopenStarted;
    row.readrandom = readRandom(db, `${core} readrandom`, keyCount);
    row.readseq = readSequential(db, `${core} readseq`, keyCount);
    db.close();
    rmSync(directory, { recursive: true, force: true });
    db = DB.open(directory, { core, ...openOptions });
    row["fillrandom-large 4 KiB"] = fill(db, `${core} fillrandom-large`, largeKeys, 4096, 100);
    db.close();
    results[core] = row;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const format = (value: number) => Math.round(value).toLocaleString("en-US");
console.log(`\npgz db_bench: ${openOptions.blockCacheBytes === undefined ? "" : `blockCacheBytes ${openOptions.blockCacheBytes}, `}${keyCount.toLocaleString("en-US")} x 16 B keys / 100 B values (batches of 1,000), ${largeKeyCount.toLocaleString("en-US")} x 4 KiB values (batches of 100); default durability; node ${process.version}\n`);
console.log(`| workload | ${cores.join(" | ")} |${cores.length === 2 ? " wasm/ts |" : ""}`);
console.log(`|---|${cores.map(() => "---:").join("|")}|${cores.length === 2 ? "---:|" : ""}`);
for (const workload of Object.keys(results[cores[0]!]!)) {
  const values = cores.map((core) => results[core]![workload]!);
  const unit = workload.includes("(ms)") ? "" : " ops/s";
  const ratio = cores.length === 2 ? ` ${(values[0]! / values[1]!).toFixed(2)}x |` : "";
  console.log(`| ${workload} | ${values.map((value) => format(value) + unit).join(" | ")} |${ratio}`);
}
