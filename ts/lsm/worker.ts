/**
 * The background worker (the entry of dist/worker.mjs; ts/lsm/background.ts starts it): builds
 * the tables of flushes and compactions off the caller's thread. It owns its own core and file
 * handles, takes immutable inputs (a frozen memtable's entries as copied runs, or a compaction
 * plan and the file numbers its outputs may use), writes and fsyncs the output tables, and
 * replies with what the foreground needs for the manifest edit it applies. It never touches the
 * manifest, the log or a file the foreground has not handed it a number for.
 *
 * Every reply is followed by a bump of the shared signal word, so a foreground that must wait
 * (back-pressure) can block on it with Atomics.wait and take the reply with receiveNow.
 */
import { createCore, type Core, type CoreName, type Run } from "../core/index.ts";
import { PgzError } from "../errors.ts";
import { segmentFileName } from "../format.ts";
import { HandleCache, type Storage } from "../storage/io.ts";
import { NodeStorage } from "../storage/node.ts";
import { threadContext, type ThreadPort } from "../storage/threads.ts";
import { VersionFilter } from "./compaction.ts";
import { CompactionQueue } from "./worker-compaction.ts";
import { TableBuilder } from "./table-builder.ts";
import { readTableImage, tableImageBuffers } from "./table-image.ts";
import type { BackgroundRequest, FlushResult, PauseKind, SerializedError } from "./background.ts";

interface Database {
  core: Core;
  storage: Storage;
  files: HandleCache;
  databaseId: Uint8Array;
  flushes: Map<number, WorkerFlush>;
}

interface WorkerFlush {
  builder: TableBuilder;
  versions: VersionFilter;
  staging: Run;
  run: Run;
  /** The buffer of the last entries added: the version filter refers to it until the next ones. */
  held: ArrayBuffer | undefined;
}

const { port, data, onExit } = threadContext();
const signal = new Int32Array(data.signal as SharedArrayBuffer);
const databases = new Map<number, Database>();
const cores = new Map<CoreName, Core>();
/** Jobs that failed: their later messages are ignored (the failure was already replied). */
const failedJobs = new Set<number>();
/** Test hook: the next job throws this message, or with `crash` kills the thread (test/background.test.ts). */
let injectedFault: { message: string; crash: boolean } | undefined;
/** Test hook: the next job of this kind stops halfway through its table and never goes on. */
let pauseAt: PauseKind | undefined;
const compactions = new CompactionQueue((job) => {
  if (pauseAt !== "compact") return;
  job.step(16 * 1024);
  pauseForever("compact");
});

function reply(port: ThreadPort, message: Record<string, unknown>, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof PgzError) return { pgz: true, code: error.code, message: error.message, file: error.file, offset: error.offset };
  const message = error instanceof Error ? error.message : String(error);
  return { pgz: false, code: undefined, message, stack: error instanceof Error ? error.stack : undefined };
}

function coreNamed(name: CoreName): Core {
  let core = cores.get(name);
  if (!core) cores.set(name, (core = createCore(name)));
  return core;
}

/** Databases whose open failed here: each of their jobs replies with that error. */
const failedOpens = new Map<number, unknown>();

function open(request: Extract<BackgroundRequest, { type: "open" }>): void {
  try {
    const storage = new NodeStorage(request.directory, { create: false });
    databases.set(request.database, { core: coreNamed(request.core), storage, files: new HandleCache(storage, request.openFilesMax), databaseId: request.databaseId, flushes: new Map() });
  } catch (error) {
    failedOpens.set(request.database, error);
  }
}

function handle(request: BackgroundRequest): void {
  if (request.type === "open") return open(request);
  if (request.type === "fault") {
    injectedFault = { message: request.message, crash: request.crash };
    return;
  }
  if (request.type === "pause") {
    pauseAt = request.kind;
    return;
  }
  if (request.type === "close") {
    failedOpens.delete(request.database);
    const database = databases.get(request.database);
    if (database) closeDatabase(request.database, database);
    return;
  }
  const database = databases.get(request.database);
  if (request.type === "sync-log") return syncBehind(database, request.segment);
  if (!database) {
    // Every job is answered, so a foreground waiting for it never hangs.
    if (request.type !== "flush-run") reply(port, { database: request.database, job: request.job, ok: false, error: serializeError(failedOpens.get(request.database) ?? new Error("unknown database")) });
    return;
  }
  if (failedJobs.has(request.job)) return;
  try {
    if (injectedFault !== undefined && request.type !== "flush-run") {
      const { message, crash } = injectedFault;
      injectedFault = undefined;
      // A crash: the job is never answered and the error escapes every handler, as a bug would.
      if (crash) {
        failedJobs.add(request.job);
        setImmediate(() => {
          throw new Error(message);
        });
        return;
      }
      throw new PgzError("PGZ_IO", message);
    }
    if (request.type === "flush-start") startFlush(database, request);
    else if (request.type === "flush-run") addToFlush(database, request.job, request.bytes);
    else if (request.type === "flush-finish") {
      const result = finishFlush(database, request.job, request.logSegment);
      reply(port, { database: request.database, job: request.job, ok: true, result }, result.image ? tableImageBuffers(result.image) : []);
    }
    else if (request.type === "remove") {
      remove(database, request.name);
      reply(port, { database: request.database, job: request.job, ok: true });
    } else {
      compactions.add(database, request, (outcome) => {
        if ("result" in outcome) reply(port, { database: request.database, job: request.job, ok: true, result: outcome.result }, outcome.result.images.flatMap(tableImageBuffers));
        else reply(port, { database: request.database, job: request.job, ok: false, error: serializeError(outcome.error) });
      });
    }
  } catch (error) {
    failedJobs.add(request.job);
    dropFlush(database, request.job);
    reply(port, { database: request.database, job: request.job, ok: false, error: serializeError(error) });
  }
}

