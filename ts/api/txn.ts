/**
 * MVCC on sequence numbers: every committed write has one, and a snapshot is a sequence that
 * reads stop at. Transactions build on snapshots: optimistic and serializable, as in Badger.
 *
 * A transaction reads at the snapshot it took when it began and keeps its writes in memory
 * (they are never in the log before commit). `commit()` validates backwards: every key it read
 * (found or missing) and every key range it iterated (the part actually covered) must be
 * unchanged by writes committed after its snapshot; then all its writes go to the database as
 * one batch (consecutive sequences, atomic in the log). The commit order is the serial order:
 * a committed transaction read exactly what it would have read had it run alone at its commit
 * point. A failed validation is PGZ_CONFLICT, which is retryable (`db.transaction` retries).
 *
 * Knowing "what was written after sequence S" needs a record of recent writes: RecentWrites,
 * fed by one call in DB's write path (`recordWrites`), keeps them only while a transaction is
 * open on that database, and only as far back as the oldest open transaction's snapshot.
 * Nothing here survives a restart: snapshots and open transactions die with the process.
 */
import { assert } from "../assert.ts";
import { prefixEnd, toBytes } from "../bytes.ts";
import { compareBytes } from "../core/entry.ts";
import { PgzError, checkOptions, invalidArgument } from "../errors.ts";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../format.ts";
import type { BatchOperation, DB, IterateOptions, WriteOptions } from "./db.ts";

export class Snapshot {
  private released = false;

  constructor(
    private readonly db: DB,
    /** Reads see every write with a sequence <= this, and nothing newer. */
    readonly sequence: number,
    private readonly onRelease: () => void,
  ) {}

  private checkLive(): void {
    if (this.released) throw new PgzError("PGZ_CLOSED", "the snapshot was released");
  }

  get(key: Uint8Array | string): Uint8Array | undefined {
    this.checkLive();
    return this.db.getAt(key, this.sequence);
  }

  iterate(options: IterateOptions = {}): Generator<[Uint8Array, Uint8Array], void, undefined> {
    this.checkLive();
    return this.db.iterateAt(options, this.sequence);
  }

  /** Lets compaction reclaim the versions this snapshot pinned. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * Bytes of pending writes (keys plus values) one transaction may hold by default. The writes
 * live in memory until commit and then go to the log as one batch, so the limit bounds both.
 */
export const TRANSACTION_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** `db.transaction` retries a conflicting transaction this many times by default. */
export const TRANSACTION_RETRIES_DEFAULT = 3;

export interface TransactionOptions {
  /** Pending writes (key plus value bytes) beyond this throw PGZ_TXN_TOO_LARGE (default 64 MiB). */
  transactionBytesMax?: number;
}

export interface TransactionRunOptions extends TransactionOptions {
  /** Fresh attempts after a PGZ_CONFLICT (default 3). */
  retries?: number;
  /** Durability of the commit, as for db.batch. */
  writeOptions?: WriteOptions;
}

/**
 * Keys as "binary strings" (one char per byte, 0..255): a Map and Set key, and JS string
 * comparison (by UTF-16 code unit) on them is exactly bytewise key order.
 */
function binaryString(bytes: Uint8Array): string {
  const CHUNK = 8192;
  if (bytes.length <= CHUNK) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let text = "";
  for (let at = 0; at < bytes.length; at += CHUNK) {
    text += String.fromCharCode.apply(null, bytes.subarray(at, at + CHUNK) as unknown as number[]);
  }
  return text;
}

/** A key range in binary strings; an absent bound is open. */
interface KeyRange {
  lower: string | undefined;
  lowerInclusive: boolean;
  upper: string | undefined;
  upperInclusive: boolean;
}

function inRange(range: KeyRange, key: string): boolean {
  if (range.lower !== undefined && (range.lowerInclusive ? key < range.lower : key <= range.lower)) return false;
  if (range.upper !== undefined && (range.upperInclusive ? key > range.upper : key >= range.upper)) return false;
  return true;
}

/**
 * The writes made to one database since the oldest open transaction's snapshot, in two shapes:
 * `lastWrite` (key -> sequence of its newest write) answers point checks in O(1) per key read;
 * the journal (every write in sequence order) lets a range check look only at the writes made
 * after the checking transaction's snapshot (a binary search, then a scan of that suffix
 * against each iterated range: O(writes since the snapshot x ranges iterated)). Both are
 * pruned when a transaction ends and emptied when none is open.
 */
class RecentWrites {
  /** Open transactions and the snapshot sequence each reads at. */
  private readonly open = new Map<Transaction, number>();
  private readonly lastWrite = new Map<string, number>();
  private journalKeys: string[] = [];
  private journalSequences: number[] = [];
  /** Entries before this index are pruned (dropped in bulk when they are half the journal). */
  private journalHead = 0;

