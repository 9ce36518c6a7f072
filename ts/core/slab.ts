/**
 * Copies handed to callers, carved from shared slabs: they go to callers only, never into engine
 * state (a caller may detach a slab by transferring a value's buffer). V8 gives every typed array
 * over 64 bytes its own off-heap backing store, which costs about 300 ns; a view into a slab costs
 * about 80 ns (a 100-byte value, measured on this machine). As with Node's Buffer pool, copies
 * from one slab share its ArrayBuffer: a copy's `.buffer` is the slab, so use byteOffset/byteLength
 * with it, and never transfer it. Each kind of copy has slabs of its own, 16 times its longest
 * copy, so a kept copy pins at most 16 times its size; longer copies get their own buffer.
 */
class Slabs {
  private slab = new ArrayBuffer(0);
  private bytes = new Uint8Array(this.slab);
  private used = 0;

  constructor(
    private readonly slabBytes: number,
    private readonly copyBytesMax: number,
  ) {}

  /** A copy of source[start, end). */
  copy(source: Uint8Array, start: number, end: number): Uint8Array {
    const length = end - start;
    if (length > this.copyBytesMax) return source.slice(start, end);
    // byteLength 0 also means a caller transferred (detached) the slab: start a new one.
    if (this.used + length > this.slab.byteLength) {
      this.slab = new ArrayBuffer(this.slabBytes);
      this.bytes = new Uint8Array(this.slab);
      this.used = 0;
    }
    const copy = new Uint8Array(this.slab, this.used, length);
    this.bytes.set(source.subarray(start, end), this.used);
    // 8-byte steps keep each copy aligned for a caller's wider views.
    this.used += (length + 7) & ~7;
    return copy;
  }
}

/** The values (and keys) point lookups find: up to 1 KiB, in 16 KiB slabs. */
const valueSlabs = new Slabs(16 * 1024, 1024);
/** Iterator fills: a few KiB each, in slabs of their own so they do not pin value slabs. */
const fillSlabs = new Slabs(64 * 1024, 16 * 1024);
/**
 * Values read from the value log, up to 4 KiB: a fresh 4 KiB typed array cost 2-5 us on this
 * machine (the allocator's page faults more than the copy), a view into a slab well under 1 us.
 */
const logValueSlabs = new Slabs(64 * 1024, 4 * 1024);

/** A copy of source[start, end). */
export function copyOfRange(source: Uint8Array, start: number, end: number): Uint8Array {
  return valueSlabs.copy(source, start, end);
}

/** A copy of `source` for an iterator's entries (views of it go to callers). */
export function copyOfFill(source: Uint8Array): Uint8Array {
  return fillSlabs.copy(source, 0, source.length);
}

/** A copy of `source`, a value read from the log, for the caller only (never engine state). */
export function copyOfLogValue(source: Uint8Array): Uint8Array {
  return logValueSlabs.copy(source, 0, source.length);
}
