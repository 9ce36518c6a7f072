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
 * The CRC covers every byte before it and is masked (crc32cMask). An empty block is only the
 * trailer (restart count 0, entry count 0).
 */
export const BLOCK_RESTART_INTERVAL = 16;
export const BLOCK_TRAILER_BYTES = 12;

/**
 * Bloom filter, blocked (cache-local): lines of BLOOM_LINE_BYTES bytes, then one byte k, the
 * number of probes (1..30). Key hash h: LevelDB's Hash() with seed BLOOM_HASH_SEED. A key sets
 * and tests bits of one line only, line (h * lines) >> 32 (a multiply-shift, no modulo); its k
 * bit positions in that line come from one remix of h (docs/FORMAT.md gives the steps). The
 * line count stays at or below BLOOM_LINES_MAX so h * lines is exact in a double (< 2^53).
 */
export const BLOOM_HASH_SEED = 0xbc9f1d34;
export const BLOOM_LINE_BYTES = 64;
export const BLOOM_LINES_MAX = 0x200000;
export const BLOOM_BITS_PER_KEY = 10;

/**
 * Format version of every file kind (superblock, manifest snapshot edit, segment header, table
 * footer); bump it (and docs/FORMAT.md's version history) on any byte change. A database of
 * another version is refused with PGZ_CORRUPTION naming both versions.
 *   1  first format
 *   2  the table footer names its file number and checksums its smallest key; padding records
 *      carry a sync marker (how far the segment was durable at the last completed sync); the
 *      superblock holds a random database id that every table footer and segment header repeats
 *   3  table data blocks are packed back to back (not page-aligned) and each is stored raw or
 *      LZ4-compressed; block handles grow to 16 bytes (raw length, 0 for a raw block)
 *   4  the index block shares key prefixes; block handles are two varints
 *   5  bloom filters are blocked: each key's probes fall in one 64-byte line (was one bit array)
 */
export const FORMAT_VERSION = 5;

/**
 * Bytes of the database id: random, made when the database is created, kept in the superblock
 * and written into every table footer and segment header, so a file copied from another pgz
 * database (same name, same shape) is refused instead of read.
 */
export const DATABASE_ID_BYTES = 16;

/** File names inside a database directory. */
export const FILE_SUPERBLOCK = "SUPERBLOCK";
export const FILE_LOCK = "LOCK";
/** Guard held while a stale LOCK is replaced, so exactly one opener takes it over. */
export const FILE_LOCK_BREAK = "LOCK.break";
export const manifestFileName = (fileNumber: number) => `MANIFEST-${String(fileNumber).padStart(6, "0")}`;
export const tableFileName = (fileNumber: number) => `${String(fileNumber).padStart(6, "0")}.sst`;
export const segmentFileName = (fileNumber: number) => `${String(fileNumber).padStart(6, "0")}.vlog`;
export const TEMPORARY_SUFFIX = ".tmp";
/** The change-stream consumers' record (ts/vlog/consumers.ts): one page, replaced whole. */
export const FILE_CONSUMERS = "CONSUMERS";

/**
 * The largest file number: value pointers hold a segment number in 4 bytes, so the file-number
 * counter stops here (allocation past it fails) and a name with a larger number is not pgz's.
 */
export const FILE_NUMBER_MAX = 2 ** 32 - 1;

export type FileKind = "manifest" | "table" | "segment";

/**
 * The kind and number of a file pgz could have written: exactly our spelling (`manifestFileName`,
 * `tableFileName`, `segmentFileName`) with a number in [1, FILE_NUMBER_MAX]. Any other name,
 * such as `4294967296.vlog` or `0000042.sst`, is not pgz's: it is never read, never deleted, and
 * does not move the file-number counter.
 */
export function parseFileName(name: string): { kind: FileKind; fileNumber: number } | undefined {
  const match = /^(?:MANIFEST-(\d{6,})|(\d{6,})\.(sst|vlog))$/.exec(name);
  if (!match) return undefined;
  const digits = match[1] ?? match[2]!;
  const fileNumber = Number(digits);
  if (fileNumber < 1 || fileNumber > FILE_NUMBER_MAX) return undefined;
  const kind: FileKind = match[1] !== undefined ? "manifest" : match[3] === "sst" ? "table" : "segment";
  const canonical = kind === "manifest" ? manifestFileName(fileNumber) : kind === "table" ? tableFileName(fileNumber) : segmentFileName(fileNumber);
  return canonical === name ? { kind, fileNumber } : undefined;
}

