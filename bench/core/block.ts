import type { BenchCase } from "./harness.ts";
// Placeholder: replaced by the block benchmarks.
export const cases: BenchCase[] = [];
