import type { BenchCase } from "./harness.ts";
// Placeholder: replaced by the bloom benchmarks.
export const cases: BenchCase[] = [];
