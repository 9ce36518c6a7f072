/** Copies of found values (ts/core/slab.ts): equal bytes, independent of the source and of each other, with or without a DataView. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyOfRange } from "../ts/core/slab.ts";
import { random } from "./random.ts";

test("copyOfRange copies every length from 0 to 1100 at any offset, word by word (with a view) or by set", () => {
  const next = random(3);
  const buffer = new ArrayBuffer(4096);
  // A source that starts at an odd offset of its buffer, as a block's bytes may.
  const source = new Uint8Array(buffer, 5, 4000);
  for (let i = 0; i < source.length; i++) source[i] = Math.floor(next() * 256);
  const sourceView = new DataView(buffer, 5, 4000);
  const copies: { copy: Uint8Array; start: number; end: number }[] = [];
  for (let length = 0; length <= 1100; length++) {
    for (const view of [sourceView, undefined]) {
      const start = Math.floor(next() * (source.length - length));
      const copy = copyOfRange(source, start, start + length, view);
      assert.is(copy.length, length);
      assert.equal(copy, source.subarray(start, start + length), `length ${length}, start ${start}`);
      copies.push({ copy, start, end: start + length });
    }
  }
  const before = source.slice();
  for (const { copy } of copies) copy.fill(0xa5);
  assert.equal(source, before, "the source is untouched by writes to its copies");
  for (const { copy } of copies) assert.ok(copy.every((byte) => byte === 0xa5), "no copy overlaps another");
});

test.run();
