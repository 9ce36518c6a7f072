// The on-disk constants the WebAssembly core needs; each equals its twin in ts/format.ts
// (test/format.test.ts reads these exported globals and checks them).

/** Bytes of the internal-key trailer: kind (1) + sequence (7). */
export const TRAILER_BYTES: u32 = 8;
/** Entries between restart points in a data block. */
export const BLOCK_RESTART_INTERVAL: u32 = 16;
/** Block trailer: u32 restart count, u32 entry count, u32 masked CRC32C. */
export const BLOCK_TRAILER_BYTES: u32 = 12;
/** Seed of the bloom filter hash (LevelDB's). */
export const BLOOM_HASH_SEED: u32 = 0xbc9f1d34;
/** Bytes of one bloom filter line (a cache line): every probe of a key falls in one line. */
export const BLOOM_LINE_BYTES: u32 = 64;
/** Lines of a bloom filter at most, so the host's double-precision h * lines stays exact. */
export const BLOOM_LINES_MAX: u32 = 0x200000;
