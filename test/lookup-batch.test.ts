/**
 * The memtable's turn of a batch lookup (Memtable.getMany over a point batch's slots, the wasm
 * core's searches interleaved) and PointBatch.copyFound (what a call found, by the caller's
 * index, with no Hit per key): every slot answered as Memtable.get answers its key, on every
 * core, and the cores alike, slot for slot and value for value.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE, type Core, type Memtable, type PointResults } from "../ts/core/types.ts";
import { encodeRun, type UserKeyRunEntry } from "../ts/core/entry.ts";
import { coreFactories, random, throwsInvalid } from "./helpers.ts";

const cores: Array<[string, Core]> = coreFactories.map(([name, create]) => [name, create()]);

/** Tails of 0, "a", "b" and 0xff: "ab" and "ab\0" both occur, and keys of equal prefixes differ late. */
const KEY_BYTES = [0x00, 0x61, 0x62, 0xff];

function userKeyOf(next: () => number): Uint8Array {
  const length = Math.floor(next() * 12);
  return Uint8Array.from([0x6b, ...Array.from({ length }, () => KEY_BYTES[Math.floor(next() * KEY_BYTES.length)]!)]);
}

/** A memtable of `count` versions of random keys (values, tombstones, value pointers), sequences 1..count. */
function buildMemtable(core: Core, seed: number, count: number): { memtable: Memtable; keys: Uint8Array[] } {
  const next = random(seed);
  const memtable = core.newMemtable();
  const keys: Uint8Array[] = [];
  const entries: UserKeyRunEntry[] = [];
  for (let sequence = 1; sequence <= count; sequence++) {
    // Every third write is a new version of a key written before.
    const key = keys.length > 0 && next() < 0.33 ? keys[Math.floor(next() * keys.length)]! : userKeyOf(next);
    keys.push(key);
    const kind = [KIND_VALUE, KIND_VALUE, KIND_DELETE, KIND_POINTER][Math.floor(next() * 4)]!;
    const value = kind === KIND_DELETE ? new Uint8Array(0) : Uint8Array.from({ length: Math.floor(next() * 40) }, () => Math.floor(next() * 256));
    entries.push({ key, sequence, kind, value });
  }
  for (let from = 0; from < entries.length; from += 100) memtable.insert(encodeRun(entries.slice(from, from + 100)));
  return { memtable, keys };
}

const shown = (value: Uint8Array | undefined) => (value === undefined ? "-" : Buffer.from(value).toString("hex"));

/**
 * The batch's slots asked of the memtable in two ranges, each found slot's hit and the results
 * copyFound wrote (by the caller's index: slot i is keys[count - 1 - i]).
 */
function memtableAnswers(core: Core, memtable: Memtable, keys: Uint8Array[], sequence: number, cut: number): { slots: string[]; results: string[] } {
  const batch = core.newPointBatch();
  const order = keys.map((_, index) => keys.length - 1 - index);
  batch.set(keys, order, keys.length, sequence);
  const slots = keys.map(() => "-");
  const results: PointResults = { values: keys.map(() => undefined), pointerKeys: [], pointerSequences: [] };
  for (const [from, to] of [[0, cut], [cut, keys.length], [0, keys.length]] as const) {
    memtable.getMany(batch, from, to);
    assert.is(batch.neededCount, 0, `${core.name}: a memtable needs no block`);
    for (let i = 0; i < batch.foundCount; i++) {
      const slot = batch.foundSlot(i);
      assert.ok(slot >= from && slot < to, `${core.name}: slot ${slot} found in [${from}, ${to})`);
      const hit = batch.hit(slot);
      slots[slot] = `${hit.kind} ${hit.sequence} ${shown(hit.value)}`;
    }
    batch.copyFound(order, results);
  }
  batch.free();
  // The found list is in the order searches ended (interleaved in the wasm core): pointers are compared as a set.
  const pointers = results.pointerKeys.map((index, i) => `${index}@${results.pointerSequences[i]}`).sort();
  return { slots, results: [...results.values.map(shown), ...pointers] };
}

