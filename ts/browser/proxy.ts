/**
 * The page side of openInWorker: the database runs in a dedicated worker (OPFS sync access
 * handles exist only there) and the page gets an async proxy with the DB's API. Every call made
 * in one task goes to the worker as one message (ts/browser/protocol.ts), so issuing many reads
 * before awaiting them (`Promise.all`, or getMany) costs one round trip; iterators fetch entries
 * in packed chunks. The values of one message's point reads arrive in one buffer: each is a view
 * into it (`value.buffer` is shared, as with iterator entries), so slice() a value before
 * transferring its buffer.
 */
import type { BatchOperation, CheckReport, IterateOptions, WriteOptions } from "../api/db.ts";
import { PgzError } from "../errors.ts";
import type { TransactionOptions, TransactionRunOptions } from "../api/txn.ts";
import type { BrowserOpenOptions } from "./open.ts";
import { deserializeError, unpackEntries, unpackValue, type Call, type CallsMessage, type EntryChunk, type RepliesMessage } from "./protocol.ts";

type Bytes = Uint8Array | string;
type Entry = [Uint8Array, Uint8Array];

interface WorkerLike {
  onmessage: ((event: { data: RepliesMessage }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  postMessage(message: CallsMessage): void;
  terminate(): void;
}

export interface WorkerOpenOptions extends BrowserOpenOptions {
  /** The worker script (default: browser-worker.mjs beside this module, as built into dist/). */
  workerUrl?: string | URL;
}

/** A Uint8Array that is a view into a larger buffer would be cloned with all of it: copy it. */
function compact<T>(value: T): T {
  if (value instanceof Uint8Array && value.byteLength !== value.buffer.byteLength) return value.slice() as T;
  return value;
}

class Channel {
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private queue: Call[] = [];
  private nextId = 1;
  private closedBy: Error | undefined;
  /** Messages posted to the worker: one per task that made calls, however many calls. */
  messagesSent = 0;

  constructor(private readonly worker: WorkerLike) {
    worker.onmessage = (event) => this.receive(event.data);
    worker.onerror = (event) => this.fail(new PgzError("PGZ_IO", `the database worker failed: ${event.message ?? "unknown error"}`));
  }

  call<T>(method: string, args: unknown[]): Promise<T> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    const id = this.nextId++;
    if (this.queue.length === 0) queueMicrotask(() => this.send());
    this.queue.push({ id, method, args: args.map(compact) });
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject }));
  }

  private send(): void {
    const calls = this.queue;
    this.queue = [];
    if (calls.length === 0 || this.closedBy) return;
    this.messagesSent++;
    this.worker.postMessage({ calls });
  }

  private receive(message: RepliesMessage): void {
    for (const reply of message.replies) {
      const pending = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ("error" in reply) pending?.reject(deserializeError(reply.error));
      else if ("value" in reply) pending?.resolve(reply.value);
      else pending?.resolve(Array.isArray(reply.packed) ? reply.packed.map((index) => unpackValue(message.values!, index)) : unpackValue(message.values!, reply.packed));
    }
  }

  /** Rejects every pending and later call with `error`. */
  fail(error: Error): void {
    this.closedBy ??= error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.queue = [];
  }

  terminate(): void {
    this.worker.terminate();
    this.fail(new PgzError("PGZ_CLOSED", "the database worker was terminated"));
  }
}

/** An async iterator over chunks fetched from the worker; an early `return()` ends it there. */
async function* entries(channel: Channel, start: Promise<{ handle: number; chunk: EntryChunk }>): AsyncGenerator<Entry, void, undefined> {
  const { handle, chunk: first } = await start;
  let chunk = first;
  try {
    for (;;) {
      yield* unpackEntries(chunk);
      if (chunk.done) return;
      chunk = await channel.call<EntryChunk>("next", [handle]);
    }
  } finally {
    if (!chunk.done) channel.call("endIterator", [handle]).catch(() => undefined);
  }
}

/** Starts an iterator now (options are checked by the call), consumed when iterated. */
function startIterator(channel: Channel, method: string, args: unknown[]): AsyncGenerator<Entry, void, undefined> {
  const start = channel.call<{ handle: number; chunk: EntryChunk }>(method, args);
  start.catch(() => undefined); // the generator reports it when iterated
  return entries(channel, start);
}

export class RemoteSnapshot {
  constructor(
    private readonly channel: Channel,
    private readonly handle: number,
    readonly sequence: number,
  ) {}

  get(key: Bytes): Promise<Uint8Array | undefined> {
    return this.channel.call("snapshotGet", [this.handle, key]);
  }

  iterate(options: IterateOptions = {}): AsyncGenerator<Entry, void, undefined> {
    return startIterator(this.channel, "iterate", [options, this.handle]);
  }

  release(): Promise<void> {
    return this.channel.call("release", [this.handle]);
  }
}

export class RemoteTransaction {
  state: "open" | "committed" | "aborted" = "open";

  constructor(
    private readonly channel: Channel,
    private readonly handle: number,
    readonly sequence: number,
  ) {}

  get(key: Bytes): Promise<Uint8Array | undefined> {
    return this.channel.call("transactionGet", [this.handle, key]);
  }

  put(key: Bytes, value: Bytes): Promise<void> {
    return this.channel.call("transactionPut", [this.handle, key, value]);
  }

