import type { BenchCase } from "./harness.ts";
// Placeholder: replaced by the crc32c benchmarks.
export const cases: BenchCase[] = [];
