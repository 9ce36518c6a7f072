/**
 * The memtable on every core: against a sorted-array model (random inserts with many versions
 * per user key and tombstones, get at random sequences, cursors from random starts with tiny
 * and large fill targets), differentially (every core yields the same bytes and arenaBytes),
 * and the edge cases: 64 KiB keys, empty user keys, an empty memtable, duplicates, bad input.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { compareBytes, compareInternalKeys, encodeInternalKey, encodeRun, kindOf, sequenceOf, userKeyOf, type RunEntry } from "../ts/core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_SEEK, KIND_VALUE, SEQUENCE_MAX, type Core, type Cursor, type Memtable } from "../ts/core/types.ts";
import { PgzError } from "../ts/errors.ts";
import { coreFactories, random, throwsInvalid, sameBytes } from "./helpers.ts";

const cores: ReadonlyArray<readonly [string, Core]> = coreFactories.map(([name, make]) => [name, make()] as const);

/** Size of the head node, the arenaBytes of an empty memtable (16 levels of 12-byte links, 16-byte header). */
const HEAD_NODE_BYTES = 16 * 12 + 16;

const sortEntries = (entries: RunEntry[]): RunEntry[] => [...entries].sort((a, b) => compareInternalKeys(a.key, b.key));

/** Keeps the first entry of each internal key. */
function uniqueByKey(entries: RunEntry[]): RunEntry[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const id = Buffer.from(entry.key).toString("hex");
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Inserts `entries` in batches of `batchSize` run entries. */
function insertAll(memtable: Memtable, entries: RunEntry[], batchSize: number): void {
  for (let from = 0; from < entries.length; from += batchSize) memtable.insert(encodeRun(entries.slice(from, from + batchSize)));
}

/** Everything a cursor yields, as one run's bytes, with every fill checked. */
function drain(core: Core, cursor: Cursor, bytesTarget: number): Uint8Array {
  const run = core.newRun(64);
  const chunks: Uint8Array[] = [];
  for (;;) {
    const count = cursor.fill(run, bytesTarget);
    assert.is(run.count, count);
    if (count === 0) break;
    if (count > 1) assert.ok(run.byteLength - lastEntryBytes(run.bytes()) < bytesTarget, "a fill stops once it reaches bytesTarget");
    chunks.push(run.bytes().slice());
  }
  run.free();
  return Buffer.concat(chunks);
}

function lastEntryBytes(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  let last = 0;
  while (offset < bytes.length) {
    last = 8 + view.getUint32(offset, true) + view.getUint32(offset + 4, true);
    offset += last;
  }
  return last;
}

/** The model's get: the first entry in internal order with the user key and sequence <= at. */
function modelGet(sorted: RunEntry[], userKey: Uint8Array, at: number): RunEntry | undefined {
  return sorted.find((entry) => compareBytes(userKeyOf(entry.key), userKey) === 0 && sequenceOf(entry.key) <= at);
}

function modelCursor(sorted: RunEntry[], reverse: boolean, start: Uint8Array | undefined): RunEntry[] {
  if (!reverse) return start === undefined ? sorted : sorted.filter((entry) => compareInternalKeys(entry.key, start) >= 0);
  const upTo = start === undefined ? sorted : sorted.filter((entry) => compareInternalKeys(entry.key, start) <= 0);
  return [...upTo].reverse();
}

const userKeyArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 3, max: 3 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 24 }) },
);
const sequenceArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: SEQUENCE_MAX - 3, max: SEQUENCE_MAX }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: SEQUENCE_MAX }) },
);
const kindArbitrary = fc.constantFrom(KIND_DELETE, KIND_VALUE, KIND_VALUE, KIND_POINTER);
const entryArbitrary = fc
  .record({ userKey: userKeyArbitrary, sequence: sequenceArbitrary, kind: kindArbitrary, value: fc.uint8Array({ maxLength: 70 }) })
  .map(({ userKey, sequence, kind, value }) => ({
    key: encodeInternalKey(userKey, sequence, kind),
    value: kind === KIND_DELETE ? new Uint8Array(0) : value,
  }));
const startArbitrary = fc.option(
  fc.record({ userKey: userKeyArbitrary, sequence: sequenceArbitrary, kind: fc.constantFrom(KIND_DELETE, KIND_VALUE, KIND_POINTER, KIND_SEEK) })
    .map(({ userKey, sequence, kind }) => encodeInternalKey(userKey, sequence, kind)),
  { nil: undefined },
);
const bytesTargetArbitrary = fc.constantFrom(0, 1, 40, 300, 64 * 1024);

