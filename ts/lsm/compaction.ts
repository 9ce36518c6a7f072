/**
 * Leveled compaction. Level 0 holds flushed tables that may overlap (newest first); each level
 * below is sorted and non-overlapping and may hold `levelRatio` times the bytes of the one above.
 * A compaction merges input tables (all of L0, or one table of level n) with the overlapping
 * tables of the next level through the core's merge, drops versions nobody can read, and writes
 * new tables cut at `tableBytes` on user-key boundaries. It runs in bounded steps, so a write
 * waits for a whole compaction only at the stall point (see DB.payCompactionDebt), and it
 * commits with one manifest edit: a crash before that edit leaves the old tables in force and
 * the new files as orphans that the next open deletes.
 */
import { assert } from "../assert.ts";
import { viewOf } from "../bytes.ts";
import { compareBytes, compareInternalKeys, userKeyOf } from "../core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, MERGE_DONE, TRAILER_BYTES, mergeSourceNeeded, type Core, type Merge, type Run } from "../core/types.ts";
import { VALUE_POINTER_BYTES, type Compression } from "../format.ts";
import type { Storage } from "../storage/io.ts";
import { LEVEL_COUNT, type VersionEdit } from "./version.ts";
import type { Table, TableMeta } from "./sstable.ts";
import type { TableImage } from "./table-image.ts";
import { TableSource } from "./table-source.ts";
import { TableBuilder } from "./table-builder.ts";
import { decodeValuePointer } from "../vlog/record.ts";

export interface CompactionSettings {
  /** Level 0 is compacted into level 1 once it holds this many tables. */
  l0Files: number;
  /** Each level below 1 may hold this many times the bytes of the level above it. */
  levelRatio: number;
  /** Bytes level 1 may hold. */
  level1Bytes: number;
  /** Compaction output tables are cut near this size. */
  tableBytes: number;
  /** Data block compression of every table written (flushes too). */
  compression: Compression;
}

export interface CompactionPlan {
  level: number;
  outputLevel: number;
  /** Tables of `level` (for level 0: newest first). */
  inputs: TableMeta[];
  /** Tables of `outputLevel` that overlap the inputs' key range. */
  overlapping: TableMeta[];
  /** No level below the output holds any key in range: tombstones can go. */
  bottommost: boolean;
}

export interface KeyRange {
  smallest: Uint8Array;
  largest: Uint8Array;
}

function rangeOf(tables: readonly TableMeta[]): KeyRange {
  let smallest = tables[0]!.smallest;
  let largest = tables[0]!.largest;
  for (const table of tables) {
    if (compareInternalKeys(table.smallest, smallest) < 0) smallest = table.smallest;
    if (compareInternalKeys(table.largest, largest) > 0) largest = table.largest;
  }
  return { smallest, largest };
}

/** Whether a table's user-key range meets [range.smallest, range.largest] (user keys). */
function overlaps(table: TableMeta, range: KeyRange): boolean {
  return compareBytes(userKeyOf(table.largest), userKeyOf(range.smallest)) >= 0 && compareBytes(userKeyOf(table.smallest), userKeyOf(range.largest)) <= 0;
}

/**
 * Whether a flush of entries in `range` (internal keys) lands above no older version of them: no
 * table of any level meets the range. Flushes go oldest memtable first, so every older version
 * is in a table by then, and a running compaction's outputs stay inside its inputs' range.
 */
export function flushIsBottommost(levels: readonly (readonly TableMeta[])[], range: KeyRange): boolean {
  return !levels.some((tables) => tables.some((table) => overlaps(table, range)));
}

export function levelBytes(tables: readonly TableMeta[]): number {
  let bytes = 0;
  for (const table of tables) bytes += table.size;
  return bytes;
}

export function levelBytesMax(level: number, settings: CompactionSettings): number {
  return settings.level1Bytes * settings.levelRatio ** (level - 1);
}

function planFor(levels: readonly TableMeta[][], level: number, inputs: TableMeta[], outputLevel = level + 1): CompactionPlan {
  let range = rangeOf(inputs);
  // Compacting a level into itself (the bottom, by db.compact) rewrites just the inputs.
  const overlapping = outputLevel === level ? [] : levels[outputLevel]!.filter((table) => overlaps(table, range));
  if (overlapping.length > 0) range = rangeOf([...inputs, ...overlapping]);
  let bottommost = true;
  for (let deeper = outputLevel + 1; deeper < levels.length; deeper++) {
    if (levels[deeper]!.some((table) => overlaps(table, range))) bottommost = false;
  }
  return { level, outputLevel, inputs, overlapping, bottommost };
}

