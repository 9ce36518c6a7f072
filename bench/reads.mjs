/**
 * `npm run bench:reads`: the read workloads of bench:peers alone, quick to repeat while working
 * on the read path. pgz on each core and LMDB are filled with the same data (as bench:peers
 * fills them: random order, batches, close and reopen), then each workload runs on every engine
 * in turn, ROUNDS times, and the best round per engine is reported with its ratio to LMDB. Every
 * value read is compared with the one written.
 *
 * Sizes: PGZ_READS_KEYS (16 B keys / 100 B values; default 200,000), PGZ_READS_LARGE_KEYS (4 KiB
 * values; default keys / 10), PGZ_READS_HUGE_KEYS (64 KiB values; default keys / 100),
 * PGZ_READS_ROUNDS (default 3). PGZ_READS_ENGINES picks engines (pgz-wasm,pgz-ts,lmdb).
 * pgz comes from the built bundle (dist/pgz.mjs: `npm run build` first), lmdb from bench/peers.
 * PGZ_READS_BEFORE=<path to another build's pgz.mjs> adds "before-wasm" and "before-ts": an
 * older engine in the same run, so a change is measured against what it replaced.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENGINES } from "./peers/engines.mjs";
import { pathToFileURL } from "node:url";
import { shuffle, sortedKeys, valuePool } from "./peers/measure.mjs";

const keyCount = Number(process.env.PGZ_READS_KEYS ?? 200_000);
const largeCount = Number(process.env.PGZ_READS_LARGE_KEYS ?? Math.max(1000, Math.floor(keyCount / 10)));
const hugeCount = Number(process.env.PGZ_READS_HUGE_KEYS ?? Math.max(100, Math.floor(keyCount / 100)));
const rounds = Number(process.env.PGZ_READS_ROUNDS ?? 3);
const engineNames = (process.env.PGZ_READS_ENGINES ?? "pgz-wasm,pgz-ts,lmdb").split(",");
const GET_MANY_BATCH = 1000;
const log = (line) => process.stderr.write(line + "\n");

/** Every engine read through the same small interface: get, seek, getMany (pgz only). */
function adapt(engine, instance) {
  if (engine.name === "lmdb") {
    const db = instance.db;
    return { get: (key) => db.getBinaryFast(key), copies: false, seek: instance.seek };
  }
  const db = instance.db;
  return { get: (key) => db.get(key), getMany: db.getMany ? (keys) => db.getMany(keys) : undefined, copies: true, seek: instance.seek };
}

function equal(a, b) {
  // A byte loop: lmdb's getBinaryFast hands out a Buffer over a shared region that
  // Buffer.compare does not read as its length says.
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The keys read, chosen by an LCG, and the value each must have. */
function readOrder(keys, values, count, seed) {
  const order = new Array(count);
  const expected = new Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const index = x % keys.length;
    order[i] = keys[index];
    expected[i] = values[index];
  }
  return { order, expected };
}

const workloads = {
  get(reader, { order, expected }) {
    for (let i = 0; i < order.length; i++) if (!equal(reader.get(order[i]), expected[i])) throw new Error(`wrong value for ${order[i]}`);
    return order.length;
  },
  getMany(reader, { order, expected }) {
    if (!reader.getMany) return undefined;
    for (let start = 0; start < order.length; start += GET_MANY_BATCH) {
      const values = reader.getMany(order.slice(start, start + GET_MANY_BATCH));
      for (let i = 0; i < values.length; i++) if (!equal(values[i], expected[start + i])) throw new Error(`getMany: wrong value for ${order[start + i]}`);
    }
    return order.length;
  },
  seek(reader, { order }) {
    let entries = 0;
    const seeks = Math.floor(order.length / 10);
    for (let i = 0; i < seeks; i++) entries += reader.seek(order[i], 11) / 2;
    if (entries < seeks) throw new Error(`seek saw ${entries} entries`);
    return seeks;
  },
};

