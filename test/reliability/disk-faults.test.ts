/**
 * Disk faults: the workload (puts, deletes, batches in every durability, flushes, reads,
 * close/reopen; group commit is in concurrency.test.ts) runs on an in-memory storage that fails one kind of
 * operation from a random point on: ENOSPC or EIO on write (sometimes after letting a few pages
 * through), EIO on read, EIO on fdatasync and on the directory fsync, EMFILE on open. Then:
 * - every call that fails throws PgzError PGZ_IO (never another error, never a crash);
 * - after a failed fsync the database refuses further writes with PGZ_IO, even with the fault
 *   gone, until it is reopened;
 * - close() releases the lock whatever happened, and every file handle;
 * - with the fault removed the database reopens and holds the model after some prefix of the
 *   operations that includes every acknowledged sync or os write (and flush), and check() is
 *   clean.
 * PGZ_LONG=1 runs many more fault points.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB, PgzError } from "../../ts/index.ts";
import { ioError } from "../../ts/storage/io.ts";
import { random } from "../helpers.ts";
import { MemoryStorage, type StorageOperation } from "./fixtures/recording-storage.ts";
import { applyOperation, describeDifference, isDurableAgainstProcessCrash, matchPrefix, operationAt, perform, readAll, type Model, type Operation } from "./fixtures/workload.ts";
import { reportCases } from "./fixtures/summary.ts";

const LONG = process.env.PGZ_LONG === "1";
const TRIALS = LONG ? 400 : 30;
const OPERATIONS = 260;
const REOPEN_EVERY = 90;
const OPTIONS = { memtableBytes: 16 * 1024, valueThreshold: 256, segmentBytes: 64 * 1024, bufferedBytes: 8 * 1024 } as const;

/** Breaches that do not corrupt data: collected over all trials, asserted at the end. */
interface Problems {
  acceptedAfterFsyncFailure: string[];
  leakedHandles: string[];
}

interface Fault {
  operation: StorageOperation;
  code: string;
  /** The fault starts at the at-th operation of its kind (0-based). */
  at: number;
  partialPages: number;
}

const FAULT_KINDS: ReadonlyArray<Pick<Fault, "operation" | "code">> = [
  { operation: "write", code: "ENOSPC" },
  { operation: "write", code: "EIO" },
  { operation: "read", code: "EIO" },
  { operation: "sync", code: "EIO" },
  { operation: "syncDirectory", code: "EIO" },
  { operation: "open", code: "EMFILE" },
];

const isFsync = (operation: StorageOperation) => operation === "sync" || operation === "syncDirectory";

/** A storage failing `fault.operation` from its at-th occurrence on, while `active`. */
function faultyStorage(fault: Fault | undefined): { storage: MemoryStorage; state: { active: boolean; fired: boolean; counts: Map<string, number> } } {
  const storage = new MemoryStorage("disk-faults");
  const state = { active: true, fired: false, counts: new Map<string, number>() };
  storage.beforeOperation = (operation, name) => {
    // Opening and creating a file are one system call: EMFILE hits both.
    const kind = operation === "create" ? "open" : operation;
    const count = state.counts.get(kind) ?? 0;
    state.counts.set(kind, count + 1);
    if (!fault || !state.active || kind !== fault.operation || count < fault.at) return;
    state.fired = true;
    throw Object.assign(ioError(kind, name, Object.assign(new Error(fault.code), { code: fault.code })), { partialPages: fault.partialPages });
  };
  return { storage, state };
}

type Step = { kind: "operation"; index: number } | { kind: "reopen" };

function steps(): Step[] {
  const list: Step[] = [];
  for (let index = 0; index < OPERATIONS; index++) {
    list.push({ kind: "operation", index });
    if (index % REOPEN_EVERY === REOPEN_EVERY - 1) list.push({ kind: "reopen" });
  }
  return list;
}

