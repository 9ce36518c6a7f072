/**
 * Table lookups (Core.openTableLookup, Core.newPointKey, Core.newPointBatch): one call per
 * table probe, or per table for a whole batch. Every core answers as a model of the table
 * does, and the cores answer alike, code for code, on the same tables, whichever blocks are
 * cached; hostile filter and index bytes are PGZ_CORRUPTION (or, with a valid CRC, a lookup
 * that answers without trapping, as the debug build's asserts check).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, LOOKUP_ABSENT, LOOKUP_BLOCK_SHIFT, LOOKUP_FOUND, lookupBlockNeeded, type BlockReader, type Core, type TableLookup } from "../ts/core/types.ts";
import { compareInternalKeys, encodeInternalKey } from "../ts/core/entry.ts";
import { PgzError } from "../ts/errors.ts";
import { coreFactories, expectCode, random, throwsInvalid } from "./helpers.ts";

interface Entry {
  userKey: Uint8Array;
  sequence: number;
  kind: number;
  value: Uint8Array;
}

interface TableBytes {
  entries: Entry[];
  blocks: Uint8Array[];
  index: Uint8Array;
  filter: Uint8Array;
}

const cores: Array<[string, Core]> = coreFactories.map(([name, create]) => [name, create()]);
const reference = cores[0]![1];

/** Bytes of the keys' tails: 0 and 0xff too, so "ab" and "ab\0" both occur and pad alike. */
const KEY_BYTES = [0x00, 0x61, 0x62, 0xff];

/**
 * User keys sharing a prefix (so the fences' and blocks' shared bytes matter), of several
 * lengths: up to 8 bytes after what a block's keys share (a point index decides) and more
 * (it cannot, and the block is searched as a seek does).
 */
function userKeyOf(next: () => number, prefix: string): Uint8Array {
  const length = Math.floor(next() * 12);
  const tail = Array.from({ length }, () => KEY_BYTES[Math.floor(next() * KEY_BYTES.length)]!);
  return Uint8Array.from([...new TextEncoder().encode(prefix), ...tail]);
}

/** A table's entries (versions of random keys), its data blocks, index block and filter. */
function buildTable(core: Core, seed: number, prefix: string): TableBytes {
  const next = random(seed);
  const entries: Entry[] = [];
  let sequence = 1;
  for (let i = 0; i < 400; i++) {
    const kind = [KIND_VALUE, KIND_VALUE, KIND_DELETE, KIND_POINTER][Math.floor(next() * 4)]!;
    const value = kind === KIND_DELETE ? new Uint8Array(0) : Uint8Array.from({ length: Math.floor(next() * 40) }, () => Math.floor(next() * 256));
    entries.push({ userKey: userKeyOf(next, prefix), sequence: sequence++, kind, value });
  }
  const internal = (entry: Entry) => encodeInternalKey(entry.userKey, entry.sequence, entry.kind);
  entries.sort((a, b) => compareInternalKeys(internal(a), internal(b)));
  const blocks: Uint8Array[] = [];
  const dataBuilder = core.newBlockBuilder();
  const indexBuilder = core.newBlockBuilder();
  const bloom = core.newBloomBuilder();
  const perBlock = 1 + Math.floor(next() * 30);
  entries.forEach((entry, position) => {
    dataBuilder.add(internal(entry), entry.value);
    bloom.add(entry.userKey);
    if (dataBuilder.count === perBlock || position === entries.length - 1) {
      const last = dataBuilder.lastKey();
      blocks.push(dataBuilder.finish());
      indexBuilder.add(last, Uint8Array.of(blocks.length));
    }
  });
  const table = { entries, blocks, index: indexBuilder.finish(), filter: bloom.finish(10) };
  for (const builder of [dataBuilder, indexBuilder, bloom]) builder.free();
  return table;
}

/** What the table holds for `userKey` at `sequence`: the newest version not after it. */
function modelGet(entries: readonly Entry[], userKey: Uint8Array, sequence: number): Entry | undefined {
  let best: Entry | undefined;
  for (const entry of entries) {
    if (Buffer.compare(entry.userKey, userKey) !== 0 || entry.sequence > sequence) continue;
    if (!best || entry.sequence > best.sequence) best = entry;
  }
  return best;
}

/** A lookup of `table` with every data block's reader in its slot (free both when done). */
function openWithEveryBlock(core: Core, table: TableBytes): { lookup: TableLookup; readers: BlockReader[] } {
  const lookup = core.openTableLookup(table.filter, table.index);
  const readers = table.blocks.map((block, index) => {
    const reader = core.openBlock(block);
    lookup.setBlock(index, reader);
    return reader;
  });
  return { lookup, readers };
}

