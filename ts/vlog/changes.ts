/**
 * The change stream: committed batches read back from the value log, which is also the
 * write-ahead log, so the stream costs no extra write. Batches come in sequence order, each
 * exactly as committed (GC's rewrites of live values included: they are puts of the value the key
 * already holds). Only durable batches are yielded (synced: they survive power loss), so a
 * consumer never applies a batch a crash could take back. At the head, a stream waits for the
 * database's next commit, and makes commits durable itself (a group fdatasync, at most one per
 * CHANGES_SYNC_INTERVAL_MS) when they were written without a sync.
 *
 * Segment holds: an open stream keeps the segment it reads and every later one; a named
 * consumer (ts/vlog/consumers.ts) keeps them across restarts. The database deletes a segment only
 * if `holds(segment)` is false.
 */
import type { Core } from "../core/types.ts";
import { PgzError, corruption, invalidArgument } from "../errors.ts";
import { RECORD_FLAG_BATCH_END, RECORD_PADDING, RECORD_PUT, SEGMENT_HEADER_BYTES, segmentFileName } from "../format.ts";
import { FileWindow, WINDOW_BYTES, isAllZero } from "../storage/file-window.ts";
import type { Storage, StorageFile } from "../storage/io.ts";
import { checkConsumerName, readConsumers, writeConsumers, type ConsumerRecord } from "./consumers.ts";
import type { LogPosition } from "./log.ts";
import { checkSegmentHeader, recordStart, type LogRecord } from "./record.ts";
import { listSegments, readRecord } from "./replay.ts";

export type ChangeOperation = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

export interface ChangeBatch {
  /** The sequence of the batch's first operation; the last one is sequence + operations.length - 1. */
  sequence: number;
  operations: ChangeOperation[];
}

export interface ChangesOptions {
  /** Yield the batches after this sequence (0: from the first write the log holds). */
  since: number;
  /** A named consumer: the log is kept from `since` (then from each acknowledged sequence) across restarts. */
  consumer?: string;
}

/** What the change feed needs from the database. */
export interface ChangeSource {
  readonly core: Core;
  readonly storage: Storage;
  readonly databaseId: Uint8Array;
  lastSequence(): number;
  durablePosition(): LogPosition;
  /** Where the next record goes: equal to durablePosition() when every commit is synced. */
  endPosition(): LogPosition;
  requestSync(): Promise<void>;
  /** A hold ended or moved: segments waiting for deletion may go now. */
  holdsReleased(): void;
}

/** A tailing stream makes unsynced commits durable at most this often (each sync pads the log to a page). */
export const CHANGES_SYNC_INTERVAL_MS = 10;
/** Read window for finding a segment's first batch: a page or so, not a streaming window. */
const FIRST_BATCH_WINDOW_BYTES = 64 * 1024;

/**
 * A window over a segment after checking its header (undefined for a blank one: replay removes
 * those, so only one cut short after this listing). Unlike openSegment, reads only the header
 * before the window's first read, whose size the caller picks.
 */
function openSegmentWindow(source: ChangeSource, file: StorageFile, segment: number, windowBytes: number): FileWindow | undefined {
  const header = new Uint8Array(SEGMENT_HEADER_BYTES);
  const count = file.read(header, 0);
  if (isAllZero(header.subarray(0, count))) return undefined;
  if (count < SEGMENT_HEADER_BYTES) throw corruption("segment shorter than its header", { file: file.name, offset: 0 });
  checkSegmentHeader(source.core, header, file.name, segment, source.databaseId);
  return new FileWindow(file, windowBytes);
}

function truncated(expected: number, found: number | undefined): PgzError {
  const next = found === undefined ? "holds no later batch" : `holds sequences from ${found} on`;
  return new PgzError(
    "PGZ_CHANGES_TRUNCATED",
    `the value log no longer holds sequence ${expected} (it ${next}): GC or segment retirement removed that history; copy the database afresh, and name a consumer to keep the log for it`,
  );
}

