/**
 * Values read from the value log (ts/vlog/log.ts readValue) on both cores: a short record goes into
 * the core's reused read buffer and its value is copied out once into a slab, a long one into a
 * buffer of its own, so a value handed out must never change when later reads reuse that buffer or
 * share its slab; a damaged record and a hostile pointer stay PGZ_CORRUPTION naming the segment
 * and offset, without a read past what the file holds.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DB } from "../ts/index.ts";
import { KIND_POINTER, SEQUENCE_MAX } from "../ts/core/types.ts";
import type { EngineState } from "../ts/engine/state.ts";
import { RECORD_BYTES_MAX, SEGMENT_FILE_BYTES_MAX, segmentFileName } from "../ts/format.ts";
import { decodeValuePointer, type ValuePointer } from "../ts/vlog/record.ts";
import { engineCores, expectCode, removeDirectory, sameBytes } from "./helpers.ts";
import { scratchDirectory } from "./model.ts";

/** Lengths around the slab's 4 KiB limit, a 64 KiB value and one past 1 MiB (checked against the file size first). */
const LENGTHS = [600, 4095, 4096, 4097, 65536, 1536 * 1024];

function keyOf(index: number): string {
  return `key${String(index).padStart(3, "0")}`;
}

/** A value no other key has: its index in every byte's high bits, a ramp in the low ones. */
function valueOf(index: number): Uint8Array {
  const length = LENGTHS[index % LENGTHS.length]!;
  return Uint8Array.from({ length }, (_, at) => ((index * 37 + at * 11) ^ (at >>> 8)) & 0xff);
}

const stateOf = (db: DB): EngineState => (db as unknown as { engine: { state: EngineState } }).engine.state;

/** Writes `count` values, flushed (so recovery replays none of them) and, by closing, all in files. */
function writeValues(directory: string, core: "ts" | "wasm", count: number): void {
  const db = DB.open(directory, { core });
  try {
    for (let index = 0; index < count; index++) db.put(keyOf(index), valueOf(index));
    db.flush();
  } finally {
    db.close();
  }
}

function checkAll(values: (Uint8Array | undefined)[], what: string, skip: readonly number[] = []): void {
  values.forEach((value, index) => {
    if (skip.includes(index)) return;
    assert.ok(value, `${what}: key ${index} found`);
    sameBytes(value, valueOf(index), `${what}: key ${index}`);
  });
}