test("model and differential: inserts, gets and cursors agree on every core", () => {
  fc.assert(
    fc.property(
      fc.array(entryArbitrary, { maxLength: 300, size: "max" }),
      fc.integer({ min: 1, max: 64 }),
      fc.array(fc.record({ userKey: userKeyArbitrary, sequence: sequenceArbitrary }), { maxLength: 30, size: "max" }),
      fc.array(fc.record({ reverse: fc.boolean(), start: startArbitrary, bytesTarget: bytesTargetArbitrary }), { maxLength: 6 }),
      (generated, batchSize, gets, cursors) => {
        const entries = uniqueByKey(generated);
        const sorted = sortEntries(entries);
        const results: string[] = [];
        for (const [name, core] of cores) {
          const memtable = core.newMemtable();
          insertAll(memtable, entries, batchSize);
          assert.is(memtable.count, entries.length, `${name}: count`);
          const outputs: unknown[] = [memtable.arenaBytes];
          for (const { userKey, sequence } of gets) {
            const hit = memtable.get(userKey, sequence);
            const expected = modelGet(sorted, userKey, sequence);
            if (expected === undefined) {
              assert.is(hit, undefined, `${name}: get of an absent version`);
            } else {
              assert.ok(hit !== undefined, `${name}: get found nothing`);
              assert.equal(hit, { kind: kindOf(expected.key), sequence: sequenceOf(expected.key), value: expected.value }, `${name}: get`);
            }
            outputs.push(hit);
          }
          for (const { reverse, start, bytesTarget } of cursors) {
            const cursor = memtable.cursor(reverse, start);
            const yielded = drain(core, cursor, bytesTarget);
            sameBytes(yielded, encodeRun(modelCursor(sorted, reverse, start)), `${name}: cursor ${reverse ? "reverse" : "forward"}`);
            cursor.free();
          }
          results.push(JSON.stringify(outputs, (_key, value) => (value instanceof Uint8Array ? Array.from(value) : value)));
          memtable.free();
        }
        for (const result of results) assert.is(result, results[0], "cores disagree (arenaBytes or gets)");
      },
    ),
    { numRuns: 150 },
  );
});

test("entries inserted while a cursor is open do not break it, on every core alike", () => {
  fc.assert(
    fc.property(fc.array(entryArbitrary, { minLength: 1, maxLength: 200, size: "max" }), fc.boolean(), fc.integer({ min: 1, max: 20 }), (generated, reverse, split) => {
      const entries = uniqueByKey(generated);
      const before = entries.slice(0, Math.ceil(entries.length / 2));
      const after = entries.slice(before.length);
      const outputs: Uint8Array[] = [];
      for (const [name, core] of cores) {
        const memtable = core.newMemtable();
        insertAll(memtable, before, 7);
        const cursor = memtable.cursor(reverse);
        const run = core.newRun();
        const yielded: RunEntry[] = [];
        let fills = 0;
        for (;;) {
          const count = cursor.fill(run, 1);
          if (count === 0) break;
          yielded.push(...copyEntries(run.bytes()));
          if (++fills === split) insertAll(memtable, after, 5);
        }
        // In order, and holding every entry that was there when the cursor was made.
        for (let i = 1; i < yielded.length; i++) {
          const order = compareInternalKeys(yielded[i - 1]!.key, yielded[i]!.key);
          assert.ok(reverse ? order > 0 : order < 0, `${name}: cursor order`);
        }
        const seen = new Set(yielded.map((entry) => Buffer.from(entry.key).toString("hex")));
        for (const entry of before) assert.ok(seen.has(Buffer.from(entry.key).toString("hex")), `${name}: entry missed`);
        outputs.push(encodeRun(yielded));
        run.free();
        cursor.free();
        memtable.free();
      }
      for (const output of outputs) sameBytes(output, outputs[0]!, "cores disagree");
    }),
    { numRuns: 60 },
  );
});

function copyEntries(bytes: Uint8Array): RunEntry[] {
  const entries: RunEntry[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = 0; offset < bytes.length; ) {
    const keyLength = view.getUint32(offset, true);
    const valueLength = view.getUint32(offset + 4, true);
    entries.push({ key: bytes.slice(offset + 8, offset + 8 + keyLength), value: bytes.slice(offset + 8 + keyLength, offset + 8 + keyLength + valueLength) });
    offset += 8 + keyLength + valueLength;
  }
  return entries;
}

