/**
 * Model-based property test: random puts, deletes, batches, gets, bounded iterations, flushes,
 * compactions, value-log GCs and reopens against a plain Map, on both cores, with tiny memtables, tables and
 * levels so flushes and compactions happen often, and a low value threshold so value pointers
 * are exercised. fast-check prints the seed and the
 * shrunk command list on failure.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { DB } from "../ts/index.ts";
import { compareBytes } from "../ts/core/entry.ts";
import { engineCores, removeDirectory, temporaryDirectory, text } from "./helpers.ts";

const keyArbitrary = fc.stringMatching(/^[a-d]{0,4}$/);
const valueArbitrary = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 40, maxLength: 300 }));
const boundArbitrary = fc.option(keyArbitrary, { nil: undefined });

type Command =
  | { type: "put"; key: string; value: string }
  | { type: "del"; key: string }
  | { type: "batch"; operations: ({ type: "put"; key: string; value: string } | { type: "del"; key: string })[] }
  | { type: "get"; key: string }
  | { type: "iterate"; gte?: string; lt?: string; prefix?: string; reverse: boolean; limit?: number }
  | { type: "flush" }
  | { type: "compact" }
  | { type: "gc" }
  | { type: "reopen" };

const putArbitrary = fc.record({ type: fc.constant("put" as const), key: keyArbitrary, value: valueArbitrary });
const delArbitrary = fc.record({ type: fc.constant("del" as const), key: keyArbitrary });
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: putArbitrary },
  { weight: 3, arbitrary: delArbitrary },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("batch" as const), operations: fc.array(fc.oneof(putArbitrary, delArbitrary), { maxLength: 8 }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant("get" as const), key: keyArbitrary }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant("iterate" as const),
      gte: boundArbitrary,
      lt: boundArbitrary,
      prefix: fc.option(fc.stringMatching(/^[a-d]{0,2}$/), { nil: undefined }),
      reverse: fc.boolean(),
      limit: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: "flush" as const }) },
  { weight: 1, arbitrary: fc.constant({ type: "compact" as const }) },
  { weight: 1, arbitrary: fc.constant({ type: "gc" as const }) },
  { weight: 1, arbitrary: fc.constant({ type: "reopen" as const }) },
);

const encoder = new TextEncoder();
const byteOrder = (a: string, b: string) => compareBytes(encoder.encode(a), encoder.encode(b));

function modelIterate(model: Map<string, string>, command: Extract<Command, { type: "iterate" }>): string[] {
  let keys = [...model.keys()].sort(byteOrder);
  keys = keys.filter((key) => {
    if (command.gte !== undefined && byteOrder(key, command.gte) < 0) return false;
    if (command.lt !== undefined && byteOrder(key, command.lt) >= 0) return false;
    if (command.prefix !== undefined && !key.startsWith(command.prefix)) return false;
    return true;
  });
  if (command.reverse) keys.reverse();
  if (command.limit !== undefined) keys = keys.slice(0, command.limit);
  return keys.map((key) => `${key}=${model.get(key)}`);
}

function runCommands(core: "ts" | "wasm", commands: Command[]): void {
  const directory = temporaryDirectory();
  // Tiny memtables, tables and levels: flushes and compactions happen every few commands.
  const options = { core, memtableBytes: 4096, valueThreshold: 32, segmentBytes: 64 * 1024, l0Files: 2, levelRatio: 2, level1Bytes: 8192, tableBytes: 4096, openFilesMax: 8 };
  let db = DB.open(directory, options);
  const model = new Map<string, string>();
  try {
    for (const command of commands) {
      switch (command.type) {
        case "put":
          db.put(command.key, command.value);
          model.set(command.key, command.value);
          break;
        case "del":
          db.delete(command.key);
          model.delete(command.key);
          break;
        case "batch":
          db.batch(command.operations);
          for (const operation of command.operations) {
            if (operation.type === "put") model.set(operation.key, operation.value);
            else model.delete(operation.key);
          }
          break;
        case "get":
          assert.is(text(db.get(command.key)), model.get(command.key), `get ${command.key}`);
          break;
        case "iterate": {
          const { type: _type, ...options } = command;
          const actual = [...db.iterate(options)].map(([key, value]) => `${text(key)}=${text(value)}`);
          assert.equal(actual, modelIterate(model, command), JSON.stringify(command));
          break;
        }
        case "flush":
          db.flush();
          break;
        case "compact":
          db.compact();
          break;
        case "gc":
          db.gc({ discardRatio: 0.1, segmentsMax: 100 });
          break;
        case "reopen":
          db.close();
          db = DB.open(directory, options);
          break;
      }
    }
    const all = [...db.iterate()].map(([key, value]) => `${text(key)}=${text(value)}`);
    assert.equal(all, modelIterate(model, { type: "iterate", reverse: false }));
  } finally {
    db.close();
    removeDirectory(directory);
  }
}

for (const core of engineCores) {
  test(`${core}: random operations with flushes and reopens match a Map`, () => {
    fc.assert(
      fc.property(fc.array(commandArbitrary, { minLength: 1, maxLength: 120 }), (commands) => runCommands(core, commands)),
      { numRuns: Number(process.env.PGZ_PROPERTY_RUNS ?? 40) },
    );
  });
}

test.run();