  get openCount(): number {
    return this.open.size;
  }

  get size(): number {
    return this.lastWrite.size;
  }

  begin(transaction: Transaction, sequence: number): void {
    this.open.set(transaction, sequence);
    openTransactionsTotal++;
  }

  end(transaction: Transaction): void {
    if (!this.open.delete(transaction)) return;
    openTransactionsTotal--;
    assert(openTransactionsTotal >= 0, "every end matches a begin");
    if (this.open.size === 0) {
      this.lastWrite.clear();
      this.journalKeys = [];
      this.journalSequences = [];
      this.journalHead = 0;
      return;
    }
    let oldest = Infinity;
    for (const sequence of this.open.values()) if (sequence < oldest) oldest = sequence;
    this.prune(oldest);
  }

  /** Forgets writes no open transaction can conflict with: those at or before `oldest`. */
  private prune(oldest: number): void {
    let head = this.journalHead;
    while (head < this.journalSequences.length && this.journalSequences[head]! <= oldest) {
      const key = this.journalKeys[head]!;
      if (this.lastWrite.get(key) === this.journalSequences[head]) this.lastWrite.delete(key);
      head++;
    }
    this.journalHead = head;
    if (head > 1024 && head * 2 > this.journalSequences.length) {
      this.journalKeys = this.journalKeys.slice(head);
      this.journalSequences = this.journalSequences.slice(head);
      this.journalHead = 0;
    }
  }

  record(operations: readonly { key: Uint8Array }[], firstSequence: number): void {
    const last = this.journalSequences[this.journalSequences.length - 1];
    assert(last === undefined || firstSequence > last, "writes are recorded in sequence order");
    for (let i = 0; i < operations.length; i++) {
      const key = binaryString(operations[i]!.key);
      this.lastWrite.set(key, firstSequence + i);
      this.journalKeys.push(key);
      this.journalSequences.push(firstSequence + i);
    }
  }

  /** The first key read that a write after `sequence` changed, if any. */
  changedKey(keys: Iterable<string>, sequence: number): string | undefined {
    for (const key of keys) if ((this.lastWrite.get(key) ?? -1) > sequence) return key;
    return undefined;
  }

  /** The first key written after `sequence` inside one of `ranges`, if any. */
  changedInRanges(ranges: readonly KeyRange[], sequence: number): string | undefined {
    if (ranges.length === 0) return undefined;
    const sequences = this.journalSequences;
    let low = this.journalHead;
    let high = sequences.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sequences[middle]! <= sequence) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < sequences.length; i++) {
      const key = this.journalKeys[i]!;
      for (const range of ranges) if (inRange(range, key)) return key;
    }
    return undefined;
  }
}

/** Across every database: lets the write hook return after one comparison when no transaction is open. */
let openTransactionsTotal = 0;
const recentWritesByDatabase = new WeakMap<DB, RecentWrites>();

function recentWritesOf(db: DB): RecentWrites {
  let recent = recentWritesByDatabase.get(db);
  if (recent === undefined) {
    recent = new RecentWrites();
    recentWritesByDatabase.set(db, recent);
  }
  return recent;
}

