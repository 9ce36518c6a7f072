/**
 * Copies of the values point lookups find, carved from shared slabs: they go to callers only,
 * never into engine state (a caller may detach a slab by transferring a value's buffer). V8 gives every typed array over 64 bytes its own off-heap backing store, which
 * costs about 300 ns; a view into a slab costs about 80 ns (a 100-byte value, measured on this
 * machine). As with Node's Buffer pool, copies from one slab share its ArrayBuffer: a copy's
 * `.buffer` is the slab, so use byteOffset/byteLength with it, and never transfer it.
 */
const SLAB_BYTES = 16 * 1024;
/** Longer copies get their own buffer: they gain little, and would pin a slab alone. */
const SLAB_COPY_BYTES_MAX = 1024;

let slab = new ArrayBuffer(0);
let slabBytes = new Uint8Array(slab);
let slabUsed = 0;

/** A copy of source[start, end). */
export function copyOfRange(source: Uint8Array, start: number, end: number): Uint8Array {
  const length = end - start;
  if (length > SLAB_COPY_BYTES_MAX) return source.slice(start, end);
  // byteLength 0 also means a caller transferred (detached) the slab: start a new one.
  if (slabUsed + length > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabBytes = new Uint8Array(slab);
    slabUsed = 0;
  }
  const copy = new Uint8Array(slab, slabUsed, length);
  slabBytes.set(source.subarray(start, end), slabUsed);
  // 8-byte steps keep each copy aligned for a caller's wider views.
  slabUsed += (length + 7) & ~7;
  return copy;
}

/** Iterator fills: a few KiB each, carved from slabs of their own so they do not pin value slabs. */
const FILL_SLAB_BYTES = 64 * 1024;
const FILL_COPY_BYTES_MAX = 16 * 1024;
let fillSlab = new ArrayBuffer(0);
let fillSlabBytes = new Uint8Array(fillSlab);
let fillSlabUsed = 0;

/** A copy of `source` for an iterator's entries (views of it go to callers), from a slab when small. */
export function copyOfFill(source: Uint8Array): Uint8Array {
  const length = source.length;
  if (length > FILL_COPY_BYTES_MAX) return source.slice();
  if (fillSlabUsed + length > fillSlab.byteLength) {
    fillSlab = new ArrayBuffer(FILL_SLAB_BYTES);
    fillSlabBytes = new Uint8Array(fillSlab);
    fillSlabUsed = 0;
  }
  const copy = new Uint8Array(fillSlab, fillSlabUsed, length);
  fillSlabBytes.set(source, fillSlabUsed);
  fillSlabUsed += (length + 7) & ~7;
  return copy;
}

/**
 * Values read from the value log: up to 4 KiB each, carved from 64 KiB slabs of their own (the
 * same 1/16 ratio as the point-lookup slabs above, so a kept value pins at most 16 times its
 * size). A fresh 4 KiB typed array cost 2-5 us on this machine, the allocator's page faults more
 * than the copy; a view into a slab well under 1 us. Longer values get their own buffer.
 */
const LOG_SLAB_BYTES = 64 * 1024;
const LOG_COPY_BYTES_MAX = 4 * 1024;
let logSlab = new ArrayBuffer(0);
let logSlabBytes = new Uint8Array(logSlab);
let logSlabUsed = 0;

/** A copy of `source`, a value read from the log, for the caller only (never engine state). */
export function copyOfLogValue(source: Uint8Array): Uint8Array {
  const length = source.length;
  if (length > LOG_COPY_BYTES_MAX) return source.slice();
  if (logSlabUsed + length > logSlab.byteLength) {
    logSlab = new ArrayBuffer(LOG_SLAB_BYTES);
    logSlabBytes = new Uint8Array(logSlab);
    logSlabUsed = 0;
  }
  const copy = new Uint8Array(logSlab, logSlabUsed, length);
  logSlabBytes.set(source, logSlabUsed);
  logSlabUsed += (length + 7) & ~7;
  return copy;
}