for (const [name, core] of cores) {
  test(`${name}: an empty memtable`, () => {
    const memtable = core.newMemtable();
    assert.is(memtable.count, 0);
    assert.is(memtable.arenaBytes, HEAD_NODE_BYTES);
    assert.is(memtable.get(new Uint8Array(0), SEQUENCE_MAX), undefined);
    for (const reverse of [false, true]) {
      const run = core.newRun();
      assert.is(memtable.cursor(reverse).fill(run), 0);
      assert.is(memtable.cursor(reverse, encodeInternalKey(new Uint8Array([1]), 5, KIND_SEEK)).fill(run), 0);
      assert.is(run.byteLength, 0);
    }
    memtable.insert(new Uint8Array(0));
    assert.is(memtable.count, 0);
    memtable.free();
  });

  test(`${name}: versions, tombstones and get at a sequence`, () => {
    const memtable = core.newMemtable();
    const key = new Uint8Array([7, 7]);
    memtable.insert(encodeRun([
      { key: encodeInternalKey(key, 10, KIND_VALUE), value: new Uint8Array([10]) },
      { key: encodeInternalKey(key, 20, KIND_DELETE), value: new Uint8Array(0) },
      { key: encodeInternalKey(key, 30, KIND_POINTER), value: new Uint8Array([30, 30]) },
      { key: encodeInternalKey(new Uint8Array([7]), 40, KIND_VALUE), value: new Uint8Array([40]) },
    ]));
    assert.is(memtable.get(key, 9), undefined);
    assert.equal(memtable.get(key, 10), { kind: KIND_VALUE, sequence: 10, value: new Uint8Array([10]) });
    assert.equal(memtable.get(key, 25), { kind: KIND_DELETE, sequence: 20, value: new Uint8Array(0) });
    assert.equal(memtable.get(key, SEQUENCE_MAX), { kind: KIND_POINTER, sequence: 30, value: new Uint8Array([30, 30]) });
    assert.is(memtable.get(new Uint8Array([7, 7, 0]), SEQUENCE_MAX), undefined);
    assert.equal(memtable.get(new Uint8Array([7]), 40)?.value, new Uint8Array([40]));
    memtable.free();
  });

  test(`${name}: empty user keys and 64 KiB keys`, () => {
    const memtable = core.newMemtable();
    const big = new Uint8Array(64 * 1024).map((_, i) => (i * 31) & 0xff);
    const bigger = big.slice();
    bigger[bigger.length - 1] = bigger[bigger.length - 1]! ^ 1;
    const value = new Uint8Array(300 * 1024).fill(9);
    const entries = [
      { key: encodeInternalKey(new Uint8Array(0), 1, KIND_VALUE), value: new Uint8Array([1]) },
      { key: encodeInternalKey(new Uint8Array(0), 2, KIND_DELETE), value: new Uint8Array(0) },
      { key: encodeInternalKey(big, 3, KIND_VALUE), value },
      { key: encodeInternalKey(bigger, 4, KIND_VALUE), value: big },
    ];
    memtable.insert(encodeRun(entries));
    assert.equal(memtable.get(new Uint8Array(0), 1), { kind: KIND_VALUE, sequence: 1, value: new Uint8Array([1]) });
    assert.is(memtable.get(new Uint8Array(0), 5)?.kind, KIND_DELETE);
    sameBytes(memtable.get(big, 3)!.value, value, "big value");
    sameBytes(memtable.get(bigger, 4)!.value, big, "big key as value");
    assert.is(memtable.get(big, 2), undefined);
    const sorted = sortEntries(entries);
    sameBytes(drain(core, memtable.cursor(false), 1), encodeRun(sorted), "forward");
    sameBytes(drain(core, memtable.cursor(true), 64 * 1024), encodeRun([...sorted].reverse()), "reverse");
    memtable.free();
  });

  test(`${name}: a duplicate internal key is rejected; the entries before it stay`, () => {
    const memtable = core.newMemtable();
    const a = { key: encodeInternalKey(new Uint8Array([1]), 5, KIND_VALUE), value: new Uint8Array([1]) };
    const b = { key: encodeInternalKey(new Uint8Array([2]), 6, KIND_VALUE), value: new Uint8Array([2]) };
    const c = { key: encodeInternalKey(new Uint8Array([3]), 7, KIND_VALUE), value: new Uint8Array([3]) };
    memtable.insert(encodeRun([a]));
    const arenaBytes = memtable.arenaBytes;
    throwsInvalid(() => memtable.insert(encodeRun([b, { key: a.key, value: new Uint8Array([9]) }, c])), "duplicate");
    assert.is(memtable.count, 2);
    assert.ok(memtable.arenaBytes > arenaBytes);
    assert.equal(memtable.get(new Uint8Array([1]), 5)?.value, new Uint8Array([1]));
    assert.is(memtable.get(new Uint8Array([3]), 7), undefined);
    throwsInvalid(() => memtable.insert(encodeRun([c, c])), "duplicate within one run");
    assert.is(memtable.count, 3);
    memtable.free();
  });

  test(`${name}: bad arguments and use after free`, () => {
    const memtable = core.newMemtable();
    throwsInvalid(() => memtable.insert(new Uint8Array([1, 2, 3])), "truncated run");
    throwsInvalid(() => memtable.insert(encodeRun([{ key: new Uint8Array(7), value: new Uint8Array(0) }])), "key shorter than a trailer");
    throwsInvalid(() => memtable.get(new Uint8Array(0), -1), "negative sequence");
    throwsInvalid(() => memtable.get(new Uint8Array(0), 1.5), "fractional sequence");
    throwsInvalid(() => memtable.get(new Uint8Array(0), SEQUENCE_MAX + 1), "sequence past 2^53 - 1");
    throwsInvalid(() => memtable.cursor(false, new Uint8Array(7)), "start shorter than a trailer");
    const cursor = memtable.cursor(false);
    const [, other] = cores.find(([otherName]) => otherName !== name)!;
    throwsInvalid(() => cursor.fill(other.newRun()), "a run from another core");
    throwsInvalid(() => cursor.fill(core.newRun(), -1), "negative bytesTarget");
    const freedRun = core.newRun();
    freedRun.free();
    throwsInvalid(() => cursor.fill(freedRun), "a freed run");
    memtable.free();
    memtable.free();
    throwsInvalid(() => cursor.fill(core.newRun()), "cursor of a freed memtable");
    throwsInvalid(() => memtable.insert(new Uint8Array(0)), "insert after free");
    throwsInvalid(() => memtable.get(new Uint8Array(0), 0), "get after free");
    throwsInvalid(() => memtable.cursor(false), "cursor after free");
    throwsInvalid(() => memtable.count, "count after free");
    const live = core.newMemtable();
    const liveCursor = live.cursor(true);
    liveCursor.free();
    liveCursor.free();
    throwsInvalid(() => liveCursor.fill(core.newRun()), "fill after cursor free");
    live.free();
  });

  test(`${name}: a larger random workload matches the model`, () => {
    const next = random(0x5eed);
    const memtable = core.newMemtable();
    const entries: RunEntry[] = [];
    for (let i = 0; i < 20_000; i++) {
      const userKey = new Uint8Array(1 + Math.floor(next() * 6)).map(() => Math.floor(next() * 4));
      entries.push({ key: encodeInternalKey(userKey, i, next() < 0.2 ? KIND_DELETE : KIND_VALUE), value: new Uint8Array([i & 0xff]) });
    }
    insertAll(memtable, entries, 1000);
    const sorted = sortEntries(entries);
    sameBytes(drain(core, memtable.cursor(false), 4096), encodeRun(sorted), "forward");
    sameBytes(drain(core, memtable.cursor(true), 4096), encodeRun([...sorted].reverse()), "reverse");
    for (let i = 0; i < 500; i++) {
      const userKey = userKeyOf(entries[Math.floor(next() * entries.length)]!.key);
      const at = Math.floor(next() * 20_000);
      const expected = modelGet(sorted, userKey, at);
      assert.is(memtable.get(userKey, at)?.sequence, expected === undefined ? undefined : sequenceOf(expected.key));
    }
    memtable.free();
  });
}

