/**
 * Transactions (ts/api/txn.ts): the anomalies optimistic validation must prevent (lost update,
 * write skew, phantoms), reads of a transaction's own writes, a model-checked property test of
 * random interleavings (every successful commit must be serializable in commit order), flush,
 * compaction and crash, the size limit, use after the end, and db.transaction's retries.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { cpSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DB, PgzError, Transaction } from "../ts/index.ts";
import { recentWriteCount } from "../ts/api/db.ts";
import { TRANSACTION_BYTES_MAX_DEFAULT } from "../ts/api/txn.ts";
import { VALUE_BYTES_MAX } from "../ts/format.ts";
import { engineCores, random, removeDirectory, temporaryDirectory, text, expectCode } from "./helpers.ts";

async function expectRejection(code: string, promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, PgzError, `expected a PgzError, got ${String(error)}`);
    assert.is((error as PgzError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** Opens a fresh database on `core`, runs `body`, closes and removes it. */
async function withDatabase(core: (typeof engineCores)[number], body: (db: DB, directory: string) => void | Promise<void>, options = {}): Promise<void> {
  const directory = temporaryDirectory("pgz-txn");
  const db = DB.open(directory, { core, autoGc: false, ...options });
  try {
    await body(db, directory);
  } finally {
    db.close();
    removeDirectory(directory);
  }
}

const pairs = (iterator: Iterable<[Uint8Array, Uint8Array]>) => [...iterator].map(([key, value]) => `${text(key)}=${text(value)}`);
const keysOf = (iterator: Iterable<[Uint8Array, Uint8Array]>) => [...iterator].map(([key]) => text(key)!);

