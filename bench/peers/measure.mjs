/**
 * Measuring helpers for the peer benchmark: the data set (keys, values, batches), latency
 * percentiles, bytes on disk, bytes written by the process, and small formatting helpers.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** A deterministic 32-bit generator (mulberry32), so every engine gets the same data. */
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles in place (Fisher-Yates) with a seeded generator. */
export function shuffle(items, seed) {
  const next = random(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * `count` distinct 16-byte keys, "k" and 15 decimal digits of the index, in key order. Every
 * engine compares bytes, so this order is the order all of them iterate in. Buffers, because
 * the native bindings want Node buffers and every engine accepts them as Uint8Array.
 */
export function sortedKeys(count) {
  const keys = new Array(count);
  for (let index = 0; index < count; index++) keys[index] = Buffer.from("k" + String(index).padStart(15, "0"), "latin1");
  return keys;
}

/** Keys that sort among the real ones but are absent: each real key with "." appended. */
export function missingKeys(keys) {
  return keys.map((key) => Buffer.concat([key, Buffer.from(".")]));
}

/**
 * Values like db_bench's (--compression_ratio=0.5): each is a random half repeated twice, so a
 * compressing engine halves it and one that does not compress stores it whole. A pool of
 * distinct values is cycled, large enough that neighbouring values in a block differ.
 */
export function valuePool(valueBytes, distinct, seed) {
  const next = random(seed);
  const pool = [];
  for (let v = 0; v < distinct; v++) {
    const value = Buffer.allocUnsafe(valueBytes);
    const half = Math.ceil(valueBytes / 2);
    for (let i = 0; i < half; i++) value[i] = (next() * 256) | 0;
    value.copy(value, half, 0, valueBytes - half);
    pool.push(value);
  }
  return pool;
}

/** Batches of `{ type: "put", key, value }` (the shape pgz, classic-level and rocksdb take). */
export function putBatches(keys, pool, batchSize) {
  const batches = [];
  for (let start = 0; start < keys.length; start += batchSize) {
    const batch = [];
    for (let i = start; i < Math.min(keys.length, start + batchSize); i++) batch.push({ type: "put", key: keys[i], value: pool[i % pool.length] });
    batches.push(batch);
  }
  return batches;
}

export function deleteBatches(keys, batchSize) {
  const batches = [];
  for (let start = 0; start < keys.length; start += batchSize) {
    batches.push(keys.slice(start, start + batchSize).map((key) => ({ type: "del", key })));
  }
  return batches;
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted, fraction) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank];
}

/** Collects latency samples (milliseconds) and reports p50/p99. */
export class Latencies {
  constructor(capacity) {
    this.samples = new Float64Array(Math.max(1, capacity));
    this.count = 0;
  }
  add(milliseconds) {
    if (this.count < this.samples.length) this.samples[this.count++] = milliseconds;
  }
  summary() {
    const sorted = this.samples.subarray(0, this.count).sort();
    return { p50Microseconds: percentile(sorted, 0.5) * 1000, p99Microseconds: percentile(sorted, 0.99) * 1000, samples: this.count };
  }
}

/** The sum of the sizes of every file under `directory` (what `du --apparent-size` counts). */
export function directoryBytes(directory) {
  let total = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) total += directoryBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/**
 * Bytes this process (all its threads, so background compaction counts) caused to be sent to
 * the block layer, from /proc/self/io, or undefined where there is no such file. Linux counts a
 * page when it is dirtied, so a write is seen before writeback; it counts everything the process
 * writes, not only the engine under test.
 */
export function processWriteBytes() {
  try {
    const match = /^write_bytes: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function formatNumber(value, digits = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return "-";
  return value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function formatBytes(bytes) {
  if (bytes === undefined || bytes === null || Number.isNaN(bytes)) return "-";
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