test("runs longer than one sorted chunk (1,024 entries), with a duplicate in the third: every core inserts up to it, alike", () => {
  const next = random(7);
  const entries: RunEntry[] = [];
  for (let i = 0; i < 3000; i++) {
    const userKey = new Uint8Array(1 + Math.floor(next() * 5)).map(() => Math.floor(next() * 6));
    entries.push({ key: encodeInternalKey(userKey, i + 1, KIND_VALUE), value: new Uint8Array([i & 0xff, i >> 8]) });
  }
  const duplicateAt = 2500;
  const withDuplicate = [...entries.slice(0, duplicateAt), { key: entries[1200]!.key, value: new Uint8Array([1]) }, ...entries.slice(duplicateAt)];
  const outcomes = cores.map(([name, core]) => {
    const memtable = core.newMemtable();
    memtable.insert(encodeRun(entries.slice(0, 1500))); // two chunks: 1,024 + 476
    throwsInvalid(() => memtable.insert(encodeRun(withDuplicate.slice(1500))), "duplicate");
    const inserted = entries.slice(0, duplicateAt);
    assert.is(memtable.count, inserted.length, `${name}: entries before the duplicate stay, none after`);
    const sorted = sortEntries(inserted);
    sameBytes(drain(core, memtable.cursor(false), 4096), encodeRun(sorted), `${name}: forward`);
    sameBytes(drain(core, memtable.cursor(true), 4096), encodeRun([...sorted].reverse()), `${name}: reverse`);
    memtable.insert(encodeRun(entries.slice(duplicateAt)));
    assert.is(memtable.count, entries.length);
    const arenaBytes = memtable.arenaBytes;
    memtable.free();
    return arenaBytes;
  });
  for (const outcome of outcomes) assert.is(outcome, outcomes[0], "arenaBytes differ between cores");
});

