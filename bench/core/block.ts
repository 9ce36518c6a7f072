/**
 * Data-block benchmarks: building 4 KiB blocks (from runs, and one add() at a time), opening,
 * seeking (the opens are inside the timed region), and cursors filling runs in both directions.
 * Inputs are generated once and are identical for both cores.
 */
import { encodeInternalKey, encodeRun, type RunEntry } from "../../ts/core/entry.ts";
import { KIND_SEEK, KIND_VALUE, type Core, type Run } from "../../ts/core/types.ts";
import { createPureCore } from "../../ts/core/pure/index.ts";
import type { BenchCase } from "./harness.ts";
import { random } from "../../test/random.ts";

const ENTRY_COUNT = 1_000_000;
const USER_KEY_BYTES = 16;
const VALUE_BYTES = 100;
const BLOCK_BYTES = 4096;
const RUN_BYTES = 64 * 1024;
const SEEK_BLOCK_COUNT = 250;
const SEEK_COUNT = 1_000_000;
const ITERATE_BLOCK_COUNT = 8000;

/** The i-th user key: a fixed prefix and a zero-padded decimal, 16 bytes, in sorted order. */
function userKey(i: number): Uint8Array {
  return new TextEncoder().encode(`user${String(i * 2).padStart(USER_KEY_BYTES - 4, "0")}`);
}

let cachedEntries: RunEntry[] | undefined;
function entries(): RunEntry[] {
  if (cachedEntries) return cachedEntries;
  const next = random(42);
  cachedEntries = [];
  for (let i = 0; i < ENTRY_COUNT; i++) {
    const value = new Uint8Array(VALUE_BYTES);
    for (let j = 0; j < VALUE_BYTES; j += 4) value[j] = (next() * 256) | 0;
    cachedEntries.push({ key: encodeInternalKey(userKey(i), ENTRY_COUNT - i, KIND_VALUE), value });
  }
  return cachedEntries;
}

/** The entries as run-encoded chunks of about RUN_BYTES each (what a merge would hand over). */
let cachedChunks: Uint8Array[] | undefined;
function runChunks(): Uint8Array[] {
  if (cachedChunks) return cachedChunks;
  const all = entries();
  const perRun = Math.floor(RUN_BYTES / (8 + USER_KEY_BYTES + 8 + VALUE_BYTES));
  cachedChunks = [];
  for (let i = 0; i < all.length; i += perRun) cachedChunks.push(encodeRun(all.slice(i, i + perRun)));
  return cachedChunks;
}

/** The entries cut into finished 4 KiB blocks (built once by the pure core: same bytes). */
let cachedBlocks: Uint8Array[] | undefined;
function blocks(): Uint8Array[] {
  if (cachedBlocks) return cachedBlocks;
  const core = createPureCore();
  const built: Uint8Array[] = [];
  buildAll(core, runChunks().map((chunk) => toRun(core, chunk)), (block) => built.push(block));
  cachedBlocks = built;
  return built;
}

function toRun(core: Core, chunk: Uint8Array): Run {
  const run = core.newRun(chunk.length);
  run.appendEncoded(chunk);
  return run;
}

/**
 * Fills blocks from each run in turn, finishing a block whenever addFromRun stops short, and
 * hands each finished block to `sink` (a table builder would write it out).
 */
function buildAll(core: Core, runs: Run[], sink: (block: Uint8Array) => void): void {
  const builder = core.newBlockBuilder();
  for (const run of runs) {
    const count = run.count;
    for (let from = 0; from < count; ) {
      from = builder.addFromRun(run, from, BLOCK_BYTES);
      if (from < count) sink(builder.finish());
    }
  }
  if (builder.count > 0) sink(builder.finish());
  builder.free();
}

function seekTargets(): Uint8Array[] {
  const next = random(7);
  const keysPerBlock = ENTRY_COUNT / blocks().length;
  const span = Math.floor(SEEK_BLOCK_COUNT * keysPerBlock);
  const targets: Uint8Array[] = [];
  // Keys spread over the first SEEK_BLOCK_COUNT blocks; half exist, half fall between keys.
  for (let i = 0; i < 4096; i++) {
    const index = Math.floor(next() * span);
    const key = userKey(index);
    if (i % 2 === 1) key[key.length - 1]! += 1;
    targets.push(encodeInternalKey(key, ENTRY_COUNT, KIND_SEEK));
  }
  return targets;
}

