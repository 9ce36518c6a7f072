/**
 * The worker side of openInWorker: runs one DB on OPFS and answers the proxy's batched calls
 * (ts/browser/protocol.ts). Calls of one message run in order; writes use the DB's async
 * variants so several durable writes in one message share a flush (group commit), and the reply
 * goes out once every call of the message has settled. Messages are handled one at a time, and
 * between them the OPFS slot pool is refilled.
 */
import type { DB, IterateOptions } from "../api/db.ts";
import { PgzError } from "../errors.ts";
import type { Snapshot } from "../api/snapshot.ts";
import type { Transaction } from "../api/txn.ts";
import { openOpfs, opfsStorageOf, type BrowserOpenOptions } from "./open.ts";
import { packEntries, packValues, serializeError, type Call, type CallsMessage, type EntryChunk, type Reply, type RepliesMessage, type ValuePack } from "./protocol.ts";

/** An iterator chunk stops at this many entries or bytes, whichever comes first. */
const CHUNK_ENTRIES_MAX = 4096;
const CHUNK_BYTES_MAX = 1 << 20;

type Method = (...args: never[]) => unknown;

interface WorkerScope {
  onmessage: ((event: { data: CallsMessage }) => void) | null;
  postMessage(message: RepliesMessage, transfer: ArrayBuffer[]): void;
  close(): void;
}

/** Calls whose values go back packed into the message's one value buffer (protocol.ts). */
const POINT_READS = new Set(["get", "getMany", "snapshotGet", "transactionGet"]);

/**
 * Replaces the values of the point reads among `replies` with their indexes in one value pack.
 * Copying each value into the pack also detaches it from the buffer it shares with other values
 * (ts/core/slab.ts), which a clone would copy whole.
 */
function packPointReads(calls: readonly Call[], replies: Reply[]): { replies: Reply[]; values?: ValuePack } {
  const isRead = (reply: Reply, index: number): reply is { id: number; value: unknown } => "value" in reply && POINT_READS.has(calls[index]!.method);
  const values: (Uint8Array | undefined)[] = [];
  replies.forEach((reply, index) => {
    if (!isRead(reply, index)) return;
    for (const value of Array.isArray(reply.value) ? reply.value : [reply.value]) values.push(value as Uint8Array | undefined);
  });
  if (values.length === 0) return { replies };
  const { pack, indexes } = packValues(values);
  let next = 0;
  const packed = replies.map((reply, index): Reply => {
    if (!isRead(reply, index)) return reply;
    const count = Array.isArray(reply.value) ? reply.value.length : 1;
    const taken = indexes.slice(next, (next += count));
    return { id: reply.id, packed: Array.isArray(reply.value) ? taken : taken[0]! };
  });
  return { replies: packed, values: pack };
}

export class Host {
  private db: DB | undefined;
  private nextHandle = 1;
  private readonly iterators = new Map<number, Iterator<[Uint8Array, Uint8Array]>>();
  private readonly snapshots = new Map<number, Snapshot>();
  private readonly transactions = new Map<number, Transaction>();
  private readonly methods: Record<string, Method>;

  constructor() {
    this.methods = {
      open: (name: string, options: BrowserOpenOptions) => this.open(name, options),
      put: (key: Uint8Array, value: Uint8Array, options) => this.database().putAsync(key, value, options),
      delete: (key: Uint8Array, options) => this.database().deleteAsync(key, options),
      batch: (operations, options) => this.database().batchAsync(operations, options),
      get: (key: Uint8Array) => this.database().get(key),
      getMany: (keys: Uint8Array[]) => this.database().getMany(keys),
      iterate: (options: IterateOptions, snapshot?: number) => this.iterate(options, snapshot),
      next: (handle: number) => this.nextChunk(handle),
      endIterator: (handle: number) => this.endIterator(handle),
      snapshot: () => this.snapshot(),
      snapshotGet: (handle: number, key: Uint8Array) => this.handleOf(this.snapshots, handle).get(key),
      release: (handle: number) => this.release(handle),
      begin: (options) => this.begin(options),
      transactionGet: (handle: number, key: Uint8Array) => this.handleOf(this.transactions, handle).get(key),
      transactionPut: (handle: number, key: Uint8Array, value: Uint8Array) => this.handleOf(this.transactions, handle).put(key, value),
      transactionDelete: (handle: number, key: Uint8Array) => this.handleOf(this.transactions, handle).delete(key),
      transactionIterate: (handle: number, options: IterateOptions) => this.startIterator(this.handleOf(this.transactions, handle).iterate(options)),
      commit: (handle: number, options) => this.endTransaction(handle, (transaction) => transaction.commit(options)),
      abort: (handle: number) => this.endTransaction(handle, (transaction) => transaction.abort()),
      sequence: () => this.database().sequence,
      flush: () => this.database().flush(),
      compact: (range) => this.database().compact(range),
      gc: (options) => this.database().gc(options),
      stats: () => ({ ...this.database().stats(), opfs: opfsStorageOf(this.database())?.slotCounts() }),
      check: () => this.database().check(),
      close: () => this.close(),
    };
  }

  private database(): DB {
    if (!this.db) throw new PgzError("PGZ_CLOSED", "the database is not open in this worker");
    return this.db;
  }