for (const core of engineCores) {
  test(`${core}: lost update is prevented: the later read-modify-write committer conflicts`, () =>
    withDatabase(core, (db) => {
      db.put("counter", "10");
      const first = db.begin();
      const second = db.begin();
      const firstValue = Number(text(first.get("counter")));
      const secondValue = Number(text(second.get("counter")));
      first.put("counter", String(firstValue + 1));
      second.put("counter", String(secondValue + 5));
      first.commit();
      expectCode("PGZ_CONFLICT", () => second.commit(), undefined, /"counter"/);
      assert.is(text(db.get("counter")), "11");
      assert.is(second.state, "aborted");
      assert.is(db.stats().snapshots, 0);
    }));

  test(`${core}: write skew is prevented: two transactions read both keys and each writes one`, () =>
    withDatabase(core, (db) => {
      // Invariant: at least one doctor stays on call.
      db.batch([
        { type: "put", key: "oncall:alice", value: "yes" },
        { type: "put", key: "oncall:bob", value: "yes" },
      ]);
      const alice = db.begin();
      const bob = db.begin();
      for (const transaction of [alice, bob]) {
        assert.is(text(transaction.get("oncall:alice")), "yes");
        assert.is(text(transaction.get("oncall:bob")), "yes");
      }
      alice.put("oncall:alice", "no");
      bob.put("oncall:bob", "no");
      alice.commit();
      expectCode("PGZ_CONFLICT", () => bob.commit());
      assert.equal(pairs(db.iterate({ prefix: "oncall:" })), ["oncall:alice=no", "oncall:bob=yes"]);
    }));

  test(`${core}: a key read as missing conflicts when another commit creates it`, () =>
    withDatabase(core, (db) => {
      const reader = db.begin();
      assert.is(reader.get("username:ada"), undefined);
      reader.put("username:ada", "reader");
      db.put("username:ada", "someone else");
      expectCode("PGZ_CONFLICT", () => reader.commit());
      assert.is(text(db.get("username:ada")), "someone else");
    }));

  test(`${core}: read-only transactions never conflict, and keep reading their snapshot`, () =>
    withDatabase(core, (db) => {
      db.batch([
        { type: "put", key: "a", value: "1" },
        { type: "put", key: "b", value: "2" },
      ]);
      const reader = db.begin();
      assert.is(text(reader.get("a")), "1");
      assert.equal(pairs(reader.iterate()), ["a=1", "b=2"]);
      const writer = db.begin();
      writer.put("a", "changed");
      writer.put("aa", "phantom");
      writer.commit();
      db.delete("b");
      assert.is(text(reader.get("a")), "1");
      assert.is(text(reader.get("b")), "2");
      assert.equal(pairs(reader.iterate()), ["a=1", "b=2"]);
      reader.commit();
      assert.is(reader.state, "committed");
      assert.equal(pairs(db.iterate()), ["a=changed", "aa=phantom"]);
    }));

  test(`${core}: a phantom in an iterated range conflicts (from a transaction or a plain put); a write outside does not`, () =>
    withDatabase(core, (db) => {
      db.batch(["user:1", "user:2", "zeta"].map((key) => ({ type: "put" as const, key, value: "v" })));
      const insertions: [string, (key: string) => void, boolean][] = [
        ["user:15", (key) => db.put(key, "plain"), true],
        ["user:3", (key) => {
          const other = db.begin();
          other.put(key, "transaction");
          other.commit();
        }, true],
        ["user:", (key) => db.put(key, "prefix itself"), true],
        ["user;", (key) => db.put(key, "just past the prefix"), false],
        ["zeta", (key) => db.put(key, "outside"), false],
        ["a", (key) => db.delete(key), false],
      ];
      for (const [key, insert, conflicts] of insertions) {
        const counter = db.begin();
        const users = keysOf(counter.iterate({ prefix: "user:" }));
        counter.put("user-count", String(users.length));
        insert(key);
        if (conflicts) expectCode("PGZ_CONFLICT", () => counter.commit(), undefined, /range it iterated/);
        else counter.commit();
        assert.is(counter.state, conflicts ? "aborted" : "committed", key);
        db.delete(key === "zeta" ? "unrelated" : key);
      }
    }));

  test(`${core}: only the part of a range actually covered counts (limit, break, reverse)`, () =>
    withDatabase(core, (db) => {
      db.batch(["b", "d", "f", "h"].map((key) => ({ type: "put" as const, key, value: "v" })));
      const cases: { name: string; read: (transaction: Transaction) => void; insert: string; conflicts: boolean }[] = [
        { name: "limit 2, insert inside", read: (t) => keysOf(t.iterate({ limit: 2 })), insert: "c", conflicts: true },
        { name: "limit 2, insert before the first", read: (t) => keysOf(t.iterate({ limit: 2 })), insert: "a", conflicts: true },
        { name: "limit 2, insert past the last yielded", read: (t) => keysOf(t.iterate({ limit: 2 })), insert: "e", conflicts: false },
        { name: "limit 2, overwrite the last yielded", read: (t) => keysOf(t.iterate({ limit: 2 })), insert: "d", conflicts: true },
        { name: "reverse limit 2, insert inside", read: (t) => keysOf(t.iterate({ reverse: true, limit: 2 })), insert: "g", conflicts: true },
        { name: "reverse limit 2, insert below", read: (t) => keysOf(t.iterate({ reverse: true, limit: 2 })), insert: "e", conflicts: false },
        { name: "reverse, insert past the top", read: (t) => keysOf(t.iterate({ reverse: true, limit: 1 })), insert: "i", conflicts: true },
        {
          name: "break after the first key",
          read: (t) => {
            for (const _entry of t.iterate({ gte: "c" })) break;
          },
          insert: "e",
          conflicts: false,
        },
        {
          name: "break after the first key, insert before it",
          read: (t) => {
            for (const _entry of t.iterate({ gte: "c" })) break;
          },
          insert: "c",
          conflicts: true,
        },
        { name: "iterator created but never advanced", read: (t) => void t.iterate(), insert: "c", conflicts: false },
        { name: "gt excludes its bound", read: (t) => keysOf(t.iterate({ gt: "b", lt: "f" })), insert: "b", conflicts: false },
        { name: "lt excludes its bound", read: (t) => keysOf(t.iterate({ gt: "b", lt: "f" })), insert: "f", conflicts: false },
        { name: "lte includes its bound", read: (t) => keysOf(t.iterate({ gt: "b", lte: "f" })), insert: "f", conflicts: true },
        { name: "empty range exhausted", read: (t) => keysOf(t.iterate({ gte: "x" })), insert: "y", conflicts: true },
      ];
      for (const { name, read, insert, conflicts } of cases) {
        const before = new Map(pairs(db.iterate()).map((pair) => pair.split("=") as [string, string]));
        const transaction = db.begin();
        read(transaction);
        transaction.put("result", name);
        db.put(insert, "new");
        if (conflicts) expectCode("PGZ_CONFLICT", () => transaction.commit());
        else transaction.commit();
        assert.is(transaction.state, conflicts ? "aborted" : "committed", name);
        // Restore the starting keys for the next case.
        db.delete("result");
        if (before.has(insert)) db.put(insert, before.get(insert)!);
        else db.delete(insert);
      }
    }));

  test(`${core}: a transaction reads its own pending puts and deletes (get and iterate, both directions)`, () =>
    withDatabase(core, (db) => {
      db.batch(["a", "c", "e", "g"].map((key) => ({ type: "put" as const, key, value: `db-${key}` })));
      const transaction = db.begin();
      transaction.put("b", "mine-b");
      transaction.put("c", "mine-c");
      transaction.delete("e");
      transaction.delete("zz");
      transaction.put("h", "mine-h");
      assert.is(text(transaction.get("b")), "mine-b");
      assert.is(text(transaction.get("c")), "mine-c");
      assert.is(transaction.get("e"), undefined);
      assert.is(text(transaction.get("a")), "db-a");
      assert.is(db.get("b"), undefined, "pending writes are invisible outside");
      assert.equal(pairs(transaction.iterate()), ["a=db-a", "b=mine-b", "c=mine-c", "g=db-g", "h=mine-h"]);
      assert.equal(pairs(transaction.iterate({ reverse: true })), ["h=mine-h", "g=db-g", "c=mine-c", "b=mine-b", "a=db-a"]);
      assert.equal(keysOf(transaction.iterate({ gt: "a", lte: "g" })), ["b", "c", "g"]);
      assert.equal(keysOf(transaction.iterate({ gte: "b", lt: "g", reverse: true })), ["c", "b"]);
      assert.equal(keysOf(transaction.iterate({ limit: 2 })), ["a", "b"]);
      assert.equal(keysOf(transaction.iterate({ reverse: true, limit: 2 })), ["h", "g"]);
      assert.equal(keysOf(transaction.iterate({ prefix: "c" })), ["c"]);
      transaction.put("e", "back");
      transaction.delete("b");
      assert.equal(pairs(transaction.iterate({ gte: "b", lte: "e" })), ["c=mine-c", "e=back"]);
      // The transaction keeps copies: the caller may reuse its arrays before the commit.
      const reused = new TextEncoder().encode("i");
      const reusedValue = new TextEncoder().encode("mine-i");
      transaction.put(reused, reusedValue);
      reused[0] = "j".charCodeAt(0);
      reusedValue[0] = "M".charCodeAt(0);
      transaction.commit();
      assert.equal(pairs(db.iterate()), ["a=db-a", "c=mine-c", "e=back", "g=db-g", "h=mine-h", "i=mine-i"]);
    }));

  test(`${core}: transaction iterate equals a model of snapshot plus pending writes (random, with value pointers)`, () =>
    withDatabase(core, (db) => {
      const next = random(5150);
      const keys = Array.from({ length: 24 }, (_, i) => `k${String(i).padStart(2, "0")}`);
      const pick = () => keys[Math.floor(next() * keys.length)]!;
      for (let round = 0; round < 20; round++) {
        const model = new Map<string, string>();
        for (const [key, value] of db.iterate()) model.set(text(key)!, text(value)!);
        const transaction = db.begin();
        for (let i = 0; i < 12; i++) {
          const key = pick();
          if (next() < 0.3) {
            transaction.delete(key);
            model.delete(key);
          } else {
            const value = `${round}-${i}-` + "x".repeat(next() < 0.3 ? 200 : 3);
            transaction.put(key, value);
            model.set(key, value);
          }
        }
        // Writes after the transaction began stay out of its view.
        db.put(pick(), "outside");
        for (let query = 0; query < 10; query++) {
          const options: { gte?: string; lt?: string; reverse: boolean; limit?: number } = { reverse: next() < 0.5 };
          if (next() < 0.6) options.gte = pick();
          if (next() < 0.6) options.lt = pick();
          if (next() < 0.4) options.limit = Math.floor(next() * 5);
          let expected = [...model.keys()].sort().filter((key) => (options.gte === undefined || key >= options.gte) && (options.lt === undefined || key < options.lt));
          if (options.reverse) expected.reverse();
          if (options.limit !== undefined) expected = expected.slice(0, options.limit);
          assert.equal(pairs(transaction.iterate(options)), expected.map((key) => `${key}=${model.get(key)}`), JSON.stringify(options));
        }
        for (const key of keys) assert.is(text(transaction.get(key)), model.get(key), key);
        if (next() < 0.5) transaction.abort();
        else {
          try {
            transaction.commit();
          } catch (error) {
            // The outside put may land in a range the queries covered: a legitimate conflict.
            assert.is((error as PgzError).code, "PGZ_CONFLICT");
          }
        }
        if (round % 5 === 4) db.flush();
      }
    }, { valueThreshold: 64, memtableBytes: 8192 }));

  test(`${core}: the recent-writes index holds only writes an open transaction can conflict with`, () =>
    withDatabase(core, (db) => {
      db.put("before", "1");
      assert.is(recentWriteCount(db), 0, "nothing is recorded while no transaction is open");
      const older = db.begin();
      db.put("a", "1");
      const newer = db.begin();
      db.put("b", "1");
      db.batch([
        { type: "put", key: "c", value: "1" },
        { type: "del", key: "b" },
      ]);
      assert.is(recentWriteCount(db), 3);
      older.abort();
      // "a" was written before the newer transaction's snapshot: it cannot conflict any more.
      assert.is(recentWriteCount(db), 2);
      newer.commit();
      assert.is(recentWriteCount(db), 0);
    }));
}