/**
 * Superblock: SUPERBLOCK_COPIES pages at offsets 0, PAGE_SIZE, ...; a write goes to copy
 * (sequence % SUPERBLOCK_COPIES), so the previous copy stays intact. The newest valid copy wins.
 *
 *   offset size field
 *   0      8    magic MAGIC_SUPERBLOCK ("pgzSUPR1" as u64 LE)
 *   8      4    format version
 *   12     4    reserved (0)
 *   16     8    sequence (u64 LE; increases by one per write)
 *   24     8    manifest file number (u64 LE)
 *   32     16   database id (DATABASE_ID_BYTES random bytes, the same in every copy)
 *   48     4    masked CRC32C of bytes [0, 48)
 *   52..4095    zero
 */
export const SUPERBLOCK_COPIES = 2;
export const SUPERBLOCK_BYTES = 52;
export const SUPERBLOCK_DATABASE_ID_OFFSET = 32;
export const SUPERBLOCK_CHECKSUM_OFFSET = 48;
export const MAGIC_SUPERBLOCK = "pgzSUPR1";

/**
 * Manifest: a log of version edits, each in whole pages (an edit is synced when written, and
 * a synced page is never rewritten, so every edit starts on a page boundary):
 *
 *   offset size field
 *   0      4    masked CRC32C of bytes [4, 12 + length)
 *   4      4    magic MAGIC_MANIFEST_RECORD ("pgzM")
 *   8      4    length of the payload
 *   12     n    payload: a UTF-8 JSON VersionEdit (ts/lsm/manifest.ts)
 *   ...         zero to the next page boundary
 *
 * Replay stops at the first page that does not start a valid record.
 */
export const MANIFEST_RECORD_HEADER_BYTES = 12;
export const MAGIC_MANIFEST_RECORD = 0x4d7a6770; // "pgzM" little-endian
/** The manifest is rewritten as one snapshot edit when it grows past this... */
export const MANIFEST_BYTES_MAX = 1 << 20;
/** ...and once it passes four times its snapshot record, but never below this. */
export const MANIFEST_REWRITE_BYTES_MIN = 64 * 1024;
/** The largest payload of one manifest record; the writer refuses a larger edit. */
export const MANIFEST_PAYLOAD_BYTES_MAX = 64 * 1024 * 1024;
/**
 * No manifest pgz writes is larger: edits are appended only below MANIFEST_BYTES_MAX, and one
 * edit is at most a header and MANIFEST_PAYLOAD_BYTES_MAX, in whole pages. A larger file is
 * corruption, found without reading it.
 */
export const MANIFEST_FILE_BYTES_MAX = MANIFEST_BYTES_MAX + Math.ceil((12 + MANIFEST_PAYLOAD_BYTES_MAX) / 4096) * 4096;

/**
 * Value log segment (also the write-ahead log): records packed back to back in a byte stream
 * written in whole pages. A record never starts in the last RECORD_HEADER_BYTES - 1 bytes of a
 * page (those are zero and skipped). After a sync the writer pads to the next page boundary
 * with a padding record, so a synced page is never rewritten.
 *
 *   offset size field
 *   0      4    masked CRC32C of bytes [4, recordLength)
 *   4      4    recordLength (header + key + value)
 *   8      1    type: RECORD_DELETE 0, RECORD_PUT 1, RECORD_PADDING 0xfe
 *   9      1    flags: RECORD_FLAG_BATCH_END on the last record of a batch
 *   10     2    reserved (0)
 *   12     4    keyLength
 *   16     8    sequence (u64 LE)
 *   24     k    key
 *   24+k   v    value (v = recordLength - 24 - k)
 *
 * A batch is the records between two BATCH_END flags; recovery applies a batch only if its
 * BATCH_END record is intact. The writer never appends to a segment it did not create: after an
 * open it starts a new one.
 *
 * Sync marker: the value of a padding record (when the padding has room, PADDING_MARKER_BYTES)
 * starts with two u64 LE: the offset up to which this segment was durable at the last fdatasync
 * that had *completed* before the padding was written (0 if none), and the segment number. A
 * damaged record before an intact marker's offset was synced, so it is damage, not a torn tail.
 * Recovery cuts the newest segment at its first invalid record only when that record looks torn
 * (a whole 512-byte sector of it reads as zeros, as after a lost or partial page write) and no
 * intact marker after it claims durability past it; otherwise (a bit flip followed by any
 * intact record, or a lost synced page) it is PGZ_CORRUPTION, unless opened with `salvageLog`.
 *
 * Segment header (the first SEGMENT_HEADER_BYTES; the rest of page 0 is padding, so records
 * start at PAGE_SIZE and the synced header page is never rewritten):
 *
 *   offset size field
 *   0      8    magic MAGIC_SEGMENT ("pgzVLOG1")
 *   8      4    format version
 *   12     4    reserved (0)
 *   16     8    segment file number (u64 LE)
 *   24     16   database id (as in the superblock)
 *   40     4    masked CRC32C of bytes [0, 40)
 *   44     4    zero
 */
