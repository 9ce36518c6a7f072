// Byte helpers shared by the data-block builder (block-builder.ts), reader (block.ts) and
// cursors (block-cursor.ts).

const CRC_MASK_DELTA: u32 = 0xa282ead8;

// @ts-ignore: decorator
@inline export function maskCrc(crc: u32): u32 {
  return ((crc >>> 15) | (crc << 17)) + CRC_MASK_DELTA;
}

/**
 * Copies `length` bytes between buffers that do not overlap. Keys are mostly short, and for
 * short lengths a word loop beats memory.copy, which V8 compiles to a call out of the module.
 */
// @ts-ignore: decorator
@inline export function copyBytes(target: usize, source: usize, length: u32): void {
  if (length <= 32) {
    let i: u32 = 0;
    while (i + 8 <= length) {
      store<u64>(target + i, load<u64>(source + i));
      i += 8;
    }
    while (i < length) {
      store<u8>(target + i, load<u8>(source + i));
      i++;
    }
  } else {
    memory.copy(target, source, length);
  }
}