/**
 * Runs the workload once untimed on the same core before preparing the timed run, so both cores
 * are measured warm: the TS core after JIT, the WASM core after V8 tiers its functions up from
 * the baseline compiler (which a busy machine delays by seconds). The run itself is unchanged.
 */
function warmedUp(benchCase: BenchCase): BenchCase {
  return {
    ...benchCase,
    prepare(core) {
      benchCase.prepare(core)();
      return benchCase.prepare(core);
    },
  };
}

const unwarmedCases: BenchCase[] = [
  {
    hotPath: "block",
    workload: "build 1,000,000 entries (16 B keys, 100 B values) into 4 KiB blocks via addFromRun",
    unit: "ops/s",
    prepare(core) {
      const runs = runChunks().map((chunk) => toRun(core, chunk));
      return () => {
        let bytes = 0;
        buildAll(core, runs, (block) => (bytes += block.length));
        for (const run of runs) run.free();
        if (bytes === 0) throw new Error("nothing built");
        return ENTRY_COUNT;
      };
    },
  },
  {
    hotPath: "block",
    workload: "build 1,000,000 entries into 4 KiB blocks, one add() each",
    unit: "ops/s",
    prepare(core) {
      const all = entries();
      return () => {
        const builder = core.newBlockBuilder();
        for (const { key, value } of all) {
          builder.add(key, value);
          if (builder.sizeEstimate >= BLOCK_BYTES - 128) builder.finish();
        }
        builder.finish();
        builder.free();
        return ENTRY_COUNT;
      };
    },
  },
  {
    hotPath: "block",
    workload: `open ${SEEK_BLOCK_COUNT} 4 KiB blocks, then ${SEEK_COUNT.toLocaleString("en-US")} seeks spread over them`,
    unit: "ops/s",
    prepare(core) {
      const chosen = blocks().slice(0, SEEK_BLOCK_COUNT);
      const targets = seekTargets();
      // Route each target to its block outside the timed region (an index block's job): the
      // block holding the last entry <= target, from the entry counts in the trailers.
      const firstIndex: number[] = [];
      let index = 0;
      for (const block of chosen) {
        firstIndex.push(index);
        index += new DataView(block.buffer, block.byteOffset).getUint32(block.length - 8, true);
      }
      const route = targets.map((target) => {
        const position = Math.floor(Number(new TextDecoder().decode(target.subarray(4, USER_KEY_BYTES))) / 2);
        let block = 0;
        while (block + 1 < firstIndex.length && firstIndex[block + 1]! <= position) block++;
        return block;
      });
      return () => {
        const readers = chosen.map((block) => core.openBlock(block));
        let found = 0;
        for (let i = 0; i < SEEK_COUNT; i++) {
          const t = i & 4095;
          if (readers[route[t]!]!.seek(targets[t]!)) found++;
        }
        for (const reader of readers) reader.free();
        if (found === 0) throw new Error("no seek found anything");
        return SEEK_COUNT;
      };
    },
  },
  {
    hotPath: "block",
    workload: `open + validate ${ITERATE_BLOCK_COUNT} 4 KiB blocks`,
    unit: "MB/s",
    prepare(core) {
      const chosen = blocks().slice(0, ITERATE_BLOCK_COUNT);
      let total = 0;
      for (const block of chosen) total += block.length;
      return () => {
        for (const block of chosen) core.openBlock(block).free();
        return total;
      };
    },
  },
  ...[false, true].map(
    (reverse): BenchCase => ({
      hotPath: "block",
      workload: `${reverse ? "reverse" : "forward"} cursor: ${ITERATE_BLOCK_COUNT} open blocks into 64 KiB runs (run bytes)`,
      unit: "MB/s",
      prepare(core) {
        const readers = blocks().slice(0, ITERATE_BLOCK_COUNT).map((block) => core.openBlock(block));
        const run = core.newRun(RUN_BYTES * 2);
        return () => {
          let total = 0;
          for (const reader of readers) {
            const cursor = reader.cursor(reverse);
            while (cursor.fill(run, RUN_BYTES) > 0) total += run.byteLength;
            cursor.free();
          }
          for (const reader of readers) reader.free();
          run.free();
          return total;
        };
      },
    }),
  ),
];

export const cases: BenchCase[] = unwarmedCases.map(warmedUp);
