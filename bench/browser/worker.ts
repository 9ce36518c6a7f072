/**
 * The bench:browser workloads, in one dedicated worker, on the same keys and values for every
 * engine. Each workload is cut into chunks (a batch, a durable put, 1,000 reads) and every engine
 * runs chunk i, in a random order, before any runs chunk i + 1: on a shared, noisy machine a
 * burst of load then lands on every engine alike instead of on whichever ran during it. Every
 * value read is checked against the one written, and every scan's count. Posts `{ progress }` as
 * it goes and `{ results }` at the end.
 */
import { random } from "../../test/random.ts";
import { engines, valueChecksum, type Engine, type Entry } from "./engines.ts";
import { FLOOR_NAME, FlushFloor } from "./floor.ts";

export interface BenchSize {
  /** Entries of fillrandom, readrandom and readseq (16 B keys, 100 B values). */
  entries: number;
  /** Durable single puts, each awaited. */
  durablePuts: number;
  /** Entries of the 4 KiB-value fill and reads. */
  largeEntries: number;
  batchEntries: number;
  /** Brackets each engine's share of a workload with console.profile (bench:browser --cpu-profile). */
  profile?: boolean;
}

export interface BenchRow {
  workload: string;
  unit: string;
  /** Larger is better, unless `lowerIsBetter`. */
  lowerIsBetter?: boolean;
  values: Record<string, number>;
}

const scope = globalThis as unknown as { onmessage: (event: { data: { size: BenchSize; tag: string } }) => void; postMessage(message: unknown): void };
/** Keys per read chunk: IndexedDB reads them in one transaction, browser-level in one getMany. */
const READ_CHUNK_KEYS = 1000;

function randomBytes(next: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = Math.floor(next() * 256);
  return bytes;
}