/**
 * The hook in DB's write path: records a committed batch (its keys and their sequences
 * `firstSequence`, `firstSequence + 1`, ...) for the conflict checks of open transactions.
 */
export function recordWrites(db: DB, operations: readonly { key: Uint8Array }[], firstSequence: number): void {
  if (openTransactionsTotal === 0) return;
  const recent = recentWritesByDatabase.get(db);
  if (recent === undefined || recent.openCount === 0) return;
  recent.record(operations, firstSequence);
}

/** Keys recorded for `db`'s open transactions (for tests: zero once none is open). */
export function recentWriteCount(db: DB): number {
  return recentWritesByDatabase.get(db)?.size ?? 0;
}

function checkKey(key: unknown, what = "key"): Uint8Array {
  const bytes = toBytes(key, what);
  if (bytes.length > KEY_BYTES_MAX) throw invalidArgument(`${what} is ${bytes.length} bytes; the limit is ${KEY_BYTES_MAX}`);
  return bytes;
}

interface PendingWrite {
  /** The key as a binary string. */
  name: string;
  key: Uint8Array;
  /** undefined: a delete. */
  value: Uint8Array | undefined;
}

/** An iteration's range and how far it got: what its commit must validate. */
interface IteratedRange {
  range: KeyRange;
  reverse: boolean;
  /** Ran to the end of its range: all of it was observed. */
  complete: boolean;
  /** Otherwise the range is covered up to (reverse: down to) the last key yielded. */
  lastKey: Uint8Array | undefined;
}

/** The part of an iterated range the caller observed, or undefined if none. */
function coveredRange(iterated: IteratedRange): KeyRange | undefined {
  if (iterated.complete) return iterated.range;
  if (iterated.lastKey === undefined) return undefined;
  const last = binaryString(iterated.lastKey);
  return iterated.reverse ? { ...iterated.range, lower: last, lowerInclusive: true } : { ...iterated.range, upper: last, upperInclusive: true };
}

interface Iteration {
  range: KeyRange;
  reverse: boolean;
  limit: number;
  /** The options the snapshot view is read with (the same bounds, no limit). */
  viewOptions: IterateOptions;
}

/** The names db.iterate, snapshot.iterate and tx.iterate take. */
export const ITERATE_OPTION_NAMES = ["gt", "gte", "lt", "lte", "prefix", "reverse", "limit"];

/** Validates iterate options and folds them into one range, with the semantics of db.iterate. */
function iterationOf(options: IterateOptions): Iteration {
  checkOptions(options, ITERATE_OPTION_NAMES, "iterate options");
  const reverse = options.reverse ?? false;
  if (typeof reverse !== "boolean") throw invalidArgument("option reverse must be a boolean");
  const limit = options.limit ?? Infinity;
  if (limit !== Infinity && (typeof limit !== "number" || !Number.isInteger(limit))) throw invalidArgument("option limit must be an integer");
  const bound = (name: "gt" | "gte" | "lt" | "lte" | "prefix") => (options[name] === undefined ? undefined : checkKey(options[name], name));
  const gt = bound("gt");
  let gte = bound("gte");
  let lt = bound("lt");
  const lte = bound("lte");
  const prefix = bound("prefix");
  if (prefix !== undefined) {
    if (gte === undefined || compareBytes(prefix, gte) > 0) gte = prefix;
    const end = prefixEnd(prefix);
    if (end && (lt === undefined || compareBytes(end, lt) < 0)) lt = end;
  }
  const lowerExclusive = gt !== undefined && (gte === undefined || compareBytes(gt, gte) >= 0);
  const lower = lowerExclusive ? gt : gte;
  const upperExclusive = lt !== undefined && (lte === undefined || compareBytes(lt, lte) <= 0);
  const upper = upperExclusive ? lt : lte;
  const range: KeyRange = {
    lower: lower === undefined ? undefined : binaryString(lower),
    lowerInclusive: !lowerExclusive,
    upper: upper === undefined ? undefined : binaryString(upper),
    upperInclusive: !upperExclusive,
  };
  const viewOptions: IterateOptions = { reverse };
  if (lower !== undefined) viewOptions[lowerExclusive ? "gt" : "gte"] = lower;
  if (upper !== undefined) viewOptions[upperExclusive ? "lt" : "lte"] = upper;
  return { range, reverse, limit: limit < 0 ? Infinity : limit, viewOptions };
}

