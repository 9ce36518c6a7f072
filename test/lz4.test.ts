/**
 * LZ4 block format on every core: pinned vectors (test/vectors/lz4.txt), round trips against
 * lz4js (another implementation, both ways), WASM-vs-TS differential properties, and hostile
 * input (truncations, byte flips, crafted offsets) that must be PGZ_CORRUPTION and nothing else.
 */
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import lz4js from "lz4js";
import { PgzError } from "../ts/errors.ts";
import type { Core } from "../ts/core/types.ts";
import { createPureCore } from "../ts/core/pure/index.ts";
import { createWasmCore } from "../ts/core/wasm.ts";
import { bytes, coreFactories, expectCode, random, sameBytes, throwsInvalid } from "./helpers.ts";

type Vector = { kind: "compress"; input: Uint8Array; expected: Uint8Array; line: number } | { kind: "decode"; length: number; block: Uint8Array; expected: Uint8Array | "corrupt"; line: number };

const ramp = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 0xff);

function parseInput(spec: string): Uint8Array {
  const space = spec.indexOf(" ");
  const kind = space < 0 ? spec : spec.slice(0, space);
  const rest = space < 0 ? "" : spec.slice(space + 1);
  if (kind === "text") return bytes(rest);
  if (kind === "hex") return Uint8Array.from(Buffer.from(rest, "hex"));
  if (kind === "repeat") return new Uint8Array(Number(rest.split(" ")[1])).fill(parseInt(rest.split(" ")[0]!, 16));
  if (kind === "ramp") return ramp(Number(rest));
  if (kind === "halves") return halves(ramp(Number(rest)));
  throw new Error(`lz4.txt: unknown input kind in "${spec}"`);
}

/** db_bench's shape: each 100-byte piece's second half is a copy of its first. */
function halves(data: Uint8Array): Uint8Array {
  for (let at = 0; at + 100 <= data.length; at += 100) data.copyWithin(at + 50, at, at + 50);
  return data;
}

function readVectors(): Vector[] {
  const lines = readFileSync(new URL("./vectors/lz4.txt", import.meta.url), "utf8").split("\n");
  const vectors: Vector[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("#") || line.trim() === "") continue;
    assert.is(lines[i + 1], "----", `lz4.txt line ${i + 2}`);
    const result = lines[i + 2]!;
    if (line.startsWith("compress ")) {
      vectors.push({ kind: "compress", input: parseInput(line.slice(9)), expected: Uint8Array.from(Buffer.from(result, "hex")), line: i + 1 });
    } else {
      const [, length, hex = ""] = line.split(" ");
      const expected = result === "corrupt" ? "corrupt" : Uint8Array.from(Buffer.from(result, "hex"));
      vectors.push({ kind: "decode", length: Number(length), block: Uint8Array.from(Buffer.from(hex, "hex")), expected, line: i + 1 });
    }
    i += 2;
  }
  return vectors;
}

const vectors = readVectors();
const cores: Array<[string, Core]> = coreFactories.map(([name, create]) => [name, create()]);

/** lz4js's block functions (its frame functions are not the format pgz stores). */
function lz4jsCompress(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(lz4js.compressBound(data.length));
  const length = lz4js.compressBlock(data, out, 0, data.length, new Uint32Array(1 << 16));
  return out.subarray(0, length);
}

function lz4jsDecompress(block: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  assert.is(lz4js.decompressBlock(block, out, 0, block.length, 0), length, "lz4js decodes every byte");
  return out;
}

/** Inputs of every shape a table block has: random, repetitive, db_bench-like, runs of one byte. */
function sampleInputs(): Uint8Array[] {
  const next = random(17);
  const randomBytes = (length: number) => Uint8Array.from({ length }, () => (next() * 256) | 0);
  const inputs: Uint8Array[] = [];
  for (const length of [0, 1, 4, 5, 12, 13, 14, 16, 17, 31, 64, 100, 255, 256, 1000, 4096, 65536, 70_000, 200_000]) {
    inputs.push(randomBytes(length), halves(randomBytes(length)), new Uint8Array(length).fill(7));
    inputs.push(bytes("key000123:value ".repeat(Math.ceil(length / 16)).slice(0, length)));
  }
  return inputs;
}

const inputs = sampleInputs();

function expectCorrupt(core: Core, block: Uint8Array, length: number, what: string): void {
  expectCode("PGZ_CORRUPTION", () => core.lz4Decompress(block, length), what);
}

