/**
 * The Core: every hot path of pgz behind one interface, implemented twice, in WebAssembly
 * (ts/core/wasm.ts over assembly/) and in pure TypeScript (ts/core/pure/). Everything above this
 * interface is shared, so a benchmark of { core: "wasm" } against { core: "ts" } compares only
 * the hot paths. Both implementations must agree byte for byte (test/core-differential.test.ts).
 *
 * Shared encodings (ts/core/entry.ts has the helpers):
 *
 * Internal key: the user key followed by an 8-byte trailer, the little-endian u64
 * (sequence << 8 | kind). Order: user key ascending (bytewise, shorter prefix first), then
 * trailer descending, so the newest version of a user key comes first.
 *
 *   +-----------------+------+--------------------------+
 *   | user key (n B)  | kind | sequence (7 B, LE, 56 b) |
 *   +-----------------+------+--------------------------+
 *
 * Run: the batch format in which entries cross the JS/WASM boundary (not an on-disk format).
 * A run is a sequence of entries, each
 *
 *   +----------------------+------------------+--------------+-------------+
 *   | u32 LE keyLength     | u32 LE valueLength | internal key | value bytes |
 *   +----------------------+------------------+--------------+-------------+
 *
 * with no padding. keyLength includes the 8-byte trailer. A run produced by a reverse cursor or
 * a reverse merge holds entries in descending internal-key order.
 *
 * Memory: objects that live in WebAssembly memory (runs, memtables, block readers, filters,
 * merges, builders) have free(); the TS core's free() only marks the object dead. Using an
 * object after free() throws PgzError PGZ_INVALID_ARGUMENT. Bad input (unsorted keys, malformed
 * runs) throws PGZ_INVALID_ARGUMENT; a malformed block or filter throws PGZ_CORRUPTION (without a
 * file: the caller adds it with locateCorruption). The core never traps on bad input.
 */

export type CoreName = "wasm" | "ts";

/** Entry kinds, the low byte of the trailer. Higher kind sorts first at equal sequence. */
export const KIND_DELETE = 0;
/** The value is stored inline. */
export const KIND_VALUE = 1;
/** The value field holds an encoded ValuePointer into the value log. */
export const KIND_POINTER = 2;
/** Used to build seek keys: sorts before every real entry of the same user key and sequence. */
export const KIND_SEEK = 0xff;

export const TRAILER_BYTES = 8;
/** Sequences are JS numbers: at most 2^53 - 1, which fits the 56-bit field. */
export const SEQUENCE_MAX = Number.MAX_SAFE_INTEGER;
/** Largest key and value a run may carry (the DB enforces smaller documented limits). */
export const ENTRY_LENGTH_MAX = 0x7fff_ffff;
/**
 * Largest Core.readBuffer: the buffer is kept for the core's life, so a rare huge record (or a
 * hostile pointer) must not grow it without bound; the value log reads longer records elsewhere.
 */
export const READ_BUFFER_BYTES_MAX = 1024 * 1024;

export interface Freeable {
  /** Releases the object's memory; idempotent. Any other use afterwards throws. */
  free(): void;
}

/** A growable batch of entries in run encoding, owned by the core. */
export interface Run extends Freeable {
  /** Number of entries. */
  readonly count: number;
  readonly byteLength: number;
  /**
   * The run's bytes. For the WASM core this is a view into WebAssembly memory, valid only
   * until the next call into the core: copy what you keep.
   */
  bytes(): Uint8Array;
  clear(): void;
  /** Appends entries given in run encoding; PGZ_INVALID_ARGUMENT if malformed. */
  appendEncoded(bytes: Uint8Array): void;
}

/** One version of a key, found by a point lookup (memtable or block). */
export interface Hit {
  kind: number;
  sequence: number;
  /** A copy (empty for KIND_DELETE), for the caller: it may share a slab (ts/core/slab.ts). */
  value: Uint8Array;
}