for (const core of engineCores) {
  test(`${core}: values read from the log stay whole while later reads reuse the read buffer (get, getMany, iterate)`, () => {
    const directory = scratchDirectory();
    const count = 4 * LENGTHS.length;
    try {
      writeValues(directory, core, count);
      const db = DB.open(directory, { core });
      try {
        const gets = Array.from({ length: count }, (_, index) => db.get(keyOf(index)));
        const many = db.getMany(Array.from({ length: count }, (_, index) => keyOf(index)));
        const iterated = [...db.iterate()].map(([, value]) => value);
        assert.is(iterated.length, count);
        // More reads, in another order, over the same buffer and slabs.
        for (let index = count - 1; index >= 0; index--) sameBytes(db.get(keyOf(index))!, valueOf(index), `reread ${index}`);
        checkAll(gets, "get");
        checkAll(many, "getMany");
        checkAll(iterated, "iterate");
        // A caller writing into values (4095 B from a slab, 4097 B and 64 KiB in buffers of their
        // own) changes no other value, nor what the next read returns.
        const overwritten = [1, 3, 4, 7];
        for (const index of overwritten) gets[index]!.fill(0xee);
        checkAll(gets, "get, after the caller overwrote some", overwritten);
        checkAll(many, "getMany, after the caller overwrote some of get");
        for (const index of overwritten) sameBytes(db.get(keyOf(index))!, valueOf(index), `key ${index} read again`);
      } finally {
        db.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });

  test(`${core}: a flipped byte in a log record's value or key fails the read with PGZ_CORRUPTION naming its segment and offset`, () => {
    for (const [part, index] of [["value", 1], ["value", 4], ["key", 2], ["value", 5]] as const) {
      const directory = scratchDirectory();
      try {
        writeValues(directory, core, LENGTHS.length);
        const pointer = pointerOf(directory, core, index);
        const name = segmentFileName(pointer.segment);
        const file = readFileSync(join(directory, name));
        const target = part === "value" ? valueOf(index) : new TextEncoder().encode(keyOf(index));
        const at = Buffer.from(file.buffer, file.byteOffset, file.length).indexOf(Buffer.from(target));
        assert.ok(at >= pointer.offset && at < pointer.offset + pointer.length, `${part} ${index} lies in its record`);
        file[at + (target.length >> 1)]! ^= 0x10;
        writeFileSync(join(directory, name), file);
        const db = DB.open(directory, { core });
        try {
          const error = expectCode("PGZ_CORRUPTION", () => db.get(keyOf(index)), `${part} ${index} flipped`);
          assert.is(error.file, name);
          assert.is(error.offset, pointer.offset);
          expectCode("PGZ_CORRUPTION", () => db.getMany([keyOf(index)]), `${part} ${index} flipped, getMany`);
          // The failed read leaves nothing behind: an undamaged neighbour reads whole.
          const neighbour = index === 0 ? 1 : index - 1;
          sameBytes(db.get(keyOf(neighbour))!, valueOf(neighbour), `neighbour ${neighbour}`);
        } finally {
          db.close();
        }
      } finally {
        removeDirectory(directory);
      }
    }
  });

  test(`${core}: hostile pointer lengths and offsets are PGZ_CORRUPTION, never a read past the file or a buffer of their size`, () => {
    const directory = scratchDirectory();
    try {
      writeValues(directory, core, LENGTHS.length);
      const pointer = pointerOf(directory, core, 2);
      const name = segmentFileName(pointer.segment);
      const fileBytes = readFileSync(join(directory, name)).length;
      const db = DB.open(directory, { core });
      try {
        const state = stateOf(db);
        const readLengths = spyOnReads(state, name);
        const key = new TextEncoder().encode(keyOf(2));
        const sequence = state.tree.get(key, SEQUENCE_MAX)!.sequence;
        const hostile: [string, ValuePointer][] = [
          ["length 0", { ...pointer, length: 0 }],
          ["length 1", { ...pointer, length: 1 }],
          ["length one short", { ...pointer, length: pointer.length - 1 }],
          ["length one long", { ...pointer, length: pointer.length + 1 }],
          ["length 2^32 - 1", { ...pointer, length: 0xffff_ffff }],
          ["length RECORD_BYTES_MAX, past the end", { ...pointer, length: RECORD_BYTES_MAX }],
          ["length 512 KiB, past the end", { ...pointer, offset: fileBytes - 4096, length: 512 * 1024 }],
          ["offset past the end", { ...pointer, offset: fileBytes + 4096 }],
          ["offset and length past 4 GiB", { ...pointer, offset: SEGMENT_FILE_BYTES_MAX - 100 }],
          ["offset one off", { ...pointer, offset: pointer.offset + 1 }],
        ];
        for (const [what, bad] of hostile) {
          const error = expectCode("PGZ_CORRUPTION", () => state.log.readValue(bad, key, sequence), what);
          assert.is(error.file, name, what);
          assert.is(error.offset, bad.offset, what);
        }
        assert.ok(readLengths.length > 0, "some hostile pointers were read");
        assert.ok(Math.max(...readLengths) <= 1024 * 1024, `no read asked for more than 1 MiB past what the file holds: ${readLengths.join(", ")}`);
        sameBytes(state.log.readValue(pointer, key, sequence), valueOf(2), "the real pointer still reads");
        expectCode("PGZ_CORRUPTION", () => state.log.readValue(pointer, key, sequence + 1), "another sequence");
        expectCode("PGZ_CORRUPTION", () => state.log.readValue(pointer, new TextEncoder().encode(keyOf(3)), sequence), "another key");
      } finally {
        db.close();
      }
    } finally {
      removeDirectory(directory);
    }
  });
}

/** The value pointer the tree holds for key `index`. */
function pointerOf(directory: string, core: "ts" | "wasm", index: number): ValuePointer {
  const db = DB.open(directory, { core });
  try {
    const hit = stateOf(db).tree.get(new TextEncoder().encode(keyOf(index)), SEQUENCE_MAX);
    assert.ok(hit && hit.kind === KIND_POINTER, `key ${index} is in the log`);
    return decodeValuePointer(hit.value);
  } finally {
    db.close();
  }
}

/** Records the length of every read of segment `name` (the handle the value log reads it through). */
function spyOnReads(state: EngineState, name: string): number[] {
  const lengths: number[] = [];
  const handle = state.files.get(name);
  const read = handle.read.bind(handle);
  handle.read = (target, position) => {
    lengths.push(target.length);
    return read(target, position);
  };
  return lengths;
}

test.run();