async function fill(engine, keys, values, batchSize) {
  const directory = mkdtempSync(join(tmpdir(), `pgz-reads-${engine.name}-`));
  const order = shuffle(keys.map((_, index) => index), 7);
  let instance = await engine.open(directory, false);
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize).map((index) => ({ type: "put", key: keys[index], value: values[index] }));
    await instance.write(batch);
  }
  await instance.close();
  instance = await engine.open(directory, false);
  return { instance, reader: adapt(engine, instance), dispose: async () => { await instance.close(); rmSync(directory, { recursive: true, force: true }); } };
}

async function scenario(name, engines, count, valueBytes, batchSize, plan) {
  const keys = sortedKeys(count);
  const pool = valuePool(valueBytes, 4096, 3);
  const values = keys.map((_, index) => pool[index % pool.length]);
  const opened = [];
  for (const engine of engines) opened.push({ engine, ...(await fill(engine, keys, values, batchSize)) });
  const reads = readOrder(keys, values, Math.max(count, 100_000), 12345);
  const best = {};
  try {
    for (let round = 0; round < rounds; round++) {
      for (const workload of plan) {
        for (const { engine, reader } of opened) {
          const started = performance.now();
          const operations = workloads[workload](reader, reads);
          const seconds = (performance.now() - started) / 1000;
          if (operations === undefined) continue;
          const key = `${name} ${workload}`;
          best[key] ??= {};
          best[key][engine.name] = Math.max(best[key][engine.name] ?? 0, operations / seconds);
        }
      }
    }
  } finally {
    for (const { dispose } of opened) await dispose();
  }
  return best;
}

/** The pgz adapters of bench/peers over another build of the bundle. */
async function beforeEngines(bundle) {
  const module = await import(pathToFileURL(bundle).href);
  return ["wasm", "ts"].map((core) => {
    const adapter = ENGINES.find((engine) => engine.name === `pgz-${core}`);
    return { ...adapter, name: `before-${core}`, module, load: async () => {} };
  });
}

async function main() {
  const engines = ENGINES.filter((engine) => engineNames.includes(engine.name));
  for (const engine of engines) await engine.load();
  if (process.env.PGZ_READS_BEFORE) engines.push(...(await beforeEngines(process.env.PGZ_READS_BEFORE)));
  log(`reads: ${engines.map((engine) => engine.name).join(", ")}; ${keyCount} x 100 B, ${largeCount} x 4 KiB, ${hugeCount} x 64 KiB; best of ${rounds}`);
  const results = {
    ...(await scenario("small", engines, keyCount, 100, 1000, ["get", "getMany", "seek"])),
    ...(await scenario("4k", engines, largeCount, 4096, 100, ["get"])),
    ...(await scenario("64k", engines, hugeCount, 65536, 10, ["get"])),
  };
  for (const [workload, rates] of Object.entries(results)) {
    const lmdb = rates.lmdb;
    const cells = Object.entries(rates).map(([engine, rate]) => `${engine} ${Math.round(rate).toLocaleString("en-US")}/s${lmdb && engine !== "lmdb" ? ` (${(rate / lmdb).toFixed(2)}x lmdb)` : ""}`);
    process.stdout.write(`${workload.padEnd(14)} ${cells.join("  ")}\n`);
  }
  const small = results["small get"];
  const many = results["small getMany"];
  for (const core of ["pgz-wasm", "pgz-ts"]) {
    if (small?.[core] && many?.[core]) process.stdout.write(`getMany/get ${core}: ${(many[core] / small[core]).toFixed(2)}x\n`);
  }
  if (small?.["pgz-wasm"] && small?.["pgz-ts"]) process.stdout.write(`get wasm/ts: ${(small["pgz-wasm"] / small["pgz-ts"]).toFixed(2)}x\n`);
  for (const [workload, rates] of Object.entries(results)) {
    for (const core of ["wasm", "ts"]) {
      const now = rates[`pgz-${core}`];
      const before = rates[`before-${core}`];
      if (now && before) process.stdout.write(`${workload} pgz-${core} now/before: ${(now / before).toFixed(2)}x\n`);
    }
  }
}

await main();