/**
 * Asks the lookup as a Table does (reading a block it names, then asking again) and records each
 * code and the hit, so two cores can be compared answer by answer.
 */
function ask(core: Core, lookup: TableLookup, table: TableBytes, readers: (BlockReader | undefined)[], userKey: Uint8Array, sequence: number): string {
  const key = core.newPointKey();
  key.set(userKey, sequence);
  let result = lookup.get(key);
  const codes = [result];
  if (result < LOOKUP_ABSENT) {
    const index = lookupBlockNeeded(result);
    readers[index] = core.openBlock(table.blocks[index]!);
    lookup.setBlock(index, readers[index]);
    result = lookup.get(key);
    codes.push(result);
    assert.ok(result >= LOOKUP_ABSENT, "a block just set is searched");
  }
  key.free();
  if (result < 0 || (result & LOOKUP_FOUND) === 0) return codes.join(",");
  const hit = lookup.hit(result & 0xff);
  return `${codes.join(",")} ${hit.kind} ${hit.sequence} ${Buffer.from(hit.value).toString("hex")}`;
}

/** Every core's answers to the same queries on the same table, with the blocks cached at random. */
function answers(core: Core, table: TableBytes, seed: number): string[] {
  const next = random(seed);
  const lookup = core.openTableLookup(table.filter, table.index);
  assert.is(lookup.blockCount, table.blocks.length);
  const readers: (BlockReader | undefined)[] = table.blocks.map(() => undefined);
  table.blocks.forEach((block, index) => {
    if (next() < 0.5) return;
    readers[index] = core.openBlock(block);
    lookup.setBlock(index, readers[index]);
  });
  const results: string[] = [];
  for (let i = 0; i < 600; i++) {
    const known = table.entries[Math.floor(next() * table.entries.length)]!;
    const userKey = next() < 0.7 ? known.userKey : userKeyOf(next, "k");
    const sequence = Math.floor(next() * 500);
    const answer = ask(core, lookup, table, readers, userKey, sequence);
    const expected = modelGet(table.entries, userKey, sequence);
    if (expected) assert.ok(answer.endsWith(` ${expected.kind} ${expected.sequence} ${Buffer.from(expected.value).toString("hex")}`), `${core.name}: ${answer}`);
    else assert.not.ok(answer.includes(" "), `${core.name}: found a key the table does not hold: ${answer}`);
    // Evicting now and then, as the block cache does: the slot is emptied before the reader goes.
    const evicted = Math.floor(next() * table.blocks.length);
    if (next() < 0.1 && readers[evicted]) {
      lookup.setBlock(evicted, undefined);
      readers[evicted]!.free();
      readers[evicted] = undefined;
    }
    results.push(answer);
  }
  lookup.free();
  for (const reader of readers) reader?.free();
  return results;
}

test("every core answers as the model, and the cores answer alike, code for code", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const table = buildTable(reference, seed, seed % 2 === 0 ? "k" : "key-with-a-long-shared-prefix/");
    const expected = answers(reference, table, seed);
    for (const [name, core] of cores.slice(1)) assert.equal(answers(core, table, seed), expected, `seed ${seed}, core ${name}`);
  }
});

/**
 * A batch asked of the table as ts/lsm/read.ts asks it: in a few ranges of slots, hits read
 * after each call, the blocks named loaded (and now and then another evicted), then asked
 * again. Returns each slot's answer (its hit, or "-") and each call's found and needed lists.
 */
function batchAnswers(core: Core, table: TableBytes, keys: Uint8Array[], sequence: number, seed: number): { slots: string[]; calls: string[] } {
  const next = random(seed);
  const lookup = core.openTableLookup(table.filter, table.index);
  const readers: (BlockReader | undefined)[] = table.blocks.map(() => undefined);
  const setBlock = (index: number, reader: BlockReader | undefined) => {
    lookup.setBlock(index, reader);
    readers[index]?.free();
    readers[index] = reader;
  };
  table.blocks.forEach((block, index) => next() < 0.5 && setBlock(index, core.openBlock(block)));
  const batch = core.newPointBatch();
  batch.set(keys, keys.map((_, index) => keys.length - 1 - index), keys.length, sequence);
  const slots = keys.map(() => "-");
  const calls: string[] = [];
  const cuts = [0, Math.floor(next() * keys.length), keys.length].sort((a, b) => a - b);
  for (let range = 0; range < 2; range++) {
    for (let retry = false; ; retry = true) {
      lookup.getMany(batch, cuts[range]!, cuts[range + 1]!, retry);
      const found = Array.from({ length: batch.foundCount }, (_, i) => batch.foundSlot(i));
      for (const slot of found) {
        const hit = batch.hit(slot);
        slots[slot] = `${hit.kind} ${hit.sequence} ${Buffer.from(hit.value).toString("hex")} block ${batch.hitBlock(slot)}`;
      }
      const needed = Array.from({ length: batch.neededCount }, (_, i) => batch.neededBlock(i));
      calls.push(`found ${found.join(",")} needed ${needed.join(",")}`);
      if (needed.length === 0) break;
      for (const index of needed) if (!readers[index]) setBlock(index, core.openBlock(table.blocks[index]!));
      const evicted = Math.floor(next() * table.blocks.length);
      if (next() < 0.3 && !needed.includes(evicted)) setBlock(evicted, undefined);
    }
  }
  batch.free();
  lookup.free();
  for (const reader of readers) reader?.free();
  return { slots, calls };
}