// ---------------------------------------------------------------------------------------------
// Interleavings: several transactions, plain writes, flushes and compactions driven step by step
// in a random order. Every transaction that commits must be serializable in commit order: a
// serial replay against a Map reproduces each of its reads exactly, and the final state.

const KEYS = ["a", "b", "c", "d", "e"];

type Step =
  | { type: "get"; key: string }
  | { type: "put"; key: string }
  | { type: "del"; key: string }
  | { type: "iterate"; gte?: string; lt?: string; reverse: boolean; limit?: number; stopAfter?: number };

type OutsideStep = { type: "put"; key: string } | { type: "del"; key: string } | { type: "flush" } | { type: "compact" };

interface Plan {
  transactions: { steps: Step[]; abort: boolean }[];
  outside: OutsideStep[];
  schedule: number[];
}

const keyArbitrary = fc.constantFrom(...KEYS);
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ type: fc.constant("get" as const), key: keyArbitrary }),
  fc.record({ type: fc.constant("put" as const), key: keyArbitrary }),
  fc.record({ type: fc.constant("del" as const), key: keyArbitrary }),
  fc.record(
    {
      type: fc.constant("iterate" as const),
      gte: keyArbitrary,
      lt: keyArbitrary,
      reverse: fc.boolean(),
      limit: fc.integer({ min: 0, max: 3 }),
      stopAfter: fc.integer({ min: 1, max: 2 }),
    },
    { requiredKeys: ["type", "reverse"] },
  ),
);
const outsideArbitrary: fc.Arbitrary<OutsideStep> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant("put" as const), key: keyArbitrary }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("del" as const), key: keyArbitrary }) },
  { weight: 1, arbitrary: fc.constant({ type: "flush" as const }) },
  { weight: 1, arbitrary: fc.constant({ type: "compact" as const }) },
);
const planArbitrary: fc.Arbitrary<Plan> = fc.record({
  transactions: fc.array(fc.record({ steps: fc.array(stepArbitrary, { minLength: 1, maxLength: 6 }), abort: fc.integer({ min: 0, max: 4 }).map((draw) => draw === 0) }), { minLength: 2, maxLength: 4 }),
  outside: fc.array(outsideArbitrary, { maxLength: 4 }),
  // Actor indices: transactions first, then the outside writer (modulo the actor count).
  schedule: fc.array(fc.nat({ max: 40 }), { minLength: 4, maxLength: 40 }),
});