/** The change feed of one database: its streams, its named consumers, and what they hold. */
export class ChangeFeed {
  private closed = false;
  private readonly streams = new Set<ChangeStream>();
  private readonly consumers: Map<string, ConsumerRecord>;
  private commitWaiters: (() => void)[] = [];
  /** The first sequence of each sealed segment (undefined: it holds no batch). */
  private readonly firstSequences = new Map<number, number | undefined>();
  private syncInFlight: Promise<void> | undefined;
  private lastSyncAt = -Infinity;

  constructor(readonly source: ChangeSource) {
    this.consumers = new Map(readConsumers(source.core, source.storage).map((consumer) => [consumer.name, consumer]));
  }

  /** Whether a stream or a named consumer still needs `segment`: the one small retirement check. */
  holds(segment: number): boolean {
    for (const consumer of this.consumers.values()) if (segment >= consumer.segment) return true;
    for (const stream of this.streams) if (segment >= stream.segment) return true;
    return false;
  }

  /** Called after every commit: wakes the streams waiting at the head. */
  committed(): void {
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    for (const wake of waiters) wake();
  }

  nextCommit(): Promise<void> {
    return new Promise((resolve) => this.commitWaiters.push(resolve));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends every stream (their next() resolves done); consumers stay on disk. */
  close(): void {
    this.closed = true;
    for (const stream of [...this.streams]) stream.release();
    this.committed();
  }

  open(options: ChangesOptions): ChangeStream {
    const since = options.since;
    if (typeof since !== "number" || !Number.isSafeInteger(since) || since < 0) throw invalidArgument(`option since must be a non-negative integer, got ${String(since)}`);
    if (since > this.source.lastSequence()) throw invalidArgument(`since ${since} is past the newest sequence ${this.source.lastSequence()}`);
    const name = options.consumer === undefined ? undefined : checkConsumerName(options.consumer);
    const segment = this.locate(since);
    if (name !== undefined) this.saveConsumer({ name, sequence: since, segment });
    const stream = new ChangeStream(this, since, segment);
    this.streams.add(stream);
    return stream;
  }

  /** Durably moves a named consumer on: the log before the batch after `sequence` may go. */
  acknowledge(name: string, sequence: number): void {
    const consumer = this.consumers.get(checkConsumerName(name));
    if (consumer === undefined) throw new PgzError("PGZ_NOT_FOUND", `no change consumer named ${name}`);
    if (typeof sequence !== "number" || !Number.isSafeInteger(sequence) || sequence < consumer.sequence || sequence > this.source.lastSequence()) {
      throw invalidArgument(`an acknowledged sequence must be an integer from ${consumer.sequence} (the last acknowledged) to ${this.source.lastSequence()}, got ${String(sequence)}`);
    }
    this.saveConsumer({ name: consumer.name, sequence, segment: this.locate(sequence) });
    this.source.holdsReleased();
  }

  /** Drops a named consumer: the log it held is collected as usual. False if there was none. */
  release(name: string): boolean {
    if (!this.consumers.delete(checkConsumerName(name))) return false;
    writeConsumers(this.source.core, this.source.storage, [...this.consumers.values()]);
    this.source.holdsReleased();
    return true;
  }

  list(): { name: string; sequence: number }[] {
    return [...this.consumers.values()].map(({ name, sequence }) => ({ name, sequence }));
  }

  private saveConsumer(consumer: ConsumerRecord): void {
    const next = new Map(this.consumers).set(consumer.name, consumer);
    writeConsumers(this.source.core, this.source.storage, [...next.values()]);
    this.consumers.set(consumer.name, consumer);
  }

  forget(stream: ChangeStream): void {
    if (this.streams.delete(stream) && !this.closed) this.source.holdsReleased();
  }

  /**
   * The segment a stream after `since` starts reading: the newest one whose first durable batch
   * is at or before since + 1. PGZ_CHANGES_TRUNCATED if the oldest batch the log holds is later.
   */
  locate(since: number): number {
    const durable = this.source.durablePosition();
    const segments = listSegments(this.source.storage).filter((segment) => segment <= durable.segment);
    let start: number | undefined;
    for (const segment of segments) {
      const first = this.firstSequence(segment, durable);
      if (first === undefined) continue;
      if (first > since + 1) {
        if (start === undefined) throw truncated(since + 1, first);
        break;
      }
      start = segment;
    }
    if (start === undefined && since < this.source.lastSequence() && this.fullyDurable()) throw truncated(since + 1, undefined);
    return start ?? segments[0] ?? durable.segment;
  }

  /** Whether every commit is synced (the durable position is the end of the log). */
  fullyDurable(): boolean {
    const durable = this.source.durablePosition();
    const end = this.source.endPosition();
    return durable.segment === end.segment && durable.offset === end.offset;
  }

  /** The first sequence of a segment's first durable batch, cached once the segment is sealed. */
  private firstSequence(segment: number, durable: LogPosition): number | undefined {
    if (this.firstSequences.has(segment)) return this.firstSequences.get(segment);
    const limit = segment === durable.segment ? durable.offset : Infinity;
    const file = this.source.storage.open(segmentFileName(segment));
    let first: number | undefined;
    try {
      const window = openSegmentWindow(this.source, file, segment, FIRST_BATCH_WINDOW_BYTES);
      first = window === undefined ? undefined : readBatch(this.source.core, window, SEGMENT_HEADER_BYTES, limit, segment < durable.segment)?.records[0]!.sequence;
    } finally {
      file.close();
    }
    if (segment < durable.segment) this.firstSequences.set(segment, first);
    return first;
  }

  /** Makes the commits so far durable, sharing one sync among all streams, at most one per interval. */
  syncSoon(): Promise<void> {
    this.syncInFlight ??= (async () => {
      const wait = this.lastSyncAt + CHANGES_SYNC_INTERVAL_MS - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        if (!this.closed) await this.source.requestSync();
      } finally {
        this.lastSyncAt = performance.now();
        this.syncInFlight = undefined;
      }
    })();
    return this.syncInFlight;
  }
}

