/** The pure-TypeScript core: the twin of assembly/, one file per hot path. */
import type { Core } from "../types.ts";
import { pureRun } from "./run.ts";
import { pureCrc32c } from "./crc32c.ts";
import { pureBloom } from "./bloom.ts";
import { pureBlock } from "./block.ts";
import { pureSkiplist } from "./skiplist.ts";
import { pureMerge } from "./merge.ts";
import { pureLz4 } from "./lz4.ts";
import { pureLookup } from "./lookup.ts";

export function createPureCore(): Core {
  return {
    name: "ts",
    // Its objects live on the JS heap, which nothing else reuses: they stay safe to touch.
    release: () => {},
    ...pureRun(),
    ...pureCrc32c(),
    ...pureBloom(),
    ...pureBlock(),
    ...pureSkiplist(),
    ...pureMerge(),
    ...pureLz4(),
    ...pureLookup(),
  };
}
