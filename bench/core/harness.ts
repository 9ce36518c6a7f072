/** The shape of a core micro-benchmark case, shared by bench/core/*.ts and bench/core.ts. */
import type { Core } from "../../ts/core/types.ts";

export interface BenchCase {
  /** crc32c, block, skiplist, merge, bloom, lz4 or lookup. */
  hotPath: string;
  /** What one run does, e.g. "crc32c of 64 MiB" or "insert 1,000,000 16 B keys". */
  workload: string;
  unit: "MB/s" | "ops/s";
  /**
   * Prepares inputs outside the timed region and returns the timed function, which does the
   * work once on `core` and returns the units it processed (bytes for MB/s, operations for
   * ops/s). Inputs must be identical for both cores.
   */
  prepare(core: Core): () => number;
}
