/**
 * The read path: a point read walks the tree at a sequence and follows a value pointer into the
 * log; an iteration merges every source (memtables, tables) at a sequence within its bounds,
 * holding a read point from its creation to its end so compaction and GC keep what it reads.
 */
import { RunReader, compareBytes, encodeInternalKey, seekKey, sequenceAt } from "../core/entry.ts";
import { KIND_DELETE, KIND_POINTER, MERGE_DONE, SEQUENCE_MAX, TRAILER_BYTES, mergeSourceNeeded, type Hit, type Merge, type Run } from "../core/types.ts";
import type { CheckedIteration } from "../api/options.ts";
import { copyOfFill } from "../core/slab.ts";
import { decodeValuePointer } from "../vlog/record.ts";
import type { Source } from "../lsm/tree-sources.ts";
import type { EngineState } from "./state.ts";

/** An iterator's merged output per fill: the first, and the most once it has grown. */
const MERGE_FILL_BYTES_FIRST = 2 * 1024;
const MERGE_FILL_BYTES_MAX = 64 * 1024;
/**
 * A run's first capacity: a table source's run takes the rest of one block, the output a first
 * fill. Runs grow as a scan needs; a seek reading a few entries allocates no 64 KiB per source.
 */
const RUN_BYTES_INITIAL = 8 * 1024;
/** Spare runs kept for the next iterators, and the most bytes a kept run may have held last. */
const SPARE_RUNS_MAX = 16;
const SPARE_RUN_BYTES_MAX = 16 * 1024;

export type Entries = Generator<[Uint8Array, Uint8Array], void, undefined>;

/** An iterator's read point: its key in the engine's readers, and how it lets go of it. */
class IteratorReader {
  constructor(private readonly release: (reader: object) => void) {}

  releaseReadPoint(): void {
    this.release(this);
  }
}

/**
 * Iterators created and never started hold a read point; this releases it when the iterator is
 * garbage collected (its unregister token is the reader, dropped once the scan starts). The
 * reader is also what is held: a closure here would share iterate()'s scope, which reaches the
 * iterator, and through the registry every finished iterator (sources, runs, the fill its last
 * entries came from) stayed reachable past its seek and was promoted (--trace-gc).
 */
const unreadIterators = new FinalizationRegistry<IteratorReader>((reader) => reader.releaseReadPoint());

/** An iteration's bounds (plain fields: classify() reads them, no closure per iterator). */
interface Bounds {
  reverse: boolean;
  limit: number;
  /** Internal key the sources start at. */
  start: Uint8Array | undefined;
  gt: Uint8Array | undefined;
  gte: Uint8Array | undefined;
  lt: Uint8Array | undefined;
  lte: Uint8Array | undefined;
}

export class ReadPath {
  constructor(
    private readonly state: EngineState,
    /** Lets go of a reader's read point (and deletes collected segments nobody reads any more). */
    private readonly release: (reader: object) => void,
  ) {}

  /**
   * Runs iterators finished with, for the next ones: a seek then costs no run allocated (and
   * freed) in the core per source. Only runs that stayed small are kept, at most SPARE_RUNS_MAX.
   */
  private readonly spareRuns: Run[] = [];

  private takeRun(): Run {
    return this.spareRuns.pop() ?? this.state.core.newRun(RUN_BYTES_INITIAL);
  }

  private giveRun(run: Run): void {
    // A run that held a scan's 64 KiB fills may have grown past that: let it go.
    if (this.spareRuns.length < SPARE_RUNS_MAX && run.byteLength <= SPARE_RUN_BYTES_MAX && !this.state.closed) this.spareRuns.push(run);
    else run.free();
  }

  /** Frees the spare runs (the engine closes; the core goes with it). */
  close(): void {
    for (const run of this.spareRuns.splice(0)) run.free();
  }

  /** The value of `key` as of `sequence`, or undefined. */
  get(key: Uint8Array, sequence: number): Uint8Array | undefined {
    return this.valueOf(this.state.tree.get(key, sequence), key);
  }

  /** The values of `keys` as of `sequence`, in the order given: one sorted walk of the tree. */
  getMany(keys: Uint8Array[], sequence: number): (Uint8Array | undefined)[] {
    const { values, pointerKeys, pointerSequences } = this.state.tree.getMany(keys, sequence);
    for (let i = 0; i < pointerKeys.length; i++) {
      const index = pointerKeys[i]!;
      values[index] = this.state.log.readValue(decodeValuePointer(values[index]!), keys[index]!, pointerSequences[i]!);
    }
    return values;
  }

  /** A lookup's value: undefined for none or a tombstone, else inline or from the log. */
  private valueOf(hit: Hit | undefined, key: Uint8Array): Uint8Array | undefined {
    if (!hit || hit.kind === KIND_DELETE) return undefined;
    return hit.kind === KIND_POINTER ? this.state.log.readValue(decodeValuePointer(hit.value), key, hit.sequence) : hit.value;
  }

  /** Whether `key` has a value as of `sequence`; reads no value from the log. */
  has(key: Uint8Array, sequence: number): boolean {
    const hit = this.state.tree.get(key, sequence);
    return hit !== undefined && hit.kind !== KIND_DELETE;
  }

