/**
 * `npm run bench:peers`: a db_bench-style suite run on pgz (both cores, from the built bundle)
 * and on the engines users pick instead, in one process, each engine in a fresh temporary
 * directory per fill. Two passes: each engine's default durability, then every engine syncing
 * every batch (write workloads only: reads do not depend on it).
 *
 * Sizes (quick by default; PGZ_BENCH_FULL=1 for the full run; each can be set on its own):
 *   PGZ_BENCH_KEYS        16 B keys / 100 B values, batches of 1,000   (quick 50,000; full 1,000,000)
 *   PGZ_BENCH_LARGE_KEYS  4 KiB values, batches of 100                  (quick 5,000;  full 100,000)
 *   PGZ_BENCH_HUGE_KEYS   64 KiB values, batches of 10                  (quick 500;    full 10,000)
 * Others: PGZ_BENCH_ENGINES (comma list of names; pgz-wasm-uncompressed runs only when named,
 * as does PGZ_BENCH_PGZ_VARIANT="NAME:JSON", the engine pgz-wasm-NAME: pgz with those options),
 * PGZ_BENCH_WORKLOADS (comma list of workload names, e.g. "fillrandom,readrandom": the others
 * are skipped, and so are scenarios with none of them), PGZ_BENCH_PASSES ("default,sync"),
 * PGZ_BENCH_SCENARIOS (comma list of sequential, random, large, huge; default all: "random,large,huge"
 * with PGZ_BENCH_PASSES=default runs every read workload plus fillrandom, overwrite, deleterandom),
 * PGZ_BENCH_DIR (where temporary directories go; default the OS temp dir), PGZ_BENCH_JSON (the
 * results file; default bench/peers/results-quick.json or results-full.json), PGZ_BENCH_ROUNDS
 * (default 1: run everything this many times, rounds one after the other so a change in the
 * machine's load hits every engine, each round starting one engine later and every second one
 * running backwards, so each engine follows each other about equally often; each result is the
 * round with the median ops/s, and lists every round's ops/s and bytes on disk). Before each
 * engine's scenario the kernel writes back every dirty page (sync(1)), so no engine pays for
 * the writeback of the one before it.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { execSync } from "node:child_process";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENGINES } from "./engines.mjs";
import { operationsPerSecond, renderMarkdown } from "./report.mjs";
import { Latencies, deleteBatches, directoryBytes, missingKeys, processWriteBytes, putBatches, shuffle, sortedKeys, valuePool } from "./measure.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const full = process.env.PGZ_BENCH_FULL === "1";
const sizes = {
  keys: Number(process.env.PGZ_BENCH_KEYS ?? (full ? 1_000_000 : 50_000)),
  largeKeys: Number(process.env.PGZ_BENCH_LARGE_KEYS ?? (full ? 100_000 : 5_000)),
  hugeKeys: Number(process.env.PGZ_BENCH_HUGE_KEYS ?? (full ? 10_000 : 500)),
  smallValueBytes: 100,
  largeValueBytes: 4096,
  hugeValueBytes: 65536,
  smallBatch: 1000,
  largeBatch: 100,
  hugeBatch: 10,
  seekNext: 10,
};
const passes = (process.env.PGZ_BENCH_PASSES ?? "default,sync").split(",");
const rounds = Number(process.env.PGZ_BENCH_ROUNDS ?? 1);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`PGZ_BENCH_ROUNDS must be a positive integer, got ${process.env.PGZ_BENCH_ROUNDS}`);
const engineNames = process.env.PGZ_BENCH_ENGINES?.split(",");
const workloadNames = process.env.PGZ_BENCH_WORKLOADS?.split(",");
/** Whether a workload runs (PGZ_BENCH_WORKLOADS); a fill whose reads run always runs. */
const wanted = (...names) => !workloadNames || names.some((name) => workloadNames.includes(name));
const scenarioNames = (process.env.PGZ_BENCH_SCENARIOS ?? "sequential,random,large,huge").split(",");
const parentDirectory = process.env.PGZ_BENCH_DIR ?? tmpdir();
const resultsPath = process.env.PGZ_BENCH_JSON ?? join(here, full ? "results-full.json" : "results-quick.json");
/** Reads are timed one in this many (performance.now() costs ~100 ns here; every op would skew). */
const READ_SAMPLE_EVERY = 16;