/**
 * The next complete batch at or after `offset` that ends by `limit`, and where it ends; undefined
 * if there is none (yet). In a sealed segment (`sealed`), anything but zeros where a record should
 * be is damage; below `limit` every byte was synced, so an invalid record there is damage too.
 */
function readBatch(core: Core, window: FileWindow, offset: number, limit: number, sealed: boolean): { records: LogRecord[]; end: number } | undefined {
  const records: LogRecord[] = [];
  let position = offset;
  while (true) {
    position = recordStart(position);
    if (position >= Math.min(limit, window.size)) break;
    const record = readRecord(core, window, position);
    if (!record) {
      if (sealed && window.zeroFrom(position)) break;
      throw corruption("damaged record in the durable part of the value log", { file: window.name, offset: position });
    }
    if (position + record.length > limit) break;
    position += record.length;
    if (record.type === RECORD_PADDING) continue;
    records.push(record);
    if (record.flags & RECORD_FLAG_BATCH_END) return { records, end: position };
  }
  if (records.length > 0 && sealed) throw corruption("a batch is cut short at the end of a sealed value log segment", { file: window.name, offset: records[0]!.offset });
  return undefined;
}

function toOperations(records: readonly LogRecord[]): ChangeOperation[] {
  // Copies: the consumer may keep them, and a view would pin the whole read window.
  return records.map((record) => (record.type === RECORD_PUT ? { type: "put", key: record.key.slice(), value: record.value.slice() } : { type: "del", key: record.key.slice() }));
}

/**
 * One stream: an async iterator (for await ... of) of ChangeBatch. next() calls run one at a time;
 * return() ends it at once, even while it waits at the head, and releases its file and hold.
 */
