/**
 * The foreground's end of the background worker (ts/lsm/worker.ts): one worker thread per
 * process, shared by every database opened with `background: "worker"`, each database a
 * session on it. Requests go out as messages; replies are kept per session until the tree
 * takes them (Tree.applyFinished), either when the event loop delivers them (onReply) or when
 * a write must wait for one (back-pressure): then the caller blocks in Atomics.wait on a shared
 * signal word the worker bumps after every reply, and takes the replies straight off the port.
 *
 * A worker that exits or throws fails every session: the database latches read-only with the
 * error (EngineState.failed), and a wait for a reply that will never come ends in that error.
 */
import { PgzError, type PgzErrorCode } from "../errors.ts";
import type { CoreName } from "../core/types.ts";
import type { Compression } from "../format.ts";
import { platformThreads } from "../storage/platform.ts";
import type { ThreadHandle } from "../storage/threads.ts";
import type { CompactionPlan, CompactionSettings } from "./compaction.ts";
import type { TableMeta } from "./sstable.ts";
import type { TableImage } from "./table-image.ts";

export type BackgroundRequest =
  | { type: "open"; database: number; directory: string; core: CoreName; databaseId: Uint8Array; openFilesMax: number }
  | { type: "close"; database: number }
  | { type: "fault"; message: string; crash: boolean }
  | { type: "pause"; kind: PauseKind }
  | { type: "flush-start"; database: number; job: number; fileNumber: number; oldestReadSequence: number; bottommost: boolean; compression: Compression }
  | { type: "flush-run"; database: number; job: number; bytes: Uint8Array }
  | { type: "flush-finish"; database: number; job: number; logSegment: number }
  | { type: "compact"; database: number; job: number; plan: CompactionPlan; oldestSnapshotSequence: number; fileNumbers: number[]; settings: CompactionSettings }
  | { type: "remove"; database: number; job: number; name: string }
  | { type: "sync-log"; database: number; segment: number };

/** The jobs the pause test hook can stop the worker in. */
export type PauseKind = "flush" | "compact" | "remove";

export interface SerializedError {
  pgz: boolean;
  code: PgzErrorCode | undefined;
  message: string;
  file?: string;
  offset?: number;
  stack?: string;
}

/** The worker's last word when its thread stops by itself (an uncaught error, process.exit). */
interface ExitNotice {
  exited: true;
  message: string;
}

/** The pause test hook's notice: the worker stopped halfway through a job of this kind. */
interface PauseNotice {
  paused: PauseKind;
}

/** A buffer of a flush's entries the worker is done with, transferred back for the next copy. */
interface RecycledBuffer {
  recycled: ArrayBuffer;
}

type WorkerMessage = BackgroundReply | ExitNotice | PauseNotice | RecycledBuffer;

/** A flush's reply: its table (none if every entry was dropped) and what the foreground opens it from. */
export interface FlushResult {
  meta: TableMeta | undefined;
  discardedLogBytes: Record<string, number>;
  image: TableImage | undefined;
}

export interface BackgroundReply {
  database: number;
  job: number;
  ok: boolean;
  result?: unknown;
  error?: SerializedError;
}

/** How long a blocked write waits for a reply before it declares the worker lost. */
const WAIT_MILLISECONDS_MAX = 120_000;
/** A blocked wait wakes this often to look for replies (the signal wakes it sooner). */
const WAIT_SLICE_MILLISECONDS = 50;
/**
 * Buffers for copying a flush's entries out, at most this many in circulation for paced copies:
 * allocating a fresh 256 KiB ArrayBuffer per copy cost about 1.5 ms on this thread (zeroed
 * memory, and the collector's work it brings on), copying into a recycled one microseconds.
 */
const RECYCLED_BUFFERS_MAX = 16;
/** Recycled buffers are at least this large, so one fits any copy of a flush's usual size. */
const COPY_BUFFER_BYTES_MIN = 320 * 1024;

export function deserializeError(error: SerializedError): Error {
  if (error.pgz) return new PgzError(error.code!, error.message, { file: error.file, offset: error.offset });
  const bug = new Error(`background worker: ${error.message}`);
  if (error.stack) bug.stack = error.stack;
  return bug;
}

