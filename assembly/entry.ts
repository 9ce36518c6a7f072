// Internal keys and runs in WebAssembly memory (encodings in ts/core/types.ts).
import { TRAILER_BYTES } from "./format";

/** Bytewise comparison of [a, a + aLength) and [b, b + bLength). */
export function compareBytes(a: usize, aLength: u32, b: usize, bLength: u32): i32 {
  const length = aLength < bLength ? aLength : bLength;
  let i: u32 = 0;
  // Eight bytes at a time while equal; byte-swap to compare big-endian on the first difference.
  while (i + 8 <= length) {
    const x = load<u64>(a + i);
    const y = load<u64>(b + i);
    if (x != y) {
      const xs = bswap<u64>(x);
      const ys = bswap<u64>(y);
      return xs < ys ? -1 : 1;
    }
    i += 8;
  }
  while (i < length) {
    const x = load<u8>(a + i);
    const y = load<u8>(b + i);
    if (x != y) return <i32>x - <i32>y;
    i++;
  }
  return aLength == bLength ? 0 : (aLength < bLength ? -1 : 1);
}

/** The trailer (sequence << 8 | kind) of the internal key [key, key + length). */
// @ts-ignore: decorator
@inline export function trailerOf(key: usize, length: u32): u64 {
  return load<u64>(key + length - TRAILER_BYTES);
}

/** Internal-key order: user key ascending, then trailer (sequence, kind) descending. */
export function compareInternalKeys(a: usize, aLength: u32, b: usize, bLength: u32): i32 {
  const byUser = compareBytes(a, aLength - TRAILER_BYTES, b, bLength - TRAILER_BYTES);
  if (byUser != 0) return byUser;
  const x = trailerOf(a, aLength);
  const y = trailerOf(b, bLength);
  return x == y ? 0 : (x > y ? -1 : 1);
}
