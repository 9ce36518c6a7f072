/**
 * The bench:browser workloads, in one dedicated worker, interleaved: each workload runs on every
 * engine (the starting engine rotates) before the next workload starts, on the same keys and
 * values. Posts `{ progress }` as it goes and `{ results }` at the end.
 */
import { random } from "../../test/random.ts";
import { engines, type Engine, type Entry } from "./engines.ts";

export interface BenchSize {
  /** Entries of fillrandom, readrandom and readseq (16 B keys, 100 B values). */
  entries: number;
  /** Durable single puts, each awaited. */
  durablePuts: number;
  /** Entries of the 4 KiB-value fill and reads. */
  largeEntries: number;
  batchEntries: number;
}

export interface BenchRow {
  workload: string;
  unit: string;
  /** Larger is better, unless `lowerIsBetter`. */
  lowerIsBetter?: boolean;
  values: Record<string, number>;
}

const scope = globalThis as unknown as { onmessage: (event: { data: { size: BenchSize; tag: string } }) => void; postMessage(message: unknown): void };

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

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

let workDone = 0;
let workTotal = 1;

function progress(label: string): void {
  scope.postMessage({ progress: { done: ++workDone, total: workTotal, label } });
}

/** Runs `body` on every engine, starting at a different one per workload. */
async function interleaved(all: Engine[], round: number, label: string, body: (engine: Engine) => Promise<number>): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (let offset = 0; offset < all.length; offset++) {
    const engine = all[(round + offset) % all.length]!;
    values[engine.name] = await body(engine);
    progress(`${label}: ${engine.name}`);
  }
  return values;
}

async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

async function fill(engine: Engine, data: readonly Entry[], batchEntries: number): Promise<number> {
  return timed(async () => {
    for (let start = 0; start < data.length; start += batchEntries) await engine.batch(data.slice(start, start + batchEntries));
  });
}

async function smallValues(size: BenchSize, tag: string, rows: BenchRow[]): Promise<void> {
  const all = engines(tag);
  for (const engine of all) await engine.open();
  const data = dataset(size.entries, 100, 1);
  const perSecond = (count: number, milliseconds: number) => Math.round((count / milliseconds) * 1000);
  const fills = await interleaved(all, 0, "fillrandom", async (engine) => perSecond(data.length, await fill(engine, data, size.batchEntries)));
  rows.push({ workload: `fillrandom ${size.entries.toLocaleString("en")} x 100 B, batches of ${size.batchEntries.toLocaleString("en")}`, unit: "ops/s", values: fills });
  const durable = dataset(size.durablePuts, 100, 2);
  const latencies: Record<string, number[]> = {};
  await interleaved(all, 1, "durable puts", async (engine) => {
    const times: number[] = [];
    for (const [key, value] of durable) times.push(await timed(() => engine.putDurable(key, value)));
    latencies[engine.name] = times.sort((a, b) => a - b);
    return 0;
  });
  const p50 = Object.fromEntries(Object.entries(latencies).map(([name, times]) => [name, percentile(times, 0.5)]));
  const p99 = Object.fromEntries(Object.entries(latencies).map(([name, times]) => [name, percentile(times, 0.99)]));
  rows.push({ workload: `durable single put p50 (${size.durablePuts} puts, each awaited)`, unit: "ms", lowerIsBetter: true, values: p50 });
  rows.push({ workload: "durable single put p99", unit: "ms", lowerIsBetter: true, values: p99 });
  const keys = shuffled(data.map(([key]) => key), 3);
  const reads = await interleaved(all, 2, "readrandom", async (engine) => perSecond(keys.length, await timed(() => engine.getAll(keys))));
  rows.push({ workload: `readrandom ${keys.length.toLocaleString("en")}`, unit: "ops/s", values: reads });
  const scans = await interleaved(all, 3, "readseq", async (engine) => {
    let count = 0;
    const milliseconds = await timed(async () => (count = await engine.scan()));
    return perSecond(count, milliseconds);
  });
  rows.push({ workload: "readseq (full scan)", unit: "entries/s", values: scans });
  for (const engine of all) await engine.close();
}

async function largeValues(size: BenchSize, tag: string, rows: BenchRow[]): Promise<void> {
  const all = engines(`${tag}-large`);
  for (const engine of all) await engine.open();
  const data = dataset(size.largeEntries, 4096, 4);
  const batchEntries = Math.min(size.batchEntries, 100);
  const megabytesPerSecond = (milliseconds: number) => Math.round(((data.length * 4112) / 1048576 / milliseconds) * 1000 * 10) / 10;
  const fills = await interleaved(all, 4, "fill 4 KiB", async (engine) => megabytesPerSecond(await fill(engine, data, batchEntries)));
  rows.push({ workload: `fillrandom ${size.largeEntries.toLocaleString("en")} x 4 KiB, batches of ${batchEntries}`, unit: "MB/s", values: fills });
  const keys = shuffled(data.map(([key]) => key), 5);
  const reads = await interleaved(all, 0, "readrandom 4 KiB", async (engine) => Math.round((keys.length / (await timed(() => engine.getAll(keys)))) * 1000));
  rows.push({ workload: `readrandom ${keys.length.toLocaleString("en")} x 4 KiB`, unit: "ops/s", values: reads });
  for (const engine of all) await engine.close();
}

/** Fills, reads and scans a scratch copy of every engine, unmeasured, so JIT tiers settle first. */
async function warmUp(size: BenchSize, tag: string): Promise<void> {
  const all = engines(`${tag}-warmup`);
  const data = dataset(Math.min(size.entries, 5000), 100, 6);
  for (const engine of all) {
    await engine.open();
    await fill(engine, data, size.batchEntries);
    await engine.getAll(data.map(([key]) => key));
    await engine.scan();
    await engine.close();
    progress(`warm-up: ${engine.name}`);
  }
}

scope.onmessage = async ({ data: { size, tag } }) => {
  try {
    workDone = 0;
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
