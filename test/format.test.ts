/** The WebAssembly core's copies of the on-disk constants equal ts/format.ts. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import * as format from "../ts/format.ts";

test("assembly/format.ts declares the same values as ts/format.ts", () => {
  const source = readFileSync(new URL("../assembly/format.ts", import.meta.url), "utf8");
  const declared = [...source.matchAll(/export const (\w+): u32 = (0x[0-9a-f]+|\d+);/gi)];
  assert.ok(declared.length >= 4, "found the constants");
  for (const [, name, literal] of declared) {
    assert.is(Number(literal), (format as Record<string, unknown>)[name!], name);
  }
});

test.run();
