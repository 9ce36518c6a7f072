/**
 * Whether compressing large values in the value log would pay (issue 17): for 4 KiB and 64 KiB
 * values like db_bench's (a random half, repeated), the time pgz spends per value now (fill in
 * batches, random reads) beside what LZ4 on the WASM core would add per value (compress on
 * write, decompress on read, copies in and out included) and the bytes it would save. Run:
 * `node --import tsx bench/vlog_compression.ts` (after `npm run build`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB } from "../dist/pgz.mjs";
import { createWasmCore } from "../ts/core/wasm.ts";

const core = createWasmCore();
const encoder = new TextEncoder();

function values(valueBytes: number, count: number): Uint8Array[] {
  let state = 0x2545f491;
  return Array.from({ length: count }, () => {
    const value = new Uint8Array(valueBytes);
    const half = valueBytes / 2;
    for (let i = 0; i < half; i++) value[i] = (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) >>> 24;
    value.copyWithin(half, 0, half);
    return value;
  });
}

function microsecondsPer(count: number, action: () => void): number {
  const started = performance.now();
  action();
  return ((performance.now() - started) * 1000) / count;
}

function measure(valueBytes: number, count: number, batchSize: number) {
  const pool = values(valueBytes, 256);
  const keys = Array.from({ length: count }, (_, i) => encoder.encode(String((Math.imul(i + 1, 2654435761) >>> 0) % 1e10).padStart(10, "0") + String(i).padStart(6, "0")));
  const directory = mkdtempSync(join(tmpdir(), "pgz-vlog-compression-"));
  try {
    const db = DB.open(directory);
    const fill = microsecondsPer(count, () => {
      for (let start = 0; start < count; start += batchSize) {
        db.batch(keys.slice(start, start + batchSize).map((key, i) => ({ type: "put" as const, key, value: pool[(start + i) % pool.length]! })));
      }
    });
    db.flush();
    const read = microsecondsPer(count, () => {
      let x = 1;
      for (let i = 0; i < count; i++) db.get(keys[(x = (Math.imul(x, 1103515245) + 12345) >>> 0) % count]!);
    });
    db.close();
    for (const value of pool) core.lz4Compress(value); // warm up
    const compressed = pool.map((value) => core.lz4Compress(value)!);
    const compress = microsecondsPer(count, () => {
      for (let i = 0; i < count; i++) core.lz4Compress(pool[i % pool.length]!);
    });
    const decompress = microsecondsPer(count, () => {
      for (let i = 0; i < count; i++) core.lz4Decompress(compressed[i % pool.length]!, valueBytes);
    });
    const saved = 1 - compressed.reduce((sum, block) => sum + block.length, 0) / (pool.length * valueBytes);
    return { fill, read, compress, decompress, saved };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

console.log("| values | fill us/value | + compress us | fill slower by | read us/value | + decompress us | read slower by | log bytes saved |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const [valueBytes, count, batchSize] of [[4096, 50_000, 100], [65536, 5_000, 10]] as const) {
  const r = measure(valueBytes, count, batchSize);
  const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)}%`;
  console.log(
    `| ${count} x ${valueBytes / 1024} KiB | ${r.fill.toFixed(1)} | ${r.compress.toFixed(1)} | ${percent(r.compress, r.fill)} | ${r.read.toFixed(1)} | ${r.decompress.toFixed(1)} | ${percent(r.decompress, r.read)} | ${(100 * r.saved).toFixed(0)}% |`,
  );
}
