/**
 * Bloom filters: build from 1,000,000 16-byte keys (one add() per key, or one addFromRun over
 * a run of their internal keys), and probe 1,000,000 keys, half of them present.
 */
import type { Core } from "../../ts/core/types.ts";
import { encodeInternalKey, encodeRun } from "../../ts/core/entry.ts";
import { KIND_VALUE } from "../../ts/core/types.ts";
import type { BenchCase } from "./harness.ts";

const KEY_COUNT = 1_000_000;
const KEY_BYTES = 16;
const BITS_PER_KEY = 10;

/** Key i: 16 pseudo-random bytes, all views into one buffer (identical for both cores). */
function makeKeys(count: number, seed: number): Uint8Array[] {
  const buffer = new Uint8Array(count * KEY_BYTES);
  let state = seed >>> 0;
  for (let i = 0; i < buffer.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    buffer[i] = state >>> 24;
  }
  return Array.from({ length: count }, (_, i) => buffer.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES));
}

let present: Uint8Array[] | undefined;
let absent: Uint8Array[] | undefined;
let encodedRun: Uint8Array | undefined;
const presentKeys = (): Uint8Array[] => (present ??= makeKeys(KEY_COUNT, 1));
const absentKeys = (): Uint8Array[] => (absent ??= makeKeys(KEY_COUNT / 2, 2));
const runBytes = (): Uint8Array =>
  (encodedRun ??= encodeRun(presentKeys().map((key, i) => ({ key: encodeInternalKey(key, i + 1, KIND_VALUE), value: new Uint8Array(0) }))));

function buildWithAdd(core: Core, keys: readonly Uint8Array[]): Uint8Array {
  const builder = core.newBloomBuilder();
  for (const key of keys) builder.add(key);
  const filter = builder.finish(BITS_PER_KEY);
  builder.free();
  return filter;
}

export const cases: BenchCase[] = [
  {
    hotPath: "bloom",
    workload: "build: add() 1,000,000 16 B keys, finish at 10 bits/key",
    unit: "ops/s",
    prepare(core) {
      const keys = presentKeys();
      for (let i = 0; i < 3; i++) buildWithAdd(core, keys.slice(0, 50_000));
      return () => {
        buildWithAdd(core, keys);
        return keys.length;
      };
    },
  },
  {
    hotPath: "bloom",
    workload: "build: addFromRun over 1,000,000 entries, finish",
    unit: "ops/s",
    prepare(core) {
      const run = core.newRun(runBytes().length);
      run.appendEncoded(runBytes());
      const builder = core.newBloomBuilder();
      // Warm-up calls let both cores' optimising compilers (and WebAssembly tier-up) finish.
      for (let i = 0; i < 3; i++) {
        builder.addFromRun(run, 0, 50_000);
        builder.finish(BITS_PER_KEY);
      }
      return () => {
        builder.addFromRun(run, 0, run.count);
        builder.finish(BITS_PER_KEY);
        return KEY_COUNT;
      };
    },
  },
  {
    hotPath: "bloom",
    workload: "probe: mayContain 1,000,000 keys (half present)",
    unit: "ops/s",
    prepare(core) {
      const filter = core.openBloom(buildWithAdd(core, presentKeys()));
      const probes = [...presentKeys().slice(0, KEY_COUNT / 2), ...absentKeys()];
      for (let i = 0; i < 50_000; i++) filter.mayContain(probes[i]!);
      return () => {
        let hits = 0;
        for (const probe of probes) if (filter.mayContain(probe)) hits++;
        if (hits < KEY_COUNT / 2) throw new Error("bloom benchmark: a present key was missed");
        return probes.length;
      };
    },
  },
];