export interface Memtable extends Freeable {
  /**
   * Inserts every entry of `run` (run encoding; internal keys carry sequence and kind). An
   * internal key already present is PGZ_INVALID_ARGUMENT (sequences are unique per write);
   * entries before it stay inserted.
   */
  insert(run: Uint8Array): void;
  /** The newest version of `userKey` with sequence <= `sequence`, tombstones included. */
  get(userKey: Uint8Array, sequence: number): Hit | undefined;
  /**
   * get() for every slot [from, to) of `batch` not found yet, in one call (several searches
   * interleaved, so their cache misses overlap): afterwards the batch lists the slots found
   * here (copyFound); none needs a block.
   */
  getMany(batch: PointBatch, from: number, to: number): void;
  /** Bytes of arena in use (keys, values, nodes); the engine rotates the memtable on it. */
  readonly arenaBytes: number;
  readonly count: number;
  /**
   * A cursor in internal-key order. Forward: starts at the first entry >= `start` (or the
   * first entry). Reverse: starts at the last entry <= `start` (or the last entry).
   * Entries inserted after the cursor was made may or may not be seen.
   */
  cursor(reverse: boolean, start?: Uint8Array): Cursor;
}

/** A position in a memtable or block that copies entries out into runs. */
export interface Cursor extends Freeable {
  /**
   * Clears `run`, then appends entries from the current position in the cursor's direction
   * until the run holds at least `bytesTarget` bytes (default 64 KiB) or the source ends (a
   * run always takes at least one entry, growing if needed). Returns the number appended; 0
   * means exhausted.
   */
  fill(run: Run, bytesTarget?: number): number;
}

export interface BlockBuilder extends Freeable {
  /** Appends one entry; internal keys must be strictly increasing, else PGZ_INVALID_ARGUMENT. */
  add(internalKey: Uint8Array, value: Uint8Array): void;
  /**
   * Appends entries of `run` (ascending) starting at entry index `from`, stopping before the
   * entry that would take the block's size estimate past `blockBytesTarget` (at least one entry
   * is always taken per call). Returns the index of the first entry not taken. On an
   * out-of-order key it throws and leaves the builder as it was before the call.
   */
  addFromRun(run: Run, from: number, blockBytesTarget: number): number;
  readonly count: number;
  /** Size of the finished block if finish() were called now. */
  readonly sizeEstimate: number;
  /** A copy of the last key added (for the index block); empty if none. */
  lastKey(): Uint8Array;
  /** Returns a copy of the finished block and resets the builder for the next block. */
  finish(): Uint8Array;
}

export interface BlockReader extends Freeable {
  /** Entries in the block. */
  readonly count: number;
  readonly valid: boolean;
  /** Positions at the first entry >= `internalKey`; returns valid. */
  seek(internalKey: Uint8Array): boolean;
  first(): boolean;
  last(): boolean;
  next(): boolean;
  prev(): boolean;
  /** Copies of the current entry's internal key and value. */
  key(): Uint8Array;
  value(): Uint8Array;
  /**
   * A point lookup in one call: seeks `seekKey` (a user key with a trailer at the read's
   * sequence and KIND_SEEK) and returns the entry found if it has the same user key; leaves
   * the reader positioned as seek() would.
   */
  get(seekKey: Uint8Array): Hit | undefined;
  /**
   * A cursor over this block from the current position (or from first()/last() when not
   * valid) in the given direction; the reader must outlive it.
   */
  cursor(reverse: boolean): Cursor;
}

export interface BloomFilter extends Freeable {
  mayContain(userKey: Uint8Array): boolean;
}

export interface BloomBuilder extends Freeable {
  add(userKey: Uint8Array): void;
  /** Adds the user keys of run entries [from, to); consecutive equal user keys count once. */
  addFromRun(run: Run, from: number, to: number): void;
  readonly count: number;
  /** The filter bytes for every key added, then resets. */
  finish(bitsPerKey: number): Uint8Array;
}

/**
 * A user key and a read's sequence as a seek key, written once per read and asked of every
 * table: it carries the key's bloom hash, computed on first use and kept until the next set().
 */
export interface PointKey extends Freeable {
  set(userKey: Uint8Array, sequence: number): void;
}

/** TableLookup.get's result for a key the table does not have (filter or index said so). */
export const LOOKUP_ABSENT = -1;
/** Set in a result >= 0 when the block searched held the key: the low byte is its kind. */
export const LOOKUP_FOUND = 0x100;
/** A result >= 0 names the block searched in its bits from this one up. */
export const LOOKUP_BLOCK_SHIFT = 9;
/** What a cached block's point index (built by its first lookup) may take per entry, besides a key's bytes. */
export const POINT_INDEX_BYTES_PER_ENTRY = 24;
/** Tables with this many data blocks or more cannot have a lookup (PGZ_CORRUPTION). */
export const LOOKUP_BLOCKS_MAX = 1 << 22;
/** get() returned a value < LOOKUP_ABSENT: this block is not cached; read it, setBlock, ask again. */
export function lookupBlockNeeded(result: number): number {
  return -2 - result;
}

