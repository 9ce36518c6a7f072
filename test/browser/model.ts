/**
 * The model-based property test, in a dedicated worker on OPFS: a seeded random run of puts
 * (inline and value-log sized), deletes, batches, gets, bounded and reverse iterations,
 * snapshots read later, flushes, compactions, checks and close-and-reopen, each read compared
 * with a plain Map. Small memtables and segments make files come and go (OPFS slots created,
 * renamed and freed) all the time. Returns the first divergence with its seed and step.
 */
import { openOpfs, opfsStorageOf } from "../../ts/browser/open.ts";
import type { CoreName } from "../../ts/core/types.ts";
import type { DB, Snapshot } from "../../ts/index.ts";
import { random } from "../random.ts";

export interface ModelOptions {
  name: string;
  core: CoreName;
  seed: number;
  steps: number;
}

export interface ModelResult {
  seed: number;
  core: CoreName;
  operations: Record<string, number>;
  failure?: string;
}

const decoder = new TextDecoder();
const OPEN_OPTIONS = { memtableBytes: 8192, segmentBytes: 64 * 1024, l0Files: 2, valueThreshold: 64, tableBytes: 16 * 1024 };

function valueFor(key: string, step: number, length: number): string {
  return `${key}@${step}`.padEnd(length, "-");
}

function expected(model: Map<string, string>, range: { gte: string; lt: string; reverse: boolean; limit: number }): string[] {
  const keys = [...model.keys()].filter((key) => key >= range.gte && key < range.lt).sort();
  if (range.reverse) keys.reverse();
  return keys.slice(0, range.limit < 0 ? undefined : range.limit).map((key) => `${key}=${model.get(key)}`);
}

function listed(entries: Iterable<[Uint8Array, Uint8Array]>): string[] {
  return Array.from(entries, ([key, value]) => `${decoder.decode(key)}=${decoder.decode(value)}`);
}

export async function runModel(options: ModelOptions): Promise<ModelResult> {
  const next = random(options.seed);
  const pick = (count: number) => Math.floor(next() * count);
  const keyOf = () => `k${String(pick(96)).padStart(3, "0")}`;
  const model = new Map<string, string>();
  const snapshots: { snapshot: Snapshot; model: Map<string, string> }[] = [];
  const operations: Record<string, number> = {};
  let db: DB = await openOpfs(options.name, { ...OPEN_OPTIONS, core: options.core });
  const fail = (step: number, what: string) => `seed ${options.seed}, core ${options.core}, step ${step}: ${what}`;
  try {
    for (let step = 0; step < options.steps; step++) {
      // File creation in OPFS is async: the slot pool refills when the worker yields, as the
      // openInWorker host does between messages.
      if (step % 64 === 0) await opfsStorageOf(db)?.refill();
      const roll = pick(100);
      const kind = roll < 30 ? "put" : roll < 40 ? "delete" : roll < 50 ? "batch" : roll < 68 ? "get" : roll < 78 ? "iterate" : roll < 82 ? "snapshot" : roll < 88 ? "snapshotRead" : roll < 91 ? "flush" : roll < 93 ? "compact" : roll < 94 ? "check" : "reopen";
      operations[kind] = (operations[kind] ?? 0) + 1;
      if (kind === "put") {
        const key = keyOf();
        const value = valueFor(key, step, pick(2) === 0 ? pick(40) : 100 + pick(900));
        db.put(key, value);
        model.set(key, value);
      } else if (kind === "delete") {
        const key = keyOf();
        db.delete(key);
        model.delete(key);
      } else if (kind === "batch") {
        const operationsInBatch = Array.from({ length: 1 + pick(8) }, () => {
          const key = keyOf();
          return pick(4) === 0 ? { type: "del" as const, key } : { type: "put" as const, key, value: valueFor(key, step, pick(300)) };
        });
        db.batch(operationsInBatch);
        for (const operation of operationsInBatch) operation.type === "put" ? model.set(operation.key, operation.value) : model.delete(operation.key);
      } else if (kind === "get") {
        const key = keyOf();
        const actual = db.get(key);
        const text = actual === undefined ? undefined : decoder.decode(actual);
        if (text !== model.get(key)) return { seed: options.seed, core: options.core, operations, failure: fail(step, `get ${key}: ${text} != ${model.get(key)}`) };
      } else if (kind === "iterate") {
        const [a, b] = [keyOf(), keyOf()].sort();
        const range = { gte: a!, lt: b! + "~", reverse: pick(2) === 1, limit: pick(3) === 0 ? pick(10) : -1 };
        const actual = listed(db.iterate(range)).join(",");
        const wanted = expected(model, range).join(",");
        if (actual !== wanted) return { seed: options.seed, core: options.core, operations, failure: fail(step, `iterate ${JSON.stringify(range)}: ${actual} != ${wanted}`) };
      } else if (kind === "snapshot") {
        snapshots.push({ snapshot: db.snapshot(), model: new Map(model) });
      } else if (kind === "snapshotRead" && snapshots.length > 0) {
        const index = pick(snapshots.length);
        const { snapshot, model: then } = snapshots[index]!;
        const actual = listed(snapshot.iterate()).join(",");
        const wanted = expected(then, { gte: "", lt: "~", reverse: false, limit: -1 }).join(",");
        if (actual !== wanted) return { seed: options.seed, core: options.core, operations, failure: fail(step, `snapshot read: ${actual} != ${wanted}`) };
        if (pick(2) === 0) {
          snapshot.release();
          snapshots.splice(index, 1);
        }
      } else if (kind === "flush") {
        db.flush();
      } else if (kind === "compact") {
        db.compact();
      } else if (kind === "check") {
        const report = db.check();
        if (!report.ok) return { seed: options.seed, core: options.core, operations, failure: fail(step, `check: ${JSON.stringify(report.problems)}`) };
      } else if (kind === "reopen") {
        for (const { snapshot } of snapshots.splice(0)) snapshot.release();
        db.close();
        db = await openOpfs(options.name, { ...OPEN_OPTIONS, core: options.core });
        const actual = listed(db.iterate()).join(",");
        const wanted = expected(model, { gte: "", lt: "~", reverse: false, limit: -1 }).join(",");
        if (actual !== wanted) return { seed: options.seed, core: options.core, operations, failure: fail(step, `after reopen: ${actual} != ${wanted}`) };
      }
    }
    return { seed: options.seed, core: options.core, operations };
  } finally {
    for (const { snapshot } of snapshots) snapshot.release();
    db.close();
  }
}
