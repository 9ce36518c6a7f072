/**
 * Data blocks (assembly/block.ts, ts/core/pure/block.ts): every case on every core, a pinned
 * vector (test/vectors/block.txt), a differential property test demanding identical bytes and
 * answers from every core, and corruption: every flipped byte, every truncation, and
 * structurally bad blocks with a valid CRC must be PGZ_CORRUPTION, never a trap.
 */
import { readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { coreFactories, bytes, random, expectCode } from "./helpers.ts";
import { PgzError } from "../ts/errors.ts";
import { compareInternalKeys, decodeRun, encodeInternalKey, encodeRun, kindOf, sequenceOf, type RunEntry } from "../ts/core/entry.ts";
import { KIND_DELETE, KIND_SEEK, KIND_VALUE, type BlockReader, type Core } from "../ts/core/types.ts";

const hex = (data: Uint8Array): string => Buffer.from(data).toString("hex");

/** An independent bitwise CRC32C and LevelDB mask: the oracle for the trailer. */
function referenceMaskedCrc(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  crc = ~crc >>> 0;
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** Rewrites the trailer CRC so a structurally altered block passes the checksum. */
function resealed(block: Uint8Array): Uint8Array {
  const copy = block.slice();
  new DataView(copy.buffer).setUint32(copy.length - 4, referenceMaskedCrc(copy.subarray(0, copy.length - 4)), true);
  return copy;
}

function sortEntries(entries: RunEntry[]): RunEntry[] {
  const sorted = [...entries].sort((a, b) => compareInternalKeys(a.key, b.key));
  return sorted.filter((entry, i) => i === 0 || compareInternalKeys(sorted[i - 1]!.key, entry.key) !== 0);
}

function entry(userKey: string | Uint8Array, sequence: number, value: string | Uint8Array, kind = KIND_VALUE): RunEntry {
  return {
    key: encodeInternalKey(typeof userKey === "string" ? bytes(userKey) : userKey, sequence, kind),
    value: typeof value === "string" ? bytes(value) : value,
  };
}

/** `count` sorted entries with shared prefixes, several versions per user key, varied values. */
function sampleEntries(count: number, seed = 1): RunEntry[] {
  const next = random(seed);
  const entries: RunEntry[] = [];
  for (let i = 0; entries.length < count; i++) {
    const userKey = `key-${String(i * 7).padStart(6, "0")}`;
    const versions = 1 + Math.floor(next() * 3);
    for (let v = versions; v > 0 && entries.length < count; v--) {
      const value = new Uint8Array(Math.floor(next() * 200));
      for (let j = 0; j < value.length; j++) value[j] = (i * 31 + j) & 0xff;
      entries.push(entry(userKey, 1000 + v, value, v === 1 && i % 5 === 0 ? KIND_DELETE : KIND_VALUE));
    }
  }
  return entries;
}

function build(core: Core, entries: readonly RunEntry[], restartInterval?: number): Uint8Array {
  const builder = core.newBlockBuilder(restartInterval);
  for (const { key, value } of entries) builder.add(key, value);
  const block = builder.finish();
  builder.free();
  return block;
}

function current(reader: BlockReader): string {
  return `${hex(reader.key())}=${hex(reader.value())}`;
}

const show = (entries: readonly RunEntry[]): string[] => entries.map((e) => `${hex(e.key)}=${hex(e.value)}`);

/** Every entry forward, backward, and every seek, checked against the sorted entries. */
function checkRoundTrip(core: Core, block: Uint8Array, entries: readonly RunEntry[], seekTargets: readonly Uint8Array[] = []): void {
  const expected = show(entries);
  const reader = core.openBlock(block);
  assert.is(reader.count, entries.length);
  const forward: string[] = [];
  for (let ok = reader.first(); ok; ok = reader.next()) forward.push(current(reader));
  assert.equal(forward, expected);
  assert.is(reader.valid, false);
  const backward: string[] = [];
  for (let ok = reader.last(); ok; ok = reader.prev()) backward.push(current(reader));
  assert.equal(backward, [...expected].reverse());
  for (let i = 0; i < entries.length; i++) {
    assert.ok(reader.seek(entries[i]!.key));
    assert.is(current(reader), expected[i]);
  }
  for (const target of seekTargets) {
    const index = entries.findIndex((e) => compareInternalKeys(e.key, target) >= 0);
    assert.is(reader.seek(target), index >= 0, `seek ${hex(target)}`);
    if (index >= 0) assert.is(current(reader), expected[index], `seek ${hex(target)}`);
    // get: the entry seek finds, only when it has the target's user key.
    const found = index >= 0 && sameUserKey(entries[index]!.key, target) ? entries[index]! : undefined;
    const hit = reader.get(target);
    const want = found && { kind: kindOf(found.key), sequence: sequenceOf(found.key), value: hex(found.value) };
    assert.equal(hit && { kind: hit.kind, sequence: hit.sequence, value: hex(hit.value) }, want, `get ${hex(target)}`);
  }
  reader.free();
}

/** Drains a cursor with the given target; returns the entries in emission order. */
function drain(core: Core, reader: BlockReader, reverse: boolean, bytesTarget?: number): string[] {
  const cursor = reader.cursor(reverse);
  const run = core.newRun();
  const seen: string[] = [];
  for (let rounds = 0; ; rounds++) {
    assert.ok(rounds <= reader.count + 1, "cursor does not end");
    const appended = cursor.fill(run, bytesTarget);
    assert.is(appended, run.count);
    if (appended === 0) break;
    if (bytesTarget !== undefined) {
      // Stops as soon as the target is reached: without its last entry the run was short.
      const decoded = decodeRun(run.bytes());
      const lastBytes = 8 + decoded.at(-1)!.key.length + decoded.at(-1)!.value.length;
      assert.ok(decoded.length === 1 || run.byteLength - lastBytes < bytesTarget);
    }
    seen.push(...show(decodeRun(run.bytes())));
  }
  assert.is(cursor.fill(run), 0);
  cursor.free();
  run.free();
  return seen;
}

function sameUserKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && hex(a.subarray(0, a.length - 8)) === hex(b.subarray(0, b.length - 8));
}

function seekTargetsFor(entries: readonly RunEntry[]): Uint8Array[] {
  const targets: Uint8Array[] = [encodeInternalKey(new Uint8Array(0), 0, KIND_SEEK), encodeInternalKey(bytes("\xff\xff"), 0, 0)];
  for (const { key } of entries) {
    const userKey = key.subarray(0, key.length - 8);
    targets.push(encodeInternalKey(userKey, 0, 0)); // after every version of the user key
    targets.push(encodeInternalKey(userKey, 2 ** 53 - 1, KIND_SEEK)); // before every version
    targets.push(encodeInternalKey(new Uint8Array([...userKey, 0]), 5, KIND_VALUE)); // between user keys
  }
  return targets;
}

/** Opens and fully exercises a block; a bad block must fail with PGZ_CORRUPTION at open. */
function exercise(core: Core, block: Uint8Array): "opened" | "corrupt" {
  let reader: BlockReader;
  try {
    reader = core.openBlock(block);
  } catch (error) {
    if (!(error instanceof PgzError) || error.code !== "PGZ_CORRUPTION" || /aborted|poisoned/.test(error.message)) throw error;
    return "corrupt";
  }
  let steps = 0;
  for (let ok = reader.first(); ok; ok = reader.next()) {
    reader.key();
    reader.value();
    assert.ok(++steps <= reader.count, "forward iteration does not end");
  }
  assert.is(steps, reader.count);
  steps = 0;
  for (let ok = reader.last(); ok; ok = reader.prev()) assert.ok(++steps <= reader.count, "reverse iteration does not end");
  assert.is(steps, reader.count);
  for (const target of [encodeInternalKey(new Uint8Array(0), 0, 0), encodeInternalKey(bytes("key-000100"), 1, 1)]) reader.seek(target);
  for (const reverse of [false, true]) drain(core, reader, reverse, 50);
  reader.free();
  return "opened";
}

/** test/vectors/block.txt: `interval N`, `put <user key> <sequence> <kind> <value>`, `----`, hex. */
function readVectors(): { name: string; interval: number; entries: RunEntry[]; expected: string }[] {
  const text = readFileSync(new URL("./vectors/block.txt", import.meta.url), "utf8");
  return text
    .split(/\n(?==== )/)
    .filter((chunk) => chunk.startsWith("=== "))
    .map((chunk) => {
      const lines = chunk.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
      const name = lines[0]!.slice(4);
      const separator = lines.indexOf("----");
      let interval = 16;
      const entries: RunEntry[] = [];
      for (const line of lines.slice(1, separator)) {
        const [verb, ...rest] = line.split(" ");
        if (verb === "interval") interval = Number(rest[0]);
        if (verb === "put") entries.push(entry(rest[0] === "-" ? "" : rest[0]!, Number(rest[1]), rest[3] ?? "", Number(rest[2])));
      }
      return { name, interval, entries, expected: lines.slice(separator + 1).join("").replace(/\s+/g, "") };
    });
}

for (const [coreName, createCore] of coreFactories) {
  const test = suite(`block (${coreName})`);
  const core = createCore();

  test("pinned vectors: exact bytes, and the CRC matches an independent CRC32C", () => {
    for (const vector of readVectors()) {
      const block = build(core, vector.entries, vector.interval);
      assert.is(hex(block), vector.expected, vector.name);
      const view = new DataView(block.buffer, block.byteOffset);
      assert.is(view.getUint32(block.length - 4, true), referenceMaskedCrc(block.subarray(0, block.length - 4)));
      checkRoundTrip(core, block, vector.entries);
    }
  });

  test("empty block: just the trailer, no restarts; every operation finds nothing", () => {
    const builder = core.newBlockBuilder();
    assert.is(builder.count, 0);
    assert.is(builder.sizeEstimate, 12);
    assert.is(builder.lastKey().length, 0);
    const block = builder.finish();
    builder.free();
    assert.is(block.length, 12);
    assert.is(hex(block.subarray(0, 8)), "0000000000000000");
    const reader = core.openBlock(block);
    assert.is(reader.count, 0);
    assert.is(reader.first(), false);
    assert.is(reader.last(), false);
    assert.is(reader.seek(encodeInternalKey(bytes("a"), 1, 1)), false);
    assert.is(reader.valid, false);
    assert.is(reader.next(), false);
    assert.is(reader.prev(), false);
    for (const reverse of [false, true]) assert.equal(drain(core, reader, reverse), []);
    expectCode("PGZ_INVALID_ARGUMENT", () => reader.key());
    reader.free();
  });

  test("round trips: one entry, exactly one interval, one more, interval 1, many blocks of sizes", () => {
    const cases: [number, number | undefined][] = [[1, undefined], [16, undefined], [17, undefined], [15, 1], [40, 1], [200, 16], [333, 7], [64, 64]];
    for (const [count, interval] of cases) {
      const entries = sampleEntries(count, count);
      const block = build(core, entries, interval);
      checkRoundTrip(core, block, entries, seekTargetsFor(entries));
    }
  });

  test("restart points: restart count and offsets follow the interval", () => {
    for (const [count, interval] of [[16, 16], [17, 16], [5, 1], [33, 4]] as const) {
      const block = build(core, sampleEntries(count, 3), interval);
      const view = new DataView(block.buffer, block.byteOffset);
      const restartCount = view.getUint32(block.length - 12, true);
      assert.is(restartCount, Math.ceil(count / interval));
      assert.is(view.getUint32(block.length - 8, true), count);
      assert.is(view.getUint32(block.length - 12 - restartCount * 4, true), 0);
    }
  });

  test("empty user keys and duplicate user keys with many versions (sequence descending)", () => {
    const entries: RunEntry[] = [];
    for (let sequence = 100; sequence > 0; sequence--) entries.push(entry("", sequence, `empty-${sequence}`, sequence % 3));
    for (let sequence = 300; sequence > 200; sequence--) entries.push(entry("dup", sequence, sequence % 2 ? "" : `v${sequence}`, sequence % 3));
    const sorted = sortEntries(entries);
    assert.is(sorted.length, entries.length);
    for (const interval of [1, 3, 16]) checkRoundTrip(core, build(core, sorted, interval), sorted, seekTargetsFor(sorted));
  });

  test("64 KiB keys and values (multi-byte varints) round trip", () => {
    const big = new Uint8Array(65536).fill(0x61);
    const bigger = big.slice();
    bigger[65535] = 0x62;
    const entries = [entry(big, 2, new Uint8Array(70000).fill(7)), entry(big, 1, "x"), entry(bigger, 9, new Uint8Array(300).fill(1)), entry("b", 1, "")];
    for (const interval of [1, 2, 16]) {
      const block = build(core, entries, interval);
      checkRoundTrip(core, block, entries, seekTargetsFor(entries));
      const reader = core.openBlock(block);
      assert.equal(drain(core, reader, false, 1), show(entries));
      assert.equal(drain(core, reader, true, 1), show(entries).reverse());
      reader.free();
    }
  });

  test("reverse iteration across restart points, mixing next and prev", () => {
    const entries = sampleEntries(50, 9);
    const expected = show(entries);
    const reader = core.openBlock(build(core, entries, 4));
    assert.ok(reader.seek(entries[37]!.key));
    for (let i = 37; i > 0; i--) {
      assert.ok(reader.prev());
      assert.is(current(reader), expected[i - 1]);
    }
    assert.is(reader.prev(), false);
    assert.is(reader.valid, false);
    assert.ok(reader.seek(entries[8]!.key)); // a restart entry with interval 4
    assert.ok(reader.prev());
    assert.is(current(reader), expected[7]);
    assert.ok(reader.next());
    assert.ok(reader.next());
    assert.is(current(reader), expected[9]);
    reader.free();
  });

  test("cursors: from the reader's position or from the ends, any target, in both directions", () => {
    const entries = sampleEntries(90, 4);
    const expected = show(entries);
    const reader = core.openBlock(build(core, entries, 5));
    for (const target of [undefined, 0, 1, 150, 1000, 1 << 20]) {
      assert.equal(drain(core, reader, false, target), expected);
      assert.equal(drain(core, reader, true, target), [...expected].reverse());
      for (const at of [0, 4, 5, 6, 44, 89]) {
        assert.ok(reader.seek(entries[at]!.key));
        assert.equal(drain(core, reader, false, target), expected.slice(at));
        assert.equal(drain(core, reader, true, target), expected.slice(0, at + 1).reverse());
        // A cursor has its own position: the reader has not moved.
        assert.is(current(reader), expected[at]);
      }
      reader.first();
      reader.prev();
      assert.is(reader.valid, false);
    }
    reader.free();
  });

  test("addFromRun: same bytes as add, stops at the target, takes at least one, resumes", () => {
    const entries = sampleEntries(300, 5);
    const run = core.newRun();
    run.appendEncoded(encodeRun(entries));
    for (const target of [0, 100, 1024, 4096, 1 << 20]) {
      const builder = core.newBlockBuilder(8);
      let from = 0;
      let taken = 0;
      while (from < entries.length) {
        const next = builder.addFromRun(run, from, target);
        assert.ok(next > from);
        assert.ok(next - from === 1 || builder.sizeEstimate <= target);
        assert.is(hex(builder.lastKey()), hex(entries[next - 1]!.key));
        const block = builder.finish();
        assert.is(builder.count, 0);
        assert.is(hex(block), hex(build(core, entries.slice(from, next), 8)));
        taken += next - from;
        from = next;
      }
      assert.is(taken, entries.length);
      assert.is(builder.addFromRun(run, entries.length, target), entries.length);
      builder.free();
    }
    // Continuing a block started with add(): shares prefixes across the two.
    const builder = core.newBlockBuilder();
    builder.add(entries[0]!.key, entries[0]!.value);
    assert.is(builder.addFromRun(run, 1, 1 << 30), entries.length);
    assert.is(hex(builder.finish()), hex(build(core, entries)));
    builder.free();
    run.free();
  });

  test("sizeEstimate is the finished length", () => {
    const builder = core.newBlockBuilder(3);
    for (const { key, value } of sampleEntries(20, 6)) {
      builder.add(key, value);
      const estimate = builder.sizeEstimate;
      const block = builder.finish();
      assert.is(block.length, estimate);
      builder.add(key, value); // the builder was reset: start over with the same entry
    }
    builder.free();
  });

  test("unsorted or equal keys: PGZ_INVALID_ARGUMENT before any change", () => {
    const entries = sampleEntries(30, 7);
    const builder = core.newBlockBuilder(4);
    for (const { key, value } of entries.slice(0, 10)) builder.add(key, value);
    const before = builder.sizeEstimate;
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.add(entries[9]!.key, bytes("again")));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.add(entries[3]!.key, bytes("earlier")));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.add(new Uint8Array(7), bytes("no trailer")));
    assert.is(builder.sizeEstimate, before);
    assert.is(builder.count, 10);
    // A run whose 15th entry goes backwards: nothing from it is taken.
    const bad = [...entries.slice(10, 25), entries[2]!, ...entries.slice(25)];
    const run = core.newRun();
    run.appendEncoded(encodeRun(bad));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.addFromRun(run, 0, 1 << 20));
    assert.is(builder.count, 10);
    assert.is(builder.sizeEstimate, before);
    assert.is(hex(builder.lastKey()), hex(entries[9]!.key));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.addFromRun(run, bad.length + 1, 100));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.addFromRun(run, -1, 100));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.addFromRun(run, 0, -5));
    for (const { key, value } of entries.slice(10)) builder.add(key, value);
    assert.is(hex(builder.finish()), hex(build(core, entries, 4)));
    expectCode("PGZ_INVALID_ARGUMENT", () => core.newBlockBuilder(0));
    const reader = core.openBlock(build(core, entries));
    expectCode("PGZ_INVALID_ARGUMENT", () => reader.seek(new Uint8Array(3)));
    expectCode("PGZ_INVALID_ARGUMENT", () => reader.get(new Uint8Array(7)));
    reader.free();
    run.free();
    builder.free();
  });

  test("use after free throws PGZ_INVALID_ARGUMENT; a cursor needs its reader alive", () => {
    const entries = sampleEntries(20, 8);
    const builder = core.newBlockBuilder();
    builder.free();
    builder.free();
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.add(entries[0]!.key, entries[0]!.value));
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.finish());
    expectCode("PGZ_INVALID_ARGUMENT", () => builder.count);
    const reader = core.openBlock(build(core, entries));
    const cursor = reader.cursor(false);
    const freedCursor = reader.cursor(true);
    freedCursor.free();
    const run = core.newRun();
    expectCode("PGZ_INVALID_ARGUMENT", () => freedCursor.fill(run));
    reader.first();
    reader.free();
    reader.free();
    for (const action of [() => reader.first(), () => reader.seek(entries[0]!.key), () => reader.get(entries[0]!.key), () => reader.key(), () => reader.valid, () => reader.count, () => reader.cursor(false)]) {
      expectCode("PGZ_INVALID_ARGUMENT", action);
    }
    expectCode("PGZ_INVALID_ARGUMENT", () => cursor.fill(run));
    cursor.free();
    run.free();
  });

  test("every flipped byte and every truncation of a small block is PGZ_CORRUPTION at open", () => {
    const entries = [entry("apple", 3, "red"), entry("apple", 2, ""), entry("apricot", 1, "orange", KIND_DELETE), entry("banana", 7, "yellow")];
    const block = build(core, entries, 2);
    for (let offset = 0; offset < block.length; offset++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const damaged = block.slice();
        damaged[offset]! ^= flip;
        expectCode("PGZ_CORRUPTION", () => core.openBlock(damaged), `flip ${flip} at ${offset}`);
      }
    }
    for (let length = 0; length < block.length; length++) {
      expectCode("PGZ_CORRUPTION", () => core.openBlock(block.subarray(0, length)), `truncated to ${length}`);
    }
    const error = (() => {
      const damaged = block.slice();
      damaged[0]! ^= 1;
      try {
        core.openBlock(damaged);
      } catch (caught) {
        return caught as PgzError;
      }
      return undefined;
    })();
    assert.is(error?.expected, new DataView(block.buffer, block.byteOffset).getUint32(block.length - 4, true));
    assert.is(error?.actual, referenceMaskedCrc(Uint8Array.from(block.subarray(0, block.length - 4), (b, i) => (i === 0 ? b ^ 1 : b))));
  });

  test("structurally bad blocks with a valid CRC: PGZ_CORRUPTION or a sound block, never a trap", () => {
    const entries = sampleEntries(12, 10);
    const block = build(core, entries, 3);
    let corrupt = 0;
    // Every byte set to a few values, then resealed: the structure checks alone must catch it.
    for (let offset = 0; offset < block.length - 4; offset++) {
      for (const value of [0x00, 0x01, 0x7f, 0x80, 0xff, block[offset]! + 1]) {
        const damaged = block.slice();
        damaged[offset] = value & 0xff;
        if (exercise(core, resealed(damaged)) === "corrupt") corrupt++;
      }
    }
    assert.ok(corrupt > 0);
    // Hand-made malformations.
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset);
    const withTrailer = (restarts: number[], restartCount: number, entryCount: number, body = new Uint8Array(0)) => {
      const out = new Uint8Array(body.length + restarts.length * 4 + 12);
      out.set(body);
      restarts.forEach((r, i) => view(out).setUint32(body.length + i * 4, r, true));
      view(out).setUint32(out.length - 12, restartCount, true);
      view(out).setUint32(out.length - 8, entryCount, true);
      return resealed(out);
    };
    const oneEntry = Uint8Array.from([0, 9, 1, ...bytes("k"), 1, 0, 0, 0, 0, 0, 0, 0, 0x76]);
    for (const bad of [
      withTrailer([], 0, 1),
      withTrailer([], 0xffff_ffff, 0),
      withTrailer([0], 1, 0),
      withTrailer([0], 1, 2, oneEntry),
      withTrailer([1], 1, 1, oneEntry),
      withTrailer([0, 0], 2, 2, oneEntry),
      withTrailer([0], 1, 1, Uint8Array.from([0, 3, 1, 1, 2, 3, 9])), // key shorter than a trailer
      withTrailer([0], 1, 1, Uint8Array.from([0, 0xff, 0xff, 0xff, 0xff, 0x7f, 0])), // varint overflows u32
      withTrailer([0], 1, 1, Uint8Array.from([0, 0x80])), // varint runs off the entries
      withTrailer([0], 1, 1, Uint8Array.from([1, 9, 1, ...bytes("k"), 1, 0, 0, 0, 0, 0, 0, 0, 0x76])), // shared at a restart
      withTrailer([0], 1, 1, Uint8Array.from([0, 9, 100, ...bytes("k"), 1, 0, 0, 0, 0, 0, 0, 0, 0x76])), // value past the end
    ]) {
      assert.is(exercise(core, bad), "corrupt", hex(bad));
    }
    // A sound block assembled by hand opens (non-minimal varints are tolerated consistently).
    assert.is(exercise(core, withTrailer([0], 1, 1, oneEntry)), "opened");
    // The instance is still healthy after all of that.
    checkRoundTrip(core, build(core, entries), entries);
  });

  test.run();
}