for (const [name, core] of cores) {
  test(`${name}: pinned vectors (test/vectors/lz4.txt)`, () => {
    for (const vector of vectors) {
      const where = `lz4.txt line ${vector.line}`;
      if (vector.kind === "compress") {
        sameBytes(core.lz4Compress(vector.input)!, vector.expected, `${where}: compressed bytes`);
        sameBytes(core.lz4Decompress(vector.expected, vector.input.length), vector.input, `${where}: decompressed`);
        sameBytes(lz4jsDecompress(vector.expected, vector.input.length), vector.input, `${where}: lz4js decodes it`);
      } else if (vector.expected === "corrupt") {
        expectCorrupt(core, vector.block, vector.length, where);
      } else {
        sameBytes(core.lz4Decompress(vector.block, vector.length), vector.expected, where);
      }
    }
  });

  test(`${name}: lz4js decodes pgz's blocks, and pgz decodes lz4js's`, () => {
    for (const input of inputs) {
      const what = `${input.length} bytes`;
      const ours = core.lz4Compress(input)!;
      assert.ok(ours.length <= lz4js.compressBound(input.length), `${what}: within the bound`);
      sameBytes(lz4jsDecompress(ours, input.length), input, `${what}: lz4js decodes pgz`);
      const theirs = lz4jsCompress(input);
      // lz4js writes nothing for input it cannot compress (its frame then stores it raw).
      if (theirs.length > 0) sameBytes(core.lz4Decompress(theirs, input.length), input, `${what}: pgz decodes lz4js`);
    }
  });

  test(`${name}: compression pays on repetitive input and costs at most the bound on random input`, () => {
    const halved = halves(ramp(4000).map((byte, i) => byte ^ (i >> 8)));
    assert.ok(core.lz4Compress(halved)!.length < 0.6 * halved.length, "db_bench-like data shrinks");
    assert.ok(core.lz4Compress(new Uint8Array(4096))!.length < 32, "zeros shrink to almost nothing");
  });

  test(`${name}: a capacity too small gives undefined; exactly enough gives the same bytes`, () => {
    for (const input of inputs.filter((data) => data.length > 0 && data.length <= 4096)) {
      const full = core.lz4Compress(input)!;
      sameBytes(core.lz4Compress(input, full.length)!, full, `${input.length} bytes: exact capacity`);
      assert.is(core.lz4Compress(input, full.length - 1), undefined, `${input.length} bytes: one byte short`);
    }
  });

  test(`${name}: every truncation of a valid block is PGZ_CORRUPTION`, () => {
    for (const input of [halves(ramp(1000)), bytes("abcdabcdabcdabcd".repeat(20)), ramp(300)]) {
      const block = core.lz4Compress(input)!;
      for (let cut = 0; cut < block.length; cut++) expectCorrupt(core, block.subarray(0, cut), input.length, `cut at ${cut} of ${block.length}`);
      expectCorrupt(core, block, input.length + 1, "a length one past the real one");
      expectCorrupt(core, block, input.length - 1, "a length one short of the real one");
    }
  });

  test(`${name}: random byte flips decode to the right length or are PGZ_CORRUPTION, never anything else`, () => {
    const next = random(99);
    const input = halves(ramp(4096).map((byte, i) => byte ^ (i * 7)));
    const block = core.lz4Compress(input)!;
    let corrupt = 0;
    for (let round = 0; round < 3000; round++) {
      const damaged = block.slice();
      const flips = 1 + ((next() * 4) | 0);
      for (let i = 0; i < flips; i++) damaged[(next() * damaged.length) | 0] ^= 1 + ((next() * 255) | 0);
      try {
        assert.is(core.lz4Decompress(damaged, input.length).length, input.length, `round ${round}`);
      } catch (error) {
        if (!(error instanceof PgzError) || error.code !== "PGZ_CORRUPTION") throw error;
        corrupt++;
      }
    }
    assert.ok(corrupt > 100, `most flips are caught (${corrupt} of 3000)`);
  });

  test(`${name}: crafted offsets and lengths are PGZ_CORRUPTION`, () => {
    // One literal, then a match whose offset is every value past what has been written.
    for (const offset of [2, 3, 255, 256, 65535]) {
      expectCorrupt(core, Uint8Array.of(0x14, 0x61, offset & 0xff, offset >> 8, 0x00), 9, `offset ${offset}`);
    }
    // A match length of about 2^32 (continuation bytes) into a small output.
    const long = [0x1f, 0x61, 0x01, 0x00, ...new Array<number>(20).fill(0xff), 0x00, 0x00];
    expectCorrupt(core, Uint8Array.from(long), 64, "a huge match length");
    // A literal length continuation far past the output's length.
    expectCorrupt(core, Uint8Array.from([0xf0, ...new Array<number>(16).fill(0xff), 0x00]), 100, "a huge literal length");
  });

  test(`${name}: openCompressedBlock opens the block the bytes decode to; bad bytes are PGZ_CORRUPTION`, () => {
    const builder = core.newBlockBuilder();
    for (let i = 0; i < 40; i++) builder.add(bytes(`key-${String(i).padStart(4, "0")}\x01\0\0\0\0\0\0\0`), halves(ramp(100)));
    const raw = builder.finish();
    builder.free();
    const compressed = core.lz4Compress(raw)!;
    const reader = core.openCompressedBlock(compressed, raw.length);
    const plain = core.openBlock(raw);
    assert.is(reader.count, 40);
    for (let valid = reader.first(), other = plain.first(); valid || other; valid = reader.next(), other = plain.next()) {
      assert.is(valid, other);
      sameBytes(reader.key(), plain.key(), "key");
      sameBytes(reader.value(), plain.value(), "value");
    }
    reader.free();
    plain.free();
    expectCode("PGZ_CORRUPTION", () => core.openCompressedBlock(compressed, raw.length + 1), "wrong raw length");
    expectCode("PGZ_CORRUPTION", () => core.openCompressedBlock(compressed.subarray(0, compressed.length - 3), raw.length), "truncated");
    // Valid LZ4 of bytes that are not a block: the block's own checks catch it.
    expectCode("PGZ_CORRUPTION", () => core.openCompressedBlock(core.lz4Compress(ramp(500))!, 500), "not a block");
    // The core still works after each failure (nothing trapped, nothing leaked into a reader).
    core.openCompressedBlock(compressed, raw.length).free();
  });

  test(`${name}: bad arguments are PGZ_INVALID_ARGUMENT`, () => {
    throwsInvalid(() => core.lz4Decompress(new Uint8Array(4), -1), "negative length");
    throwsInvalid(() => core.lz4Decompress(new Uint8Array(4), 1.5), "fractional length");
    throwsInvalid(() => core.lz4Compress(new Uint8Array(4), -1), "negative capacity");
    throwsInvalid(() => core.lz4Compress(new Uint8Array(4), Number.NaN), "NaN capacity");
  });
}