const log = (line) => process.stderr.write(line + "\n");
const settle = async (value) => (value !== undefined && typeof value?.then === "function" ? await value : value);
const collectGarbage = () => globalThis.gc?.();

// ---------------------------------------------------------------- workloads

async function timeWrites(instance, batches) {
  const latencies = new Latencies(batches.length);
  let operations = 0;
  let bytes = 0;
  const started = performance.now();
  for (const batch of batches) {
    const batchStarted = performance.now();
    await settle(instance.write(batch));
    latencies.add(performance.now() - batchStarted);
    operations += batch.length;
    for (const operation of batch) bytes += operation.key.length + (operation.value?.length ?? 0);
  }
  return { operations, bytes, seconds: (performance.now() - started) / 1000, latency: { per: "batch", ...latencies.summary() } };
}

/**
 * `count` point reads of keys chosen by an LCG; every one must be found (or, missing, none).
 * `fast`: through instance.getFast, the engine's fastest synchronous read, which returns the
 * value's length (-1: absent) so a read that hands out a reused view is counted the same way.
 */
function timeReads(instance, keys, count, expectFound, fast = false) {
  const latencies = new Latencies(count);
  let found = 0;
  let bytes = 0;
  let x = 12345;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const key = keys[x % keys.length];
    let length;
    // About one read in READ_SAMPLE_EVERY, picked by the generator's high bits rather than by
    // i: an engine copying values into slabs that hold 16 of them would otherwise have every
    // timed read be the one that starts a new slab.
    if ((x >>> 20) % READ_SAMPLE_EVERY === 0) {
      const readStarted = performance.now();
      length = fast ? instance.getFast(key) : (instance.get(key)?.length ?? -1);
      latencies.add(performance.now() - readStarted);
    } else {
      length = fast ? instance.getFast(key) : (instance.get(key)?.length ?? -1);
    }
    if (length >= 0) {
      found++;
      bytes += key.length + length;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const expected = expectFound ? count : 0;
  if (found !== expected) throw new Error(`read found ${found} keys, expected ${expected}`);
  return { operations: count, bytes, seconds, latency: { per: `op (about 1 in ${READ_SAMPLE_EVERY} timed)`, ...latencies.summary() } };
}

async function timeScan(instance, reverse, expectedBytes) {
  const started = performance.now();
  const bytes = await settle(instance.scan(reverse));
  const seconds = (performance.now() - started) / 1000;
  if (bytes === undefined) return undefined;
  if (bytes !== expectedBytes) throw new Error(`scan saw ${bytes} bytes, expected ${expectedBytes}`);
  return { bytes, seconds };
}

async function timeSeeks(instance, keys, count) {
  const latencies = new Latencies(count);
  let x = 777;
  let entries = 0;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const seekStarted = performance.now();
    entries += (await settle(instance.seek(keys[x % keys.length], sizes.seekNext + 1))) / 2;
    latencies.add(performance.now() - seekStarted);
  }
  const seconds = (performance.now() - started) / 1000;
  if (entries < count) throw new Error(`seekrandom saw ${entries} entries for ${count} seeks`);
  return { operations: count, entries, seconds, latency: { per: "seek + 10 next", ...latencies.summary() } };
}

// ---------------------------------------------------------------- scenarios

