/**
 * Every on-disk constant of pgz, in one place; docs/FORMAT.md gives the byte layouts.
 * The WebAssembly core's copies live in assembly/format.ts and are checked equal by
 * test/format.test.ts.
 */

/** The unit of every write: offsets and lengths of writes are multiples of it. */
export const PAGE_SIZE = 4096;

/** Bytes of the internal-key trailer: kind (1) + sequence (7). */
export const TRAILER_BYTES = 8;

/**
 * Data block (built by the core's block builder):
 *
 *   +---------+---------+-----+-------------------------+---------+---------+---------+
 *   | entry 0 | entry 1 | ... | restarts (u32 LE each)  | u32     | u32     | u32     |
 *   |         |         |     | offsets of restart      | restart | entry   | masked  |
 *   |         |         |     | entries                 | count   | count   | CRC32C  |
 *   +---------+---------+-----+-------------------------+---------+---------+---------+
 *
 * entry := varint shared | varint unshared | varint valueLength | key[shared..] | value
 * (LEB128 varints; `shared` bytes of the key are taken from the previous key, 0 at a restart).
 * The CRC covers every byte before it and is masked (crc32cMask).
 */
export const BLOCK_RESTART_INTERVAL = 16;
export const BLOCK_TRAILER_BYTES = 12;

/**
 * Bloom filter (LevelDB's layout): the bit array (at least 64 bits, rounded up to bytes)
 * followed by one byte k, the number of probes (1..30). Key hash: LevelDB's Hash() with seed
 * BLOOM_HASH_SEED; probe i tests bit (h + i * delta) mod bits, delta = rotate-right(h, 17).
 */
export const BLOOM_HASH_SEED = 0xbc9f1d34;
export const BLOOM_BITS_PER_KEY = 10;