/** What one step read: a value (or null for missing), or the [key, value] pairs an iteration yielded. */
type Observation = string | null | string[];

function modelIterate(state: Map<string, string>, step: Extract<Step, { type: "iterate" }>): string[] {
  let keys = [...state.keys()].sort().filter((key) => (step.gte === undefined || key >= step.gte) && (step.lt === undefined || key < step.lt));
  if (step.reverse) keys.reverse();
  if (step.limit !== undefined) keys = keys.slice(0, step.limit);
  if (step.stopAfter !== undefined) keys = keys.slice(0, step.stopAfter);
  return keys.map((key) => `${key}=${state.get(key)}`);
}

function runStep(transaction: Transaction, step: Step, value: string): Observation | undefined {
  if (step.type === "get") return text(transaction.get(step.key)) ?? null;
  if (step.type === "put") return void transaction.put(step.key, value);
  if (step.type === "del") return void transaction.delete(step.key);
  const seen: string[] = [];
  const { gte, lt, reverse, limit } = step;
  for (const [key, entry] of transaction.iterate({ gte, lt, reverse, limit })) {
    seen.push(`${text(key)}=${text(entry)}`);
    if (step.stopAfter !== undefined && seen.length >= step.stopAfter) break;
  }
  return seen;
}

/**
 * A committed unit of work with what it observed, and its place in the serial order: writers
 * serialize at their commit (writer n at n), read-only transactions at their snapshot (between
 * the writers committed before they began and those after: n - 0.5).
 */
