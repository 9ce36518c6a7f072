/**
 * Open and recovery: the lock, the superblock and manifest, then the value log replayed from
 * the manifest's head into the memtable, stale files removed, and the log head moved past
 * whatever replay found already in tables.
 */
import { createCore } from "../core/index.ts";
import { PgzError, invalidArgument } from "../errors.ts";
import { RECORD_PUT, manifestFileName, parseFileName, TEMPORARY_SUFFIX } from "../format.ts";
import { platform } from "../storage/platform.ts";
import { Manifest } from "../lsm/manifest.ts";
import type { Storage } from "../storage/io.ts";
import type { Core } from "../core/types.ts";
import type { OpenOptions, Settings } from "../api/options.ts";
import { encodeValuePointer, type LogOperation, type LogRecord } from "../vlog/record.ts";
import { listSegments, replayLog } from "../vlog/replay.ts";
import { Engine } from "./engine.ts";
import { openReaderVersion, replayTail } from "./reader.ts";
import { EngineState } from "./state.ts";
import { encodeMemtableRun } from "./write.ts";

/** Opens (or creates) the database in `directory`: superblock, manifest, then log replay. */
export function openEngine(directory: string, options: OpenOptions, settings: Settings): Engine {
  const core = createCore(options.core ?? "wasm");
  if (options.readOnly === true) return openReadOnly(directory, options, settings, core);
  const { storage, unlock } = lockedStorage(directory, options);
  let manifest: Manifest | undefined;
  try {
    if (Manifest.exists(storage)) {
      if (options.errorIfExists) throw invalidArgument(`a database already exists in ${directory}`);
      manifest = Manifest.open(core, storage);
    } else {
      // Files of a database without its SUPERBLOCK are corruption, never a new database.
      Manifest.checkNoDatabase(core, storage);
      if (options.createIfMissing === false) throw new PgzError("PGZ_NOT_FOUND", `no database in ${directory}`);
      manifest = Manifest.create(core, storage);
    }
    const engine = new Engine(new EngineState(core, storage, manifest, settings), unlock);
    try {
      recover(engine, options.salvageLog === true);
    } catch (error) {
      engine.state.releaseResources();
      throw error;
    }
    return engine;
  } catch (error) {
    manifest?.close();
    unlock();
    throw error;
  }
}

/**
 * The storage a writer opens, locked. A storage with its own lock (OPFS: one opener per origin,
 * no readers in other processes) is used as it is; otherwise the platform's LOCK file, and
 * deletions of tables and log segments wait for the readers that still read them.
 */
function lockedStorage(directory: string, options: OpenOptions): { storage: Storage; unlock: () => void } {
  const opened = options.storage ?? platform().openStorage(directory, { create: options.createIfMissing !== false });
  if (opened.lock) return { storage: opened, unlock: opened.lock() };
  const storage = platform().guardRemovals(opened);
  const lock = platform().acquireLock(storage);
  const unlock = () => {
    try {
      storage.retryRemovals();
    } finally {
      lock();
    }
  };
  return { storage, unlock };
}

/** A read-only open: a pinned version (ts/engine/reader.ts) and the log after its head in the memtable. */
function openReadOnly(directory: string, options: OpenOptions, settings: Settings, core: Core): Engine {
  if (options.errorIfExists === true) throw invalidArgument("errorIfExists cannot be used with readOnly");
  const storage = options.storage ?? platform().openStorage(directory, { create: false });
  if (!Manifest.exists(storage)) {
    // As for a writer: files of a database without its SUPERBLOCK are corruption.
    Manifest.checkNoDatabase(core, storage);
    throw new PgzError("PGZ_NOT_FOUND", `no database in ${directory}`);
  }
  const version = openReaderVersion(core, storage, platform().registerReader(storage.directory));
  let state: EngineState | undefined;
  try {
    state = new EngineState(core, storage, version.manifest, settings);
    const replayed = state;
    const { databaseId, state: versionState } = version.manifest;
    const logEnd = replayTail(core, storage, databaseId, versionState.logHead, version.segments, (segment, records) => replayBatch(replayed, segment, records));
    state.readOnlyView = { segments: version.segments, logEnd };
    return new Engine(state, () => version.registration.release());
  } catch (error) {
    state?.releaseResources();
    version.manifest.close();
    version.registration.release();
    throw error;
  }
}