/**
 * The most urgent compaction, if any: level 0 past its file count, then the level furthest
 * past its byte budget (one table of it, taken round-robin after `pointers[level]`).
 */
export function pickCompaction(levels: readonly TableMeta[][], settings: CompactionSettings, pointers: (Uint8Array | undefined)[]): CompactionPlan | undefined {
  if (levels[0]!.length >= settings.l0Files) return planFor(levels, 0, [...levels[0]!]);
  let bestLevel = -1;
  let bestScore = 1;
  for (let level = 1; level < LEVEL_COUNT - 1; level++) {
    const score = levelBytes(levels[level]!) / levelBytesMax(level, settings);
    if (score > bestScore) {
      bestScore = score;
      bestLevel = level;
    }
  }
  if (bestLevel < 0) return undefined;
  const tables = levels[bestLevel]!;
  const pointer = pointers[bestLevel];
  const next = (pointer && tables.find((table) => compareInternalKeys(table.smallest, pointer) > 0)) || tables[0]!;
  return planFor(levels, bestLevel, [next]);
}

/**
 * The plan that moves everything of `level` overlapping `range` (user keys; everything when
 * undefined) into `outputLevel`, which is level + 1, or `level` itself for the bottom level.
 */
export function planRange(levels: readonly TableMeta[][], level: number, outputLevel: number, range: KeyRange | undefined): CompactionPlan | undefined {
  const inputs = level === 0 ? level0Closure(levels[0]!, range) : levels[level]!.filter((table) => !range || overlaps(table, range));
  if (inputs.length === 0) return undefined;
  return planFor(levels, level, inputs, outputLevel);
}

/**
 * The level-0 tables a range compaction must move together (newest first, as level 0 keeps
 * them). Level-0 tables overlap each other, and a read takes the first level-0 table that holds
 * a key: a moved table must never leave an older version of one of its keys behind in level 0,
 * where it would win. So the range grows by every table it meets until no table left outside
 * shares a key with it (LevelDB does the same); the tables left behind then share no key with
 * the moved ones, and every key's versions keep their newest-first order.
 */
function level0Closure(tables: readonly TableMeta[], range: KeyRange | undefined): TableMeta[] {
  if (!range) return [...tables];
  let inputs = tables.filter((table) => overlaps(table, range));
  while (inputs.length > 0) {
    const grown = rangeOf(inputs);
    const more = tables.filter((table) => overlaps(table, grown));
    if (more.length === inputs.length) return more;
    inputs = more;
  }
  return inputs;
}