/** A fresh directory, an open engine, and the bookkeeping every fill reports. */
class Run {
  constructor(engine, durable) {
    this.engine = engine;
    this.durable = durable;
    this.directory = engine.inMemory ? undefined : mkdtempSync(join(parentDirectory, `pgz-peers-${engine.name}-`));
  }
  async open() {
    const started = performance.now();
    this.instance = await settle(this.engine.open(this.directory, this.durable));
    return performance.now() - started;
  }
  /** Closes and reopens (timed), unless in memory; returns what the disk holds now. */
  async closeAndMeasure(writeBytesBefore) {
    const engineBytesWritten = this.instance.engineBytesWritten?.();
    if (this.engine.inMemory) return { engineBytesWritten };
    await settle(this.instance.close());
    const writeBytesAfter = processWriteBytes();
    const measured = {
      diskBytes: directoryBytes(this.directory),
      processWriteBytes: writeBytesBefore === undefined || writeBytesAfter === undefined ? undefined : writeBytesAfter - writeBytesBefore,
      engineBytesWritten,
      reopenMilliseconds: await this.open(),
    };
    return { ...measured, tables: this.instance.shape?.() };
  }
  async dispose() {
    if (!this.engine.inMemory) {
      await settle(this.instance?.close());
      rmSync(this.directory, { recursive: true, force: true });
    }
    this.instance = undefined;
    collectGarbage();
  }
}

/** Fills with `batches`, closes, measures the directory, reopens; the result is the fill's. */
async function fill(run, batches) {
  const writeBytesBefore = processWriteBytes();
  const result = await timeWrites(run.instance, batches);
  return { ...result, ...(await run.closeAndMeasure(writeBytesBefore)) };
}

function smallData() {
  const keys = sortedKeys(sizes.keys);
  const pool = valuePool(sizes.smallValueBytes, 65_536, 1);
  const randomKeys = shuffle(keys.slice(), 2);
  return {
    keys,
    missing: missingKeys(keys),
    sequentialBatches: putBatches(keys, pool, sizes.smallBatch),
    randomBatches: putBatches(randomKeys, pool, sizes.smallBatch),
    overwriteBatches: putBatches(shuffle(keys.slice(), 3), valuePool(sizes.smallValueBytes, 65_536, 4), sizes.smallBatch),
    deleteBatches: deleteBatches(shuffle(keys.slice(), 5), sizes.smallBatch),
    bytesTotal: keys.length * (16 + sizes.smallValueBytes),
  };
}

function largeData(count, valueBytes, batchSize, seed) {
  const keys = sortedKeys(count);
  return { keys, batches: putBatches(shuffle(keys.slice(), seed), valuePool(valueBytes, 1024, seed), batchSize) };
}

async function scenarioSequential(engine, durable, data, record) {
  if (!wanted("fillseq")) return;
  const run = new Run(engine, durable);
  try {
    await run.open();
    record("fillseq", await fill(run, data.sequentialBatches));
  } finally {
    await run.dispose();
  }
}

async function scenarioRandom(engine, durable, data, record) {
  const reads = ["readrandom", "readrandom-fast", "readmissing", "readseq", "readreverse", "seekrandom"];
  // Every workload here runs on the database fillrandom made.
  if (!wanted("fillrandom", ...reads, "overwrite", "deleterandom")) return;
  const run = new Run(engine, durable);
  try {
    await run.open();
    record("fillrandom", await fill(run, data.randomBatches));
    if (!durable) {
      const reads = sizes.keys;
      if (wanted("readrandom")) record("readrandom", timeReads(run.instance, data.keys, reads, true));
      // Issue 13's readrandom target is against LMDB's fastest synchronous read (getBinaryFast).
      // This pass follows readrandom on the same database, so every engine's caches are warm.
      if (wanted("readrandom-fast")) record("readrandom-fast", run.instance.getFast ? timeReads(run.instance, data.keys, reads, true, true) : { skipped: "no faster synchronous read than get" });
      if (wanted("readmissing")) record("readmissing", timeReads(run.instance, data.missing, reads, false));
      if (wanted("readseq")) {
        const forward = await timeScan(run.instance, false, data.bytesTotal);
        record("readseq", forward && { operations: sizes.keys, ...forward });
      }
      if (wanted("readreverse")) {
        const backward = await timeScan(run.instance, true, data.bytesTotal);
        record("readreverse", backward ? { operations: sizes.keys, ...backward } : { skipped: "no ordered reverse iteration" });
      }
      if (wanted("seekrandom")) record("seekrandom", run.instance.seek ? await timeSeeks(run.instance, data.keys, Math.max(1000, Math.floor(sizes.keys / 10))) : { skipped: "no ordered seek" });
    }
    if (wanted("overwrite", "deleterandom")) record("overwrite", await fill(run, data.overwriteBatches));
    if (wanted("deleterandom")) record("deleterandom", await fill(run, data.deleteBatches));
  } finally {
    await run.dispose();
  }
}