/**
 * Where the worker module is: beside this file under tsx (ts/lsm/worker.ts); in the build,
 * dist/worker.mjs, above the engine chunk this code is bundled into (dist/chunks/), or beside a
 * bundle that holds the engine itself.
 */
function workerUrl(): URL {
  // By its path: tsx's tsImport gives its modules' URLs a query (?tsx-namespace=...).
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith(".ts")) return new URL("./worker.ts", here);
  return new URL(here.pathname.includes("/chunks/") ? "../worker.mjs" : "./worker.mjs", here);
}

class Connection {
  readonly thread: ThreadHandle;
  readonly signal = new Int32Array(new SharedArrayBuffer(4));
  readonly sessions = new Map<number, BackgroundSession>();
  /** Test hook: waiting for the worker to say it paused (pauseBackgroundWorker). */
  readonly paused: (() => void)[] = [];
  /** Buffers the worker gave back (RecycledBuffer), for the next copies out. */
  readonly buffers: ArrayBuffer[] = [];
  /** Copy buffers allocated and not dropped: with the worker, or in `buffers`. */
  buffersInCirculation = 0;
  lost: unknown;

  constructor() {
    // Made now, not by the first copies of the first flush: allocating them there (and the
    // collection that external memory brings on) took 8-12 ms per copy of the write at rotation.
    for (let i = 0; i < RECYCLED_BUFFERS_MAX; i++) this.buffers.push(new ArrayBuffer(COPY_BUFFER_BYTES_MIN));
    this.buffersInCirculation = RECYCLED_BUFFERS_MAX;
    // Only reached with background: "worker", which options.ts grants only where threads exist.
    this.thread = platformThreads()!.spawn(workerUrl(), { signal: this.signal.buffer });
    this.thread.port.onMessage((message) => this.dispatch(message as WorkerMessage));
    this.thread.onExit((error) => this.lose(error));
  }

  dispatch(message: WorkerMessage): void {
    if ("exited" in message) this.lose(new Error(message.message));
    else if ("paused" in message) this.paused.splice(0).forEach((paused) => paused());
    else if ("recycled" in message) {
      if (this.buffers.length < RECYCLED_BUFFERS_MAX) this.buffers.push(message.recycled);
      else this.buffersInCirculation--;
    } else this.sessions.get(message.database)?.receive(message);
  }

  /** Takes every reply already on the port, without waiting for the event loop. */
  drain(): void {
    for (let next = this.thread.port.receiveNow(); next; next = this.thread.port.receiveNow()) this.dispatch(next.message as WorkerMessage);
  }