function equalBytes(a: Uint8Array, aStart: number, aLength: number, b: Uint8Array, bStart: number, bLength: number): boolean {
  if (aLength !== bLength) return false;
  for (let i = 0; i < aLength; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

/** The 56-bit sequence of the trailer whose kind byte is at `at`. */
function trailerSequence(bytes: Uint8Array, at: number): number {
  const low = (bytes[at + 1]! | (bytes[at + 2]! << 8) | (bytes[at + 3]! << 16) | (bytes[at + 4]! << 24)) >>> 0;
  return (bytes[at + 5]! | (bytes[at + 6]! << 8) | (bytes[at + 7]! << 16)) * 0x1_0000_0000 + low;
}

/**
 * Decides, entry by entry in internal-key order (a user key's versions newest first), which
 * versions a reader may still need: a version survives unless a newer version of its key at or
 * below the oldest snapshot exists (nobody can read it), or it is such a version and a tombstone
 * at the bottom. Compactions and flushes both use it; the value-log records of the pointers it
 * drops are counted as garbage.
 *
 * At the bottom, the version every reader sees (at or below the oldest snapshot, nothing older
 * below it) of an inline value is given sequence 0, in place: its real sequence can no longer
 * matter to any read, and seven zero bytes per entry compress where a counter does not (as
 * RocksDB does). Pointers keep theirs: a read by pointer checks the log record's sequence.
 */
export class VersionFilter {
  /** Where the last user key seen lies (in the bytes it came in, which the caller keeps alive). */
  private previousUserKey: { bytes: Uint8Array; start: number; length: number } | undefined;
  private shadowed = false;
  /** Value-log bytes per segment whose last pointer was dropped. */
  readonly discardedLogBytes: Record<string, number> = {};

  constructor(
    private readonly oldestSnapshotSequence: number,
    /** No older version of any key can lie below: tombstones can go too. */
    private readonly bottommost: boolean,
  ) {}

  /** Whether the entry at `at` (run encoding) starts a user key other than the previous entry's. */
  startsUserKey(bytes: Uint8Array, at: number): boolean {
    const userKeyStart = at + 8;
    const userKeyLength = viewOf(bytes).getUint32(at, true) - TRAILER_BYTES;
    const previous = this.previousUserKey;
    if (previous && equalBytes(bytes, userKeyStart, userKeyLength, previous.bytes, previous.start, previous.length)) return false;
    this.previousUserKey = { bytes, start: userKeyStart, length: userKeyLength };
    this.shadowed = false;
    return true;
  }

  /** Whether the entry [at, end) survives (its sequence may be zeroed in place); call startsUserKey for it first. */
  keep(bytes: Uint8Array, at: number, end: number): boolean {
    const trailer = at + 8 + viewOf(bytes).getUint32(at, true) - TRAILER_BYTES;
    const kind = bytes[trailer]!;
    if (this.shadowed) return this.drop(kind, bytes, end);
    if (trailerSequence(bytes, trailer) <= this.oldestSnapshotSequence) {
      this.shadowed = true;
      if (kind === KIND_DELETE && this.bottommost) return this.drop(kind, bytes, end);
      if (kind === KIND_VALUE && this.bottommost) bytes.fill(0, trailer + 1, trailer + TRAILER_BYTES);
    }
    return true;
  }

  /**
   * The entries of `bytes` (run encoding) that survive, as one encoded run: `bytes` itself when
   * all of them do. `bytes` must stay alive and unchanged until the next call.
   */
  filter(bytes: Uint8Array): Uint8Array {
    const view = viewOf(bytes);
    const kept: Uint8Array[] = [];
    let keptStart = 0;
    let at = 0;
    while (at < bytes.length) {
      const end = at + 8 + view.getUint32(at, true) + view.getUint32(at + 4, true);
      this.startsUserKey(bytes, at);
      if (!this.keep(bytes, at, end)) {
        if (at > keptStart) kept.push(bytes.subarray(keptStart, at));
        keptStart = end;
      }
      at = end;
    }
    if (keptStart === 0) return bytes;
    if (at > keptStart) kept.push(bytes.subarray(keptStart, at));
    const joined = new Uint8Array(kept.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of kept) {
      joined.set(part, offset);
      offset += part.length;
    }
    return joined;
  }

  /** Counts a dropped value pointer's record as value-log garbage. */
  private drop(kind: number, bytes: Uint8Array, entryEnd: number): false {
    if (kind === KIND_POINTER) {
      const pointer = decodeValuePointer(bytes.subarray(entryEnd - VALUE_POINTER_BYTES, entryEnd));
      this.discardedLogBytes[pointer.segment] = (this.discardedLogBytes[pointer.segment] ?? 0) + pointer.length;
    }
    return false;
  }
}

export interface CompactionResult {
  /** The one manifest edit that commits the compaction, with the value-log garbage it found. */
  edit: VersionEdit;
  removed: number[];
  added: TableMeta[];
  /** From the worker: what the foreground opens each added table from (ts/lsm/table-image.ts). */
  images?: TableImage[];
}

/**
 * One compaction in progress. step() does a bounded amount of merging; when it returns true
 * the output tables are written and result() gives the manifest edit to apply.
 */
export class CompactionJob {
  private readonly merge: Merge;
  private readonly sources: TableSource[][];
  private readonly sourceRuns: Run[];
  private readonly out: Run;
  private readonly staging: Run;
  private builder: TableBuilder | undefined;
  private readonly outputs: TableMeta[] = [];
  private readonly versions: VersionFilter;
  private done = false;
  bytesRead = 0;
  bytesWritten = 0;

  constructor(
    private readonly core: Core,
    private readonly storage: Storage,
    readonly plan: CompactionPlan,
    tableOf: (meta: TableMeta) => Table,
    /** Versions above this are kept; at most one version at or below it per key survives. */
    oldestSnapshotSequence: number,
    private readonly allocateFileNumber: () => number,
    private readonly settings: CompactionSettings,
    /** Written into every output table's footer (Manifest.databaseId). */
    private readonly databaseId: Uint8Array,
  ) {
    this.versions = new VersionFilter(oldestSnapshotSequence, plan.bottommost);
    // Level-0 inputs overlap: one source each, newest first. A sorted level is one source.
    const inputSources = plan.level === 0 ? plan.inputs.map((meta) => [new TableSource(tableOf(meta), false, undefined)]) : [plan.inputs.map((meta) => new TableSource(tableOf(meta), false, undefined))];
    this.sources = [...inputSources, plan.overlapping.map((meta) => new TableSource(tableOf(meta), false, undefined))].filter((chain) => chain.length > 0);
    this.sourceRuns = this.sources.map(() => core.newRun(64 * 1024));
    this.out = core.newRun(64 * 1024);
    this.staging = core.newRun(64 * 1024);
    this.merge = core.newMerge(this.sources.length, { reverse: false, sequence: Number.MAX_SAFE_INTEGER, mode: "all" });
    for (let index = 0; index < this.sources.length; index++) this.feed(index);
  }

  /** Gives merge source `index` its next run: the next block of its table chain. */
  private feed(index: number): void {
    const chain = this.sources[index]!;
    const run = this.sourceRuns[index]!;
    while (chain.length > 0) {
      if (chain[0]!.fill(run) > 0) {
        this.bytesRead += run.byteLength;
        this.merge.setSource(index, run);
        return;
      }
      chain.shift();
    }
    this.merge.setSource(index, null);
  }

  /** Merges about `budgetBytes` of input; true once every output table is written. */
  step(budgetBytes: number): boolean {
    let processed = 0;
    while (!this.done && processed < budgetBytes) {
      const result = this.merge.fill(this.out, 64 * 1024);
      if (result === MERGE_DONE) {
        this.finishTable();
        this.done = true;
      } else if (result < MERGE_DONE) {
        this.feed(mergeSourceNeeded(result));
      } else {
        processed += this.out.byteLength;
        this.consume(this.out.bytes().slice());
      }
    }
    return this.done;
  }

  /** Keeps what a reader may still need from merged entries, and writes it out. */
  private consume(bytes: Uint8Array): void {
    // Offsets, not subarrays: this runs once per entry of every compaction.
    const view = viewOf(bytes);
    let keptStart = 0;
    let at = 0;
    const flushKept = (end: number) => {
      if (end > keptStart) {
        this.staging.clear();
        this.staging.appendEncoded(bytes.subarray(keptStart, end));
        this.builderFor().addRun(this.staging);
      }
    };
    while (at < bytes.length) {
      const end = at + 8 + view.getUint32(at, true) + view.getUint32(at + 4, true);
      // Cut tables only between user keys, so a key's versions share one table per level.
      if (this.versions.startsUserKey(bytes, at) && this.builder && this.builder.estimatedBytes + (at - keptStart) >= this.settings.tableBytes) {
        flushKept(at);
        keptStart = at;
        this.finishTable();
      }
      if (!this.versions.keep(bytes, at, end)) {
        flushKept(at);
        keptStart = end;
      }
      at = end;
    }
    flushKept(at);
  }

  private builderFor(): TableBuilder {
    this.builder ??= new TableBuilder(this.core, this.storage, this.allocateFileNumber(), this.databaseId, this.settings.compression);
    return this.builder;
  }

  private finishTable(): void {
    if (!this.builder) return;
    const meta = this.builder.finish();
    this.builder.free();
    this.builder = undefined;
    if (meta) {
      this.outputs.push(meta);
      this.bytesWritten += meta.size;
    }
  }

  result(): CompactionResult {
    assert(this.done, "compaction result before it finished");
    const { plan } = this;
    const removed = [...plan.inputs.map((table) => ({ level: plan.level, fileNumber: table.fileNumber })), ...plan.overlapping.map((table) => ({ level: plan.outputLevel, fileNumber: table.fileNumber }))];
    const nextFileNumber = this.outputs.reduce((highest, table) => Math.max(highest, table.fileNumber + 1), 0);
    return {
      // The garbage found travels in the same edit, so GC statistics survive a restart.
      edit: { added: this.outputs.map((table) => ({ level: plan.outputLevel, table })), removed, nextFileNumber, discardedLogBytes: this.versions.discardedLogBytes },
      removed: removed.map((entry) => entry.fileNumber),
      added: this.outputs,
    };
  }

  /** Releases core memory; an unfinished job's output files stay as orphans for open to delete. */
  free(): void {
    this.builder?.free();
    this.builder = undefined;
    this.merge.free();
    this.out.free();
    this.staging.free();
    for (const run of this.sourceRuns) run.free();
  }
}
