/** What db.stats() and db.check() report: the engine's counters, and every checksum verified. */
import { listSegments, verifyLog } from "../vlog/replay.ts";
import { logSpace } from "../vlog/gc.ts";
import type { Engine } from "./engine.ts";

export interface CheckProblem {
  file: string;
  offset: number;
  message: string;
}

export interface CheckReport {
  ok: boolean;
  tables: number;
  segments: number;
  problems: CheckProblem[];
}

export function engineStats(engine: Engine) {
  const { core, settings, lastSequence, tree, log, readers, failed, files, cache } = engine.state;
  const levels = tree.levels.map((tables, level) => ({
    level,
    files: tables.length,
    bytes: tables.reduce((sum, table) => sum + table.size, 0),
    entries: tables.reduce((sum, table) => sum + table.entries, 0),
  }));
  return {
    core: core.name,
    /** Where flushes and compactions run: "worker" (a background thread) or "inline". */
    background: settings.background,
    durability: settings.durability,
    lastSequence,
    levels,
    memtable: { bytes: tree.memtable.memtable.arenaBytes, entries: tree.memtable.memtable.count, immutables: tree.immutables.length },
    log: logStats(engine),
    userBytesWritten: engine.state.userBytesWritten,
    diskBytesWritten: log.bytesWritten + tree.bytesFlushed + tree.compactionBytesWritten,
    flushes: tree.flushes,
    compaction: {
      done: tree.compactions,
      bytesRead: tree.compactionBytesRead,
      bytesWritten: tree.compactionBytesWritten,
      pending: tree.backgroundWorkDue,
      /** Time writes spent on flushes and compactions (the stall policy), in milliseconds. */
      stallMilliseconds: Math.round(engine.pacer.compactionMilliseconds),
      /** Writes slowed down because the background worker was behind (ts/engine/slowdown.ts). */
      slowedWrites: engine.pacer.slowdowns,
    },
    snapshots: readers.size,
    /** Why writes are refused until reopen (a failed write or sync, or failed background work), if they are. */
    backgroundError: failed === undefined ? undefined : String((failed as Error).message ?? failed),
    openFiles: files.size,
    blockCache: { bytes: cache.bytes, bytesMax: cache.bytesMax, hits: cache.hits, misses: cache.misses },
  };
}

/** Value-log size, and the garbage compaction found in it (space amplification). */
function logStats(engine: Engine) {
  const { storage, manifest, log } = engine.state;
  const space = logSpace(storage, manifest.state);
  return {
    segments: space.segments,
    totalBytes: space.totalBytes,
    /** Estimated: total minus the garbage known so far (see ts/vlog/gc.ts). */
    liveBytes: space.totalBytes - space.garbageBytes,
    bytesWritten: log.bytesWritten,
    syncs: log.syncs,
    gcRuns: engine.gc.runs,
  };
}

/** Verifies every checksum of every table block and log record; never throws on damage. */
export function checkEngine(engine: Engine): CheckReport {
  const { storage, tree, log, core, manifest } = engine.state;
  log.write(false);
  // The files the worker is deleting go first: check() reads the directory as the manifest says.
  tree.removals.settle(true);
  const problems: CheckProblem[] = [];
  for (const table of tree.tables.values()) {
    for (const problem of table.verify(storage)) problems.push({ file: table.name, ...problem });
  }
  const view = engine.state.readOnlyView;
  if (view) {
    // Beside a live writer: the pinned segments, the newest up to the replayed end.
    problems.push(...verifyLog(core, storage, manifest.databaseId, { segments: view.segments, logEnd: view.logEnd }));
    return { ok: problems.length === 0, tables: tree.tables.size, segments: view.segments.length, problems };
  }
  problems.push(...verifyLog(core, storage, manifest.databaseId));
  return { ok: problems.length === 0, tables: tree.tables.size, segments: listSegments(storage).length, problems };
}
