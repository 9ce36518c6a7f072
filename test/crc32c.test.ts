/** CRC32C on every core: pinned vectors (test/vectors/crc32c.txt), streaming, masking, bad input. */
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { PgzError } from "../ts/errors.ts";
import { READ_BUFFER_BYTES_MAX, type Core } from "../ts/core/types.ts";
import { bytes, coreFactories, random } from "./helpers.ts";

interface Vector {
  comment: string;
  data: Uint8Array;
  crc: number;
}

function parseInput(line: string): Uint8Array {
  const space = line.indexOf(" ");
  const kind = space < 0 ? line : line.slice(0, space);
  const rest = space < 0 ? "" : line.slice(space + 1);
  if (kind === "text") return bytes(rest);
  if (kind === "hex") return Uint8Array.from(Buffer.from(rest, "hex"));
  if (kind === "repeat") {
    const [byte, count] = rest.split(" ");
    return new Uint8Array(Number(count)).fill(parseInt(byte!, 16));
  }
  if (kind === "ramp") return Uint8Array.from({ length: Number(rest) }, (_, i) => (i * 131 + 7) & 0xff);
  throw new Error(`crc32c.txt: unknown input kind in "${line}"`);
}

/** Data-driven cases: "# comment", input line, "----", expected hex. */
function readVectors(): Vector[] {
  const lines = readFileSync(new URL("./vectors/crc32c.txt", import.meta.url), "utf8").split("\n");
  const vectors: Vector[] = [];
  let comment = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("#")) comment = line.slice(2);
    if (line.startsWith("#") || line.trim() === "") continue;
    assert.is(lines[i + 1], "----", `crc32c.txt line ${i + 2}`);
    vectors.push({ comment, data: parseInput(line), crc: parseInt(lines[i + 2]!, 16) });
    i += 2;
  }
  return vectors;
}

const vectors = readVectors();
const cores: Array<[string, Core]> = coreFactories.map(([name, create]) => [name, create()]);

function expectInvalid(action: () => unknown, what: string): void {
  try {
    action();
  } catch (error) {
    assert.instance(error, PgzError, what);
    assert.is((error as PgzError).code, "PGZ_INVALID_ARGUMENT", what);
    return;
  }
  assert.unreachable(`${what}: no error thrown`);
}

/** Deterministic pseudo-random bytes. */
function randomBytes(length: number, seed: number): Uint8Array {
  const next = random(seed);
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = Math.floor(next() * 256);
  return data;
}

test("the vector file holds the RFC 3720 and check-value cases", () => {
  assert.ok(vectors.length >= 10);
  const byCrc = new Set(vectors.map((vector) => vector.crc));
  for (const crc of [0xe3069283, 0x8a9136aa, 0x62a8ab43, 0x46dd794e, 0x113fdb5c, 0xd9963a56]) assert.ok(byCrc.has(crc));
});

