/**
 * The page that opens every OPFS slot file and names the pgz file it holds (byte grammar in
 * ts/format.ts, "OPFS slot header", and docs/FORMAT.md). Pure bytes, no OPFS: ts/storage/opfs.ts
 * does the I/O.
 */
import { assert } from "../assert.ts";
import { viewOf } from "../bytes.ts";
import { pureCrc32c } from "../core/pure/crc32c.ts";
import { MAGIC_OPFS_SLOT, OPFS_NAME_BYTES_MAX, OPFS_SLOT_FIELD_OFFSETS, OPFS_SLOT_HEADER_BYTES, OPFS_SLOT_VERSION } from "../format.ts";

export interface SlotHeader {
  name: string;
  generation: number;
}

const crc = pureCrc32c();
const TWO_POW_32 = 0x1_0000_0000;

export function slotNameBytes(name: string): Uint8Array {
  return new TextEncoder().encode(name);
}

/** Page 0 of a slot holding `name`, written at `generation`. */
export function encodeSlotHeader(header: SlotHeader): Uint8Array {
  const name = slotNameBytes(header.name);
  assert(name.length >= 1 && name.length <= OPFS_NAME_BYTES_MAX, `slot name length ${name.length}`);
  assert(Number.isSafeInteger(header.generation) && header.generation >= 0, `slot generation ${header.generation}`);
  const page = new Uint8Array(OPFS_SLOT_HEADER_BYTES);
  const view = viewOf(page);
  const at = OPFS_SLOT_FIELD_OFFSETS;
  view.setUint32(at.magic, MAGIC_OPFS_SLOT, true);
  view.setUint32(at.version, OPFS_SLOT_VERSION, true);
  view.setUint32(at.generation, header.generation % TWO_POW_32, true);
  view.setUint32(at.generation + 4, Math.floor(header.generation / TWO_POW_32), true);
  view.setUint16(at.nameLength, name.length, true);
  page.set(name, at.name);
  const end = at.name + name.length;
  view.setUint32(end, crc.crc32cMask(crc.crc32c(page.subarray(0, end))), true);
  return page;
}

/** The file a slot's page 0 names, or undefined if it names none (free, torn, foreign). */
export function decodeSlotHeader(page: Uint8Array): SlotHeader | undefined {
  const at = OPFS_SLOT_FIELD_OFFSETS;
  if (page.length < at.name) return undefined;
  const view = viewOf(page);
  if (view.getUint32(at.magic, true) !== MAGIC_OPFS_SLOT || view.getUint32(at.version, true) !== OPFS_SLOT_VERSION) return undefined;
  const nameLength = view.getUint16(at.nameLength, true);
  const end = at.name + nameLength;
  if (nameLength === 0 || nameLength > OPFS_NAME_BYTES_MAX || end + 4 > page.length) return undefined;
  if (view.getUint32(end, true) !== crc.crc32cMask(crc.crc32c(page.subarray(0, end)))) return undefined;
  const generation = view.getUint32(at.generation, true) + view.getUint32(at.generation + 4, true) * TWO_POW_32;
  if (!Number.isSafeInteger(generation)) return undefined;
  try {
    return { name: new TextDecoder("utf-8", { fatal: true }).decode(page.subarray(at.name, end)), generation };
  } catch {
    return undefined;
  }
}
