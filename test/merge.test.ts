/**
 * The k-way merge on every core: random sources split into random runs fed through the need
 * protocol, forward and reverse, "all" and "visible", against a model (sort everything; the
 * visible view computed directly) and differentially (every core yields the same bytes); and
 * the edge cases: sources null from the start, empty runs, one source, equal keys across
 * sources (tie order), a need in the middle of a user key's versions, bad arguments, use after
 * free.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { compareBytes, compareInternalKeys, encodeInternalKey, encodeRun, kindOf, sequenceOf, userKeyOf, type RunEntry } from "../ts/core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, MERGE_DONE, SEQUENCE_MAX, mergeSourceNeeded, type Core, type MergeOptions, type Run } from "../ts/core/types.ts";
import { PgzError } from "../ts/errors.ts";
import { coreFactories, throwsInvalid, sameBytes } from "./helpers.ts";

const cores: ReadonlyArray<readonly [string, Core]> = coreFactories.map(([name, make]) => [name, make()] as const);

/** A source as the host feeds it: its runs in order (each in run encoding), or null from the start. */
type SourceRuns = Uint8Array[] | null;

interface Tagged extends RunEntry {
  source: number;
}

/**
 * Runs a merge to the end, feeding each source its next run whenever fill asks. Odd sources
 * reuse one Run object (cleared and refilled, so it may move in memory), even ones get a new
 * Run per step. Returns the concatenated output.
 */
function runMerge(core: Core, sources: SourceRuns[], options: MergeOptions, bytesTarget: number): Uint8Array {
  const merge = core.newMerge(sources.length, options);
  const queues = sources.map((runs) => (runs === null ? null : [...runs]));
  const reused = sources.map(() => core.newRun(64));
  const made: Run[] = [];
  const feed = (index: number): void => {
    const queue = queues[index]!;
    if (queue === null || queue.length === 0) return merge.setSource(index, null);
    let run = reused[index]!;
    if (index % 2 === 0) made.push((run = core.newRun(64)));
    run.clear();
    run.appendEncoded(queue.shift()!);
    merge.setSource(index, run);
  };
  for (let index = 0; index < sources.length; index++) feed(index);
  const out = core.newRun(64);
  const chunks: Uint8Array[] = [];
  let pendingNeed = -1;
  for (let step = 0; ; step++) {
    assert.ok(step < 1_000_000, "merge does not end");
    const result = merge.fill(out, bytesTarget);
    if (result > 0) {
      assert.is(out.count, result);
      chunks.push(out.bytes().slice());
      continue;
    }
    assert.is(out.count, 0);
    if (result === MERGE_DONE) break;
    const index = mergeSourceNeeded(result);
    assert.ok(index >= 0 && index < sources.length, `need of source ${index}`);
    // The same need twice in a row would mean the previous feed was not taken (only empty runs repeat).
    if (pendingNeed === index) assert.ok(queues[index] !== null, "repeated need");
    pendingNeed = index;
    feed(index);
  }
  // After the end, fill keeps saying done.
  assert.is(merge.fill(out, bytesTarget), MERGE_DONE);
  merge.free();
  for (const run of [...reused, ...made, out]) run.free();
  return Buffer.concat(chunks);
}

/** The model: every entry tagged with its source, sorted by internal key (reversed if asked), ties by source. */
function modelAll(sources: Tagged[][], reverse: boolean): Tagged[] {
  const all = sources.flat();
  return all.sort((a, b) => (reverse ? -1 : 1) * compareInternalKeys(a.key, b.key) || a.source - b.source);
}

function modelVisible(sources: Tagged[][], reverse: boolean, sequence: number): Tagged[] {
  const byUserKey = new Map<string, Tagged>();
  for (const entry of modelAll(sources, false)) {
    if (sequenceOf(entry.key) > sequence) continue;
    const id = Buffer.from(userKeyOf(entry.key)).toString("hex");
    if (!byUserKey.has(id)) byUserKey.set(id, entry);
  }
  const visible = [...byUserKey.values()].filter((entry) => kindOf(entry.key) !== KIND_DELETE);
  visible.sort((a, b) => compareBytes(userKeyOf(a.key), userKeyOf(b.key)));
  return reverse ? visible.reverse() : visible;
}

/** Splits a source's entries (already in merge order) into runs at the given cut fractions. */
function split(entries: RunEntry[], cuts: number[], emptyRuns: boolean): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => Math.floor(cut * (entries.length + 1))))].sort((a, b) => a - b);
  const runs: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, entries.length]) {
    if (point < from) continue;
    if (point > from || emptyRuns) runs.push(encodeRun(entries.slice(from, point)));
    from = point;
  }
  return runs;
}

const userKeyArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 2, max: 3 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 12 }) },
);
const sequenceArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: SEQUENCE_MAX - 3, max: SEQUENCE_MAX }) },
);
const entryArbitrary = fc
  .record({
    userKey: userKeyArbitrary,
    sequence: sequenceArbitrary,
    kind: fc.constantFrom(KIND_DELETE, KIND_VALUE, KIND_VALUE, KIND_POINTER),
    value: fc.uint8Array({ maxLength: 40 }),
  })
  .map(({ userKey, sequence, kind, value }) => ({ key: encodeInternalKey(userKey, sequence, kind), value }));
const sourceArbitrary = fc.record({
  entries: fc.array(entryArbitrary, { maxLength: 80, size: "max" }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8, size: "max" }),
  nullFromStart: fc.constantFrom(false, false, false, true),
  emptyRuns: fc.boolean(),
});

/** Sorted entries of one source with unique internal keys (the model of a sorted table). */
function sourceEntries(entries: RunEntry[], source: number, reverse: boolean): Tagged[] {
  const unique = new Map<string, Tagged>();
  for (const entry of entries) unique.set(Buffer.from(entry.key).toString("hex"), { ...entry, source });
  return [...unique.values()].sort((a, b) => (reverse ? -1 : 1) * compareInternalKeys(a.key, b.key));
}

test("model and differential: random sources through the need protocol, every mode, every core", () => {
  fc.assert(
    fc.property(
      fc.array(sourceArbitrary, { minLength: 1, maxLength: 7, size: "max" }),
      fc.boolean(),
      fc.constantFrom<MergeOptions["mode"]>("all", "visible"),
      sequenceArbitrary,
      fc.constantFrom(0, 1, 50, 500, 64 * 1024),
      (generated, reverse, mode, sequence, bytesTarget) => {
        const tagged = generated.map((source, index) => (source.nullFromStart ? [] : sourceEntries(source.entries, index, reverse)));
        const sources: SourceRuns[] = generated.map((source, index) =>
          source.nullFromStart ? null : split(tagged[index]!, source.cuts, source.emptyRuns),
        );
        const expected = encodeRun(mode === "all" ? modelAll(tagged, reverse) : modelVisible(tagged, reverse, sequence));
        for (const [name, core] of cores) {
          const output = runMerge(core, sources, { reverse, mode, sequence }, bytesTarget);
          sameBytes(output, expected, `${name}: ${mode} ${reverse ? "reverse" : "forward"}`);
        }
      },
    ),
    { numRuns: 1000 },
  );
});

const entry = (userKey: number[], sequence: number, kind: number, value: number[]): Tagged => ({
  key: encodeInternalKey(new Uint8Array(userKey), sequence, kind),
  value: new Uint8Array(value),
  source: 0,
});