/**
 * What point reads of one table need, held by the core: its bloom filter, the last key of each
 * data block (from its index block) and the readers of the data blocks the host has cached.
 */
export interface TableLookup extends Freeable {
  readonly blockCount: number;
  /**
   * Puts a cached block's reader in slot `index` (undefined: the cache freed it). The reader
   * must be this core's and stay alive while it is in the slot.
   */
  setBlock(index: number, reader: BlockReader | undefined): void;
  /**
   * The newest version of the key visible at its sequence in this table: LOOKUP_ABSENT, a block
   * to load (lookupBlockNeeded), or a result >= 0 naming the block searched (>> LOOKUP_BLOCK_SHIFT)
   * and, with LOOKUP_FOUND set, the kind of the entry found (& 0xff).
   */
  get(key: PointKey): number;
  /**
   * The entry the last get() found (its kind given), right after that get(). The Hit object is
   * the lookup's, filled again by the next hit(): read it before calling the lookup again. Its
   * value is a copy for the caller.
   */
  hit(kind: number): Hit;
  /**
   * Asks this table about the slots [from, to) of `batch` not found yet (with `retry`, only
   * those the last call left needing a block): one call for them all. Afterwards the batch
   * lists the slots found here and those whose block is not cached; read the values found
   * before any block is loaded, load the blocks (setBlock), and ask again with `retry`.
   */
  getMany(batch: PointBatch, from: number, to: number, retry: boolean): void;
}

/**
 * The keys of one batch lookup (getMany), written once and asked of table after table
 * (TableLookup.getMany); each slot keeps what has been found for it.
 */
export interface PointBatch extends Freeable {
  /** Slot i is keys[order[i]] at `sequence`, for i < count; nothing found yet. */
  set(keys: readonly Uint8Array[], order: readonly number[], count: number, sequence: number): void;
  readonly count: number;
  /** The slots the last TableLookup.getMany found: foundSlot(i) for i < foundCount. */
  readonly foundCount: number;
  foundSlot(i: number): number;
  /** The slots the last TableLookup.getMany left needing a block, and the block each needs. */
  readonly neededCount: number;
  neededBlock(i: number): number;
  /** The entry found for `slot`, right after the call that found it: a copy of the value for the caller. */
  hit(slot: number): Hit;
  /**
   * What the last call (Memtable.getMany, TableLookup.getMany) found, into `results` at the
   * caller's index order[slot] of each slot found: no object per key. Call it right after.
   */
  copyFound(order: readonly number[], results: PointResults): void;
  /** The block that held the entry found for `slot`. */
  hitBlock(slot: number): number;
}

/** What a batch lookup found, by the caller's key index (PointBatch.copyFound fills it). */
export interface PointResults {
  /** A copy of each key's value (for KIND_POINTER, its encoded value pointer); undefined: none found, or a tombstone. */
  values: (Uint8Array | undefined)[];
  /** The keys whose value is a value pointer, and the sequence of the version found for each. */
  pointerKeys: number[];
  pointerSequences: number[];
}

/** What a merge yields: every internal entry, or the user-visible view at a sequence. */
export interface MergeOptions {
  reverse: boolean;
  /** Only versions with sequence <= this are considered (visible mode). */
  sequence: number;
  /**
   * "all": every entry of every source, in merged internal-key order (duplicates kept).
   * "visible": per user key, only the newest version with sequence <= `sequence`, and nothing
   * for that key if that version is a tombstone.
   */
  mode: "all" | "visible";
}

/** fill() returned MERGE_DONE: every source is exhausted and everything was yielded. */
export const MERGE_DONE = -1;
/** fill() returned a value < MERGE_DONE: call setSource(mergeSourceNeeded(r), ...) then fill again. */
export function mergeSourceNeeded(result: number): number {
  return -2 - result;
}