// ---------------------------------------------------------------------------------------------
// Differential: every core must write the same bytes and give the same answers.

const cores = coreFactories.map(([name, create]) => [name, create()] as const);

const entryArbitrary = fc.record({
  // A small alphabet gives long shared prefixes and many versions of one user key.
  userKey: fc.uint8Array({ minLength: 0, maxLength: 12, max: 3 }),
  sequence: fc.nat({ max: 1000 }),
  kind: fc.constantFrom(KIND_DELETE, KIND_VALUE, 2),
  valueLength: fc.oneof(fc.nat({ max: 20 }), fc.nat({ max: 400 })),
});

const differential = suite("block differential (fast-check)");

differential("random sorted entries: identical bytes, iteration, seeks and cursor runs on every core", () => {
  fc.assert(
    fc.property(
      fc.array(entryArbitrary, { maxLength: 120 }),
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.record({ userKey: fc.uint8Array({ maxLength: 12, max: 3 }), sequence: fc.nat({ max: 1000 }) }), { maxLength: 8 }),
      fc.nat({ max: 3000 }),
      (raw, interval, seeks, bytesTarget) => {
        const entries = sortEntries(raw.map((r) => entry(r.userKey, r.sequence, new Uint8Array(r.valueLength).fill(r.sequence & 0xff), r.kind)));
        const targets = seeks.map((s) => encodeInternalKey(s.userKey, s.sequence, KIND_SEEK));
        const answers = cores.map(([, core]) => {
          const block = build(core, entries, interval);
          const run = core.newRun();
          run.appendEncoded(encodeRun(entries));
          const builder = core.newBlockBuilder(interval);
          const blocks: string[] = [];
          for (let from = 0; from < entries.length; ) {
            from = builder.addFromRun(run, from, bytesTarget);
            blocks.push(hex(builder.finish()));
          }
          builder.free();
          run.free();
          checkRoundTrip(core, block, entries, targets);
          const reader = core.openBlock(block);
          const seen = targets.map((t) => (reader.seek(t) ? current(reader) : "end"));
          const hits = targets.map((t) => {
            const hit = reader.get(t);
            return hit ? `${hit.kind}/${hit.sequence}/${hex(hit.value)}` : "none";
          });
          const cursors = [drain(core, reader, false, bytesTarget), drain(core, reader, true, bytesTarget)];
          reader.free();
          return JSON.stringify({ block: hex(block), blocks, seen, hits, cursors });
        });
        for (let i = 1; i < answers.length; i++) assert.is(answers[i], answers[0], `${cores[i]![0]} differs from ${cores[0]![0]}`);
      },
    ),
    { numRuns: 150 },
  );
});

differential("random bytes as a block: every core agrees on corrupt or not, and nothing traps", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (body, reseal) => {
      const block = reseal ? resealed(Uint8Array.from([...body, 0, 0, 0, 0])) : body;
      const outcomes = cores.map(([, core]) => exercise(core, block));
      for (const outcome of outcomes) assert.is(outcome, outcomes[0]);
    }),
    { numRuns: 500 },
  );
});

differential.run();