  private async open(name: string, options: BrowserOpenOptions): Promise<void> {
    if (this.db) throw new PgzError("PGZ_LOCKED", "this worker already runs a database");
    this.db = await openOpfs(name, options);
  }

  private register<T>(map: Map<number, T>, value: T): number {
    const handle = this.nextHandle++;
    map.set(handle, value);
    return handle;
  }

  private handleOf<T>(map: Map<number, T>, handle: number): T {
    const value = map.get(handle);
    if (value === undefined) throw new PgzError("PGZ_CLOSED", `handle ${handle} is released or was never opened`);
    return value;
  }

  private iterate(options: IterateOptions, snapshot: number | undefined): { handle: number; chunk: EntryChunk } {
    const source = snapshot === undefined ? this.database() : this.handleOf(this.snapshots, snapshot);
    return this.startIterator(source.iterate(options));
  }

  /** Registers an iterator and answers with its first chunk, saving a round trip. */
  private startIterator(iterator: Iterator<[Uint8Array, Uint8Array]>): { handle: number; chunk: EntryChunk } {
    const handle = this.register(this.iterators, iterator);
    return { handle, chunk: this.nextChunk(handle) };
  }

  private nextChunk(handle: number): EntryChunk {
    const chunk = packEntries(this.handleOf(this.iterators, handle), CHUNK_ENTRIES_MAX, CHUNK_BYTES_MAX);
    if (chunk.done) this.iterators.delete(handle);
    return chunk;
  }

  private endIterator(handle: number): void {
    this.iterators.get(handle)?.return?.();
    this.iterators.delete(handle);
  }

  private snapshot(): { handle: number; sequence: number } {
    const snapshot = this.database().snapshot();
    return { handle: this.register(this.snapshots, snapshot), sequence: snapshot.sequence };
  }

  private release(handle: number): void {
    this.snapshots.get(handle)?.release();
    this.snapshots.delete(handle);
  }

  private begin(options: Parameters<DB["begin"]>[0]): { handle: number; sequence: number } {
    const transaction = this.database().begin(options);
    return { handle: this.register(this.transactions, transaction), sequence: transaction.sequence };
  }

  private endTransaction(handle: number, end: (transaction: Transaction) => void): void {
    const transaction = this.handleOf(this.transactions, handle);
    this.transactions.delete(handle);
    try {
      end(transaction);
    } finally {
      // A commit that failed (PGZ_CONFLICT) must not leave the transaction open in the worker.
      if (transaction.state === "open") transaction.abort();
    }
  }

  private async close(): Promise<void> {
    for (const iterator of this.iterators.values()) iterator.return?.();
    for (const snapshot of this.snapshots.values()) snapshot.release();
    for (const transaction of this.transactions.values()) if (transaction.state === "open") transaction.abort();
    this.iterators.clear();
    this.snapshots.clear();
    this.transactions.clear();
    const storage = this.db ? opfsStorageOf(this.db) : undefined;
    this.db?.close();
    this.db = undefined;
    // The page may open the database again as soon as this answer arrives.
    await storage?.released();
  }

  /** Runs one call; a synchronous throw and a rejection both become an error reply. */
  private run(call: Call): Promise<Reply> {
    try {
      const method = this.methods[call.method];
      if (!method) throw new PgzError("PGZ_INVALID_ARGUMENT", `unknown method ${call.method}`);
      const value = method(...(call.args as never[]));
      return Promise.resolve(value).then(
        (result) => ({ id: call.id, value: result }),
        (error: unknown) => ({ id: call.id, error: serializeError(error) }),
      );
    } catch (error) {
      return Promise.resolve({ id: call.id, error: serializeError(error) });
    }
  }

  /** Answers one message; point reads' values are packed, and packs and iterator chunks are moved, not copied. */
  async handle(message: CallsMessage): Promise<RepliesMessage> {
    const { replies, values } = packPointReads(message.calls, await Promise.all(message.calls.map((call) => this.run(call))));
    const transfer: ArrayBuffer[] = values ? [values.bytes.buffer as ArrayBuffer, values.offsets.buffer as ArrayBuffer] : [];
    for (const reply of replies) {
      const value = "value" in reply ? (reply.value as { chunk?: Partial<EntryChunk> } & Partial<EntryChunk>) : undefined;
      for (const chunk of [value, value?.chunk]) {
        if (chunk?.bytes instanceof Uint8Array && chunk.offsets instanceof Uint32Array) transfer.push(chunk.bytes.buffer as ArrayBuffer, chunk.offsets.buffer as ArrayBuffer);
      }
    }
    return { replies, values, transfer };
  }

  /** Refills the OPFS slot pool between messages (file creation is asynchronous in OPFS). */
  async idle(): Promise<void> {
    const storage = this.db ? opfsStorageOf(this.db) : undefined;
    await storage?.refill();
  }
}

/** Serves the proxy's messages in this dedicated worker, one message at a time. */
export function serve(scope: WorkerScope): void {
  const host = new Host();
  let queue = Promise.resolve();
  scope.onmessage = (event) => {
    queue = queue.then(async () => {
      const { replies, values, transfer } = await host.handle(event.data);
      scope.postMessage(values ? { replies, values } : { replies }, transfer ?? []);
      await host.idle();
    });
  };
}
