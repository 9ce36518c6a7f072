/**
 * What Table.findBlock compares before any key bytes: the user-key bytes every block key of a
 * table shares, and after them each block key's next 6 bytes as a number. Computed where the
 * table is opened: on this thread, or on the background worker that wrote it
 * (ts/lsm/table-image.ts).
 */
import { TRAILER_BYTES } from "../core/types.ts";
import type { BlockHandle } from "./table-block.ts";

/**
 * The 6 bytes of an internal key's user key from `from` on, as a number (big-endian,
 * zero-padded: exact in a double and order-preserving among keys that agree before `from`).
 */
export function userKeyPrefix(internalKey: Uint8Array, from: number): number {
  const length = internalKey.length - TRAILER_BYTES;
  let prefix = 0;
  for (let i = from; i < from + 6; i++) prefix = prefix * 256 + (i < length ? internalKey[i]! : 0);
  return prefix;
}

/** How many leading user-key bytes two internal keys share. */
function sharedUserKeyBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length) - TRAILER_BYTES;
  let shared = 0;
  while (shared < length && a[shared] === b[shared]) shared++;
  return shared;
}

/** What findBlock compares first: the bytes every block key shares, and each block's next 6 as a number. */
export interface BlockPrefixes {
  sharedPrefixBytes: number;
  blockPrefixes: Float64Array;
}

export function blockPrefixesOf(blocks: readonly BlockHandle[]): BlockPrefixes {
  // Those of the first and the last block key share them all.
  const sharedPrefixBytes = blocks.length === 0 ? 0 : sharedUserKeyBytes(blocks[0]!.lastKey, blocks[blocks.length - 1]!.lastKey);
  return { sharedPrefixBytes, blockPrefixes: Float64Array.from(blocks, (block) => userKeyPrefix(block.lastKey, sharedPrefixBytes)) };
}

/** Whether the internal keys' user keys agree on their first `count` bytes. */
export function startsWith(internalKey: Uint8Array, other: Uint8Array, count: number): boolean {
  if (internalKey.length - TRAILER_BYTES < count) return false;
  for (let i = 0; i < count; i++) if (internalKey[i] !== other[i]) return false;
  return true;
}
