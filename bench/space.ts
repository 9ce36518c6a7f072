/**
 * `npm run bench:space`: space that comes back without the user calling gc(). Issue 12's
 * workload: 20,000 keys x 1 KiB values written three times over (the last write of each is live),
 * 4 MiB log segments, default options otherwise, then PGZ_BENCH_IDLE_MS (default 5,000) of idle
 * event loop. Reports, per core: bytes in the directory / live bytes right after the writes,
 * after the idle time, and after close; write amplification (bytes written to disk / by the
 * user); segments collected by automatic GC. The target is at most 1.5x after idle, and write
 * amplification at most 3.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB } from "../ts/index.ts";

const keyCount = Number(process.env.PGZ_BENCH_KEYS ?? 20_000);
const idleMilliseconds = Number(process.env.PGZ_BENCH_IDLE_MS ?? 5_000);
const rounds = 3;

const directoryBytes = (directory: string) => readdirSync(directory).reduce((sum, name) => sum + statSync(join(directory, name)).size, 0);

async function run(core: "wasm" | "ts") {
  const directory = mkdtempSync(join(tmpdir(), "pgz-space-"));
  try {
    const db = DB.open(directory, { core, segmentBytes: 4 * 1024 * 1024 });
    let liveBytes = 0;
    for (let round = 0; round < rounds; round++) {
      const value = new Uint8Array(1024).fill(round + 1);
      for (let i = 0; i < keyCount; i++) {
        const key = `key-${String(i).padStart(8, "0")}`;
        db.put(key, value);
        if (round === rounds - 1) liveBytes += key.length + value.length;
      }
    }
    const afterWrites = directoryBytes(directory) / liveBytes;
    await new Promise((resolve) => setTimeout(resolve, idleMilliseconds));
    const afterIdle = directoryBytes(directory) / liveBytes;
    const stats = db.stats();
    db.close();
    return {
      core,
      "space after writes": afterWrites.toFixed(2),
      [`space after ${idleMilliseconds / 1000} s idle`]: afterIdle.toFixed(2),
      "space after close": (directoryBytes(directory) / liveBytes).toFixed(2),
      "write amplification": (stats.diskBytesWritten / stats.userBytesWritten).toFixed(2),
      "segments collected": stats.log.gcRuns,
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const rows = [];
for (const core of ["wasm", "ts"] as const) rows.push(await run(core));
console.table(rows);