test("getMany answers each slot as the model, and the cores answer alike, call for call", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const table = buildTable(reference, seed, seed % 2 === 0 ? "k" : "key-with-a-long-shared-prefix/");
    const next = random(seed + 100);
    // Known keys, absent ones and repeats; slot i holds keys[length - 1 - i] (the order given).
    const keys = Array.from({ length: 300 }, () => (next() < 0.7 ? table.entries[Math.floor(next() * table.entries.length)]!.userKey : userKeyOf(next, "k")));
    for (let i = 0; i < 20; i++) keys.push(keys[Math.floor(next() * keys.length)]!);
    const sequence = Math.floor(next() * 500);
    const expected = batchAnswers(reference, table, keys, sequence, seed);
    expected.slots.forEach((answer, slot) => {
      const want = modelGet(table.entries, keys[keys.length - 1 - slot]!, sequence);
      if (want) assert.ok(answer.startsWith(`${want.kind} ${want.sequence} ${Buffer.from(want.value).toString("hex")} block `), `seed ${seed} slot ${slot}: ${answer}`);
      else assert.is(answer, "-", `seed ${seed} slot ${slot}`);
    });
    assert.ok(expected.calls.length > 2, `seed ${seed}: some blocks were loaded and asked again`);
    for (const [name, core] of cores.slice(1)) assert.equal(batchAnswers(core, table, keys, sequence, seed), expected, `seed ${seed}, core ${name}`);
  }
});

test("a point batch: misuse is PGZ_INVALID_ARGUMENT, and set() starts it afresh", () => {
  for (const [name, core] of cores) {
    const other = cores.find(([, candidate]) => candidate.name !== core.name)![1];
    const table = buildTable(core, 71, "k");
    const { lookup, readers } = openWithEveryBlock(core, table);
    const batch = core.newPointBatch();
    const keys = table.entries.slice(0, 5).map((entry) => entry.userKey);
    batch.set(keys, [0, 1, 2, 3, 4], 5, 1000);
    throwsInvalid(() => lookup.getMany(batch, 0, 6, false), `${name}: a range past the batch`);
    throwsInvalid(() => lookup.getMany(batch, 3, 2, false), `${name}: an empty range backwards`);
    throwsInvalid(() => lookup.getMany(other.newPointBatch(), 0, 0, false), `${name}: another core's batch`);
    lookup.getMany(batch, 0, 5, false);
    assert.is(batch.foundCount, 5, `${name}: every key found`);
    throwsInvalid(() => batch.foundSlot(5), `${name}: a found slot past the list`);
    throwsInvalid(() => batch.neededBlock(0), `${name}: a needed slot of an empty list`);
    throwsInvalid(() => batch.hit(7), `${name}: a slot past the batch`);
    throwsInvalid(() => batch.set(keys, [0, 1], 3, 1000), `${name}: a count past the order`);
    throwsInvalid(() => batch.set([5 as unknown as Uint8Array], [0], 1, 1000), `${name}: a key that is not bytes`);
    throwsInvalid(() => batch.set(keys, [0], 1, -1), `${name}: a negative sequence`);
    // Found slots are skipped; set() makes them pending again.
    lookup.getMany(batch, 0, 5, false);
    assert.is(batch.foundCount, 0, `${name}: found slots are not asked again`);
    batch.set(keys, [4, 3], 2, 1000);
    lookup.getMany(batch, 0, 2, false);
    assert.equal([batch.foundSlot(0), batch.foundSlot(1)], [0, 1], `${name}: after set(), both slots asked`);
    assert.equal(Buffer.from(batch.hit(0).value), Buffer.from(modelGet(table.entries, keys[4]!, 1000)!.value), `${name}: slot 0 is keys[order[0]]`);
    batch.free();
    throwsInvalid(() => batch.set(keys, [0], 1, 1), `${name}: a freed batch`);
    throwsInvalid(() => lookup.getMany(batch, 0, 0, false), `${name}: getMany with a freed batch`);
    lookup.free();
    for (const reader of readers) reader.free();
  }
});

