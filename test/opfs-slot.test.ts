/**
 * The OPFS slot header (ts/storage/opfs-slot.ts; docs/FORMAT.md, "OPFS slot"): pinned bytes,
 * round trips, and every damaged header (each truncation, each flipped byte, random pages) reads
 * as "names no file", never a wrong name and never a throw. OpfsStorage itself runs on real
 * OPFS in test/browser.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { OPFS_SLOT_HEADER_BYTES } from "../ts/format.ts";
import { decodeSlotHeader, encodeSlotHeader } from "../ts/storage/opfs-slot.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

test("pinned bytes of a header naming MANIFEST-000002 at generation 2^32 + 5", () => {
  const page = encodeSlotHeader({ name: "MANIFEST-000002", generation: 2 ** 32 + 5 });
  assert.is(page.length, OPFS_SLOT_HEADER_BYTES);
  // magic "pgzS", version 1, generation (low, high), name length 15, name, masked CRC32C.
  assert.is(hex(page.subarray(0, 37)), "70677a53" + "01000000" + "0500000001000000" + "0f00" + Buffer.from("MANIFEST-000002").toString("hex") + hex(page.subarray(33, 37)));
  assert.ok(page.subarray(37).every((byte) => byte === 0), "the rest of the page is zero");
  assert.equal(decodeSlotHeader(page), { name: "MANIFEST-000002", generation: 2 ** 32 + 5 });
});

test("round trip: any name of 1..255 UTF-8 bytes at any safe generation", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1, maxLength: 60 }), fc.maxSafeNat(), (name, generation) => {
      fc.pre(new TextEncoder().encode(name).length <= 255);
      assert.equal(decodeSlotHeader(encodeSlotHeader({ name, generation })), { name, generation });
    }),
  );
});

test("a zero page, every truncation and every flipped byte name no file", () => {
  assert.is(decodeSlotHeader(new Uint8Array(OPFS_SLOT_HEADER_BYTES)), undefined);
  const page = encodeSlotHeader({ name: "000123.vlog", generation: 77 });
  const covered = 18 + "000123.vlog".length + 4;
  for (let length = 0; length < covered; length++) assert.is(decodeSlotHeader(page.subarray(0, length)), undefined, `cut at ${length}`);
  for (let offset = 0; offset < covered; offset++) {
    const damaged = page.slice();
    damaged[offset] = damaged[offset]! ^ 0x40;
    assert.is(decodeSlotHeader(damaged), undefined, `flipped byte ${offset}`);
  }
});

test("random pages never throw and name no file", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => decodeSlotHeader(bytes) === undefined));
});

test.run();