export class ChangeStream implements AsyncIterableIterator<ChangeBatch> {
  private offset = SEGMENT_HEADER_BYTES;
  private file: StorageFile | undefined;
  private window: FileWindow | undefined;
  /** The durable limit when the window was read: bytes past it may have been rewritten since (a synced page's padding). */
  private windowLimit = 0;
  private expected: number;
  private done = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly feed: ChangeFeed,
    private readonly since: number,
    /** The segment being read: it and every later one are held while the stream is open. */
    public segment: number,
  ) {
    this.expected = since + 1;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ChangeBatch, undefined>> {
    const result = this.queue.then(() => this.advance());
    this.queue = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<ChangeBatch, undefined>> {
    this.release();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<ChangeBatch, undefined>> {
    this.release();
    throw error;
  }

  /** Ends the stream: closes its file, drops its hold, wakes a next() waiting at the head. */
  release(): void {
    if (this.done) return;
    this.done = true;
    this.closeFile();
    this.feed.forget(this);
    this.feed.committed();
  }

  private async advance(): Promise<IteratorResult<ChangeBatch, undefined>> {
    try {
      while (!this.done && !this.feed.isClosed) {
        const batch = this.readNext();
        if (batch) return { done: false, value: batch };
        const source = this.feed.source;
        if (source.lastSequence() < this.expected) {
          await this.feed.nextCommit();
          continue;
        }
        // Everything is durable and read, yet the sequences after the last batch are not in the log.
        if (this.feed.fullyDurable()) throw truncated(this.expected, undefined);
        await this.feed.syncSoon();
      }
    } catch (error) {
      this.release();
      if (this.feed.isClosed) return { done: true, value: undefined };
      throw error;
    }
    this.release();
    return { done: true, value: undefined };
  }

  /** The next durable batch after `expected - 1`, moving across sealed segments; undefined at the durable head. */
  private readNext(): ChangeBatch | undefined {
    while (true) {
      const durable = this.feed.source.durablePosition();
      const sealed = this.segment < durable.segment;
      const limit = sealed ? Infinity : durable.offset;
      const window = this.windowFor(limit);
      const found = window === undefined ? undefined : readBatch(this.feed.source.core, window, this.offset, limit, sealed);
      if (found) {
        this.offset = found.end;
        const batch = this.inOrder(found.records);
        if (batch) return batch;
        continue;
      }
      if (!sealed) return undefined;
      this.moveToNextSegment(durable.segment);
    }
  }

  /** The batch if it is the next one expected; undefined if it is before `since`; else an error. */
  private inOrder(records: readonly LogRecord[]): ChangeBatch | undefined {
    const first = records[0]!.sequence;
    const last = records[records.length - 1]!.sequence;
    if (last < this.expected) return undefined;
    if (first < this.expected) throw invalidArgument(`since ${this.since} falls inside the batch of sequences ${first} to ${last}; resume from a batch boundary`);
    if (first > this.expected) throw truncated(this.expected, first);
    this.expected = last + 1;
    return { sequence: first, operations: toOperations(records) };
  }

  /**
   * A read window over the current segment up to `limit`, read again once the limit moves: the
   * head segment's last page is rewritten until a sync covers it, so bytes read past the old
   * limit may be stale.
   */
  private windowFor(limit: number): FileWindow | undefined {
    const source = this.feed.source;
    if (this.file === undefined) {
      this.file = source.storage.open(segmentFileName(this.segment));
      this.window = openSegmentWindow(source, this.file, this.segment, WINDOW_BYTES);
      this.windowLimit = limit;
    } else if (this.window !== undefined && limit > this.windowLimit) {
      this.window = new FileWindow(this.file);
      this.windowLimit = limit;
    }
    return this.window;
  }

  private moveToNextSegment(headSegment: number): void {
    const next = listSegments(this.feed.source.storage).find((segment) => segment > this.segment && segment <= headSegment);
    if (next === undefined) throw corruption(`value log segment ${headSegment} is missing`, { file: segmentFileName(headSegment), offset: 0 });
    this.closeFile();
    this.segment = next;
    this.offset = SEGMENT_HEADER_BYTES;
    this.feed.source.holdsReleased();
  }

  private closeFile(): void {
    this.file?.close();
    this.file = undefined;
    this.window = undefined;
  }
}