type Commit = { steps: Step[]; values: string[]; observations: (Observation | undefined)[]; serialPoint: number };

function runPlan(db: DB, plan: Plan, runNumber: number): { commits: Commit[]; conflicts: number } {
  const actorCount = plan.transactions.length + 1;
  const states = plan.transactions.map(() => ({ transaction: undefined as Transaction | undefined, writersBefore: 0, next: 0, done: false, values: [] as string[], observations: [] as (Observation | undefined)[] }));
  let writers = 0;
  let outsideNext = 0;
  const commits: Commit[] = [];
  let conflicts = 0;
  const advance = (actor: number) => {
    if (actor === plan.transactions.length) {
      const step = plan.outside[outsideNext++];
      if (step === undefined) return;
      if (step.type === "flush") db.flush();
      else if (step.type === "compact") db.compact();
      else {
        const value = `run${runNumber}-outside${outsideNext}`;
        if (step.type === "put") db.put(step.key, value);
        else db.delete(step.key);
        commits.push({ steps: [step], values: [value], observations: [undefined], serialPoint: writers++ });
      }
      return;
    }
    const state = states[actor]!;
    const planned = plan.transactions[actor]!;
    if (state.done) return;
    if (state.transaction === undefined) {
      state.transaction = db.begin();
      state.writersBefore = writers;
    }
    if (state.next < planned.steps.length) {
      const value = `run${runNumber}-t${actor}-step${state.next}`;
      state.values.push(value);
      state.observations.push(runStep(state.transaction, planned.steps[state.next]!, value));
      state.next++;
      return;
    }
    state.done = true;
    if (planned.abort) return state.transaction.abort();
    try {
      state.transaction.commit();
      const readOnly = planned.steps.every((step) => step.type === "get" || step.type === "iterate");
      const serialPoint = readOnly ? state.writersBefore - 0.5 : writers++;
      commits.push({ steps: planned.steps, values: state.values, observations: state.observations, serialPoint });
    } catch (error) {
      if (!(error instanceof PgzError && error.code === "PGZ_CONFLICT")) throw error;
      conflicts++;
    }
  };
  for (const entry of plan.schedule) advance(entry % actorCount);
  // Whatever the schedule left unfinished runs to the end, actor by actor.
  for (let actor = 0; actor < actorCount; actor++) {
    for (let guard = 0; guard < 20; guard++) advance(actor);
  }
  commits.sort((a, b) => a.serialPoint - b.serialPoint);
  return { commits, conflicts };
}