test("Memtable.getMany answers each slot as Memtable.get, and the cores alike, value for value", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = random(seed + 50);
    const built = cores.map(([, core]) => buildMemtable(core, seed, 2000));
    const known = built[0]!.keys;
    // Known keys, absent ones, and repeats: more slots than the lanes, in several rounds.
    const keys = Array.from({ length: 700 }, () => (next() < 0.7 ? known[Math.floor(next() * known.length)]! : userKeyOf(next)));
    for (let i = 0; i < 40; i++) keys.push(keys[Math.floor(next() * keys.length)]!);
    // Keys outside the bytes every key shares ("k"), whose link prefixes are 0 or all ones, and the empty key.
    keys.push(new Uint8Array(0), Uint8Array.of(0x00, 0x6b), Uint8Array.of(0x6a, 0xff), Uint8Array.of(0x6c), Uint8Array.of(0xff, 0xff, 0xff));
    const sequence = 1 + Math.floor(next() * 2000);
    const cut = Math.floor(next() * keys.length);
    const answers = cores.map(([, core], index) => memtableAnswers(core, built[index]!.memtable, keys, sequence, cut));
    const memtable = built[0]!.memtable;
    answers[0]!.slots.forEach((answer, slot) => {
      const hit = memtable.get(keys[keys.length - 1 - slot]!, sequence);
      assert.is(answer, hit === undefined ? "-" : `${hit.kind} ${hit.sequence} ${shown(hit.value)}`, `seed ${seed} slot ${slot}`);
    });
    keys.forEach((key, index) => {
      const hit = memtable.get(key, sequence);
      const value = hit === undefined || hit.kind === KIND_DELETE ? "-" : shown(hit.value);
      assert.is(answers[0]!.results[index], value, `seed ${seed} key ${index}: copyFound wrote its value by the caller's index`);
    });
    const pointerCount = keys.filter((key) => memtable.get(key, sequence)?.kind === KIND_POINTER).length;
    assert.is(answers[0]!.results.length, keys.length + pointerCount, `seed ${seed}: every pointer listed once`);
    assert.ok(pointerCount > 0 && answers[0]!.slots.some((answer) => answer.startsWith(`${KIND_DELETE} `)), `seed ${seed}: pointers and tombstones met`);
    for (const [index, [name]] of cores.entries()) assert.equal(answers[index], answers[0], `seed ${seed}, core ${name} against ${cores[0]![0]}`);
    for (const each of built) each.memtable.free();
  }
});

test("Memtable.getMany: an empty memtable and an empty batch find nothing; misuse is PGZ_INVALID_ARGUMENT", () => {
  for (const [name, core] of cores) {
    const other = cores.find(([, candidate]) => candidate.name !== core.name)![1];
    const empty = core.newMemtable();
    const batch = core.newPointBatch();
    batch.set([Uint8Array.of(1)], [0], 1, 5);
    empty.getMany(batch, 0, 1);
    assert.is(batch.foundCount, 0, `${name}: an empty memtable finds nothing`);
    batch.set([], [], 0, 5);
    empty.getMany(batch, 0, 0);
    assert.is(batch.foundCount, 0, `${name}: an empty batch`);
    const { memtable } = buildMemtable(core, 9, 50);
    batch.set([Uint8Array.of(1)], [0], 1, 5);
    throwsInvalid(() => memtable.getMany(batch, 0, 2), `${name}: a range past the batch`);
    throwsInvalid(() => memtable.getMany(batch, 1, 0), `${name}: a range backwards`);
    throwsInvalid(() => memtable.getMany(other.newPointBatch(), 0, 0), `${name}: another core's batch`);
    batch.free();
    throwsInvalid(() => memtable.getMany(batch, 0, 0), `${name}: a freed batch`);
    memtable.free();
    throwsInvalid(() => memtable.getMany(core.newPointBatch(), 0, 0), `${name}: a freed memtable`);
    empty.free();
  }
});

test.run();
