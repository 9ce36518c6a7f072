/**
 * `npm run bench:txn`: transactions on the built bundle, both cores.
 * - read-modify-write of random keys (10,000 keys, 100 B values; get, then put a new 100 B
 *   value, then commit), with 1 and with 8 transactions interleaved by async code that awaits
 *   (setImmediate) between every step; commits/s and the conflicts (a conflicting transaction
 *   is dropped and a new one started). Baselines: the same without a transaction, and in
 *   transactions in a sync loop (no awaits);
 * - a read through a snapshot and through a transaction against a plain db.get (same random
 *   keys): ns per read and the ratio to a plain get.
 * PGZ_BENCH_TXNS sets the commits per run (default 20,000), PGZ_BENCH_ROUNDS the rounds
 * (default 3; medians are printed), PGZ_BENCH_CORES the cores ("wasm,ts").
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// The built bundle, as users get it (`npm run build`).
import { DB, PgzError } from "../dist/pgz.mjs";
import { random } from "../test/random.ts";

const KEY_COUNT = 10_000;
const VALUE_BYTES = 100;
const READS = 200_000;
const commitsPerRun = Number(process.env.PGZ_BENCH_TXNS ?? 20_000);
const rounds = Number(process.env.PGZ_BENCH_ROUNDS ?? 3);
const cores = (process.env.PGZ_BENCH_CORES ?? "wasm,ts").split(",") as ("wasm" | "ts")[];

const keys = Array.from({ length: KEY_COUNT }, (_, index) => `key${String(index).padStart(6, "0")}`);

function valueOf(seed: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  for (let i = 0; i < VALUE_BYTES; i++) value[i] = (seed + i * 31) & 0xff;
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function withDatabase<T>(core: "wasm" | "ts", body: (db: DB) => T | Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), "pgz-bench-txn-"));
  const db = DB.open(directory, { core });
  try {
    for (let start = 0; start < KEY_COUNT; start += 1000) {
      db.batch(keys.slice(start, start + 1000).map((key, i) => ({ type: "put" as const, key, value: valueOf(start + i) })));
    }
    return await body(db);
  } finally {
    db.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

/** `workers` async loops, each running read-modify-write transactions until `commitsPerRun` in all. */
async function readModifyWrite(db: DB, workers: number, seed: number): Promise<{ commitsPerSecond: number; conflicts: number }> {
  const next = random(seed);
  let commits = 0;
  let conflicts = 0;
  const worker = async () => {
    while (commits < commitsPerRun) {
      const transaction = db.begin();
      const key = keys[Math.floor(next() * KEY_COUNT)]!;
      const value = transaction.get(key)!;
      await yieldToOthers();
      transaction.put(key, valueOf(value[0]! + 1));
      await yieldToOthers();
      try {
        transaction.commit();
        commits++;
      } catch (error) {
        if (!(error instanceof PgzError && error.code === "PGZ_CONFLICT")) throw error;
        conflicts++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: workers }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { commitsPerSecond: commits / seconds, conflicts };
}

/** Baselines without awaits: plain db.get + db.put, or the same in a transaction, in a sync loop. */
function synchronousLoop(db: DB, transactional: boolean, seed: number): { commitsPerSecond: number; conflicts: number } {
  const next = random(seed);
  const started = performance.now();
  for (let commit = 0; commit < commitsPerRun; commit++) {
    const key = keys[Math.floor(next() * KEY_COUNT)]!;
    if (!transactional) {
      db.put(key, valueOf(db.get(key)![0]! + 1));
      continue;
    }
    const transaction = db.begin();
    transaction.put(key, valueOf(transaction.get(key)![0]! + 1));
    transaction.commit();
  }
  return { commitsPerSecond: commitsPerRun / ((performance.now() - started) / 1000), conflicts: 0 };
}

/** Nanoseconds per read of `read` over the same random keys. */
function readCost(read: (key: string) => unknown): number {
  const next = random(7);
  const picks = Array.from({ length: READS }, () => keys[Math.floor(next() * KEY_COUNT)]!);
  const started = process.hrtime.bigint();
  for (const key of picks) read(key);
  return Number(process.hrtime.bigint() - started) / READS;
}

function readOverheads(db: DB): { plain: number; snapshot: number; transaction: number } {
  // Alternate the three a few times so caches and JIT warm-up do not favour one.
  const samples = { plain: [] as number[], snapshot: [] as number[], transaction: [] as number[] };
  readCost((key) => db.get(key)); // warm-up: block cache and JIT
  for (let i = 0; i < 5; i++) {
    samples.plain.push(readCost((key) => db.get(key)));
    const snapshot = db.snapshot();
    samples.snapshot.push(readCost((key) => snapshot.get(key)));
    snapshot.release();
    const transaction = db.begin();
    samples.transaction.push(readCost((key) => transaction.get(key)));
    transaction.abort();
  }
  return { plain: median(samples.plain), snapshot: median(samples.snapshot), transaction: median(samples.transaction) };
}

const format = (value: number) => Math.round(value).toLocaleString("en-US");

console.log(`node ${process.version}, ${KEY_COUNT.toLocaleString("en-US")} keys x ${VALUE_BYTES} B, ${commitsPerRun.toLocaleString("en-US")} commits per run, ${rounds} rounds, medians\n`);
console.log("| core | read-modify-write of a random key | commits/s | conflicts per 1,000 commits |");
console.log("|---|---|---:|---:|");
const reads: string[] = [];
for (const core of cores) {
  const workloads: [string, (db: DB, seed: number) => ReturnType<typeof synchronousLoop> | Promise<ReturnType<typeof synchronousLoop>>][] = [
    ["db.get + db.put, no transaction (sync loop)", (db, seed) => synchronousLoop(db, false, seed)],
    ["transaction, sync loop (no awaits)", (db, seed) => synchronousLoop(db, true, seed)],
    ["transaction, 1 at a time, awaiting between steps", (db, seed) => readModifyWrite(db, 1, seed)],
    ["transaction, 8 interleaved, awaiting between steps", (db, seed) => readModifyWrite(db, 8, seed)],
  ];
  for (const [name, run] of workloads) {
    const results = [];
    for (let round = 0; round < rounds; round++) results.push(await withDatabase(core, (db) => run(db, 1000 + round)));
    const commitsPerSecond = median(results.map((result) => result.commitsPerSecond));
    const conflicts = median(results.map((result) => (result.conflicts / commitsPerRun) * 1000));
    console.log(`| ${core} | ${name} | ${format(commitsPerSecond)} | ${conflicts.toFixed(1)} |`);
  }
  const overhead = await withDatabase(core, readOverheads);
  reads.push(
    `| ${core} | ${overhead.plain.toFixed(0)} | ${overhead.snapshot.toFixed(0)} (${(overhead.snapshot / overhead.plain).toFixed(2)}x) | ${overhead.transaction.toFixed(0)} (${(overhead.transaction / overhead.plain).toFixed(2)}x) |`,
  );
}
console.log(`\n| core | db.get ns/read | snapshot.get ns/read (ratio) | transaction.get ns/read (ratio) |`);
console.log("|---|---:|---:|---:|");
for (const line of reads) console.log(line);