test("a point key keeps its hash across tables and drops it on set(): each table's filter passes its own keys", () => {
  for (const [name, core] of cores) {
    const first = buildTable(core, 11, "k");
    const second = buildTable(core, 12, "k");
    const lookups = [first, second].map((table) => core.openTableLookup(table.filter, table.index));
    const key = core.newPointKey();
    const next = random(13);
    for (const entry of second.entries.slice(0, 50)) {
      // A key neither table holds is hashed first: a hash kept past set() would fail the next one.
      key.set(userKeyOf(next, "absent/"), entry.sequence);
      for (const lookup of lookups) lookup.get(key);
      key.set(entry.userKey, entry.sequence);
      lookups[0]!.get(key);
      assert.ok(lookups[1]!.get(key) !== LOOKUP_ABSENT, `${name}: the second table's filter passes its own key`);
    }
    key.free();
    for (const lookup of lookups) lookup.free();
  }
});

test("a filter with more than 30 probes matches everything; an empty index finds nothing", () => {
  for (const [name, core] of cores) {
    const table = buildTable(core, 21, "k");
    const filter = table.filter.slice();
    filter[filter.length - 1] = 31;
    const lookup = core.openTableLookup(filter, table.index);
    const key = core.newPointKey();
    key.set(new TextEncoder().encode("zzz-not-there"), 1000);
    assert.is(lookup.get(key), LOOKUP_ABSENT, `${name}: past the last fence`);
    key.set(table.entries[0]!.userKey, 1000);
    assert.ok(lookup.get(key) < LOOKUP_ABSENT, `${name}: the first block is named`);
    lookup.free();
    const emptyIndex = core.newBlockBuilder();
    const empty = core.openTableLookup(table.filter, emptyIndex.finish());
    emptyIndex.free();
    assert.is(empty.blockCount, 0);
    assert.is(empty.get(key), LOOKUP_ABSENT, `${name}: an empty index`);
    empty.free();
    key.free();
  }
});

/** The index block with its entry bytes changed at `at` and its CRC made right again. */
function withValidCrc(index: Uint8Array, at: number, value: number): Uint8Array {
  const changed = index.slice();
  changed[at] = value;
  const masked = reference.crc32cMask(reference.crc32c(changed.subarray(0, changed.length - 4)));
  new DataView(changed.buffer).setUint32(changed.length - 4, masked, true);
  return changed;
}

test("hostile filter and index bytes are PGZ_CORRUPTION, never a trap", () => {
  for (const [name, core] of cores) {
    const table = buildTable(core, 31, "k");
    expectCode("PGZ_CORRUPTION", () => core.openTableLookup(Uint8Array.of(7), table.index), `${name}: a 1-byte filter`);
    expectCode("PGZ_CORRUPTION", () => core.openTableLookup(new Uint8Array(65).fill(0xff, 0, 64), table.index), `${name}: k = 0`);
    // Format 5 filters are whole 64-byte lines and k: a format-4 (LevelDB) filter's lengths are not.
    for (const length of [2, 64, 66, 130, table.filter.length - 1, table.filter.length + 1]) {
      const filter = new Uint8Array(length).fill(0xff);
      filter[length - 1] = 6;
      expectCode("PGZ_CORRUPTION", () => core.openTableLookup(filter, table.index), `${name}: a filter of ${length} bytes`);
    }
    expectCode("PGZ_CORRUPTION", () => core.openTableLookup(table.filter, table.index.subarray(0, 5)), `${name}: a truncated index`);
    const flipped = table.index.slice();
    flipped[3]! ^= 0x40;
    expectCode("PGZ_CORRUPTION", () => core.openTableLookup(table.filter, flipped), `${name}: an index with a bad CRC`);
  }
});