function startFlush(database: Database, { job, fileNumber, oldestReadSequence, bottommost, compression }: Extract<BackgroundRequest, { type: "flush-start" }>): void {
  const { core, storage, databaseId } = database;
  database.flushes.set(job, {
    builder: new TableBuilder(core, storage, fileNumber, databaseId, compression),
    // Tombstones stay unless no table holds an older version of the memtable's keys (Tree.flushFilter).
    versions: new VersionFilter(oldestReadSequence, bottommost),
    staging: core.newRun(64 * 1024),
    run: core.newRun(64 * 1024),
    held: undefined,
  });
}

/** The same filtering as the inline flush (Tree.flushStep): overwritten versions nobody reads go. */
function addToFlush(database: Database, job: number, bytes: Uint8Array): void {
  const flush = database.flushes.get(job)!;
  const kept = flush.versions.filter(bytes);
  recycle(flush.held);
  flush.held = bytes.buffer as ArrayBuffer;
  if (kept.length === 0) return;
  flush.staging.clear();
  flush.staging.appendEncoded(kept);
  flush.builder.addRun(flush.staging);
  if (pauseAt === "flush") pauseForever("flush");
}

/**
 * Gives a buffer of entries back to the foreground, which copies the next ones into it; with a
 * signal, as a write slowed down for the flush's progress waits on it.
 */
function recycle(buffer: ArrayBuffer | undefined): void {
  if (buffer) reply(port, { recycled: buffer }, [buffer]);
}

/** A file the manifest stopped needing, in a durable edit, before the foreground asked. */
function remove(database: Database, name: string): void {
  if (pauseAt === "remove") pauseForever("remove");
  database.storage.remove(name);
}

/** The pause test hook: says so (the foreground resolves its promise) and blocks this thread for good. */
function pauseForever(kind: PauseKind): never {
  pauseAt = undefined;
  reply(port, { paused: kind });
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

function finishFlush(database: Database, job: number, logSegment: number): FlushResult {
  const flush = database.flushes.get(job)!;
  // finish() fsyncs the table and the directory its name is in: it is durable before the
  // foreground's edit names it.
  const meta = flush.builder.finish();
  database.storage.syncDirectory();
  syncLogSegment(database.storage, logSegment);
  const { discardedLogBytes } = flush.versions;
  dropFlush(database, job);
  // What the foreground's Table.open would read and decode, read back and checked here.
  const image = meta && readTableImage(database.core, database.storage, meta, database.databaseId);
  return { meta, discardedLogBytes, image };
}

/**
 * Makes the log durable up to the flushed memtable's end, which is in `segment` (the foreground
 * handed every record to the OS before it asked; earlier segments were synced when sealed): an
 * fdatasync through a handle of our own covers the file's data whoever wrote it.
 */
function syncLogSegment(storage: Storage, segment: number): void {
  const file = storage.open(segmentFileName(segment), { write: true });
  try {
    file.sync();
  } finally {
    file.close();
  }
}

/**
 * The log's sync-behind (ValueLog.syncBehind): bounds the dirty pages of the current segment
 * for a caller whose event loop never turns. It claims nothing, so a failure is left to the
 * syncs that do (the foreground's own fdatasync of the file reports the lost write-back).
 */
function syncBehind(database: Database | undefined, segment: number): void {
  if (!database) return;
  try {
    syncLogSegment(database.storage, segment);
  } catch {
    // Nothing depends on this sync; see above.
  }
}

function dropFlush(database: Database, job: number): void {
  const flush = database.flushes.get(job);
  if (!flush) return;
  database.flushes.delete(job);
  recycle(flush.held);
  flush.builder.free();
  flush.staging.free();
  flush.run.free();
}

function closeDatabase(id: number, database: Database): void {
  compactions.dropDatabase(database);
  for (const job of [...database.flushes.keys()]) dropFlush(database, job);
  database.files.clear();
  databases.delete(id);
}

// A thread that dies by itself says so on the port: a foreground blocked in Atomics.wait gets no
// exit event, but it takes this message (background.ts, Connection.dispatch).
onExit((code, error) => reply(port, { exited: true, message: `the background worker exited with code ${code}${error === undefined ? "" : `: ${(error as Error)?.message ?? String(error)}`}` }));

port.onMessage((message) => {
  const request = message as BackgroundRequest;
  try {
    handle(request);
  } catch (error) {
    // Nothing escapes: an uncaught error would reach the foreground only as an event, which a
    // write blocked in Atomics.wait cannot see; a reply it can.
    const job = "job" in request ? request.job : 0;
    reply(port, { database: "database" in request ? request.database : 0, job, ok: false, error: serializeError(error) });
  }
});
