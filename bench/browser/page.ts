/**
 * Starts the bench:browser worker from a page and reports its progress: used by the runner
 * (bench/browser/run.ts, through globalThis.pgzBench) and by the example page.
 */
import type { BenchRow, BenchSize } from "./worker.ts";

export type { BenchRow, BenchSize };

export interface Progress {
  done: number;
  total: number;
  label: string;
}

/** Runs every workload on every engine in a fresh worker; `tag` keeps runs' files apart. */
export function runBenchmark(size: BenchSize, tag: string, onProgress: (progress: Progress) => void = () => undefined): Promise<BenchRow[]> {
  const worker = new Worker(new URL("./bench-worker.mjs", import.meta.url), { type: "module" });
  return new Promise<BenchRow[]>((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.progress) onProgress(data.progress);
      if (data.results) resolve(data.results);
      if (data.error) reject(new Error(data.error));
    };
    worker.onerror = (event) => reject(new Error(`the benchmark worker failed: ${event.message}`));
    worker.postMessage({ size, tag });
  }).finally(() => worker.terminate());
}

/** The full-size run bench:browser reports (docs/BENCHMARKS.md). */
export const FULL_SIZE: BenchSize = { entries: 100_000, durablePuts: 500, largeEntries: 10_000, batchEntries: 1000 };

Object.assign(globalThis, {
  pgzBench: (size: BenchSize, tag: string) => runBenchmark(size, tag, (progress) => console.log(`progress ${progress.done}/${progress.total} ${progress.label}`)),
  pgzBenchFullSize: FULL_SIZE,
});
