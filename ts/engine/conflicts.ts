/**
 * The conflict journal of one database: the writes made since the oldest open transaction's
 * snapshot, which optimistic transactions (ts/api/txn.ts) validate against at commit. The write
 * path notifies it of every committed batch (`record`); it keeps them only while a transaction
 * is open, and only as far back as the oldest open transaction's snapshot.
 */
import { assert } from "../assert.ts";

/**
 * Keys as "binary strings" (one char per byte, 0..255): a Map and Set key, and JS string
 * comparison (by UTF-16 code unit) on them is exactly bytewise key order.
 */
export function binaryString(bytes: Uint8Array): string {
  const CHUNK = 8192;
  if (bytes.length <= CHUNK) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let text = "";
  for (let at = 0; at < bytes.length; at += CHUNK) {
    text += String.fromCharCode.apply(null, bytes.subarray(at, at + CHUNK) as unknown as number[]);
  }
  return text;
}

/** A key range in binary strings; an absent bound is open. */
export interface KeyRange {
  lower: string | undefined;
  lowerInclusive: boolean;
  upper: string | undefined;
  upperInclusive: boolean;
}

export function inRange(range: KeyRange, key: string): boolean {
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
export class ConflictJournal {
  /** Open transactions and the snapshot sequence each reads at. */
  private readonly open = new Map<object, number>();
  private readonly lastWrite = new Map<string, number>();
  private journalKeys: string[] = [];
  private journalSequences: number[] = [];
  /** Entries before this index are pruned (dropped in bulk when they are half the journal). */
  private journalHead = 0;

  get size(): number {
    return this.lastWrite.size;
  }

  begin(transaction: object, sequence: number): void {
    this.open.set(transaction, sequence);
  }

  end(transaction: object): void {
    if (!this.open.delete(transaction)) return;
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

  /**
   * The write path's notice of a committed batch (its keys and their sequences `firstSequence`,
   * `firstSequence + 1`, ...): kept for the conflict checks of open transactions, and dropped
   * after one comparison when none is open.
   */
  record(operations: readonly { key: Uint8Array }[], firstSequence: number): void {
    if (this.open.size === 0) return;
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