type TransactionState = "open" | "committed" | "aborted";

/**
 * One optimistic transaction (see the top of this file). Not for use after `commit()` or
 * `abort()` (PGZ_CLOSED). Several may be open at once; each must end, or its snapshot keeps
 * old versions from being compacted away.
 */
export class Transaction {
  private currentState: TransactionState = "open";
  private abortReason = "";
  private readonly snapshot: Snapshot;
  private readonly recent: RecentWrites;
  private readonly pending = new Map<string, PendingWrite>();
  /** Pending entries in key order, rebuilt when a new key is added. */
  private sortedPending: PendingWrite[] | undefined;
  private pendingBytesTotal = 0;
  private readonly transactionBytesMax: number;
  private readonly keysRead = new Set<string>();
  private readonly rangesIterated: IteratedRange[] = [];
  /** Snapshot iterators still running, ended with the transaction so they release what they pin. */
  private readonly openViews = new Set<Generator<[Uint8Array, Uint8Array], void, undefined>>();

  constructor(
    private readonly db: DB,
    options: TransactionOptions = {},
  ) {
    checkOptions(options, ["transactionBytesMax"], "transaction options");
    const bytesMax = options.transactionBytesMax ?? TRANSACTION_BYTES_MAX_DEFAULT;
    if (typeof bytesMax !== "number" || !Number.isSafeInteger(bytesMax) || bytesMax < 0) {
      throw invalidArgument(`option transactionBytesMax must be a non-negative integer, got ${String(bytesMax)}`);
    }
    this.transactionBytesMax = bytesMax;
    this.snapshot = db.snapshot();
    this.recent = recentWritesOf(db);
    this.recent.begin(this, this.snapshot.sequence);
  }

  /** The snapshot sequence this transaction reads at. */
  get sequence(): number {
    return this.snapshot.sequence;
  }

  get state(): TransactionState {
    return this.currentState;
  }

  /** Key plus value bytes of the pending writes (what transactionBytesMax limits). */
  get pendingBytes(): number {
    return this.pendingBytesTotal;
  }

  private checkLive(): void {
    this.db.checkOpen();
    if (this.currentState === "committed") throw new PgzError("PGZ_CLOSED", "the transaction was committed");
    if (this.currentState === "aborted") throw new PgzError("PGZ_CLOSED", `the transaction was aborted${this.abortReason}`);
  }

  /** The value of `key` in this transaction: its own pending write, else the snapshot's. */
  get(key: Uint8Array | string): Uint8Array | undefined {
    this.checkLive();
    const bytes = checkKey(key);
    const name = binaryString(bytes);
    const write = this.pending.get(name);
    // A key this transaction wrote reads its own write, which no other commit can change.
    if (write !== undefined) return write.value?.slice();
    this.keysRead.add(name);
    return this.db.getAt(bytes, this.snapshot.sequence);
  }

  put(key: Uint8Array | string, value: Uint8Array | string): void {
    this.checkLive();
    const keyBytes = checkKey(key);
    const valueBytes = toBytes(value, "value");
    if (valueBytes.length > VALUE_BYTES_MAX) throw invalidArgument(`value is ${valueBytes.length} bytes; the limit is ${VALUE_BYTES_MAX}`);
    this.stage(keyBytes, valueBytes);
  }

  delete(key: Uint8Array | string): void {
    this.checkLive();
    this.stage(checkKey(key), undefined);
  }

