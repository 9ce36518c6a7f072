/**
 * Where does pgz spend its time in one peer workload? Builds the workload's database (not
 * profiled), then runs the workload under V8's CPU profiler (the one `node --cpu-prof` uses,
 * started through node:inspector so setup stays out of the profile), writes the .cpuprofile and
 * prints self time by function.
 *
 *   node bench/peers/profile.mjs WORKLOAD [wasm|ts]     WORKLOAD: fillrandom, overwrite,
 *       readrandom, readmissing, readseq, seekrandom, fillrandom-large, readrandom-large,
 *       readrandom-64k; sizes as in run.mjs (PGZ_BENCH_KEYS, ...; PGZ_BENCH_FULL=1)
 *   node bench/peers/profile.mjs --summarize FILE.cpuprofile   (e.g. one from node --cpu-prof)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENGINES } from "./engines.mjs";
import { missingKeys, putBatches, shuffle, sortedKeys, valuePool } from "./measure.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const full = process.env.PGZ_BENCH_FULL === "1";

/**
 * Names for `wasm-function[N]` frames: the release build has no name section, but its exported
 * functions are named in the export section (indices count imported functions first, as V8's do).
 */
export function wasmFunctionNames(bytes) {
  const names = new Map();
  let at = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[at++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) === 0) return result >>> 0;
    }
  };
  const text = () => {
    const length = leb();
    const value = new TextDecoder().decode(bytes.subarray(at, at + length));
    at += length;
    return value;
  };
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    const end = at + size;
    if (id === 7) {
      for (let count = leb(); count > 0; count--) {
        const name = text();
        const kind = bytes[at++];
        const index = leb();
        if (kind === 0) names.set(index, name);
      }
    }
    at = end;
  }
  return names;
}

/** All function names, in index order, from the release build's text form (imports first). */
export function watFunctionNames(wat) {
  const names = new Map();
  let index = 0;
  for (const match of wat.matchAll(/^ \((?:import "[^"]*" "[^"]*" \(func|func) \$(\S+)/gm)) names.set(index++, match[1].replace(/^assembly\//, ""));
  return names;
}

function loadWasmNames() {
  const build = join(here, "..", "..", "wasm-build");
  try {
    return watFunctionNames(readFileSync(join(build, "release.wat"), "utf8"));
  } catch {
    try {
      return wasmFunctionNames(readFileSync(join(build, "release.wasm")));
    } catch {
      return new Map();
    }
  }
}

/** Self time per function (name, file, line), largest first, with its share of all samples. */
export function summarize(profile, top = 25) {
  const wasmNames = loadWasmNames();
  const selfByNode = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const microseconds = selfByNode.get(node.id) ?? 0;
    if (microseconds === 0) continue;
    total += microseconds;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.startsWith("wasm://") ? "wasm" : basename(url)}:${lineNumber + 1}` : "";
    const wasmIndex = /^wasm-function\[(\d+)\]$/.exec(functionName);
    const name = wasmIndex ? `wasm ${wasmNames.get(Number(wasmIndex[1])) ?? `function ${wasmIndex[1]} (internal)`}` : functionName || "(anonymous)";
    const key = wasmIndex ? name : `${name} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + microseconds);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = ["| self % | self ms | function (file:line) |", "|---:|---:|---|"];
  for (const [name, microseconds] of rows) lines.push(`| ${((microseconds / total) * 100).toFixed(1)} | ${(microseconds / 1000).toFixed(0)} | \`${name}\` |`);
  return { totalMilliseconds: total / 1000, table: lines.join("\n") };
}

async function setUp(workload, core) {
  const engine = ENGINES.find((candidate) => candidate.name === `pgz-${core}`);
  await engine.load();
  const directory = mkdtempSync(join(process.env.PGZ_BENCH_DIR ?? tmpdir(), "pgz-profile-"));
  const large = workload.includes("large");
  const huge = workload.includes("64k");
  const count = Number(huge ? process.env.PGZ_BENCH_HUGE_KEYS ?? (full ? 10_000 : 500) : large ? process.env.PGZ_BENCH_LARGE_KEYS ?? (full ? 100_000 : 5_000) : process.env.PGZ_BENCH_KEYS ?? (full ? 1_000_000 : 50_000));
  const valueBytes = huge ? 65536 : large ? 4096 : 100;
  const batchSize = huge ? 10 : large ? 100 : 1000;
  const keys = sortedKeys(count);
  const batches = putBatches(shuffle(keys.slice(), 2), valuePool(valueBytes, large || huge ? 1024 : 65_536, 1), batchSize);
  let instance = engine.open(directory, false);
  const filling = workload.startsWith("fill");
  if (!filling) {
    for (const batch of batches) instance.write(batch);
    instance.close();
    instance = engine.open(directory, false);
  }
  const overwrites = workload === "overwrite" ? putBatches(shuffle(keys.slice(), 3), valuePool(valueBytes, 65_536, 4), batchSize) : undefined;
  const missing = workload === "readmissing" ? missingKeys(keys) : undefined;
  const run = () => {
    if (filling) for (const batch of batches) instance.write(batch);
    else if (overwrites) for (const batch of overwrites) instance.write(batch);
    else if (workload === "readseq") instance.scan(false);
    else if (workload === "seekrandom") for (let i = 0, x = 777; i < Math.max(1000, count / 10); i++) instance.seek(keys[(x = (Math.imul(x, 1103515245) + 12345) >>> 0) % count], 11);
    else {
      const targets = missing ?? keys;
      for (let i = 0, x = 12345; i < count; i++) instance.get(targets[(x = (Math.imul(x, 1103515245) + 12345) >>> 0) % count]);
    }
  };
  return { run, dispose: () => (instance.close(), rmSync(directory, { recursive: true, force: true })) };
}

async function main() {
  if (process.argv[2] === "--summarize") {
    const { totalMilliseconds, table } = summarize(JSON.parse(readFileSync(process.argv[3], "utf8")));
    console.log(`${totalMilliseconds.toFixed(0)} ms sampled\n\n${table}`);
    return;
  }
  const workload = process.argv[2] ?? "readrandom";
  const core = process.argv[3] ?? "wasm";
  const { run, dispose } = await setUp(workload, core);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 100 });
  await session.post("Profiler.start");
  const started = performance.now();
  run();
  const milliseconds = performance.now() - started;
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  dispose();
  const path = join(here, `${workload}-${core}.cpuprofile`);
  writeFileSync(path, JSON.stringify(profile));
  const { table } = summarize(profile);
  console.log(`pgz-${core} ${workload}: ${milliseconds.toFixed(0)} ms; profile ${path}\n\n${table}`);
}

await main();