export const SEGMENT_HEADER_BYTES = 48;
export const SEGMENT_HEADER_DATABASE_ID_OFFSET = 24;
export const SEGMENT_HEADER_CHECKSUM_OFFSET = 40;
export const MAGIC_SEGMENT = "pgzVLOG1";
/** A segment is closed (synced) and a new one started once it passes this size. */
export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
export const RECORD_HEADER_BYTES = 24;
export const RECORD_DELETE = 0;
export const RECORD_PUT = 1;
export const RECORD_PADDING = 0xfe;
export const RECORD_FLAG_BATCH_END = 1;
/** The largest record: header, the largest key and the largest value. */
export const RECORD_BYTES_MAX = RECORD_HEADER_BYTES + 65536 + 64 * 1024 * 1024;
/** Bytes of the sync marker at the start of a padding record's value. */
export const PADDING_MARKER_BYTES = 16;
/** The unit a torn write keeps or loses whole (the power-loss tests tear pages at it). */
export const SECTOR_BYTES = 512;
/**
 * A segment never grows past this: value pointers hold a record offset in 4 bytes. A batch that
 * would cross it goes to a new segment, and one too large for an empty segment is refused.
 */
export const SEGMENT_FILE_BYTES_MAX = 2 ** 32;
/** The largest `segmentBytes` option (a batch may run one batch past it). */
export const SEGMENT_BYTES_OPTION_MAX = 1024 * 1024 * 1024;

/**
 * Value pointer (the value field of a KIND_POINTER entry): where a value lives in the log.
 *
 *   offset size field
 *   0      4    segment file number
 *   4      4    record offset in the segment
 *   8      4    recordLength
 */
export const VALUE_POINTER_BYTES = 12;

/**
 * SSTable: data blocks packed back to back from offset 0, then (from the next page boundary)
 * the index block, then the filter, each starting on a page boundary and zero-padded to one;
 * the last page is the footer. The file is still written in whole pages.
 *
 *   footer (first FOOTER_BYTES of the last page; the rest is zero):
 *   offset size field
 *   0      8    magic MAGIC_TABLE ("pgzTABL1")
 *   8      4    format version
 *   12     4    reserved (0)
 *   16     8    table file number (u64 LE): the table proves it is the one the manifest names
 *   24     8    entry count (u64 LE)
 *   32     8    index block offset (u64 LE)
 *   40     8    filter offset (u64 LE)
 *   48     4    index block length
 *   52     4    filter length
 *   56     4    data block count
 *   60     4    masked CRC32C of the filter bytes
 *   64     4    masked CRC32C of the smallest internal key (the largest is the index's last key)
 *   68     16   database id (as in the superblock)
 *   84     4    masked CRC32C of bytes [0, 84)
 *
 * Index block: a core block (restart interval BLOCK_RESTART_INTERVAL, as data blocks) whose
 * keys are the last internal key of each data block and whose values are block handles, two
 * LEB128 varints (each at most 32 bits, BLOCK_HANDLE_VARINT_BYTES_MAX bytes, in its shortest form):
 *
 *   varint stored length (bytes on disk, > 0)
 *   varint raw length: BLOCK_STORED_RAW (0) if the block is stored as built, else the length of
 *          the data block the LZ4 bytes decode to
 *
 * Data blocks are packed back to back from offset 0: block i starts where block i - 1 ends.
 *
 * A data block is stored raw (the core block above, with its own CRC) or, when that saves at
 * least 1/BLOCK_COMPRESSION_SAVINGS_MIN_DIVISOR of it, compressed:
 *
 *   +---------------------------------+--------------------------------------+
 *   | LZ4 block format (stored - 4 B) | u32 LE masked CRC32C of the LZ4 bytes |
 *   +---------------------------------+--------------------------------------+
 *
 * The CRC covers the bytes on disk, so damage is found before decompression; the block the LZ4
 * bytes decode to (exactly raw length bytes) carries its own CRC as a raw block does.
 */