/** Replays the commits serially (in serial order) against `model`; each must observe exactly what it did. */
function replay(model: Map<string, string>, commits: Commit[]): void {
  for (const [index, commit] of commits.entries()) {
    const local = new Map(model);
    commit.steps.forEach((step, stepIndex) => {
      const observed = commit.observations[stepIndex];
      if (step.type === "get") assert.equal(observed, local.get(step.key) ?? null, `commit ${index} step ${stepIndex} get ${step.key}`);
      else if (step.type === "put") local.set(step.key, commit.values[stepIndex]!);
      else if (step.type === "del") local.delete(step.key);
      else assert.equal(observed, modelIterate(local, step), `commit ${index} step ${stepIndex} ${JSON.stringify(step)}`);
    });
    model.clear();
    for (const [key, value] of local) model.set(key, value);
  }
}

for (const core of engineCores) {
  test(`${core}: random interleavings of transactions commit only serializable histories`, async () => {
    await withDatabase(core, (db) => {
      let runNumber = 0;
      let commitsTotal = 0;
      let conflictsTotal = 0;
      fc.assert(
        fc.property(planArbitrary, (plan) => {
          runNumber++;
          const model = new Map<string, string>();
          for (const [key, value] of db.iterate()) model.set(text(key)!, text(value)!);
          const { commits, conflicts } = runPlan(db, plan, runNumber);
          commitsTotal += commits.length;
          conflictsTotal += conflicts;
          replay(model, commits);
          assert.equal(pairs(db.iterate()), [...model.keys()].sort().map((key) => `${key}=${model.get(key)}`));
          assert.is(db.stats().snapshots, 0, "every transaction released its snapshot");
          assert.is(recentWriteCount(db), 0);
        }),
        { numRuns: Number(process.env.PGZ_PROPERTY_RUNS ?? (process.env.PGZ_LONG === "1" ? 2000 : 150)) },
      );
      // The workload must exercise both outcomes, or the property says little.
      assert.ok(commitsTotal > 100, `commits: ${commitsTotal}`);
      assert.ok(conflictsTotal > 10, `conflicts: ${conflictsTotal}`);
    }, { memtableBytes: 4096, valueThreshold: 16, tableBytes: 4096, level1Bytes: 4096, l0Files: 2 });
  });
}

// ---------------------------------------------------------------------------------------------

