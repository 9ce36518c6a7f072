/**
 * Merge benchmarks: 8 sorted sources of 125,000 entries each (1,000,000 entries in all; 16-byte
 * user keys, 100-byte values), fed as runs of about 64 KiB through the need protocol, merged in
 * "all" and "visible" mode. The sources share about a third of their user keys (several
 * versions of one key across sources) and 10% of entries are tombstones. Only the merge (fills
 * and refills) is timed; the runs are built beforehand with Run.appendEncoded.
 */
import { compareInternalKeys, encodeInternalKey, encodeRun, type RunEntry } from "../../ts/core/entry.ts";
import { KIND_DELETE, KIND_VALUE, MERGE_DONE, mergeSourceNeeded, type Core, type MergeOptions, type Run } from "../../ts/core/types.ts";
import type { BenchCase } from "./harness.ts";

const SOURCE_COUNT = 8;
const ENTRIES_PER_SOURCE = 125_000;
const ENTRY_COUNT = SOURCE_COUNT * ENTRIES_PER_SOURCE;
const USER_KEY_COUNT = 650_000;
const RUN_BYTES = 64 * 1024;

function next(state: { x: number }): number {
  let x = state.x;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  state.x = x >>> 0;
  return state.x;
}

let cached: { ascending: Uint8Array[][]; descending: Uint8Array[][] } | undefined;

/** Each source's runs (encoded, about RUN_BYTES each), ascending and descending. */
function workload(): { ascending: Uint8Array[][]; descending: Uint8Array[][] } {
  if (cached) return cached;
  const state = { x: 0xbadc0de };
  const userKeys: Uint8Array[] = [];
  for (let i = 0; i < USER_KEY_COUNT; i++) userKeys.push(new Uint8Array(16).map(() => next(state) & 0xff));
  const value = new Uint8Array(100).map(() => next(state) & 0xff);
  const sources: RunEntry[][] = [];
  let sequence = 1;
  for (let source = 0; source < SOURCE_COUNT; source++) {
    const entries: RunEntry[] = [];
    for (let i = 0; i < ENTRIES_PER_SOURCE; i++) {
      const deleted = next(state) % 10 === 0;
      const key = encodeInternalKey(userKeys[next(state) % USER_KEY_COUNT]!, sequence++, deleted ? KIND_DELETE : KIND_VALUE);
      entries.push({ key, value: deleted ? new Uint8Array(0) : value });
    }
    sources.push(entries.sort((a, b) => compareInternalKeys(a.key, b.key)));
  }
  const toRuns = (entries: RunEntry[]): Uint8Array[] => {
    const runs: Uint8Array[] = [];
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < entries.length; i++) {
      bytes += 8 + entries[i]!.key.length + entries[i]!.value.length;
      if (bytes >= RUN_BYTES || i === entries.length - 1) {
        runs.push(encodeRun(entries.slice(from, i + 1)));
        from = i + 1;
        bytes = 0;
      }
    }
    return runs;
  };
  cached = {
    ascending: sources.map(toRuns),
    descending: sources.map((entries) => toRuns([...entries].reverse())),
  };
  return cached;
}

function mergeCase(options: MergeOptions, label: string): BenchCase {
  return {
    hotPath: "merge",
    workload: `merge 8 x 125,000 entries, ${label}`,
    unit: "ops/s",
    prepare(core: Core) {
      const encoded = options.reverse ? workload().descending : workload().ascending;
      const runs: Run[][] = encoded.map((source) => source.map((bytes) => {
        const run = core.newRun(bytes.length);
        run.appendEncoded(bytes);
        return run;
      }));
      const out = core.newRun(2 * RUN_BYTES);
      return () => {
        const merge = core.newMerge(SOURCE_COUNT, options);
        const positions = new Array<number>(SOURCE_COUNT).fill(0);
        const feed = (index: number) => merge.setSource(index, runs[index]![positions[index]!++] ?? null);
        for (let index = 0; index < SOURCE_COUNT; index++) feed(index);
        let yielded = 0;
        for (;;) {
          const result = merge.fill(out);
          if (result > 0) yielded += result;
          else if (result === MERGE_DONE) break;
          else feed(mergeSourceNeeded(result));
        }
        merge.free();
        if (options.mode === "all" && yielded !== ENTRY_COUNT) throw new Error("merge lost entries");
        return ENTRY_COUNT;
      };
    },
  };
}

export const cases: BenchCase[] = [
  mergeCase({ reverse: false, mode: "all", sequence: 0 }, "all"),
  mergeCase({ reverse: false, mode: "visible", sequence: 900_000 }, "visible"),
  mergeCase({ reverse: true, mode: "visible", sequence: 900_000 }, "visible, reverse"),
];