  lose(error: unknown): void {
    if (this.lost !== undefined) return;
    this.lost = new PgzError("PGZ_IO", `the background worker stopped: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    if (connection === this) connection = undefined;
    for (const session of this.sessions.values()) session.fail(this.lost);
  }
}

let connection: Connection | undefined;
let nextDatabase = 1;
let nextJob = 1;

/** One database's session on the shared worker. */
export class BackgroundSession {
  private readonly connection: Connection;
  private readonly database = nextDatabase++;
  private readonly replies = new Map<number, BackgroundReply>();
  /** Called (in a microtask) when a reply arrives or the worker is lost. */
  onReply: () => void = () => {};
  failure: unknown;

  constructor(directory: string, core: CoreName, databaseId: Uint8Array, openFilesMax: number) {
    connection ??= new Connection();
    this.connection = connection;
    this.connection.sessions.set(this.database, this);
    this.send({ type: "open", database: this.database, directory, core, databaseId, openFilesMax });
  }

  /** Sends a request of a new job (or one more message of a running job, given its number). */
  start(request: DistributiveOmit<Exclude<BackgroundRequest, { type: "open" | "close" | "fault" | "pause" | "sync-log" }>, "database" | "job">, job = nextJob++, transfer: ArrayBuffer[] = []): number {
    this.send({ ...request, database: this.database, job } as BackgroundRequest, transfer);
    return job;
  }

  /** Asks the worker for a sync-behind fdatasync of a log segment: no reply, nothing waits for it (ValueLog.syncBehind). */
  syncLogBehind(segment: number): void {
    if (this.failure === undefined) this.send({ type: "sync-log", database: this.database, segment });
  }

  /** A copy of `bytes` to transfer to the worker, in a recycled buffer when one is big enough. */
  copyForTransfer(bytes: Uint8Array): Uint8Array {
    const buffers = this.connection.buffers;
    const index = buffers.findIndex((buffer) => buffer.byteLength >= bytes.length);
    if (index < 0) this.connection.buffersInCirculation++;
    const buffer = index >= 0 ? buffers.splice(index, 1)[0]! : new ArrayBuffer(Math.max(bytes.length, COPY_BUFFER_BYTES_MIN));
    const copy = new Uint8Array(buffer, 0, bytes.length);
    copy.set(bytes);
    return copy;
  }

  /**
   * Whether every copy buffer is with the worker: a paced copy waits for one to come back. The
   * buffers the worker gave back are taken off the port first: a caller writing in a loop that
   * never yields gets no message events, and its copies would wait for the flush's end.
   */
  get copyBuffersOut(): boolean {
    if (this.connection.buffers.length === 0) this.connection.drain();
    return this.connection.buffers.length === 0 && this.connection.buffersInCirculation >= RECYCLED_BUFFERS_MAX;
  }

  private send(request: BackgroundRequest, transfer: ArrayBuffer[] = []): void {
    if (this.failure !== undefined) throw this.failure;
    this.connection.thread.port.postMessage(request, transfer);
  }

  receive(reply: BackgroundReply): void {
    this.replies.set(reply.job, reply);
    queueMicrotask(() => this.onReply());
  }

  fail(error: unknown): void {
    this.failure ??= error;
    queueMicrotask(() => this.onReply());
  }

  /** The reply of `job` if it has come (taking it); throws if the worker is lost. */
  take(job: number): BackgroundReply | undefined {
    this.connection.drain();
    const reply = this.replies.get(job);
    if (reply) this.replies.delete(job);
    else if (this.failure !== undefined) throw this.failure;
    return reply;
  }

  /** Blocks until the reply of `job` comes (the back-pressure wait). */
  wait(job: number): BackgroundReply {
    const started = Date.now();
    for (;;) {
      const seen = Atomics.load(this.connection.signal, 0);
      const reply = this.take(job);
      if (reply) return reply;
      if (Date.now() - started > WAIT_MILLISECONDS_MAX) {
        this.connection.lose(new Error(`no reply in ${WAIT_MILLISECONDS_MAX} ms`));
        throw this.failure;
      }
      Atomics.wait(this.connection.signal, 0, seen, WAIT_SLICE_MILLISECONDS);
    }
  }

  close(): void {
    if (this.failure === undefined) this.connection.thread.port.postMessage({ type: "close", database: this.database });
    this.connection.sessions.delete(this.database);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * Test hook: the worker's next job throws PGZ_IO with `message`; with `crash`, the job is never
 * answered and the thread dies of an uncaught error with `message` instead.
 */
export function injectBackgroundFault(message: string, crash = false): void {
  connection?.thread.port.postMessage({ type: "fault", message, crash });
}

/**
 * Test hook: the worker's next job of `kind` stops halfway through writing its table (a
 * deletion: before its unlink) and never goes on (crash tests kill the process there). `paused`
 * is called as soon as the notice is taken, even inside a write blocked waiting for that job.
 * Needs a database open on the worker.
 */
export function pauseBackgroundWorker(kind: PauseKind, paused: () => void): void {
  connection!.paused.push(paused);
  connection!.thread.port.postMessage({ type: "pause", kind });
}

/** Test hook: stops the shared worker as a crash would; resolves once it is gone. */
export async function terminateBackgroundWorker(): Promise<void> {
  const current = connection;
  if (!current) return;
  await current.thread.terminate();
  current.lose(new Error("terminated"));
}
