/**
 * The sorted levels below level 0: their invariant (tables in key order, ranges that do not
 * meet) and the lookup of the one table whose range may hold a key.
 */
import { assert } from "../assert.ts";
import { compareBytes, compareUserKey, userKeyOf } from "../core/entry.ts";
import type { TableMeta } from "./sstable.ts";

/**
 * The leveled invariant, checked after every compaction: below level 0, each level's tables
 * are sorted and their user-key ranges do not meet (a user key's versions share one table).
 */
export function assertLevelsDisjoint(levels: readonly TableMeta[][]): void {
  for (let level = 1; level < levels.length; level++) {
    const tables = levels[level]!;
    for (let i = 1; i < tables.length; i++) {
      assert(compareBytes(userKeyOf(tables[i - 1]!.largest), userKeyOf(tables[i]!.smallest)) < 0, `level ${level} tables ${tables[i - 1]!.fileNumber} and ${tables[i]!.fileNumber} overlap`);
    }
  }
}

/** The table of a sorted level whose key range may hold `userKey`. */
export function findTableInLevel<T extends { smallest: Uint8Array; largest: Uint8Array }>(tables: T[], userKey: Uint8Array): T | undefined {
  let low = 0;
  let high = tables.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareUserKey(tables[middle]!.largest, userKey) < 0) low = middle + 1;
    else high = middle;
  }
  const table = tables[low];
  if (!table || compareUserKey(table.smallest, userKey) > 0) return undefined;
  return table;
}
