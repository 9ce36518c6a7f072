/**
 * `npm run bench:changes`: the change stream on the built bundle, both cores.
 * - writes with a tailing stream: 100 B puts (default "os" durability) from an async writer that
 *   yields to the event loop every 100 puts, with and without a stream consuming at the head;
 *   puts/s of each and the ratio, and the log bytes on disk per put (a tailing stream syncs
 *   unsynced commits at most every 10 ms, and each sync pads the log to a page);
 * - catching up: the stream from sequence 0 over the whole log just written; batches/s.
 * PGZ_BENCH_PUTS sets the puts per run (default 100,000), PGZ_BENCH_ROUNDS the rounds (default 3;
 * medians are printed), PGZ_BENCH_CORES the cores ("wasm,ts").
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// The built bundle, as users get it (`npm run build`).
import { DB } from "../dist/pgz.mjs";

const VALUE_BYTES = 100;
const puts = Number(process.env.PGZ_BENCH_PUTS ?? 100_000);
const rounds = Number(process.env.PGZ_BENCH_ROUNDS ?? 3);
const cores = (process.env.PGZ_BENCH_CORES ?? "wasm,ts").split(",") as ("wasm" | "ts")[];
const value = new Uint8Array(VALUE_BYTES).fill(7);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Run {
  putsPerSecond: number;
  logBytesPerPut: number;
  catchUpBatchesPerSecond: number;
}

async function run(core: "wasm" | "ts", tailing: boolean): Promise<Run> {
  const directory = mkdtempSync(join(tmpdir(), "pgz-bench-changes-"));
  const db = DB.open(directory, { core, autoGc: false });
  try {
    let consumed = 0;
    const stream = tailing ? db.changes({ since: 0 }) : undefined;
    const consumer = stream
      ? (async () => {
          for await (const batch of stream) consumed += batch.operations.length;
        })()
      : undefined;
    const started = performance.now();
    for (let i = 0; i < puts; i++) {
      db.put(`key${String(i).padStart(8, "0")}`, value);
      if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
    }
    const seconds = (performance.now() - started) / 1000;
    // On-disk size: appended records plus the padding each sync adds.
    const logBytes = db.stats().log.totalBytes;
    if (stream) {
      while (consumed < puts) await new Promise((resolve) => setTimeout(resolve, 1));
      await stream.return();
      await consumer;
    }
    const catchUpStarted = performance.now();
    let batches = 0;
    const catchUp = db.changes({ since: 0 });
    for await (const batch of catchUp) {
      batches++;
      if (batch.sequence >= puts) break;
    }
    const catchUpSeconds = (performance.now() - catchUpStarted) / 1000;
    return { putsPerSecond: puts / seconds, logBytesPerPut: logBytes / puts, catchUpBatchesPerSecond: batches / catchUpSeconds };
  } finally {
    db.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

for (const core of cores) {
  const plain: Run[] = [];
  const tailed: Run[] = [];
  for (let round = 0; round < rounds; round++) {
    plain.push(await run(core, false));
    tailed.push(await run(core, true));
  }
  const plainPuts = median(plain.map((r) => r.putsPerSecond));
  const tailedPuts = median(tailed.map((r) => r.putsPerSecond));
  console.log(`${core}: ${puts} puts of ${VALUE_BYTES} B, median of ${rounds}`);
  console.log(`  no stream:      ${Math.round(plainPuts)} puts/s, ${median(plain.map((r) => r.logBytesPerPut)).toFixed(1)} log bytes/put`);
  console.log(`  tailing stream: ${Math.round(tailedPuts)} puts/s, ${median(tailed.map((r) => r.logBytesPerPut)).toFixed(1)} log bytes/put (ratio ${(tailedPuts / plainPuts).toFixed(2)})`);
  console.log(`  catch-up from 0: ${Math.round(median(plain.map((r) => r.catchUpBatchesPerSecond)))} batches/s`);
}
