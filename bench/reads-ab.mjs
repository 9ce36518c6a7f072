/**
 * `node --expose-gc bench/reads-ab.mjs A.mjs B.mjs [get|getMany|seek] [wasm|ts]`: two builds of
 * pgz (paths to their dist/pgz.mjs) reading copies of one database in one process, in rounds
 * that alternate A and B, each round timed in CPU time (process.cpuUsage), so a change is
 * measured against what it replaced while the shared machine's load hits both alike. Prints the
 * median and the best round of each, and B/A of the medians (below 1: B is cheaper).
 *
 * The database: PGZ_AB_KEYS (default 1,000,000) 16 B keys with 100 B values, filled in random
 * order in batches of 1,000 as bench:peers fills it, under PGZ_AB_DIR (default the OS temp
 * dir; kept between runs, since both builds read the same format). Reads choose keys by an
 * LCG from the prebuilt keys, as bench:peers does; every read must find its key. Both builds
 * share one garbage collector: allocation a change saves shows less here than in a run alone.
 */
import { cpSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { putBatches, shuffle, sortedKeys, valuePool } from "./peers/measure.mjs";

const [bundleA, bundleB, mode = "get", core = "wasm"] = process.argv.slice(2);
if (!bundleA || !bundleB) throw new Error("usage: bench/reads-ab.mjs A/dist/pgz.mjs B/dist/pgz.mjs [get|getMany|seek] [wasm|ts]");
const count = Number(process.env.PGZ_AB_KEYS ?? 1_000_000);
const ROUNDS = 16;
const OPERATIONS = { get: 100_000, getMany: 100_000, seek: 5_000 }[mode];
if (OPERATIONS === undefined) throw new Error(`unknown mode ${mode}`);
const keys = sortedKeys(count);
const load = async (bundle) => (await import(pathToFileURL(resolve(bundle)).href)).DB;

/** The database, filled once by build A; each side reads its own copy. */
async function directories() {
  const base = join(process.env.PGZ_AB_DIR ?? tmpdir(), `pgz-reads-ab-${count}`);
  if (!existsSync(`${base}-a`)) {
    const db = (await load(bundleA)).open(`${base}-a`, { core });
    for (const batch of putBatches(shuffle(keys.slice(), 2), valuePool(100, 65_536, 1), 1000)) db.batch(batch);
    db.close();
    cpSync(`${base}-a`, `${base}-b`, { recursive: true });
  }
  return [`${base}-a`, `${base}-b`];
}

function run(db, seed) {
  let x = seed;
  const next = () => keys[(x = (Math.imul(x, 1103515245) + 12345) >>> 0) % count];
  if (mode === "seek") {
    for (let i = 0; i < OPERATIONS; i++) for (const entry of db.iterate({ gte: next(), limit: 11 })) void entry;
  } else if (mode === "getMany") {
    for (let i = 0; i < OPERATIONS; i += 1000) if (db.getMany(Array.from({ length: 1000 }, next)).includes(undefined)) throw new Error("a key is missing");
  } else {
    for (let i = 0; i < OPERATIONS; i++) if (db.get(next()) === undefined) throw new Error("a key is missing");
  }
}

const [directoryA, directoryB] = await directories();
const databases = [(await load(bundleA)).open(directoryA, { core }), (await load(bundleB)).open(directoryB, { core })];
for (const db of databases) run(db, 1);
const microseconds = [[], []];
for (let round = 0; round < ROUNDS; round++) {
  for (const side of round % 2 === 0 ? [0, 1] : [1, 0]) {
    const before = process.cpuUsage();
    run(databases[side], 100 + round);
    const used = process.cpuUsage(before);
    microseconds[side].push((used.user + used.system) / OPERATIONS);
  }
}
for (const db of databases) db.close();
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const describe = (values) => `median ${median(values).toFixed(3)} best ${Math.min(...values).toFixed(3)} µs/op`;
console.log(`${core} ${mode}: A ${describe(microseconds[0])} | B ${describe(microseconds[1])} | B/A ${(median(microseconds[1]) / median(microseconds[0])).toFixed(3)}`);