function expectIo(error: unknown, label: string): void {
  if (!(error instanceof PgzError)) assert.unreachable(`${label}: a non-PgzError escaped: ${(error as Error)?.stack ?? String(error)}`);
  assert.is((error as PgzError).code, "PGZ_IO", `${label}: ${(error as PgzError).message}`);
}

/** Runs the workload until the fault makes a call fail; returns what the checker needs. */
async function runTrial(core: "ts" | "wasm", seed: number, trial: number, fault: Fault | undefined, problems: Problems) {
  const { storage, state } = faultyStorage(fault);
  const label = `seed ${seed} trial ${trial} (${core}, ${fault ? `${fault.code} on ${fault.operation} #${fault.at}${fault.partialPages ? ` after ${fault.partialPages} pages` : ""}` : "no fault"})`;
  const operations: Operation[] = [];
  const model: Model = new Map();
  let floor = 0;
  let db: DB | undefined;
  let failedCall = "";
  let failure = "no call failed";
  const open = () => DB.open(storage.directory, { core, storage, ...OPTIONS });
  try {
    db = open();
    for (const step of steps()) {
      if (step.kind === "reopen") {
        failedCall = "close";
        db.close();
        floor = operations.length;
        db = undefined;
        failedCall = "open";
        db = open();
      } else {
        const operation = operationAt(seed, trial, step.index);
        operations.push(operation);
        failedCall = operation.type;
        perform(db, operation, model);
        applyOperation(model, operation);
        if (isDurableAgainstProcessCrash(operation)) floor = operations.length;
      }
    }
    failedCall = "close";
    db.close();
    floor = operations.length;
  } catch (error) {
    failure = `${failedCall} failed with ${(error as Error).message}`;
    expectIo(error, `${label}: ${failedCall}`);
    assert.ok(fault && state.fired, `${label}: ${failedCall} failed with no fault injected: ${(error as Error).message}`);
    if (db && fault && isFsync(fault.operation) && failedCall !== "close") {
      // The fault is gone, but the database must not trust its files any more.
      state.active = false;
      try {
        db.put("probe-after-fsync-failure", "x");
        problems.acceptedAfterFsyncFailure.push(`${label}: ${failedCall}`);
        operations.push({ type: "put", key: "probe-after-fsync-failure", value: "x", durability: "os" });
      } catch (probeError) {
        expectIo(probeError, `${label}: the write after a failed fsync`);
      }
    }
    state.active = false;
    try {
      db?.close();
    } catch (closeError) {
      expectIo(closeError, `${label}: close after the fault`);
    }
  }
  state.active = false;
  if (storage.openHandles !== 0) problems.leakedHandles.push(`${label}: ${failedCall} failed, then close() left ${JSON.stringify([...storage.handles])} open`);
  return { storage, operations, floor, label: `${label} [${failure}]`, counts: state.counts, fired: state.fired };
}

/** Reopens with the fault removed and checks the prefix invariant. */
function verifyTrial(core: "ts" | "wasm", result: Awaited<ReturnType<typeof runTrial>>): void {
  const { storage, operations, floor, label } = result;
  let db: DB;
  try {
    db = DB.open(storage.directory, { core, storage, ...OPTIONS });
  } catch (error) {
    assert.unreachable(`${label}: reopening with the fault removed failed: ${(error as Error).stack}`);
    return;
  }
  try {
    const actual = readAll(db.iterate());
    const count = matchPrefix(actual, new Map(), operations, floor, operations.length);
    if (count === undefined) {
      const expected: Model = new Map();
      for (const operation of operations.slice(0, floor)) applyOperation(expected, operation);
      assert.unreachable(`${label}: the reopened state is no prefix of operations [${floor}, ${operations.length}]: ${describeDifference(actual, expected)}`);
    }
    const report = db.check();
    assert.ok(report.ok, `${label}: check() found ${JSON.stringify(report.problems)}`);
  } finally {
    db.close();
  }
}

