/**
 * Memtable benchmarks: insert of 1,000,000 random 16-byte keys with 100-byte values, in batches
 * of 1,000 run entries (as the engine inserts write batches), the same in ascending key order,
 * the same with keys that share their first bytes, and get of all of them in random order. Inputs come from a seeded PRNG, so both cores see the
 * same bytes.
 */
import { encodeInternalKey, encodeRun, type RunEntry } from "../../ts/core/entry.ts";
import { KIND_VALUE, SEQUENCE_MAX } from "../../ts/core/types.ts";
import type { BenchCase } from "./harness.ts";

const ENTRY_COUNT = 1_000_000;
const BATCH_ENTRIES = 1_000;
const KEY_BYTES = 16;
const VALUE_BYTES = 100;

/** xorshift32 bytes: cheap, deterministic test data. */
function randomBytes(state: { x: number }, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    let x = state.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    state.x = x >>> 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/**
 * The 1,000 insert batches and every user key, back to back in a shuffled order (one buffer:
 * a million small Uint8Arrays kept alive would slow every later garbage collection).
 */
let cached: { batches: Uint8Array[]; userKeys: Uint8Array } | undefined;

function workload(): { batches: Uint8Array[]; userKeys: Uint8Array } {
  if (cached) return cached;
  const state = { x: 0x1234567 };
  const batches: Uint8Array[] = [];
  const userKeys: Uint8Array[] = [];
  for (let batch = 0; batch < ENTRY_COUNT / BATCH_ENTRIES; batch++) {
    const entries: RunEntry[] = [];
    for (let i = 0; i < BATCH_ENTRIES; i++) {
      const userKey = randomBytes(state, KEY_BYTES);
      userKeys.push(userKey);
      entries.push({ key: encodeInternalKey(userKey, batch * BATCH_ENTRIES + i + 1, KIND_VALUE), value: randomBytes(state, VALUE_BYTES) });
    }
    batches.push(encodeRun(entries));
  }
  for (let i = userKeys.length - 1; i > 0; i--) {
    state.x ^= state.x << 13;
    state.x ^= state.x >>> 17;
    state.x = (state.x ^ (state.x << 5)) >>> 0;
    const j = state.x % (i + 1);
    [userKeys[i], userKeys[j]] = [userKeys[j]!, userKeys[i]!];
  }
  const flat = new Uint8Array(ENTRY_COUNT * KEY_BYTES);
  userKeys.forEach((userKey, i) => flat.set(userKey, i * KEY_BYTES));
  cached = { batches, userKeys: flat };
  return cached;
}

/** The same entry count with keys in ascending order (a sequential load, db_bench's fillseq). */
let cachedInOrder: Uint8Array[] | undefined;

function workloadInOrder(): Uint8Array[] {
  if (cachedInOrder) return cachedInOrder;
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  const userKey = new Uint8Array(KEY_BYTES);
  cachedInOrder = [];
  for (let batch = 0; batch < ENTRY_COUNT / BATCH_ENTRIES; batch++) {
    const entries: RunEntry[] = [];
    for (let i = 0; i < BATCH_ENTRIES; i++) {
      const index = batch * BATCH_ENTRIES + i;
      new DataView(userKey.buffer).setUint32(KEY_BYTES - 4, index); // big-endian: sorts in order
      entries.push({ key: encodeInternalKey(userKey, index + 1, KIND_VALUE), value });
    }
    cachedInOrder.push(encodeRun(entries));
  }
  return cachedInOrder;
}

/**
 * The same entry count with bench:peers' keys, "k" and 15 decimal digits, in a shuffled order:
 * every key shares its first 10 bytes, so the memtable's link prefixes must skip them to tell
 * keys apart (assembly/skiplist.ts).
 */
let cachedShared: Uint8Array[] | undefined;

function workloadSharedPrefix(): Uint8Array[] {
  if (cachedShared) return cachedShared;
  const state = { x: 0x7654321 };
  const order = Array.from({ length: ENTRY_COUNT }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = randomBytes(state, 4).reduce((word, byte) => word * 256 + byte, 0) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  cachedShared = [];
  for (let batch = 0; batch < ENTRY_COUNT / BATCH_ENTRIES; batch++) {
    const entries: RunEntry[] = [];
    for (let i = 0; i < BATCH_ENTRIES; i++) {
      const index = batch * BATCH_ENTRIES + i;
      const userKey = new TextEncoder().encode("k" + String(order[index]).padStart(15, "0"));
      entries.push({ key: encodeInternalKey(userKey, index + 1, KIND_VALUE), value });
    }
    cachedShared.push(encodeRun(entries));
  }
  return cachedShared;
}

/** Inserting every batch of `batches()` into a new memtable, timed per run. */
function insertCase(workloadName: string, batches: () => Uint8Array[]): BenchCase {
  return {
    hotPath: "skiplist",
    workload: workloadName,
    unit: "ops/s",
    prepare(core) {
      const runs = batches();
      return () => {
        const memtable = core.newMemtable();
        for (const run of runs) memtable.insert(run);
        if (memtable.count !== ENTRY_COUNT) throw new Error("memtable lost entries");
        return ENTRY_COUNT;
      };
    },
  };
}

export const cases: BenchCase[] = [
  insertCase("insert 1,000,000 16 B keys, 100 B values (batches of 1,000)", () => workload().batches),
  insertCase("insert 1,000,000 16 B keys in ascending order (batches of 1,000)", workloadInOrder),
  insertCase("insert 1,000,000 16 B keys sharing their first 10 bytes (bench:peers' keys, shuffled; batches of 1,000)", workloadSharedPrefix),
  {
    hotPath: "skiplist",
    workload: "get 1,000,000 16 B keys (random order) from 1,000,000",
    unit: "ops/s",
    prepare(core) {
      const { batches, userKeys } = workload();
      const memtable = core.newMemtable();
      for (const batch of batches) memtable.insert(batch);
      return () => {
        let found = 0;
        for (let at = 0; at < userKeys.length; at += KEY_BYTES) {
          if (memtable.get(userKeys.subarray(at, at + KEY_BYTES), SEQUENCE_MAX) !== undefined) found++;
        }
        if (found !== ENTRY_COUNT) throw new Error("get missed keys");
        return ENTRY_COUNT;
      };
    },
  },
];
