/**
 * Point lookups in one table (Core.openTableLookup): 200,000 entries of 16 B keys and 100 B
 * values in data blocks of about 4 KiB, every block cached; 1,000,000 lookups of present keys
 * in random order, each a PointKey.set, one TableLookup.get and a copy of the value found: what
 * Table.get asks of the core on a block-cache hit. The first lookup of a block builds its point
 * index (outside the timed rounds: the warm-up touches every block).
 */
import { createPureCore } from "../../ts/core/pure/index.ts";
import { encodeInternalKey } from "../../ts/core/entry.ts";
import { KIND_VALUE, LOOKUP_FOUND, type Core } from "../../ts/core/types.ts";
import type { BenchCase } from "./harness.ts";

const ENTRY_COUNT = 200_000;
const LOOKUP_COUNT = 1_000_000;
const BLOCK_BYTES_TARGET = 4096;

interface TableParts {
  keys: Uint8Array[];
  blocks: Uint8Array[];
  index: Uint8Array;
  filter: Uint8Array;
}

let parts: TableParts | undefined;

/** The table's bytes, built once with the TS core so both cores read the same ones. */
function tableParts(): TableParts {
  if (parts) return parts;
  const core = createPureCore();
  const keys = Array.from({ length: ENTRY_COUNT }, (_, i) => new TextEncoder().encode(`k${String(i * 7).padStart(15, "0")}`));
  const value = Uint8Array.from({ length: 100 }, (_, i) => (i * 31) & 0xff);
  const data = core.newBlockBuilder();
  const index = core.newBlockBuilder();
  const bloom = core.newBloomBuilder();
  const blocks: Uint8Array[] = [];
  keys.forEach((key, i) => {
    data.add(encodeInternalKey(key, i + 1, KIND_VALUE), value);
    bloom.add(key);
    if (data.sizeEstimate >= BLOCK_BYTES_TARGET || i === keys.length - 1) {
      const last = data.lastKey();
      blocks.push(data.finish());
      index.add(last, Uint8Array.of(0));
    }
  });
  parts = { keys, blocks, index: index.finish(), filter: bloom.finish(10) };
  return parts;
}

export const cases: BenchCase[] = [
  {
    hotPath: "lookup",
    workload: "get: 1,000,000 present keys in a 200,000-entry table, every block cached",
    unit: "ops/s",
    prepare(core: Core) {
      const { keys, blocks, index, filter } = tableParts();
      const lookup = core.openTableLookup(filter, index);
      // The lookup holds the readers for the rest of the process, as a block cache would.
      blocks.forEach((block, i) => lookup.setBlock(i, core.openBlock(block)));
      const order = Array.from({ length: LOOKUP_COUNT }, (_, i) => keys[(Math.imul(i + 1, 2654435761) >>> 0) % ENTRY_COUNT]!);
      const key = core.newPointKey();
      const run = (count: number) => {
        let bytes = 0;
        for (let i = 0; i < count; i++) {
          key.set(order[i]!, ENTRY_COUNT + 1);
          const result = lookup.get(key);
          if (result < 0 || (result & LOOKUP_FOUND) === 0) throw new Error("a present key was not found");
          bytes += lookup.hit(result & 0xff).value.length;
        }
        return bytes;
      };
      for (let i = 0; i < keys.length; i++) {
        key.set(keys[i]!, ENTRY_COUNT + 1);
        lookup.get(key);
      }
      run(50_000);
      return () => {
        run(LOOKUP_COUNT);
        return LOOKUP_COUNT;
      };
    },
  },
];