for (const [name, core] of cores) {
  test(`${name}: every vector, one shot`, () => {
    for (const vector of vectors) assert.is(core.crc32c(vector.data), vector.crc, vector.comment);
  });

  test(`${name}: every vector, byte by byte and in two halves`, () => {
    for (const vector of vectors.filter((v) => v.data.length <= 70_001)) {
      const half = vector.data.length >> 1;
      const halves = core.crc32c(vector.data.subarray(half), core.crc32c(vector.data.subarray(0, half)));
      assert.is(halves, vector.crc, vector.comment);
      if (vector.data.length > 5000) continue;
      let crc = 0;
      for (let i = 0; i < vector.data.length; i++) crc = core.crc32c(vector.data.subarray(i, i + 1), crc);
      assert.is(crc, vector.crc, vector.comment);
    }
  });

  test(`${name}: every vector in one crc32cEach batch`, () => {
    const total = vectors.reduce((sum, vector) => sum + vector.data.length, 0);
    const data = new Uint8Array(total);
    const starts = new Uint32Array(vectors.length);
    const ends = new Uint32Array(vectors.length);
    let offset = 0;
    vectors.forEach((vector, i) => {
      data.set(vector.data, offset);
      starts[i] = offset;
      offset += vector.data.length;
      ends[i] = offset;
    });
    const out = new Uint32Array(vectors.length);
    core.crc32cEach(data, starts, ends, out);
    vectors.forEach((vector, i) => assert.is(out[i], vector.crc, vector.comment));
  });

  test(`${name}: extends like LevelDB's crc32c::Extend`, () => {
    assert.is(core.crc32c(bytes("world"), core.crc32c(bytes("hello "))), core.crc32c(bytes("hello world")));
    assert.is.not(core.crc32c(bytes("a")), core.crc32c(bytes("foo")));
    assert.is(core.crc32c(new Uint8Array(0), 0x12345678), 0x12345678);
  });

  test(`${name}: streaming in random splits equals one shot`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40_000 }), fc.integer(), fc.array(fc.nat(40_000), { maxLength: 8 }), (length, seed, cuts) => {
        const data = randomBytes(length, seed);
        const points = [0, ...cuts.map((cut) => cut % (length + 1)).sort((a, b) => a - b), length];
        let crc = 0;
        for (let i = 1; i < points.length; i++) crc = core.crc32c(data.subarray(points[i - 1], points[i]), crc);
        return crc === core.crc32c(data);
      }),
      { numRuns: 60 },
    );
  });

  test(`${name}: inputs larger than the staging chunk`, () => {
    const data = randomBytes(3 * 1024 * 1024 + 17, 7);
    const reference = cores[0]![1].crc32c(data);
    assert.is(core.crc32c(data), reference);
    assert.is(core.crc32c(data.subarray(5), core.crc32c(data.subarray(0, 5))), reference);
  });

  test(`${name}: crc32cEach over more data than it stages at once`, () => {
    const data = randomBytes(9 * 1024 * 1024, 11);
    const starts = Uint32Array.of(0, 100, 4 * 1024 * 1024, data.length, 3);
    const ends = Uint32Array.of(data.length, 70_000, 9 * 1024 * 1024 - 1, data.length, 3);
    const out = new Uint32Array(5);
    core.crc32cEach(data, starts, ends, out);
    for (let i = 0; i < 5; i++) assert.is(out[i], cores[0]![1].crc32c(data.subarray(starts[i], ends[i])));
  });

  test(`${name}: a readBuffer is checked in place, with the CRC of a copy, and keeps its bytes across crc32c`, () => {
    const reference = cores[0]![1];
    // Growing lengths move the buffer (the wasm core frees and reallocates it); the last is the 1 MiB limit.
    for (const [length, seed] of [[1, 1], [24, 2], [4096 + 33, 3], [70_000, 4], [300_000, 5], [READ_BUFFER_BYTES_MAX, 6], [4096, 7]] as const) {
      const data = randomBytes(length, seed);
      const buffer = core.readBuffer(length);
      assert.is(buffer.length, length);
      buffer.set(data);
      assert.is(core.crc32c(buffer), reference.crc32c(data), `length ${length}`);
      assert.is(core.crc32c(buffer.subarray(length >> 1), core.crc32c(buffer.subarray(0, length >> 1))), reference.crc32c(data), `length ${length} in halves`);
      assert.ok(Buffer.compare(buffer, data) === 0, `length ${length}: the buffer still holds what was written`);
    }
    const any = core as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const length of [0, -1, 1.5, READ_BUFFER_BYTES_MAX + 1, 2 ** 32, Number.NaN, "4096"]) {
      expectInvalid(() => any.readBuffer!(length), `readBuffer length ${String(length)}`);
    }
  });

  test(`${name}: mask and unmask`, () => {
    const crc = core.crc32c(bytes("foo"));
    assert.is(crc, 0xcfc4ae1d);
    // Pinned: a change to the mask would silently invalidate every stored checksum.
    assert.is(core.crc32cMask(crc), 0xfebe8a61);
    assert.is.not(core.crc32cMask(crc), crc);
    assert.is.not(core.crc32cMask(core.crc32cMask(crc)), crc);
    assert.is(core.crc32cUnmask(core.crc32cMask(crc)), crc);
    assert.is(core.crc32cUnmask(core.crc32cUnmask(core.crc32cMask(core.crc32cMask(crc)))), crc);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (value) => {
        const masked = core.crc32cMask(value);
        return masked >= 0 && masked <= 0xffff_ffff && core.crc32cUnmask(masked) === value;
      }),
    );
  });

  test(`${name}: results are unsigned`, () => {
    for (const vector of vectors) assert.ok(core.crc32c(vector.data) >= 0);
    assert.is(core.crc32c(bytes("123456789"), 0xffff_ffff), core.crc32c(bytes("123456789"), 0xffff_ffff) >>> 0);
  });

  test(`${name}: bad input is PGZ_INVALID_ARGUMENT`, () => {
    const any = core as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectInvalid(() => any.crc32c!("123456789"), "string data");
    expectInvalid(() => any.crc32c!([1, 2, 3]), "array data");
    expectInvalid(() => any.crc32c!(new Uint16Array(4)), "Uint16Array data");
    for (const seed of [-1, 0x1_0000_0000, 1.5, Number.NaN, "0", null]) {
      expectInvalid(() => any.crc32c!(bytes("x"), seed), `seed ${String(seed)}`);
    }
    const data = new Uint8Array(10);
    expectInvalid(() => core.crc32cEach(data, Uint32Array.of(0), Uint32Array.of(11), new Uint32Array(1)), "end past data");
    expectInvalid(() => core.crc32cEach(data, Uint32Array.of(5), Uint32Array.of(4), new Uint32Array(1)), "start after end");
    expectInvalid(() => core.crc32cEach(data, Uint32Array.of(0, 1), Uint32Array.of(1), new Uint32Array(2)), "length mismatch");
    expectInvalid(() => any.crc32cEach!(data, [0], [1], new Uint32Array(1)), "plain arrays");
    expectInvalid(() => core.crc32cMask(-1), "mask of -1");
    expectInvalid(() => core.crc32cUnmask(2 ** 32), "unmask of 2^32");
    // The core still works after rejecting bad input (nothing trapped).
    assert.is(core.crc32c(bytes("123456789")), 0xe3069283);
  });
}

test("differential: every core computes the same CRCs and batches", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 20_000 }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 20 }),
      (data, seed, ranges) => {
        const starts = new Uint32Array(ranges.length);
        const ends = new Uint32Array(ranges.length);
        ranges.forEach(([a, b], i) => {
          const x = a % (data.length + 1);
          const y = b % (data.length + 1);
          starts[i] = Math.min(x, y);
          ends[i] = Math.max(x, y);
        });
        const results = cores.map(([, core]) => {
          const out = new Uint32Array(ranges.length);
          core.crc32cEach(data, starts, ends, out);
          return [core.crc32c(data, seed), ...out];
        });
        for (const result of results.slice(1)) assert.equal(result, results[0]);
        const ts = cores[0]![1];
        results[0]!.slice(1).forEach((crc, i) => assert.is(crc, ts.crc32c(data.subarray(starts[i], ends[i]))));
      },
    ),
    { numRuns: 200 },
  );
});

test.run();
