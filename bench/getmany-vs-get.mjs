/**
 * `node --expose-gc bench/getmany-vs-get.mjs [dist/pgz.mjs] [wasm|ts]`: CPU time per key of
 * db.getMany over batches of 1,000 keys against the same keys read one db.get at a time, on one
 * build and one database, in 16 paired rounds (each round draws 100,000 keys by an LCG, as
 * bench:peers does; the two sides alternate which goes first). Prints the medians and get/getMany
 * (above 1: getMany is cheaper per key; issue 13 asks for 1.5x). Every key must be found.
 *
 * The database: PGZ_AB_KEYS (default 1,000,000) 16 B keys with 100 B values, filled in random
 * order in batches of 1,000 as bench:peers fills it, under PGZ_AB_DIR (default the OS temp
 * dir), kept between runs (the same one bench/reads-ab.mjs reads: `pgz-reads-ab-<keys>-a`).
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { putBatches, shuffle, sortedKeys, valuePool } from "./peers/measure.mjs";

const [bundle = "dist/pgz.mjs", core = "wasm"] = process.argv.slice(2);
const count = Number(process.env.PGZ_AB_KEYS ?? 1_000_000);
const ROUNDS = 16;
const KEYS_PER_ROUND = 100_000;
const BATCH = 1000;
const keys = sortedKeys(count);
const { DB } = await import(pathToFileURL(resolve(bundle)).href);

const directory = join(process.env.PGZ_AB_DIR ?? tmpdir(), `pgz-reads-ab-${count}-a`);
if (!existsSync(directory)) {
  const db = DB.open(directory, { core });
  for (const batch of putBatches(shuffle(keys.slice(), 2), valuePool(100, 65_536, 1), 1000)) db.batch(batch);
  db.close();
}
const db = DB.open(directory, { core });

/** One round's keys, in batches of BATCH. */
function batches(seed) {
  let x = seed;
  const next = () => keys[(x = (Math.imul(x, 1103515245) + 12345) >>> 0) % count];
  return Array.from({ length: KEYS_PER_ROUND / BATCH }, () => Array.from({ length: BATCH }, next));
}

const sides = {
  get(round) {
    for (const batch of round) for (const key of batch) if (db.get(key) === undefined) throw new Error("a key is missing");
  },
  getMany(round) {
    for (const batch of round) for (const value of db.getMany(batch)) if (value === undefined) throw new Error("a key is missing");
  },
};

function cpuPerKey(side, round) {
  const before = process.cpuUsage();
  sides[side](round);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / KEYS_PER_ROUND;
}

// Warm up both paths (and the block cache) before timing.
sides.get(batches(1));
sides.getMany(batches(2));
const microseconds = { get: [], getMany: [] };
for (let round = 0; round < ROUNDS; round++) {
  const keysOfRound = batches(100 + round);
  for (const side of round % 2 === 0 ? ["get", "getMany"] : ["getMany", "get"]) microseconds[side].push(cpuPerKey(side, keysOfRound));
}
db.close();
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const [get, getMany] = [median(microseconds.get), median(microseconds.getMany)];
console.log(`${core}: get ${get.toFixed(3)} µs/key, getMany ${getMany.toFixed(3)} µs/key (medians of ${ROUNDS} rounds), get/getMany ${(get / getMany).toFixed(3)}x`);
