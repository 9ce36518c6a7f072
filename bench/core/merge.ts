import type { BenchCase } from "./harness.ts";
// Placeholder: replaced by the merge benchmarks.
export const cases: BenchCase[] = [];
