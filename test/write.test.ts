/**
 * The write path's memtable run (ts/engine/write.ts): encodeMemtableRun writes the bytes
 * encodeRun (ts/core/entry.ts) does for the same entries, into one buffer reused by every call,
 * and each core's memtable has copied a run by the time the next call overwrites that buffer.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createCore } from "../ts/core/index.ts";
import { encodeRun } from "../ts/core/entry.ts";
import { KIND_DELETE, KIND_POINTER, KIND_VALUE } from "../ts/core/types.ts";
import { encodeMemtableRun } from "../ts/engine/write.ts";
import type { LogOperation } from "../ts/vlog/log.ts";
import { engineCores } from "./helpers.ts";
import { random } from "./random.ts";

/** A batch of puts (inline, or behind a pointer) and deletes of distinct keys, sorted or not. */
function randomBatch(next: () => number, size: number, salt: number): { operations: LogOperation[]; pointers: (Uint8Array | undefined)[] } {
  const operations: LogOperation[] = [];
  const pointers: (Uint8Array | undefined)[] = [];
  for (let i = 0; i < size; i++) {
    const key = new TextEncoder().encode(`key-${salt}-${i}-${Math.floor(next() * 1e6)}`);
    const roll = next();
    if (roll < 0.2) {
      operations.push({ type: "del", key, value: new Uint8Array(0) });
      pointers.push(undefined);
    } else {
      operations.push({ type: "put", key, value: new Uint8Array(Math.floor(next() * 300)).fill(i & 0xff) });
      pointers.push(roll < 0.5 ? new Uint8Array(12).fill(salt & 0xff) : undefined);
    }
  }
  return { operations, pointers };
}

test("encodeMemtableRun writes what encodeRun writes, call after call into its reused buffer", () => {
  const next = random(41);
  for (let round = 0; round < 50; round++) {
    const size = 1 + Math.floor(next() * (round % 10 === 0 ? 3000 : 50));
    const { operations, pointers } = randomBatch(next, size, round);
    const first = 1 + Math.floor(next() * 1e9);
    const expected = encodeRun(operations.map((operation, i) => {
      const pointer = pointers[i];
      if (operation.type === "del") return { key: operation.key, value: new Uint8Array(0), sequence: first + i, kind: KIND_DELETE };
      return { key: operation.key, value: pointer ?? operation.value, sequence: first + i, kind: pointer ? KIND_POINTER : KIND_VALUE };
    }));
    assert.equal(encodeMemtableRun(operations, first, pointers), expected, `round ${round} (${size} operations)`);
  }
});

for (const core of engineCores) {
  test(`${core}: the memtable keeps a run's entries after the next run reuses the buffer it came in`, () => {
    const memtable = createCore(core).newMemtable();
    const next = random(43);
    const batches = [0, 1, 2].map((salt) => randomBatch(next, 200, salt));
    let sequence = 1;
    for (const { operations, pointers } of batches) {
      memtable.insert(encodeMemtableRun(operations, sequence, pointers));
      sequence += operations.length;
    }
    sequence = 1;
    for (const { operations, pointers } of batches) {
      for (const [i, operation] of operations.entries()) {
        const hit = memtable.get(operation.key, sequence + i);
        assert.ok(hit, `entry ${sequence + i} is there`);
        assert.is(hit.kind, operation.type === "del" ? KIND_DELETE : pointers[i] ? KIND_POINTER : KIND_VALUE);
        assert.equal(hit.value, operation.type === "del" ? new Uint8Array(0) : (pointers[i] ?? operation.value));
      }
      sequence += operations.length;
    }
    memtable.free();
  });
}

test.run();