/**
 * Keys that share their first bytes (as "user:000123" keys do): once a memtable holds 64 entries
 * its link prefixes skip the bytes its keys share. Keys inserted after that which do not share
 * them (shorter keys, keys that end inside them, keys that differ in them) must still sort right.
 */
const sharedPrefixWorkload = fc.uint8Array({ minLength: 1, maxLength: 12 }).chain((shared) => {
  const family = fc.uint8Array({ maxLength: 10, max: 4 }).map((suffix) => Uint8Array.from([...shared, ...suffix]));
  const outsider = fc.oneof(
    fc.integer({ min: 0, max: shared.length }).map((length) => shared.slice(0, length)),
    fc
      .tuple(fc.integer({ min: 0, max: shared.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 12 }))
      .map(([at, byte, tail]) => Uint8Array.from([...shared.subarray(0, at), byte, ...tail])),
  );
  const anyKey = fc.oneof(family, outsider);
  return fc.record({
    first: fc.array(family, { minLength: 64, maxLength: 100 }),
    later: fc.array(anyKey, { maxLength: 150 }),
    batchSize: fc.integer({ min: 1, max: 70 }),
    probes: fc.array(fc.record({ userKey: anyKey, sequence: fc.integer({ min: 0, max: 300 }) }), { maxLength: 40 }),
    starts: fc.array(fc.record({ userKey: anyKey, sequence: fc.integer({ min: 0, max: 300 }), reverse: fc.boolean() }), { maxLength: 6 }),
  });
});

test("keys sharing their first bytes, then keys that do not: gets and cursors match the model on every core", () => {
  fc.assert(
    fc.property(sharedPrefixWorkload, ({ first, later, batchSize, probes, starts }) => {
      const entries = [...first, ...later].map((userKey, i) => ({
        key: encodeInternalKey(userKey, i + 1, i % 5 === 0 ? KIND_DELETE : KIND_VALUE),
        value: i % 5 === 0 ? new Uint8Array(0) : new Uint8Array([i & 0xff]),
      }));
      const sorted = sortEntries(entries);
      for (const [name, core] of cores) {
        const memtable = core.newMemtable();
        memtable.insert(encodeRun(entries.slice(0, first.length)));
        insertAll(memtable, entries.slice(first.length), batchSize);
        for (const { userKey, sequence } of [...probes, ...entries.map((entry) => ({ userKey: userKeyOf(entry.key), sequence: sequenceOf(entry.key) }))]) {
          const expected = modelGet(sorted, userKey, sequence);
          assert.is(memtable.get(userKey, sequence)?.sequence, expected === undefined ? undefined : sequenceOf(expected.key), `${name}: get`);
        }
        sameBytes(drain(core, memtable.cursor(false), 4096), encodeRun(sorted), `${name}: forward`);
        for (const { userKey, sequence, reverse } of starts) {
          const start = encodeInternalKey(userKey, sequence, KIND_SEEK);
          sameBytes(drain(core, memtable.cursor(reverse, start), 300), encodeRun(modelCursor(sorted, reverse, start)), `${name}: cursor from a start`);
        }
        memtable.free();
      }
    }),
    { numRuns: 150 },
  );
});

test("arenaBytes is identical on every core", () => {
  const values = cores.map(([, core]) => {
    const memtable = core.newMemtable();
    const next = random(42);
    for (let batch = 0; batch < 20; batch++) {
      const entries: RunEntry[] = [];
      for (let i = 0; i < 100; i++) {
        const userKey = new Uint8Array(16).map(() => Math.floor(next() * 256));
        entries.push({ key: encodeInternalKey(userKey, batch * 100 + i, KIND_VALUE), value: new Uint8Array(Math.floor(next() * 200)) });
      }
      memtable.insert(encodeRun(entries));
    }
    const arenaBytes = memtable.arenaBytes;
    memtable.free();
    return arenaBytes;
  });
  for (const value of values) assert.is(value, values[0]);
});

test.run();