test("an index with a valid CRC and any bytes: the cores agree (corruption, or the same answers) and never trap", () => {
  const table = buildTable(reference, 41, "k");
  const next = random(41);
  for (let trial = 0; trial < 300; trial++) {
    const at = Math.floor(next() * (table.index.length - 4));
    const index = withValidCrc(table.index, at, Math.floor(next() * 256));
    const outcomes = cores.map(([, core]) => {
      try {
        const lookup = core.openTableLookup(table.filter, index);
        const key = core.newPointKey();
        const codes = table.entries.slice(0, 40).map((entry) => {
          key.set(entry.userKey, entry.sequence);
          return lookup.get(key);
        });
        key.free();
        lookup.free();
        return codes.join(",");
      } catch (error) {
        const corrupt = error instanceof PgzError && error.code === "PGZ_CORRUPTION" && !/aborted|poisoned/.test(error.message);
        assert.ok(corrupt, `trial ${trial}: ${String(error)}`);
        return "corruption";
      }
    });
    for (const [position, outcome] of outcomes.entries()) assert.is(outcome, outcomes[0], `trial ${trial} (byte ${at}): ${cores[position]![0]}`);
  }
});

test("misuse is PGZ_INVALID_ARGUMENT: slots outside the table, another core's reader or key, use after free", () => {
  for (const [name, core] of cores) {
    const other = cores.find(([, candidate]) => candidate !== core && candidate.name !== core.name)![1];
    const table = buildTable(core, 51, "k");
    const lookup = core.openTableLookup(table.filter, table.index);
    const reader = core.openBlock(table.blocks[0]!);
    const foreign = other.openBlock(table.blocks[0]!);
    throwsInvalid(() => lookup.setBlock(table.blocks.length, reader), `${name}: a slot past the end`);
    throwsInvalid(() => lookup.setBlock(-1, reader), `${name}: a negative slot`);
    throwsInvalid(() => lookup.setBlock(0, foreign), `${name}: another core's reader`);
    throwsInvalid(() => lookup.get(other.newPointKey()), `${name}: another core's point key`);
    const key = core.newPointKey();
    throwsInvalid(() => key.set(new TextEncoder().encode("k"), -1), `${name}: a negative sequence`);
    key.free();
    throwsInvalid(() => key.set(new TextEncoder().encode("k"), 1), `${name}: a freed point key`);
    throwsInvalid(() => lookup.get(key), `${name}: get with a freed point key`);
    lookup.free();
    throwsInvalid(() => lookup.setBlock(0, reader), `${name}: a freed lookup`);
    reader.free();
    foreign.free();
  }
});

test("the found entry's kind and block come back in the result's fields", () => {
  for (const [name, core] of cores) {
    const table = buildTable(core, 61, "k");
    const { lookup, readers } = openWithEveryBlock(core, table);
    const key = core.newPointKey();
    // The last entry: the oldest version of the largest user key, visible at its own sequence.
    const last = table.entries[table.entries.length - 1]!;
    key.set(last.userKey, last.sequence);
    const result = lookup.get(key);
    assert.ok(result >= 0 && (result & LOOKUP_FOUND) !== 0, `${name}: found`);
    assert.is(result >>> LOOKUP_BLOCK_SHIFT, table.blocks.length - 1, `${name}: in the last block`);
    assert.is(result & 0xff, last.kind, `${name}: its kind`);
    assert.is(lookup.hit(last.kind).sequence, last.sequence, `${name}: its sequence`);
    key.free();
    lookup.free();
    for (const reader of readers) reader.free();
  }
});

test("hit() refills one Hit per lookup, and each value it hands out is a copy no later hit touches", () => {
  for (const [name, core] of cores) {
    const table = buildTable(core, 71, "k");
    const { lookup, readers } = openWithEveryBlock(core, table);
    const key = core.newPointKey();
    const found: { entry: Entry; value: Uint8Array }[] = [];
    const hits = new Set<object>();
    for (const entry of table.entries.filter((candidate) => candidate.kind !== KIND_DELETE)) {
      key.set(entry.userKey, entry.sequence);
      const result = lookup.get(key);
      assert.ok(result >= 0 && (result & LOOKUP_FOUND) !== 0, `${name}: found`);
      const hit = lookup.hit(result & 0xff);
      assert.is(hit.sequence, entry.sequence, `${name}: its sequence`);
      // Keys of at most 8 bytes past "k" are decided by the block's point index: its hits reuse one object.
      if (entry.userKey.length <= 9) hits.add(hit);
      found.push({ entry, value: hit.value });
    }
    assert.ok(found.length >= 20, `${name}: ${found.length} entries found`);
    assert.is(hits.size, 1, `${name}: one Hit object`);
    for (const { entry, value } of found) assert.equal(value, entry.value, `${name}: a value kept its bytes`);
    found[0]!.value.fill(0xee);
    key.set(found[1]!.entry.userKey, found[1]!.entry.sequence);
    assert.equal(lookup.hit(lookup.get(key) & 0xff).value, found[1]!.entry.value, `${name}: a caller's change stays in its copy`);
    key.free();
    lookup.free();
    for (const reader of readers) reader.free();
  }
});

test.run();
