/**
 * `npm run bench:threshold`: picks the default valueThreshold by measurement. For each value
 * size, fills PGZ_BENCH_KEYS keys (default 100,000; batches of 100) and reads them back at
 * random, once with the values inline in the LSM (threshold above the size) and once behind
 * value pointers (threshold below it), on the WASM core; prints ops/s and bytes written.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DB } from "../dist/pgz.mjs";

const count = Number(process.env.PGZ_BENCH_KEYS ?? 100_000);
const sizes = [100, 512, 1024, 2048, 4096, 16384];
const encoder = new TextEncoder();
const keys = Array.from({ length: count }, (_, i) => encoder.encode(String((Math.imul(i + 1, 2654435761) >>> 0) % 1e10).padStart(10, "0") + String(i).padStart(6, "0")));

function run(valueBytes: number, inline: boolean) {
  const directory = mkdtempSync(join(tmpdir(), "pgz-threshold-"));
  try {
    const db = DB.open(directory, { valueThreshold: inline ? valueBytes : valueBytes - 1 });
    const value = new Uint8Array(valueBytes).fill(7);
    const batches = [];
    for (let s = 0; s < count; s += 100) batches.push(keys.slice(s, s + 100).map((key) => ({ type: "put" as const, key, value })));
    let started = performance.now();
    for (const batch of batches) db.batch(batch);
    const fill = count / ((performance.now() - started) / 1000);
    db.flush();
    started = performance.now();
    let x = 1;
    for (let i = 0; i < count; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      db.get(keys[x % count]!);
    }
    const read = count / ((performance.now() - started) / 1000);
    const written = db.stats().diskBytesWritten;
    db.close();
    return { fill, read, written };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const format = (value: number) => Math.round(value).toLocaleString("en-US");
console.log(`valueThreshold: ${count.toLocaleString("en-US")} keys per run, WASM core, default durability, node ${process.version}\n`);
console.log("| value size | inline fill ops/s | pointer fill ops/s | inline read ops/s | pointer read ops/s | inline MB written | pointer MB written |");
console.log("|---:|---:|---:|---:|---:|---:|---:|");
for (const size of sizes) {
  const inline = run(size, true);
  const pointer = run(size, false);
  console.log(`| ${size} | ${format(inline.fill)} | ${format(pointer.fill)} | ${format(inline.read)} | ${format(pointer.read)} | ${(inline.written / 1e6).toFixed(1)} | ${(pointer.written / 1e6).toFixed(1)} |`);
}