  /** Adds a pending write after the size check (so an oversized one is refused before any copy). */
  private stage(key: Uint8Array, value: Uint8Array | undefined): void {
    const name = binaryString(key);
    const previous = this.pending.get(name);
    const previousBytes = previous === undefined ? 0 : previous.key.length + (previous.value?.length ?? 0);
    const bytes = this.pendingBytesTotal - previousBytes + key.length + (value?.length ?? 0);
    if (bytes > this.transactionBytesMax) {
      throw new PgzError("PGZ_TXN_TOO_LARGE", `the transaction would hold ${bytes} bytes of writes; the limit is ${this.transactionBytesMax} (commit it and start another)`);
    }
    assert(bytes >= 0, "pending bytes never go negative");
    this.pendingBytesTotal = bytes;
    // Copies: the caller may reuse its arrays before the commit.
    const valueCopy = value?.slice();
    if (previous !== undefined) {
      previous.value = valueCopy;
      return;
    }
    this.pending.set(name, { name, key: key.slice(), value: valueCopy });
    this.sortedPending = undefined;
  }

  /**
   * [key, value] pairs as db.iterate gives them (same options), as of the snapshot with this
   * transaction's writes merged in (its deletes hide keys). The pending writes are those made
   * before this call; the range covered so far counts as read at commit.
   */
  iterate(options: IterateOptions = {}): Generator<[Uint8Array, Uint8Array], void, undefined> {
    this.checkLive();
    const iteration = iterationOf(options);
    const iterated: IteratedRange = { range: iteration.range, reverse: iteration.reverse, complete: false, lastKey: undefined };
    this.rangesIterated.push(iterated);
    return this.merged(iteration, iterated, this.pendingInRange(iteration));
  }