/** Replays the log from the manifest's head into the memtable, then starts a new segment. */
function recover(engine: Engine, salvageLog: boolean): void {
  const state = engine.state;
  removeStaleFiles(state);
  replayLog(state.core, state.storage, state.manifest.databaseId, state.manifest.state.logHead, ({ segment, records }) => {
    replayBatch(state, segment, records);
    rotateIfFull(state, segment, records);
  }, { salvage: salvageLog });
  // The log rolls over without a manifest edit, so segments may carry numbers the manifest has
  // not reached: new files must come after them. Only segments count (replay has checked the
  // header of every one it read, and removed a blank newest one): any other file name proves
  // nothing, and a stray one (an orphan table, a stale manifest, all deleted above) must not
  // lift the counter toward its limit.
  state.raiseNextFileNumber((listSegments(state.storage).at(-1) ?? 0) + 1);
  state.accounting.addRecordedCounts();
  state.log.startSegment();
  state.tree.flushImmutables();
  moveHeadPastTables(state);
  // From here on, with the worker, the unlinks of spent files run there.
  state.tree.removals.takeOver(state.storage);
  // Garbage left by earlier sessions is collected without waiting for a write.
  engine.pacer.scheduleIdleWork();
}

/** Orphan tables, segments whose collection a crash cut short, stale manifests and temporaries. */
function removeStaleFiles(state: EngineState): void {
  for (const name of state.tree.orphanTables()) state.storage.remove(name);
  // Segments GC collected before a crash cut their deletion short (no reader survives a
  // restart), or kept for a change consumer.
  for (const segment of state.manifest.state.collectedSegments) state.retireSegment(segment);
  for (const name of state.storage.list()) {
    const stale = (parseFileName(name)?.kind === "manifest" && name !== manifestFileName(state.manifest.currentManifestNumber)) || name.endsWith(TEMPORARY_SUFFIX);
    if (stale) state.storage.remove(name);
  }
}

/** One replayed batch into the memtable, counting its pointers (a writer's recovery and a reader's log tail). */
function replayBatch(state: EngineState, segment: number, records: readonly LogRecord[]): void {
  const operations: LogOperation[] = [];
  const pointers: (Uint8Array | undefined)[] = [];
  for (const record of records) {
    const isPut = record.type === RECORD_PUT;
    operations.push({ type: isPut ? "put" : "del", key: record.key, value: record.value });
    state.accounting.noteSegment(segment);
    const isPointer = isPut && record.value.length > state.settings.valueThreshold;
    if (isPointer) state.accounting.notePointer(segment, record.length);
    pointers.push(isPointer ? encodeValuePointer({ segment, offset: record.offset, length: record.length }) : undefined);
  }
  const first = records[0]!.sequence;
  state.tree.memtable.memtable.insert(encodeMemtableRun(operations, first, pointers));
  state.lastSequence = Math.max(state.lastSequence, records[records.length - 1]!.sequence);
}

/** During a writer's recovery a full memtable rotates (a reader never flushes: its memtable grows). */
function rotateIfFull(state: EngineState, segment: number, records: readonly LogRecord[]): void {
  if (state.tree.memtable.memtable.arenaBytes >= state.settings.memtableBytes) {
    const last = records[records.length - 1]!;
    state.tree.rotate({ segment, offset: last.offset + last.length });
  }
}

/**
 * With nothing replayed into the memtable, every record before the new segment is in a table:
 * move the head past them, so the segments they fill (inline values, deletes, and the empty
 * segment each earlier open started) are retired now rather than never.
 */
function moveHeadPastTables(state: EngineState): void {
  const head = state.log.position;
  if (state.tree.memtable.memtable.count === 0 && state.manifest.state.logHead.segment < head.segment) state.accounting.moveHeadPastTables(head);
  else state.accounting.retireFlushedSegments();
}