test("differential: the WASM and TS cores compress to the same bytes and decode each other's", () => {
  const wasm = createWasmCore();
  const pure = createPureCore();
  // Inputs built from repeated pieces, so matches of every offset and length occur.
  const structured = fc
    .array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 30 })), { maxLength: 30 })
    .map((pieces) => Uint8Array.from(pieces.flatMap(([piece, times]) => Array.from({ length: times }, () => [...piece]).flat())));
  fc.assert(
    fc.property(fc.oneof(structured, fc.uint8Array({ maxLength: 3000 })), fc.integer({ min: 0, max: 5000 }), (input, capacity) => {
      const fromWasm = wasm.lz4Compress(input)!;
      sameBytes(fromWasm, pure.lz4Compress(input)!, "compressed bytes");
      sameBytes(pure.lz4Decompress(fromWasm, input.length), input, "TS decodes WASM");
      sameBytes(wasm.lz4Decompress(fromWasm, input.length), input, "WASM decodes WASM");
      const limitedWasm = wasm.lz4Compress(input, capacity);
      const limitedPure = pure.lz4Compress(input, capacity);
      assert.is(limitedWasm === undefined, limitedPure === undefined, "the same fit at a capacity");
      if (limitedWasm && limitedPure) sameBytes(limitedWasm, limitedPure, "the same bytes at a capacity");
    }),
    { numRuns: 300, seed: 20261129 },
  );
});

test("differential: on damaged blocks both cores give the same bytes or both PGZ_CORRUPTION", () => {
  const wasm = createWasmCore();
  const pure = createPureCore();
  const outcome = (core: Core, block: Uint8Array, length: number): string => {
    try {
      return Buffer.from(core.lz4Decompress(block, length)).toString("hex");
    } catch (error) {
      if (error instanceof PgzError && error.code === "PGZ_CORRUPTION") return "corrupt";
      throw error;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 400 }), (block, length) => {
      assert.is(outcome(wasm, block, length), outcome(pure, block, length));
    }),
    { numRuns: 2000, seed: 1129 },
  );
});

test.run();