  /**
   * [key, value] pairs as of `sequence`. The read point is taken by this call, not by the first
   * next(): from here until the iterator ends (or is closed, or dropped unread), compaction keeps
   * the versions it reads and GC the log segments they point into.
   */
  iterate(iteration: CheckedIteration, sequence: number): Entries {
    const bounds = iterationBounds(iteration);
    const reader = new IteratorReader(this.release);
    this.state.readers.set(reader, sequence);
    const iterator = this.merged(bounds, sequence, reader);
    // A generator's finally runs only once it has started: an iterator closed before its first
    // next() releases its read point here, and one dropped unread when it is collected.
    const closeGenerator = iterator.return.bind(iterator);
    iterator.return = (value) => {
      this.release(reader);
      return closeGenerator(value);
    };
    unreadIterators.register(iterator, reader, reader);
    return iterator;
  }

  /** The sources of one iteration, a run for each, the merge's output run and the merge. */
  private openMerge(bounds: Bounds, sequence: number): Merging {
    const sources = this.state.tree.sources(bounds.reverse, bounds.start);
    const runs = sources.map(() => this.takeRun());
    const out = this.takeRun();
    const merge = this.state.core.newMerge(Math.max(1, sources.length), { reverse: bounds.reverse, sequence, mode: "visible" });
    if (sources.length === 0) merge.setSource(0, null);
    return { sources, runs, out, merge };
  }

  private closeMerge({ sources, runs, out, merge }: Merging): void {
    merge.free();
    this.giveRun(out);
    for (const run of runs) this.giveRun(run);
    for (const source of sources) source.release();
  }

  /**
   * The merge of every source at `sequence`, within the bounds; frees what it used and lets go
   * of the read point when it ends. One generator (not one delegating to another): each entry
   * resumes one frame and allocates one result.
   */
  private *merged(bounds: Bounds, sequence: number, reader: object): Entries {
    let merging: Merging | undefined;
    let yielded = 0;
    // A seek that reads a few entries merges (and copies out) a few KiB, not 64: the target
    // starts small and doubles with each fill, so a long scan soon moves 64 KiB at a time.
    let bytesTarget = MERGE_FILL_BYTES_FIRST;
    try {
      this.state.checkOpen();
      unreadIterators.unregister(reader);
      merging = this.openMerge(bounds, sequence);
      const { sources, runs, out, merge } = merging;
      sources.forEach((source, index) => merge.setSource(index, source.fill(runs[index]!) > 0 ? runs[index]! : null));
      while (yielded < bounds.limit) {
        const result = merge.fill(out, bytesTarget);
        bytesTarget = Math.min(2 * bytesTarget, MERGE_FILL_BYTES_MAX);
        if (result === MERGE_DONE) return;
        if (result < MERGE_DONE) {
          const index = mergeSourceNeeded(result);
          merge.setSource(index, sources[index]!.fill(runs[index]!) > 0 ? runs[index]! : null);
          continue;
        }
        // The run is a view into core memory: copy it before anything else calls the core.
        const bytes = copyOfFill(out.bytes());
        const entries = new RunReader(bytes);
        while (yielded < bounds.limit && entries.next()) {
          // The user key and value as views of the copy; the trailer read in place.
          const userKey = bytes.subarray(entries.keyStart, entries.valueStart - TRAILER_BYTES);
          const position = classify(bounds, userKey);
          if (position < 0) continue;
          if (position > 0) return;
          this.state.checkOpen();
          const value = entries.value();
          const pointer = bytes[entries.valueStart - TRAILER_BYTES] === KIND_POINTER;
          const resolved = pointer ? this.state.log.readValue(decodeValuePointer(value), userKey, sequenceAt(bytes, entries.valueStart - TRAILER_BYTES)) : value;
          yielded++;
          yield [userKey, resolved];
        }
      }
    } finally {
      // After close the core is retired (its memory may be another database's): nothing to free.
      if (merging && !this.state.closed) this.closeMerge(merging);
      this.release(reader);
    }
  }
}

interface Merging {
  sources: Source[];
  runs: Run[];
  out: Run;
  merge: Merge;
}

/** -1: before the range (skip), 0: inside, 1: past it (stop), in the iteration's direction. */
function classify(bounds: Bounds, key: Uint8Array): number {
  const below = (bounds.gt !== undefined && compareBytes(key, bounds.gt) <= 0) || (bounds.gte !== undefined && compareBytes(key, bounds.gte) < 0);
  if (below) return bounds.reverse ? 1 : -1;
  const above = (bounds.lt !== undefined && compareBytes(key, bounds.lt) >= 0) || (bounds.lte !== undefined && compareBytes(key, bounds.lte) > 0);
  if (above) return bounds.reverse ? -1 : 1;
  return 0;
}

function iterationBounds(iteration: CheckedIteration): Bounds {
  const { reverse, limit, gt, gte, lt, lte } = iteration;
  let start: Uint8Array | undefined;
  if (!reverse) {
    const lower = gt !== undefined && (gte === undefined || compareBytes(gt, gte) >= 0) ? gt : gte;
    start = lower === undefined ? undefined : seekKey(lower, SEQUENCE_MAX);
  } else if (lt !== undefined && (lte === undefined || compareBytes(lt, lte) <= 0)) {
    start = seekKey(lt, SEQUENCE_MAX);
  } else if (lte !== undefined) {
    start = encodeInternalKey(lte, 0, 0);
  }
  return { reverse, limit, start, gt, gte, lt, lte };
}