for (const core of ["ts", "wasm"] as const) {
  for (const [kindIndex, kind] of FAULT_KINDS.entries()) {
    test(`${core}: ${kind.code} on ${kind.operation} at ${TRIALS} random points: PGZ_IO, nothing acknowledged lost`, async () => {
      const seed = 3_000 + kindIndex * 10 + (core === "wasm" ? 1 : 0);
      const problems: Problems = { acceptedAfterFsyncFailure: [], leakedHandles: [] };
      // A fault-free run counts each kind of storage operation, so fault points spread over all of it.
      const baseline = await runTrial(core, seed, 0, undefined, problems);
      verifyTrial(core, baseline);
      const next = random(seed);
      let fired = 0;
      for (let trial = 1; trial <= TRIALS; trial++) {
        const estimate = baseline.counts.get(kind.operation) ?? 1;
        const fault: Fault = { ...kind, at: Math.floor(next() * estimate), partialPages: kind.operation === "write" && next() < 0.5 ? 1 + Math.floor(next() * 3) : 0 };
        const result = await runTrial(core, seed, trial, fault, problems);
        verifyTrial(core, result);
        if (result.fired) fired++;
      }
      assert.ok(fired > TRIALS / 3, `only ${fired} of ${TRIALS} faults fired`);
      assert.equal(problems.acceptedAfterFsyncFailure, [], "writes accepted after a failed fsync, without a reopen");
      assert.equal(problems.leakedHandles, [], "file handles leaked");
      reportCases(`disk faults: ${kind.code} on ${kind.operation}`, core, TRIALS);
    });
  }
}

/** One fault at a chosen storage operation; the smallest repros of what the campaign found. */
function failOnce(storage: MemoryStorage, operation: StorageOperation, suffix: string, code = "EIO"): { armed: boolean } {
  const trigger = { armed: false };
  storage.beforeOperation = (kind, name) => {
    if (!trigger.armed || kind !== operation || !name.endsWith(suffix)) return;
    trigger.armed = false;
    throw ioError(kind, name, Object.assign(new Error(code), { code }));
  };
  return trigger;
}

for (const core of ["ts", "wasm"] as const) {
  test(`${core}: a compaction whose output table fails to sync loses nothing when compaction runs again`, () => {
    const storage = new MemoryStorage("compaction-fault");
    const trigger = failOnce(storage, "sync", ".sst");
    let db = DB.open(storage.directory, { core, storage });
    for (let table = 0; table < 3; table++) {
      for (let index = 0; index < 100; index++) db.put(`key-${table}-${index}`, "x".repeat(100));
      db.flush();
    }
    trigger.armed = true;
    try {
      db.compact();
      assert.unreachable("the compaction should have failed");
    } catch (error) {
      expectIo(error, "compact with a failing table sync");
    }
    try {
      db.compact();
    } catch (error) {
      expectIo(error, "compact after the fault (a refusal is fine)");
    }
    try {
      db.close();
    } catch (error) {
      expectIo(error, "close after the fault");
    }
    db = DB.open(storage.directory, { core, storage });
    try {
      assert.is([...db.iterate()].length, 300, "every key survives");
    } finally {
      db.close();
    }
  });

  test(`${core}: DB.open that fails part way (EMFILE on a table) closes every file it opened`, () => {
    const storage = new MemoryStorage("open-fault");
    let db = DB.open(storage.directory, { core, storage, l0Files: 10 });
    for (let table = 0; table < 3; table++) {
      db.put(`key-${table}`, "value");
      db.flush();
    }
    db.close();
    const trigger = failOnce(storage, "open", "000004.sst", "EMFILE");
    trigger.armed = true;
    try {
      db = DB.open(storage.directory, { core, storage, l0Files: 10 });
      db.close();
      assert.unreachable("open should have failed");
    } catch (error) {
      expectIo(error, "open with EMFILE");
    }
    assert.equal([...storage.handles], [], "file handles left open by the failed open");
  });
}

test.run();