for (const core of engineCores) {
  test(`${core}: snapshots and transactions survive flush and compaction`, () =>
    withDatabase(core, (db) => {
      for (let i = 0; i < 100; i++) db.put(`k${String(i).padStart(3, "0")}`, `v0-${i}`);
      const snapshot = db.snapshot();
      const reader = db.begin();
      const writer = db.begin();
      assert.is(text(writer.get("k005")), "v0-5");
      writer.put("k005", "writer");
      for (let round = 1; round <= 3; round++) {
        for (let i = 0; i < 100; i += 2) db.put(`k${String(i).padStart(3, "0")}`, `v${round}-${i}`);
        for (let i = 1; i < 100; i += 7) db.delete(`k${String(i).padStart(3, "0")}`);
        db.flush();
        db.compact();
      }
      for (const view of [snapshot, reader]) {
        assert.is(text(view.get("k004")), "v0-4");
        assert.is(text(view.get("k001")), "v0-1");
        assert.is([...view.iterate()].length, 100);
      }
      assert.is(text(writer.get("k005")), "writer");
      assert.is(text(writer.get("k004")), "v0-4");
      // The writer read k005 (unchanged since) and k004 (overwritten): it conflicts on k004.
      expectCode("PGZ_CONFLICT", () => writer.commit(), undefined, /"k004"/);
      reader.commit();
      snapshot.release();
      const late = db.begin();
      late.put("k005", "late");
      db.compact();
      late.commit();
      assert.is(text(db.get("k005")), "late");
      assert.is(db.stats().snapshots, 0);
    }, { memtableBytes: 4096, tableBytes: 4096, level1Bytes: 4096 }));

  test(`${core}: a crash keeps committed transactions, never uncommitted writes, and no snapshot`, () => {
    const directory = temporaryDirectory("pgz-txn-crash");
    const copy = temporaryDirectory("pgz-txn-crash-copy");
    try {
      const db = DB.open(directory, { core, autoGc: false });
      const committed = db.begin();
      committed.put("committed", "yes");
      committed.commit();
      const open = db.begin();
      const marker = "uncommitted-marker-" + "q".repeat(2000);
      open.put("uncommitted", marker);
      open.put("committed", marker);
      db.snapshot();
      // A crash image: the files as they are with the database still open (writes in "os"
      // durability are in the files already; nothing is closed or flushed).
      cpSync(directory, copy, { recursive: true });
      // The crashed process is gone, but its LOCK names this live one, which the lock refuses.
      rmSync(join(copy, "LOCK"));
      for (const name of readdirSync(copy)) {
        assert.not.ok(readFileSync(join(copy, name)).includes(marker), `${name} holds an uncommitted write`);
      }
      const reopened = DB.open(copy, { core });
      try {
        assert.is(text(reopened.get("committed")), "yes");
        assert.is(reopened.get("uncommitted"), undefined);
        assert.is(reopened.stats().snapshots, 0, "snapshots do not survive a restart");
        assert.is(recentWriteCount(reopened), 0);
      } finally {
        reopened.close();
      }
      db.close();
      open.abort(); // after close: ends quietly
    } finally {
      removeDirectory(directory);
      removeDirectory(copy);
    }
  });

  test(`${core}: a transaction over its byte limit throws PGZ_TXN_TOO_LARGE at the put that crosses it`, () =>
    withDatabase(core, (db) => {
      const transaction = db.begin({ transactionBytesMax: 1000 });
      transaction.put("a", "x".repeat(499)); // 500 bytes
      transaction.put("a", "y".repeat(499)); // replaces: still 500
      transaction.put("b", "x".repeat(399)); // 900
      expectCode("PGZ_TXN_TOO_LARGE", () => transaction.put("c", "x".repeat(100)), undefined, /1001 bytes.*limit is 1000/);
      assert.is(transaction.pendingBytes, 900, "the failed put changed nothing");
      transaction.delete("c");
      assert.is(transaction.pendingBytes, 901);
      transaction.commit();
      assert.is(text(db.get("a")), "y".repeat(499));
      assert.is(db.get("c"), undefined);
      // The default limit: one maximal value plus its key is over it.
      assert.is(TRANSACTION_BYTES_MAX_DEFAULT, 64 * 1024 * 1024);
      const large = db.begin();
      expectCode("PGZ_TXN_TOO_LARGE", () => large.put("k", new Uint8Array(VALUE_BYTES_MAX)));
      assert.is(large.pendingBytes, 0);
      large.abort();
    }));

  test(`${core}: use after commit or abort is PGZ_CLOSED, saying which; dispose aborts`, () =>
    withDatabase(core, (db) => {
      db.put("a", "1");
      db.put("b", "2");
      const committed = db.begin();
      const running = committed.iterate();
      assert.equal(pairs([running.next().value!]), ["a=1"]);
      assert.is(db.stats().snapshots, 2, "the snapshot and the running iterator");
      committed.put("c", "3");
      committed.commit();
      assert.is(db.stats().snapshots, 0, "commit ended the running iterator");
      expectCode("PGZ_CLOSED", () => running.next(), undefined, /committed/);
      for (const use of [() => committed.get("a"), () => committed.put("a", "x"), () => committed.delete("a"), () => committed.iterate(), () => committed.commit()]) {
        expectCode("PGZ_CLOSED", use, undefined, /committed/);
      }
      expectCode("PGZ_CLOSED", () => committed.abort(), "abort after commit", /committed/);
      committed[Symbol.dispose](); // `using` after a commit: nothing to do, no error
      assert.is(committed.state, "committed");
      const aborted = db.begin();
      aborted.put("d", "4");
      aborted.abort();
      aborted.abort();
      expectCode("PGZ_CLOSED", () => aborted.get("a"), undefined, /aborted/);
      expectCode("PGZ_CLOSED", () => aborted.commit(), undefined, /aborted/);
      assert.is(db.get("d"), undefined);
      const disposed = db.begin();
      disposed.put("e", "5");
      disposed[Symbol.dispose]();
      assert.is(disposed.state, "aborted");
      assert.is(db.get("e"), undefined);
      assert.is(db.stats().snapshots, 0);
    }));

  test(`${core}: invalid arguments are PGZ_INVALID_ARGUMENT`, async () =>
    withDatabase(core, async (db) => {
      expectCode("PGZ_INVALID_ARGUMENT", () => db.begin({ transactionBytesMax: -1 }));
      expectCode("PGZ_INVALID_ARGUMENT", () => db.begin(null as never));
      const transaction = db.begin();
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.get(42 as never));
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.put("k", null as never));
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.put("x".repeat(70000), "v"));
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.delete({} as never));
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.iterate({ limit: 1.5 }));
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.iterate({ reverse: "yes" as never }));
      expectCode("PGZ_INVALID_ARGUMENT", () => transaction.iterate({ gte: 7 as never }));
      assert.is(transaction.state, "open", "a bad argument does not end the transaction");
      transaction.abort();
      await expectRejection("PGZ_INVALID_ARGUMENT", db.transaction("not a function" as never));
      await expectRejection("PGZ_INVALID_ARGUMENT", db.transaction(() => undefined, { retries: -1 }));
      assert.is(db.stats().snapshots, 0);
    }));

  test(`${core}: db.transaction retries a conflict with a fresh transaction; other errors abort and propagate`, async () =>
    withDatabase(core, async (db) => {
      db.put("balance", "100");
      let attempts = 0;
      const result = await db.transaction((transaction) => {
        attempts++;
        const balance = Number(text(transaction.get("balance")));
        // A concurrent writer gets in on the first attempt only.
        if (attempts === 1) db.put("balance", "150");
        transaction.put("balance", String(balance - 30));
        return balance;
      });
      assert.is(attempts, 2);
      assert.is(result, 150);
      assert.is(text(db.get("balance")), "120");

      attempts = 0;
      await expectRejection("PGZ_CONFLICT", db.transaction((transaction) => {
        attempts++;
        transaction.get("balance");
        db.put("balance", String(attempts));
        transaction.put("other", "x");
      }, { retries: 2 }));
      assert.is(attempts, 3, "one attempt plus two retries");
      assert.is(db.get("other"), undefined);

      await db.transaction((transaction) => transaction.put("synced", "1"), { writeOptions: { sync: true } });
      assert.is(text(db.get("synced")), "1");
      await expectRejection("PGZ_INVALID_ARGUMENT", db.transaction((transaction) => transaction.put("bad", "1"), { writeOptions: { durability: "bogus" as never } }));
      assert.is(db.get("bad"), undefined);

      const failure = new Error("application error");
      let caught: unknown;
      try {
        await db.transaction(async (transaction) => {
          transaction.put("partial", "x");
          await Promise.resolve();
          throw failure;
        });
      } catch (error) {
        caught = error;
      }
      assert.is(caught, failure);
      assert.is(db.get("partial"), undefined);
      assert.is(db.stats().snapshots, 0);
      assert.is(recentWriteCount(db), 0);
    }));

  test(`${core}: interleaved async read-modify-write transactions: every increment lands exactly once`, async () =>
    withDatabase(core, async (db) => {
      db.put("counter", "0");
      let attempts = 0;
      const workers = Array.from({ length: 8 }, (_, worker) =>
        db.transaction(async (transaction) => {
          attempts++;
          const value = Number(text(transaction.get("counter")));
          await new Promise((resolve) => setImmediate(resolve));
          transaction.put("counter", String(value + 1));
          transaction.put(`worker:${worker}`, String(value));
        }, { retries: 8 }),
      );
      await Promise.all(workers);
      assert.is(text(db.get("counter")), "8");
      // Each worker saw a distinct counter value: a serial order exists.
      assert.equal([...db.iterate({ prefix: "worker:" })].map(([, value]) => Number(text(value))).sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
      assert.ok(attempts > 8, "the first round conflicted");
      assert.is(db.stats().snapshots, 0);
    }));
}

test.run();