  delete(key: Bytes): Promise<void> {
    return this.channel.call("transactionDelete", [this.handle, key]);
  }

  iterate(options: IterateOptions = {}): AsyncGenerator<Entry, void, undefined> {
    return startIterator(this.channel, "transactionIterate", [this.handle, options]);
  }

  async commit(options?: WriteOptions): Promise<void> {
    this.state = "committed";
    await this.channel.call("commit", [this.handle, options]);
  }

  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    await this.channel.call("abort", [this.handle]);
  }
}

/** The async proxy openInWorker returns: the DB's API, each call answered by the worker. */
export class RemoteDB {
  constructor(
    private readonly channel: Channel,
    readonly name: string,
  ) {}

  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<void> {
    return this.channel.call("put", [key, value, options]);
  }

  delete(key: Bytes, options?: WriteOptions): Promise<void> {
    return this.channel.call("delete", [key, options]);
  }

  batch(operations: readonly BatchOperation[], options?: WriteOptions): Promise<void> {
    const copyOf = (operation: BatchOperation) => {
      if (typeof operation !== "object" || operation === null) return operation;
      return { ...operation, key: compact(operation.key), ...("value" in operation ? { value: compact(operation.value) } : {}) };
    };
    return this.channel.call("batch", [Array.isArray(operations) ? operations.map(copyOf) : operations, options]);
  }

  get(key: Bytes): Promise<Uint8Array | undefined> {
    return this.channel.call("get", [key]);
  }

  /** Many reads in one call (Promise.all over get batches the same way). */
  getMany(keys: readonly Bytes[]): Promise<(Uint8Array | undefined)[]> {
    return this.channel.call("getMany", [keys.map(compact)]);
  }

  iterate(options: IterateOptions = {}): AsyncGenerator<Entry, void, undefined> {
    return startIterator(this.channel, "iterate", [options]);
  }

  sequence(): Promise<number> {
    return this.channel.call("sequence", []);
  }

  async snapshot(): Promise<RemoteSnapshot> {
    const { handle, sequence } = await this.channel.call<{ handle: number; sequence: number }>("snapshot", []);
    return new RemoteSnapshot(this.channel, handle, sequence);
  }

  async begin(options?: TransactionOptions): Promise<RemoteTransaction> {
    const { handle, sequence } = await this.channel.call<{ handle: number; sequence: number }>("begin", [options]);
    return new RemoteTransaction(this.channel, handle, sequence);
  }

  /** Runs `fn` in a transaction and commits it; retries on PGZ_CONFLICT up to `retries` times (default 3). */
  async transaction<T>(fn: (transaction: RemoteTransaction) => T | Promise<T>, options: TransactionRunOptions = {}): Promise<T> {
    if (typeof fn !== "function") throw new PgzError("PGZ_INVALID_ARGUMENT", "transaction needs a function");
    const retries = options.retries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const transaction = await this.begin({ transactionBytesMax: options.transactionBytesMax });
      try {
        const result = await fn(transaction);
        if (transaction.state === "open") await transaction.commit(options.writeOptions);
        return result;
      } catch (error) {
        if (transaction.state === "open") await transaction.abort();
        const retryable = error instanceof PgzError && error.code === "PGZ_CONFLICT";
        if (!retryable || attempt >= retries) throw error;
      }
    }
  }

  flush(): Promise<void> {
    return this.channel.call("flush", []);
  }

  compact(range?: { gte?: Bytes; lt?: Bytes }): Promise<void> {
    return this.channel.call("compact", [range]);
  }

  gc(options?: { discardRatio?: number; segmentsMax?: number }): Promise<{ segmentsCollected: number[]; recordsRewritten: number; bytesRewritten: number }> {
    return this.channel.call("gc", [options]);
  }

  /** db.stats() plus `opfs`: the slot pool's file, free and total counts. */
  stats(): Promise<Record<string, unknown>> {
    return this.channel.call("stats", []);
  }

  check(): Promise<CheckReport> {
    return this.channel.call("check", []);
  }

  /** Closes the database (everything durable, the lock released), then the worker. */
  async close(): Promise<void> {
    try {
      await this.channel.call("close", []);
    } finally {
      this.channel.terminate();
    }
  }

  /** Messages sent to the worker so far (calls made in one task share one). */
  get messagesSent(): number {
    return this.channel.messagesSent;
  }

  /** Kills the worker at once, as a crash would: what was acknowledged survives, nothing more. */
  terminate(): void {
    this.channel.terminate();
  }
}

/** Starts a dedicated worker that opens `name` on OPFS, and returns the page's proxy to it. */
export async function openInWorker(name: string, options: WorkerOpenOptions = {}): Promise<RemoteDB> {
  const { workerUrl, ...openOptions } = options;
  const WorkerClass = (globalThis as { Worker?: new (url: string | URL, options: object) => WorkerLike }).Worker;
  if (!WorkerClass) throw new PgzError("PGZ_IO", "openInWorker needs Web Workers (run it in a page or a worker)");
  const worker = new WorkerClass(workerUrl ?? new URL("./browser-worker.mjs", import.meta.url), { type: "module", name: `pgz ${name}` });
  const channel = new Channel(worker);
  try {
    await channel.call("open", [name, openOptions]);
  } catch (error) {
    channel.terminate();
    throw error;
  }
  return new RemoteDB(channel, name);
}
