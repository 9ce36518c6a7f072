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
 * Knowing "what was written after sequence S" needs a record of recent writes: the database's
 * conflict journal (ts/engine/conflicts.ts), which its write path notifies, keeps them only
 * while a transaction is open, and only as far back as the oldest open transaction's snapshot.
 * Transactions reach the database through a ReadView (ts/api/view.ts), never DB itself.
 * Nothing here survives a restart: snapshots and open transactions die with the process.
 */
import { BINARY } from "./encoding.ts";
import { assert } from "../assert.ts";
import { compareBytes } from "../core/entry.ts";
import { binaryString, inRange, type ConflictJournal, type KeyRange } from "../engine/conflicts.ts";
import { PgzError, checkOptions, invalidArgument } from "../errors.ts";
import { checkIterateOptions, checkKey, checkValue, type BatchOperation, type IterateOptions, type WriteOptions } from "./options.ts";
import { Snapshot } from "./snapshot.ts";
import type { ReadView } from "./view.ts";

/**
 * Bytes of pending writes (keys plus values) one transaction may hold by default. The writes
 * live in memory until commit and then go to the log as one batch, so the limit bounds both.
 */
export const TRANSACTION_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** `db.transaction` retries a conflicting transaction this many times by default. */
const TRANSACTION_RETRIES_DEFAULT = 3;

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

/** Validates iterate options and folds them into one range, with the semantics of db.iterate. */
function iterationOf(options: IterateOptions): Iteration {
  const { reverse, limit, gt, gte, lt, lte } = checkIterateOptions(options);
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
  return { range, reverse, limit, viewOptions };
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
  private readonly conflicts: ConflictJournal;
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
    private readonly view: ReadView,
    options: TransactionOptions = {},
  ) {
    checkOptions(options, ["transactionBytesMax"], "transaction options");
    const bytesMax = options.transactionBytesMax ?? TRANSACTION_BYTES_MAX_DEFAULT;
    if (typeof bytesMax !== "number" || !Number.isSafeInteger(bytesMax) || bytesMax < 0) {
      throw invalidArgument(`option transactionBytesMax must be a non-negative integer, got ${String(bytesMax)}`);
    }
    this.transactionBytesMax = bytesMax;
    this.snapshot = new Snapshot(view);
    this.conflicts = view.conflicts;
    this.conflicts.begin(this, this.snapshot.sequence);
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
    this.view.checkOpen();
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
    return this.view.getAt(bytes, this.snapshot.sequence, BINARY);
  }

  put(key: Uint8Array | string, value: Uint8Array | string): void {
    this.checkLive();
    const keyBytes = checkKey(key);
    this.stage(keyBytes, checkValue(value));
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
    const view = this.view.iterateAt({ ...iteration.viewOptions, ...BINARY }, this.snapshot.sequence);
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
    const changedKey = this.conflicts.changedKey(this.keysRead, sequence);
    const ranges = this.rangesIterated.map(coveredRange).filter((range): range is KeyRange => range !== undefined);
    const changedInRange = changedKey === undefined ? this.conflicts.changedInRanges(ranges, sequence) : undefined;
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
      this.view.batch(operations, options);
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
    this.conflicts.end(this);
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


/** Checks db.transaction's or db.transactionSync's arguments; returns the retries allowed. */
export function checkRunArguments(fn: unknown, options: TransactionRunOptions, name: string): number {
  if (typeof fn !== "function") throw invalidArgument(`${name} needs a function`);
  checkOptions(options, ["transactionBytesMax", "retries", "writeOptions"], "transaction options");
  const retries = options.retries ?? TRANSACTION_RETRIES_DEFAULT;
  if (typeof retries !== "number" || !Number.isSafeInteger(retries) || retries < 0) {
    throw invalidArgument(`option retries must be a non-negative integer, got ${String(retries)}`);
  }
  return retries;
}

/**
 * Runs `fn` in a fresh transaction and commits it; on PGZ_CONFLICT runs it again, up to
 * `retries` more times. Any other error aborts the transaction and propagates.
 */
export async function runTransaction<T>(view: ReadView, fn: (transaction: Transaction) => T | Promise<T>, options: TransactionRunOptions = {}): Promise<T> {
  const retries = checkRunArguments(fn, options, "transaction");
  for (let attempt = 0; ; attempt++) {
    const transaction = new Transaction(view, { transactionBytesMax: options.transactionBytesMax });
    try {
      const result = await fn(transaction);
      commitAttempt(transaction, options.writeOptions);
      return result;
    } catch (error) {
      endFailedAttempt(transaction, error, attempt, retries);
    }
  }
}

/** Commits an attempt's transaction unless fn ended it itself (an abort means: do not commit). */
export function commitAttempt(transaction: Transaction, writeOptions: WriteOptions | undefined): void {
  if (transaction.state === "open") transaction.commit(writeOptions);
}

/** Aborts a failed attempt; returns (to retry) only on PGZ_CONFLICT with retries left, else rethrows. */
export function endFailedAttempt(transaction: Transaction, error: unknown, attempt: number, retries: number): void {
  if (transaction.state === "open") transaction.abort();
  const retryable = error instanceof PgzError && error.code === "PGZ_CONFLICT";
  if (!retryable || attempt >= retries) throw error;
}
