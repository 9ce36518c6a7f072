import type { BenchCase } from "./harness.ts";
// Placeholder: replaced by the skiplist benchmarks.
export const cases: BenchCase[] = [];