export const MAGIC_TABLE = "pgzTABL1";
export const FOOTER_BYTES = 88;
/** Byte offset of each footer field (the table above). */
export const FOOTER_FIELD_OFFSETS = {
  version: 8,
  fileNumber: 16,
  entries: 24,
  indexOffset: 32,
  filterOffset: 40,
  indexLength: 48,
  filterLength: 52,
  blockCount: 56,
  filterChecksum: 60,
  smallestKeyChecksum: 64,
  databaseId: 68,
  checksum: 84,
} as const;
/** The longest varint of a block handle (a u32 in 7-bit groups). */
export const BLOCK_HANDLE_VARINT_BYTES_MAX = 5;
/** The raw-length field of a block handle for a block stored uncompressed. */
export const BLOCK_STORED_RAW = 0;
/** Bytes after a compressed block's LZ4 bytes: their masked CRC32C. */
export const COMPRESSED_BLOCK_TRAILER_BYTES = 4;
/** A block is compressed only if that saves at least 1/8 of it (LevelDB's rule). */
export const BLOCK_COMPRESSION_SAVINGS_MIN_DIVISOR = 8;
/** Data block compression of tables a database writes (the `compression` open option). */
export type Compression = "lz4" | "none";
export const COMPRESSIONS: readonly Compression[] = ["lz4", "none"];
/** Data blocks are cut below this size so each fills one page. */
export const DATA_BLOCK_BYTES_TARGET = PAGE_SIZE;

/** Limits the DB enforces (PGZ_INVALID_ARGUMENT beyond them). */
export const KEY_BYTES_MAX = 65536;
export const VALUE_BYTES_MAX = 64 * 1024 * 1024;

export const roundUpToPage = (bytes: number) => Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;

/**
 * Change-stream consumers (CONSUMERS): one page, written aside and renamed into place.
 *   offset  size  field
 *   0       8     magic MAGIC_CONSUMERS ("pgzCONS1" as u64 LE)
 *   8       4     FORMAT_VERSION
 *   12      4     consumer count (at most CONSUMERS_MAX)
 *   16      ..    per consumer: u8 name length, name (ASCII), u64 acknowledged sequence,
 *                 u32 first held segment
 *   end     4     masked CRC32C of bytes [0, end)
 *   then zeros to the end of the page.
 */
export const MAGIC_CONSUMERS = "pgzCONS1";
export const CONSUMERS_HEADER_BYTES = 16;
export const CONSUMER_NAME_BYTES_MAX = 64;
export const CONSUMERS_MAX = 16;
/** Bytes of one consumer entry besides its name: name length, sequence, segment. */
export const CONSUMER_ENTRY_FIXED_BYTES = 1 + 8 + 4;

/**
 * OPFS slot header (ts/storage/opfs.ts, browser only). OPFS creates, renames and removes files
 * only through async calls while Storage is synchronous, so a database on OPFS lives in a pool of
 * physical files ("slots", named slot-NNNNNN) opened when it opens; page 0 of each slot names
 * the pgz file it holds, whose bytes follow unchanged at offset PAGE_SIZE:
 *   0    4    magic MAGIC_OPFS_SLOT ("pgzS" as u32 LE)
 *   4    4    slot header version (OPFS_SLOT_VERSION)
 *   8    8    generation (u64 LE): grows with every header written in the pool; of two slots
 *             naming one file (a rename cut short by a crash) the higher generation wins
 *   16   2    name length n in bytes (1..OPFS_NAME_BYTES_MAX)
 *   18   n    name (UTF-8)
 *   18+n 4    masked CRC32C of bytes [0, 18 + n)
 * A slot whose page 0 is short, zero or fails its CRC holds no file (it is free).
 */
export const MAGIC_OPFS_SLOT = 0x537a6770; // "pgzS" little-endian
export const OPFS_SLOT_VERSION = 1;
export const OPFS_SLOT_HEADER_BYTES = PAGE_SIZE;
export const OPFS_NAME_BYTES_MAX = 255;
export const OPFS_SLOT_FIELD_OFFSETS = { magic: 0, version: 4, generation: 8, nameLength: 16, name: 18 } as const;