for (const [name, core] of cores) {
  test(`${name}: equal internal keys across sources come out lower source first`, () => {
    const a = entry([1], 5, KIND_VALUE, [0]);
    const b = entry([1], 5, KIND_VALUE, [1]);
    const c = entry([1], 5, KIND_VALUE, [2]);
    for (const reverse of [false, true]) {
      const sources = [[encodeRun([a])], [encodeRun([b])], [encodeRun([c])]];
      sameBytes(runMerge(core, sources, { reverse, mode: "all", sequence: 0 }, 1), encodeRun([a, b, c]), "all");
      // Visible: the copy from the lowest source index wins in both directions.
      sameBytes(runMerge(core, sources, { reverse, mode: "visible", sequence: 9 }, 1), encodeRun([a]), "visible");
    }
  });

  test(`${name}: a need in the middle of a user key's versions (reverse visible)`, () => {
    // Descending: the versions of [2] arrive oldest first, split across runs of one source.
    const first = [entry([3], 1, KIND_VALUE, [3]), entry([2], 1, KIND_VALUE, [21]), entry([2], 2, KIND_VALUE, [22])];
    const second = [entry([2], 3, KIND_DELETE, []), entry([2], 4, KIND_VALUE, [24])];
    const third = [entry([2], 5, KIND_VALUE, [25]), entry([1], 9, KIND_DELETE, [])];
    const sources = [[encodeRun(first), encodeRun(second), encodeRun(third)]];
    const at = (sequence: number) => runMerge(core, sources, { reverse: true, mode: "visible", sequence }, 64 * 1024);
    sameBytes(at(2), encodeRun([first[0]!, first[2]!]), "at 2");
    sameBytes(at(3), encodeRun([first[0]!]), "at 3: tombstone");
    sameBytes(at(4), encodeRun([first[0]!, second[1]!]), "at 4");
    sameBytes(at(SEQUENCE_MAX), encodeRun([first[0]!, third[0]!]), "at max");
  });

  test(`${name}: sources null from the start, one source, and none with entries`, () => {
    const entries = [entry([1], 1, KIND_VALUE, [1]), entry([2], 1, KIND_VALUE, [2])];
    sameBytes(runMerge(core, [null, [encodeRun(entries)], null], { reverse: false, mode: "all", sequence: 0 }, 1), encodeRun(entries), "nulls around");
    sameBytes(runMerge(core, [[encodeRun(entries)]], { reverse: false, mode: "visible", sequence: 1 }, 1), encodeRun(entries), "one source");
    sameBytes(runMerge(core, [null, null], { reverse: true, mode: "visible", sequence: 1 }, 1), new Uint8Array(0), "all null");
    sameBytes(runMerge(core, [[new Uint8Array(0)], []], { reverse: false, mode: "all", sequence: 0 }, 1), new Uint8Array(0), "empty runs");
  });

  test(`${name}: sequences up to 2^53 - 1 in visible mode`, () => {
    const key = [5];
    const newest = entry(key, SEQUENCE_MAX, KIND_VALUE, [1]);
    const older = entry(key, SEQUENCE_MAX - 1, KIND_VALUE, [2]);
    const oldest = entry(key, 2 ** 32 + 1, KIND_VALUE, [3]);
    for (const reverse of [false, true]) {
      const sources = [[encodeRun([newest])], [encodeRun([older])], [encodeRun([oldest])]];
      const at = (sequence: number) => runMerge(core, sources, { reverse, mode: "visible", sequence }, 1);
      sameBytes(at(SEQUENCE_MAX), encodeRun([newest]), "max");
      sameBytes(at(SEQUENCE_MAX - 1), encodeRun([older]), "max - 1");
      sameBytes(at(2 ** 32 + 1), encodeRun([oldest]), "2^32 + 1");
      sameBytes(at(2 ** 32), new Uint8Array(0), "2^32");
    }
  });

  test(`${name}: a fill returns its count before reporting a need`, () => {
    const merge = core.newMerge(2, { reverse: false, mode: "all", sequence: 0 });
    const a = core.newRun();
    const b = core.newRun();
    a.appendEncoded(encodeRun([entry([1], 1, KIND_VALUE, [1])]));
    b.appendEncoded(encodeRun([entry([2], 1, KIND_VALUE, [2]), entry([3], 1, KIND_VALUE, [3])]));
    const out = core.newRun();
    merge.setSource(0, a);
    assert.is(mergeSourceNeeded(merge.fill(out)), 1);
    merge.setSource(1, b);
    throwsInvalid(() => merge.setSource(1, b), "source 1 is active");
    assert.is(merge.fill(out), 1);
    assert.is(merge.fill(out), -2);
    assert.is(out.count, 0);
    merge.setSource(0, null);
    throwsInvalid(() => merge.setSource(0, null), "source 0 is done");
    assert.is(merge.fill(out, 1), 1);
    throwsInvalid(() => merge.fill(b), "out is a source's run");
    b.free();
    throwsInvalid(() => merge.fill(out), "a source's run was freed");
    merge.free();
    a.free();
    out.free();
  });

  test(`${name}: bad arguments and use after free`, () => {
    const options: MergeOptions = { reverse: false, mode: "all", sequence: 0 };
    throwsInvalid(() => core.newMerge(0, options), "sourceCount 0");
    throwsInvalid(() => core.newMerge(1025, options), "sourceCount 1025");
    throwsInvalid(() => core.newMerge(1.5, options), "sourceCount 1.5");
    throwsInvalid(() => core.newMerge(1, { ...options, mode: "none" as MergeOptions["mode"] }), "mode");
    throwsInvalid(() => core.newMerge(1, { reverse: false, mode: "visible", sequence: -1 }), "negative sequence");
    throwsInvalid(() => core.newMerge(1, { reverse: false, mode: "visible", sequence: SEQUENCE_MAX + 1 }), "sequence past 2^53 - 1");
    const merge = core.newMerge(1024, options);
    throwsInvalid(() => merge.setSource(-1, null), "index -1");
    throwsInvalid(() => merge.setSource(1024, null), "index 1024");
    throwsInvalid(() => merge.setSource(0.5, null), "index 0.5");
    const [, other] = cores.find(([otherName]) => otherName !== name)!;
    throwsInvalid(() => merge.setSource(0, other.newRun()), "a run from another core");
    throwsInvalid(() => merge.fill(other.newRun()), "out from another core");
    throwsInvalid(() => merge.fill(core.newRun(), -1), "negative bytesTarget");
    const freed = core.newRun();
    freed.free();
    throwsInvalid(() => merge.setSource(0, freed), "a freed run");
    merge.free();
    merge.free();
    throwsInvalid(() => merge.setSource(0, null), "setSource after free");
    throwsInvalid(() => merge.fill(core.newRun()), "fill after free");
  });
}

test.run();