function dataset(count: number, valueBytes: number, seed: number): Entry[] {
  const next = random(seed);
  return Array.from({ length: count }, () => [randomBytes(next, 16), randomBytes(next, valueBytes)] as Entry);
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = random(seed);
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(next() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/** Full scans per engine: one takes about 0.25 s, so one burst of the machine's load can decide two. */
const SCAN_ROUNDS = 5;

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

const perSecond = (count: number, milliseconds: number) => Math.round((count / milliseconds) * 1000);

let profiling = false;
let workDone = 0;
let workTotal = 1;

function progress(label: string): void {
  scope.postMessage({ progress: { done: ++workDone, total: workTotal, label } });
}

/**
 * Runs `run(engine, chunk)` for every chunk on every engine, chunk by chunk, in a fresh random
 * order per chunk; returns each engine's times, one per chunk, in milliseconds. Not a rotation:
 * that keeps each engine behind the same one, and an engine that leaves writes unflushed
 * (browser-level) would hand its flush to the one after it.
 */
async function interleaved<T>(all: Engine[], label: string, chunks: readonly T[], run: (engine: Engine, chunk: T) => Promise<unknown>): Promise<Map<Engine, number[]>> {
  const times = new Map(all.map((engine) => [engine, [] as number[]]));
  if (profiling) console.profile(label);
  for (let index = 0; index < chunks.length; index++) {
    for (const engine of shuffled(all, index + 1)) {
      const started = performance.now();
      await run(engine, chunks[index]!);
      times.get(engine)!.push(performance.now() - started);
    }
  }
  if (profiling) console.profileEnd(label);
  for (const engine of all) if (engine.name !== FLOOR_NAME) progress(`${label}: ${engine.name}`);
  return times;
}

function byName(times: Map<Engine, number[]>, value: (times: number[]) => number): Record<string, number> {
  return Object.fromEntries([...times].map(([engine, chunkTimes]) => [engine.name, value(chunkTimes)]));
}

const total = (times: number[]) => times.reduce((sum, time) => sum + time, 0);

/** Reads every key in chunks on every engine and checks the values; reads per second. */
async function readRandom(all: Engine[], label: string, data: readonly Entry[], seed: number): Promise<Record<string, number>> {
  const keys = shuffled(data.map(([key]) => key), seed);
  const expected = new Map(data.map(([key, value]) => [key, valueChecksum(value)]));
  const chunks = chunked(keys, READ_CHUNK_KEYS);
  const expectedSums = chunks.map((chunk) => chunk.reduce((sum, key) => sum + expected.get(key)!, 0));
  const sums = new Map(all.map((engine) => [engine, [] as number[]]));
  const times = await interleaved(all, label, chunks, async (engine, chunk) => sums.get(engine)!.push(await engine.getAll(chunk)));
  for (const engine of all) {
    const wrong = sums.get(engine)!.findIndex((sum, index) => sum !== expectedSums[index]);
    if (wrong >= 0) throw new Error(`${label}: ${engine.name} read wrong or missing values in chunk ${wrong}`);
  }
  return byName(times, (chunkTimes) => perSecond(keys.length, total(chunkTimes)));
}

/** Scans every engine SCAN_ROUNDS times and checks the counts; entries per second of the fastest scan. */
async function readSequential(all: Engine[], expectedCount: number): Promise<Record<string, number>> {
  const times = await interleaved(all, "readseq", Array.from({ length: SCAN_ROUNDS }, (_, round) => round), async (engine) => {
    const count = await engine.scan();
    if (count !== expectedCount) throw new Error(`readseq: ${engine.name} scanned ${count} entries, expected ${expectedCount}`);
  });
  return byName(times, (roundTimes) => perSecond(expectedCount, Math.min(...roundTimes)));
}

async function smallValues(size: BenchSize, tag: string, rows: BenchRow[]): Promise<void> {
  const all = engines(tag);
  for (const engine of all) await engine.open();
  const data = dataset(size.entries, 100, 1);
  const fills = await interleaved(all, "fillrandom", chunked(data, size.batchEntries), (engine, batch) => engine.batch(batch));
  rows.push({ workload: `fillrandom ${size.entries.toLocaleString("en")} x 100 B, batches of ${size.batchEntries.toLocaleString("en")}`, unit: "ops/s", values: byName(fills, (times) => perSecond(data.length, total(times))) });
  const durable = dataset(size.durablePuts, 100, 2);
  const floor = new FlushFloor(`${tag}-floor`);
  await floor.open();
  const latencies = await interleaved([...all, floor], "durable puts", durable, (engine, [key, value]) => engine.putDurable(key, value));
  await floor.close();
  const { [FLOOR_NAME]: floorP50, ...p50 } = byName(latencies, (times) => percentile([...times].sort((a, b) => a - b), 0.5));
  const { [FLOOR_NAME]: floorP99, ...p99 } = byName(latencies, (times) => percentile([...times].sort((a, b) => a - b), 0.99));
  const puts = `${size.durablePuts} puts, each awaited`;
  rows.push({ workload: `durable single put p50 (${puts}; bare OPFS 4 KiB write + flush: ${floorP50!.toFixed(2)} ms)`, unit: "ms", lowerIsBetter: true, values: p50 });
  rows.push({ workload: `durable single put p99 (bare OPFS write + flush: ${floorP99!.toFixed(2)} ms)`, unit: "ms", lowerIsBetter: true, values: p99 });
  rows.push({ workload: `readrandom ${data.length.toLocaleString("en")}`, unit: "ops/s", values: await readRandom(all, "readrandom", data, 3) });
  rows.push({ workload: `readseq (full scan, best of ${SCAN_ROUNDS})`, unit: "entries/s", values: await readSequential(all, data.length + durable.length) });
  for (const engine of all) await engine.close();
}

async function largeValues(size: BenchSize, tag: string, rows: BenchRow[]): Promise<void> {
  const all = engines(`${tag}-large`);
  for (const engine of all) await engine.open();
  const data = dataset(size.largeEntries, 4096, 4);
  const batchEntries = Math.min(size.batchEntries, 100);
  const fills = await interleaved(all, "fill 4 KiB", chunked(data, batchEntries), (engine, batch) => engine.batch(batch));
  const megabytesPerSecond = (milliseconds: number) => Math.round(((data.length * 4112) / 1048576 / milliseconds) * 1000 * 10) / 10;
  rows.push({ workload: `fillrandom ${size.largeEntries.toLocaleString("en")} x 4 KiB, batches of ${batchEntries}`, unit: "MB/s", values: byName(fills, (times) => megabytesPerSecond(total(times))) });
  rows.push({ workload: `readrandom ${data.length.toLocaleString("en")} x 4 KiB`, unit: "ops/s", values: await readRandom(all, "readrandom 4 KiB", data, 5) });
  for (const engine of all) await engine.close();
}

/** Fills, reads and scans a scratch copy of every engine, unmeasured, so JIT tiers settle first. */
async function warmUp(size: BenchSize, tag: string): Promise<void> {
  const all = engines(`${tag}-warmup`);
  const data = dataset(Math.min(size.entries, 5000), 100, 6);
  for (const engine of all) {
    await engine.open();
    for (const batch of chunked(data, size.batchEntries)) await engine.batch(batch);
    for (const keys of chunked(data.map(([key]) => key), READ_CHUNK_KEYS)) await engine.getAll(keys);
    await engine.scan();
    await engine.close();
    progress(`warm-up: ${engine.name}`);
  }
}

scope.onmessage = async ({ data: { size, tag } }) => {
  try {
    workDone = 0;
    profiling = size.profile === true;
    workTotal = 7 * engines("count").length; // warm-up and six measured workloads
    const rows: BenchRow[] = [];
    await warmUp(size, tag);
    await smallValues(size, tag, rows);
    await largeValues(size, tag, rows);
    scope.postMessage({ results: rows });
  } catch (error) {
    scope.postMessage({ error: error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error) });
  }
};
