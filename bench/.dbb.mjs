// bench/db_bench.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { DB } from "/work/main/dist/pgz.mjs";
var keyCount = Number(process.env.PGZ_BENCH_KEYS ?? 1e6);
var largeKeyCount = Number(process.env.PGZ_BENCH_LARGE_KEYS ?? 1e5);
var cores = (process.env.PGZ_BENCH_CORES ?? "wasm,ts").split(",");
function makeKeys(count) {
  const encoder = new TextEncoder();
  return Array.from({ length: count }, (_, index) => {
    const hashed = (Math.imul(index + 1, 2654435761) >>> 0) % 1e10;
    return encoder.encode(String(hashed).padStart(10, "0") + String(index).padStart(6, "0"));
  });
}
function valueOf(length, seed) {
  const value = new Uint8Array(length);
  for (let i = 0; i < length; i++) value[i] = seed + i * 31 & 255;
  return value;
}
var Progress = class {
  bar;
  constructor(label, total) {
    if (!process.stdout.isTTY) return;
    this.bar = new cliProgress.SingleBar({ format: `${label.padEnd(28)} [{bar}] {percentage}% {value}/{total} {rate} ops/s eta {eta}s`, hideCursor: true }, cliProgress.Presets.shades_classic);
    this.bar.start(total, 0, { rate: 0 });
  }
  update(done, started) {
    this.bar?.update(done, { rate: Math.round(done / ((performance.now() - started) / 1e3)) });
  }
  stop() {
    this.bar?.stop();
  }
};
function timed(label, total, work) {
  const progress = new Progress(label, total);
  const started = performance.now();
  work((done) => progress.update(done, started));
  const seconds = (performance.now() - started) / 1e3;
  progress.stop();
  return total / seconds;
}
function fill(db, label, keys2, valueBytes, batchSize) {
  const value = valueOf(valueBytes, 7);
  const batches = [];
  for (let start = 0; start < keys2.length; start += batchSize) {
    batches.push(keys2.slice(start, start + batchSize).map((key) => ({ type: "put", key, value })));
  }
  return timed(label, keys2.length, (report) => {
    let done = 0;
    for (const batch of batches) {
      db.batch(batch);
      done += batch.length;
      if (done % (batchSize * 16) === 0) report(done);
    }
    report(done);
  });
}
function readRandom(db, label, keys2) {
  let found = 0;
  const count = keys2.length;
  const rate = timed(label, count, (report) => {
    let x = 12345;
    for (let i = 0; i < count; i++) {
      x = Math.imul(x, 1103515245) + 12345 >>> 0;
      if (db.get(keys2[x % count]) !== void 0) found++;
      if (i % 16384 === 0) report(i);
    }
    report(count);
  });
  if (found !== count) throw new Error(`readrandom found ${found} of ${count} keys`);
  return rate;
}
function readSequential(db, label, count) {
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
var keys = makeKeys(keyCount);
var largeKeys = makeKeys(largeKeyCount);
var results = {};
for (const core of cores) {
  const directory = mkdtempSync(join(tmpdir(), "pgz-bench-"));
  try {
    let db = DB.open(directory, { core });
    const row = {};
    row.fillrandom = fill(db, `${core} fillrandom`, keys, 100, 1e3);
    db.close();
    const reopenStarted = performance.now();
    db = DB.open(directory, { core });
    row["reopen (ms)"] = performance.now() - reopenStarted;
    row.readrandom = readRandom(db, `${core} readrandom`, keys); row.readrandom2 = readRandom(db, `${core} readrandom2`, keys);
    row.readseq = readSequential(db, `${core} readseq`, keyCount);
    db.close();
    rmSync(directory, { recursive: true, force: true });
    db = DB.open(directory, { core });
    row["fillrandom-large 4 KiB"] = fill(db, `${core} fillrandom-large`, largeKeys, 4096, 100);
    db.close();
    results[core] = row;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
var format = (value) => Math.round(value).toLocaleString("en-US");
console.log(`
pgz db_bench: ${keyCount.toLocaleString("en-US")} x 16 B keys / 100 B values (batches of 1,000), ${largeKeyCount.toLocaleString("en-US")} x 4 KiB values (batches of 100); default durability; node ${process.version}
`);
console.log(`| workload | ${cores.join(" | ")} |${cores.length === 2 ? " wasm/ts |" : ""}`);
console.log(`|---|${cores.map(() => "---:").join("|")}|${cores.length === 2 ? "---:|" : ""}`);
for (const workload of Object.keys(results[cores[0]])) {
  const values = cores.map((core) => results[core][workload]);
  const unit = workload.includes("(ms)") ? "" : " ops/s";
  const ratio = cores.length === 2 ? ` ${(values[0] / values[1]).toFixed(2)}x |` : "";
  console.log(`| ${workload} | ${values.map((value) => format(value) + unit).join(" | ")} |${ratio}`);
}