  private pendingInRange(iteration: Iteration): PendingWrite[] {
    if (this.pending.size === 0) return [];
    this.sortedPending ??= [...this.pending.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Copies of the entries: later writes to the same key do not reach a running iteration.
    const within = this.sortedPending.filter((write) => inRange(iteration.range, write.name)).map((write) => ({ ...write }));
    return iteration.reverse ? within.reverse() : within;
  }

  private *merged(iteration: Iteration, iterated: IteratedRange, writes: readonly PendingWrite[]): Generator<[Uint8Array, Uint8Array], void, undefined> {
    this.checkLive();
    const view = this.db.iterateAt(iteration.viewOptions, this.snapshot.sequence);
    this.openViews.add(view);
    const direction = iteration.reverse ? -1 : 1;
    let yielded = 0;
    let writeIndex = 0;
    try {
      let next = view.next();
      while (yielded < iteration.limit) {
        const write = writes[writeIndex];
        if (next.done && write === undefined) {
          iterated.complete = true;
          return;
        }
        let entry: [Uint8Array, Uint8Array] | undefined;
        const order = next.done ? 1 : write === undefined ? -1 : direction * compareBytes(next.value[0], write.key);
        if (order < 0) {
          entry = next.value as [Uint8Array, Uint8Array];
          next = view.next();
        } else {
          // The transaction's own write shadows the snapshot's version of the same key.
          if (order === 0) next = view.next();
          writeIndex++;
          if (write!.value === undefined) continue;
          entry = [write!.key.slice(), write!.value.slice()];
        }
        iterated.lastKey = entry[0];
        yielded++;
        yield entry;
        this.checkLive();
      }
    } finally {
      this.openViews.delete(view);
      view.return();
    }
  }

  /**
   * Validates and applies the writes as one batch, or throws PGZ_CONFLICT (retryable: run the
   * transaction again) if a write committed after the snapshot touched a key it read or a range
   * it iterated. A transaction without writes never conflicts. Either way the transaction ends.
   */
  commit(options?: WriteOptions): void {
    this.checkLive();
    if (this.pending.size === 0) {
      this.finish("committed", "");
      return;
    }
    const sequence = this.snapshot.sequence;
    const changedKey = this.recent.changedKey(this.keysRead, sequence);
    const ranges = this.rangesIterated.map(coveredRange).filter((range): range is KeyRange => range !== undefined);
    const changedInRange = changedKey === undefined ? this.recent.changedInRanges(ranges, sequence) : undefined;
    if (changedKey !== undefined || changedInRange !== undefined) {
      const what = changedKey !== undefined ? `key ${printable(changedKey)} it read` : `key ${printable(changedInRange!)} in a range it iterated`;
      this.finish("aborted", " (it conflicted at commit)");
      throw new PgzError("PGZ_CONFLICT", `transaction conflict: ${what} was written after its snapshot at sequence ${sequence}; retry the transaction`);
    }
    const operations: BatchOperation[] = [];
    for (const write of this.pending.values()) {
      operations.push(write.value === undefined ? { type: "del", key: write.key } : { type: "put", key: write.key, value: write.value });
    }
    try {
      this.db.batch(operations, options);
    } catch (error) {
      this.finish("aborted", " (its commit failed)");
      throw error;
    }
    this.finish("committed", "");
  }

  /**
   * Drops the pending writes and releases the snapshot. Aborting twice is a no-op; aborting a
   * committed transaction is PGZ_CLOSED (its writes are in, nothing can take them back).
   */
  abort(): void {
    if (this.currentState === "committed") this.checkLive();
    if (this.currentState !== "open") return;
    this.finish("aborted", "");
  }

  private finish(state: TransactionState, reason: string): void {
    this.currentState = state;
    this.abortReason = reason;
    this.pending.clear();
    this.sortedPending = undefined;
    for (const view of [...this.openViews]) view.return();
    this.openViews.clear();
    this.recent.end(this);
    this.snapshot.release();
  }

  /** `using tx = db.begin()`: aborts a transaction that is still open, and does nothing else. */
  [Symbol.dispose](): void {
    if (this.currentState === "open") this.abort();
  }
}

/** A key for an error message: text if it is printable ASCII, else hex. */
function printable(key: string): string {
  if (/^[\x20-\x7e]*$/.test(key) && key.length <= 64) return JSON.stringify(key);
  let hex = "";
  for (let i = 0; i < Math.min(key.length, 32); i++) hex += key.charCodeAt(i).toString(16).padStart(2, "0");
  return `0x${hex}${key.length > 32 ? "..." : ""}`;
}

export function beginTransaction(db: DB, options?: TransactionOptions): Transaction {
  return new Transaction(db, options);
}

/**
 * Runs `fn` in a fresh transaction and commits it; on PGZ_CONFLICT runs it again, up to
 * `retries` more times. Any other error aborts the transaction and propagates.
 */
export async function runTransaction<T>(db: DB, fn: (transaction: Transaction) => T | Promise<T>, options: TransactionRunOptions = {}): Promise<T> {
  if (typeof fn !== "function") throw invalidArgument("transaction needs a function");
  checkOptions(options, ["transactionBytesMax", "retries", "writeOptions"], "transaction options");
  const retries = options.retries ?? TRANSACTION_RETRIES_DEFAULT;
  if (typeof retries !== "number" || !Number.isSafeInteger(retries) || retries < 0) {
    throw invalidArgument(`option retries must be a non-negative integer, got ${String(retries)}`);
  }
  for (let attempt = 0; ; attempt++) {
    const transaction = new Transaction(db, { transactionBytesMax: options.transactionBytesMax });
    try {
      const result = await fn(transaction);
      // fn may have ended the transaction itself (an abort means: do not commit).
      if (transaction.state === "open") transaction.commit(options.writeOptions);
      return result;
    } catch (error) {
      if (transaction.state === "open") transaction.abort();
      const retryable = error instanceof PgzError && error.code === "PGZ_CONFLICT";
      if (!retryable || attempt >= retries) throw error;
    }
  }
}