async function scenarioLarge(engine, durable, data, fillName, readName, record) {
  if (!wanted(fillName, readName)) return;
  const run = new Run(engine, durable);
  try {
    await run.open();
    record(fillName, await fill(run, data.batches));
    if (!durable && wanted(readName)) record(readName, timeReads(run.instance, data.keys, data.keys.length, true));
  } finally {
    await run.dispose();
  }
}

// ---------------------------------------------------------------- the run

function machine() {
  const run = (command) => {
    try {
      return execSync(command, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return undefined;
    }
  };
  const bundle = join(here, "..", "..", "dist", "pgz.mjs");
  let bundleIdentity = "missing";
  try {
    bundleIdentity = `sha256 ${createHash("sha256").update(readFileSync(bundle)).digest("hex").slice(0, 12)}, built ${statSync(bundle).mtime.toISOString().slice(0, 16)}Z`;
  } catch {}
  const dirty = run("git -C " + JSON.stringify(join(here, "..", "..")) + " status --porcelain -- ts assembly");
  return {
    nproc: run("nproc") ?? String(cpus().length),
    cpu: cpus()[0]?.model,
    node: process.version,
    pgzCommit: (run("git -C " + JSON.stringify(join(here, "..", "..")) + " rev-parse --short HEAD") ?? "unknown") + (dirty ? " + uncommitted engine changes" : ""),
    bundle: bundleIdentity,
    loadAverageStart: loadavg().map((value) => value.toFixed(2)).join(" "),
    filesystem: run(`df -T ${JSON.stringify(parentDirectory)} | tail -1 | awk '{print $2}'`),
    command: `${Object.entries(process.env).filter(([name]) => name.startsWith("PGZ_BENCH_")).map(([name, value]) => `${name}=${value} `).join("")}${process.env.npm_lifecycle_event ? `npm run ${process.env.npm_lifecycle_event}` : `node ${process.argv.slice(1).join(" ")}`}`,
  };
}

async function loadEngines() {
  const loaded = [];
  const unavailable = [];
  for (const engine of ENGINES) {
    if (engineNames ? !engineNames.includes(engine.name) : engine.optIn) continue;
    try {
      await engine.load();
      loaded.push(engine);
    } catch (error) {
      unavailable.push({ name: engine.name, reason: error.message.split("\n")[0] });
      log(`skipping ${engine.name}: ${error.message.split("\n")[0]}`);
    }
  }
  return { loaded, unavailable };
}

/**
 * Waits for the kernel to write back every dirty page (sync(1)), so an engine does not pay for
 * the writeback of the one before it (LevelDB and RocksDB leave over 100 MB dirty after a fill).
 */
function writeBackDirtyPages() {
  try {
    execSync("sync", { stdio: "ignore" });
  } catch {
    // No sync(1) here: the run goes on, as before.
  }
}

/** Per pass, workload and engine: the round with the median ops/s, with every round's figures. */
function medianRounds(results) {
  const groups = new Map();
  for (const result of results) {
    if (result.error || !result.seconds) continue;
    const name = `${result.pass} ${result.workload} ${result.engine}`;
    groups.set(name, [...(groups.get(name) ?? []), result]);
  }
  const medians = results.filter((result) => result.error || (!result.seconds && result.round === 1));
  for (const group of groups.values()) {
    const sorted = group.slice().sort((a, b) => operationsPerSecond(a) - operationsPerSecond(b));
    const rounds = group.map((result) => ({ round: result.round, operationsPerSecond: Math.round(operationsPerSecond(result)), diskBytes: result.diskBytes }));
    medians.push({ ...sorted[Math.floor((sorted.length - 1) / 2)], rounds });
  }
  return medians;
}

async function main() {
  const startedAt = new Date();
  const { loaded, unavailable } = await loadEngines();
  const report = { sizes, full, machine: machine(), startedAt: startedAt.toISOString(), unavailable, engines: {}, results: [] };
  for (const engine of loaded) report.engines[engine.name] = { version: engine.version(), durability: { default: engine.describe(false), sync: engine.describe(true) } };
  log(`peers: ${loaded.map((engine) => engine.name).join(", ")}; ${sizes.keys} x 100 B, ${sizes.largeKeys} x 4 KiB, ${sizes.hugeKeys} x 64 KiB; passes ${passes.join(", ")}`);

  const small = smallData();
  const large = largeData(sizes.largeKeys, sizes.largeValueBytes, sizes.largeBatch, 11);
  const huge = largeData(sizes.hugeKeys, sizes.hugeValueBytes, sizes.hugeBatch, 13);
  const scenarios = [
    ["sequential", (engine, durable, record) => scenarioSequential(engine, durable, small, record)],
    ["random", (engine, durable, record) => scenarioRandom(engine, durable, small, record)],
    ["large", (engine, durable, record) => scenarioLarge(engine, durable, large, "fillrandom-large", "readrandom-large", record)],
    ["huge", (engine, durable, record) => scenarioLarge(engine, durable, huge, "fillrandom-64k", "readrandom-64k", record)],
  ].filter(([name]) => scenarioNames.includes(name)).map(([, scenario]) => scenario);
  // Scenario by scenario, every engine in turn: a change in the machine's load hits all of them.
  const results = [];
  for (let round = 1; round <= rounds; round++) {
    // Each round starts one engine later, and every second round runs backwards: over rounds,
    // each engine follows each other one about as often (rotation alone put the same engine
    // after classic-level every time: in one 5-round run those were its three slowest fills).
    const rotated = loaded.map((_, index) => loaded[(index + round - 1) % loaded.length]);
    const order = round % 2 === 0 ? rotated.reverse() : rotated;
    for (const pass of passes) {
      const durable = pass === "sync";
      for (const scenario of scenarios) {
        for (const engine of order) {
          writeBackDirtyPages();
          const record = (workload, result) => {
            results.push({ pass, workload, engine: engine.name, round, ...result });
            const rate = result.seconds ? Math.round((result.operations ?? 0) / result.seconds).toLocaleString("en-US") + " ops/s" : result.skipped ?? "";
            log(`  ${rounds > 1 ? `round ${round} ` : ""}${pass.padEnd(7)} ${workload.padEnd(17)} ${engine.name.padEnd(14)} ${rate}`);
          };
          try {
            await scenario(engine, durable, record);
          } catch (error) {
            log(`  ${pass} ${engine.name} failed: ${error.stack}`);
            results.push({ pass, workload: "error", engine: engine.name, round, error: error.message });
          }
        }
      }
    }
  }
  report.rounds = rounds;
  report.results = medianRounds(results);
  report.machine.loadAverageEnd = loadavg().map((value) => value.toFixed(2)).join(" ");
  report.seconds = (Date.now() - startedAt.getTime()) / 1000;
  writeFileSync(resultsPath, JSON.stringify(report, null, 2) + "\n");
  const markdown = renderMarkdown(report);
  writeFileSync(resultsPath.replace(/\.json$/, ".md"), markdown);
  process.stdout.write(markdown);
  log(`results: ${resultsPath} (and .md); ${report.seconds.toFixed(0)} s`);
}

await main();