/**
 * A k-way merge over `sourceCount` sources fed by the host as runs in the merge's direction
 * (ascending, or descending when reverse). Before the first fill every source gets a run (or
 * null). The merge reads a source's run in place until it is used up, then asks for more.
 * Among entries with equal internal keys, the lower source index comes first.
 */
export interface Merge extends Freeable {
  /**
   * Gives source `index` its next run, or null when the source has no more entries. Valid only
   * while that source waits for a run (every source before the first fill; afterwards the one
   * fill asked for); an empty run leaves it waiting.
   */
  setSource(index: number, run: Run | null): void;
  /**
   * Clears `out`, then appends merged entries until `out` holds at least `bytesTarget` bytes.
   * Returns a count > 0 of entries appended; MERGE_DONE when every source is exhausted and
   * nothing is left; or a value r < MERGE_DONE: source mergeSourceNeeded(r) ran dry and the
   * merge cannot go on before its next run is known. If entries were appended before a source
   * ran dry, the count is returned and the next call reports the need.
   */
  fill(out: Run, bytesTarget?: number): number;
}

export interface Core {
  readonly name: CoreName;
  /**
   * The database that owns this core has closed: every later call, and every use of an object
   * the core handed out, throws PGZ_CLOSED (free() does nothing). The WebAssembly core keeps its
   * memory for the next core created on this thread unless `reuseMemory` is false or it trapped
   * (ts/core/wasm.ts); the TS core has nothing to reuse and lets its objects be. Idempotent.
   */
  release(reuseMemory?: boolean): void;

  /** CRC32C (Castagnoli) of `data`, extending `crc` (0 to start). Unsigned 32-bit. */
  crc32c(data: Uint8Array, crc?: number): number;
  /** out[i] = crc32c(data.subarray(starts[i], ends[i])), for every i: one call for a batch. */
  crc32cEach(data: Uint8Array, starts: Uint32Array, ends: Uint32Array, out: Uint32Array): void;
  /** LevelDB's masking, so a CRC stored beside data that contains CRCs stays meaningful. */
  crc32cMask(crc: number): number;
  crc32cUnmask(masked: number): number;
  /**
   * A buffer of `length` bytes (1 to READ_BUFFER_BYTES_MAX) to read a record into, which crc32c
   * checks in place: on the WebAssembly core it is core memory, so the CRC needs no staging copy.
   * The next readBuffer hands out the same bytes again (copy out whatever must outlive it), and
   * on the WebAssembly core a call that grows core memory empties the view (length 0).
   */
  readBuffer(length: number): Uint8Array;

  newRun(capacityBytes?: number): Run;
  newMemtable(): Memtable;
  newBlockBuilder(restartInterval?: number): BlockBuilder;
  /**
   * Verifies the block's trailer CRC and structure (PGZ_CORRUPTION if malformed) and keeps its
   * own copy, so the caller may reuse `block`. Each cursor has its own position.
   */
  openBlock(block: Uint8Array): BlockReader;
  newBloomBuilder(): BloomBuilder;
  /** PGZ_CORRUPTION if `filter` is malformed. */
  openBloom(filter: Uint8Array): BloomFilter;
  newMerge(sourceCount: number, options: MergeOptions): Merge;
  newPointKey(): PointKey;
  newPointBatch(): PointBatch;
  /**
   * A lookup over a table's filter and index block (as read from disk: the block's CRC and
   * structure are checked); PGZ_CORRUPTION if either is malformed.
   */
  openTableLookup(filter: Uint8Array, index: Uint8Array): TableLookup;

  /**
   * LZ4 block format (no frame): `data` compressed, or undefined when the result would be
   * longer than `capacityBytes` (default lz4CompressBound, which always fits). Both cores
   * emit the same bytes.
   */
  lz4Compress(data: Uint8Array, capacityBytes?: number): Uint8Array | undefined;
  /**
   * Decodes an LZ4 block that must decode to exactly `length` bytes; anything else (truncated,
   * a length past either buffer, an offset before the start) is PGZ_CORRUPTION.
   */
  lz4Decompress(compressed: Uint8Array, length: number): Uint8Array;
  /**
   * openBlock(lz4Decompress(compressed, rawLength)) in one step, without the copies between
   * (a table's compressed data block is decoded straight into the reader's memory).
   */
  openCompressedBlock(compressed: Uint8Array, rawLength: number): BlockReader;
}
