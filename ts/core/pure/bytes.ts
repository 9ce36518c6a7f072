/**
 * Byte helpers the pure core's hot loops share (blocks, the memtable, merges, LZ4).
 */

/** Below this length a byte loop beats subarray() + set() (which allocates a view). */
const COPY_LOOP_BYTES_MAX = 32;

/** Copies source[sourceStart, sourceStart + length) to target[targetStart..]. */
export function copyBytes(target: Uint8Array, targetStart: number, source: Uint8Array, sourceStart: number, length: number): void {
  if (length <= COPY_LOOP_BYTES_MAX) {
    for (let i = 0; i < length; i++) target[targetStart + i] = source[sourceStart + i]!;
  } else {
    target.set(source.subarray(sourceStart, sourceStart + length), targetStart);
  }
}
