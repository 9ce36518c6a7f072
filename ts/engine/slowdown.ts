/**
 * The write slowdown with the background worker (RocksDB's delayed writes, from its level-0
 * slowdown trigger): when the worker falls behind, each write sleeps in proportion to its bytes,
 * so writes slow down evenly instead of one write waiting seconds at a stop. Behind means level 0
 * holds SLOWDOWN_L0_MULTIPLIER * l0Files tables or more (the stop is at 3 * l0Files), or the
 * previous memtable's flush is not committed once the new memtable is half full (at the copy's
 * pace its entries are all with the worker by then; the write that fills the memtable would wait
 * for the rest of the flush). Each step further behind halves the rate.
 */

/** From l0Files * this many level-0 tables, writes slow down. */
export const SLOWDOWN_L0_MULTIPLIER = 2;
/** The write rate of the first step of a slowdown (RocksDB's delayed_write_rate default, 16 MiB/s). */
const SLOWDOWN_BYTES_PER_MILLISECOND = 16 * 1024;
/** No write sleeps longer than this: a slowdown, not a stall. */
const SLOWDOWN_MILLISECONDS_MAX = 4;
/** Steps of the memtable's fill past half (in eighths) that each halve the rate again. */
const MEMTABLE_STEPS = 8;

export interface Backlog {
  level0Tables: number;
  l0Files: number;
  /** A memtable waits for its flush to commit. */
  flushWaiting: boolean;
  /** The current memtable's fill: arena bytes / memtableBytes. */
  memtableFill: number;
}

/** How far behind the worker is: 0 when not, else 1 and up (each step halves the write rate). */
export function slowdownSteps(backlog: Backlog): number {
  const trigger = backlog.l0Files * SLOWDOWN_L0_MULTIPLIER;
  const level0Steps = backlog.level0Tables >= trigger ? backlog.level0Tables - trigger + 1 : 0;
  const flushSteps = backlog.flushWaiting && backlog.memtableFill >= 0.5 ? 1 + Math.floor((backlog.memtableFill - 0.5) * MEMTABLE_STEPS) : 0;
  return Math.max(level0Steps, flushSteps);
}

/** Milliseconds a write of `bytes` sleeps at `steps` behind (see slowdownSteps). */
export function slowdownMilliseconds(bytes: number, steps: number): number {
  if (steps === 0) return 0;
  return Math.min(SLOWDOWN_MILLISECONDS_MAX, (bytes / SLOWDOWN_BYTES_PER_MILLISECOND) * 2 ** (steps - 1));
}

/**
 * Made at the first sleep, not when this module loads: a page that is not cross-origin isolated
 * has no SharedArrayBuffer, and this module is in the browser bundle too (which never sleeps:
 * it runs background work inline).
 */
let sleepWord: Int32Array | undefined;

/** Blocks this thread for `milliseconds` (the write's slowdown; the worker goes on meanwhile). */
export function sleep(milliseconds: number): void {
  if (milliseconds > 0) Atomics.wait((sleepWord ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, milliseconds);
}
