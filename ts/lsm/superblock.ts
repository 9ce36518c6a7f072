/**
 * The superblock (two copies, layout in ts/format.ts and docs/FORMAT.md): which manifest is current,
 * the database id, and the format version a database was written in.
 */
import { bytesEqual, getUint64, magicBytes, setUint64, viewOf } from "../bytes.ts";
import type { Core } from "../core/types.ts";
import { PgzError, corruption } from "../errors.ts";
import {
  DATABASE_ID_BYTES,
  FORMAT_VERSION,
  MAGIC_SUPERBLOCK,
  PAGE_SIZE,
  SUPERBLOCK_BYTES,
  SUPERBLOCK_CHECKSUM_OFFSET,
  SUPERBLOCK_DATABASE_ID_OFFSET,
} from "../format.ts";



export function encodeSuperblock(core: Core, sequence: number, manifestNumber: number, databaseId: Uint8Array): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const view = viewOf(page);
  page.set(magicBytes(MAGIC_SUPERBLOCK), 0);
  view.setUint32(8, FORMAT_VERSION, true);
  setUint64(view, 16, sequence);
  setUint64(view, 24, manifestNumber);
  page.set(databaseId, SUPERBLOCK_DATABASE_ID_OFFSET);
  view.setUint32(SUPERBLOCK_CHECKSUM_OFFSET, core.crc32cMask(core.crc32c(page.subarray(0, SUPERBLOCK_CHECKSUM_OFFSET))), true);
  return page;
}

/** A new database's id: random, so no two databases share one (see DATABASE_ID_BYTES). */
export function newDatabaseId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(DATABASE_ID_BYTES));
}

export interface SuperblockCopy {
  copy: number;
  /** The format version the copy was written in; only FORMAT_VERSION can be opened. */
  formatVersion: number;
  sequence: number;
  manifestNumber: number;
  databaseId: Uint8Array;
}

/** A copy with a valid checksum and magic (of any format version), or undefined. */
export function decodeSuperblock(core: Core, page: Uint8Array, copy: number): SuperblockCopy | undefined {
  if (page.length < SUPERBLOCK_BYTES) return undefined;
  const view = viewOf(page);
  if (view.getUint32(SUPERBLOCK_CHECKSUM_OFFSET, true) !== core.crc32cMask(core.crc32c(page.subarray(0, SUPERBLOCK_CHECKSUM_OFFSET)))) return undefined;
  if (!bytesEqual(page.subarray(0, 8), magicBytes(MAGIC_SUPERBLOCK))) return undefined;
  const databaseId = page.slice(SUPERBLOCK_DATABASE_ID_OFFSET, SUPERBLOCK_DATABASE_ID_OFFSET + DATABASE_ID_BYTES);
  return { copy, formatVersion: view.getUint32(8, true), sequence: getUint64(view, 16), manifestNumber: getUint64(view, 24), databaseId };
}

/** The answer to a database (or file) written in another format version than this build's. */
export function formatVersionMismatch(found: number, file: string, offset: number): PgzError {
  return corruption(`database format version ${found}; this pgz reads version ${FORMAT_VERSION} (export with a pgz that reads version ${found} and import)`, { file, offset });
}
