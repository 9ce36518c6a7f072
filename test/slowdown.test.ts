/**
 * The write slowdown with the background worker (ts/engine/slowdown.ts): how far behind the
 * worker is, from level 0 and from a memtable waiting for its flush, and how long a write sleeps
 * for it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SLOWDOWN_L0_MULTIPLIER, slowdownMilliseconds, slowdownSteps } from "../ts/engine/slowdown.ts";

const calm = { level0Tables: 0, l0Files: 4, flushWaiting: false, memtableFill: 0 };

test("no slowdown while level 0 is under its trigger and no flush waits", () => {
  assert.is(slowdownSteps(calm), 0);
  assert.is(slowdownSteps({ ...calm, level0Tables: 4 * SLOWDOWN_L0_MULTIPLIER - 1 }), 0);
  // A memtable waiting for its flush is normal until the new one is half full.
  assert.is(slowdownSteps({ ...calm, flushWaiting: true, memtableFill: 0.49 }), 0);
  // A full memtable with no flush waiting is a rotation, not a backlog.
  assert.is(slowdownSteps({ ...calm, memtableFill: 0.99 }), 0);
  assert.is(slowdownMilliseconds(1_000_000, 0), 0);
});

test("each level-0 table past the trigger is one more step", () => {
  const trigger = 4 * SLOWDOWN_L0_MULTIPLIER;
  assert.is(slowdownSteps({ ...calm, level0Tables: trigger }), 1);
  assert.is(slowdownSteps({ ...calm, level0Tables: trigger + 3 }), 4);
  assert.is(slowdownSteps({ ...calm, level0Tables: 2, l0Files: 1 }), 1);
});

test("a waiting flush: one step at half full, one more per eighth; the larger backlog wins", () => {
  assert.is(slowdownSteps({ ...calm, flushWaiting: true, memtableFill: 0.5 }), 1);
  assert.is(slowdownSteps({ ...calm, flushWaiting: true, memtableFill: 0.76 }), 3);
  assert.is(slowdownSteps({ ...calm, flushWaiting: true, memtableFill: 0.99 }), 4);
  assert.is(slowdownSteps({ ...calm, flushWaiting: true, memtableFill: 0.5, level0Tables: 4 * SLOWDOWN_L0_MULTIPLIER + 2 }), 3);
});

test("the sleep is proportional to the write's bytes, doubles per step, and is capped", () => {
  const one = slowdownMilliseconds(16 * 1024, 1);
  assert.is(one, 1, "16 KiB at the first step's 16 MiB/s");
  assert.is(slowdownMilliseconds(8 * 1024, 1), 0.5);
  assert.is(slowdownMilliseconds(8 * 1024, 3), 2);
  assert.is(slowdownMilliseconds(16 * 1024 * 1024, 1), 4, "no write sleeps longer than the cap");
  assert.is(slowdownMilliseconds(16 * 1024, 20), 4);
});

test.run();
